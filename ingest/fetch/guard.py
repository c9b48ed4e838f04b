"""SSRF guard: which URLs and addresses may be contacted at all.

Only ``http``/``https``; private, loopback, link-local, reserved, multicast and cloud metadata
addresses (also inside IPv4-mapped / 6to4 / Teredo IPv6) are refused. ``check_url`` is applied
to every redirect hop and ``GuardedBackend`` to every new connection, so DNS rebinding cannot
slip past a check made earlier.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

__all__ = ["GuardedBackend", "Refused", "address_refusal", "check_url"]

ALLOWED_SCHEMES = ("http", "https")
# Cloud metadata endpoints that are not covered by the link-local / private checks.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class Refused(Exception):
    """A URL or address the SSRF guard refuses; never retried."""


def address_refusal(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool = False
) -> str | None:
    """Why ``address`` must not be contacted, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            return address_refusal(embedded, allow_loopback=allow_loopback)
    if address in METADATA_ADDRESSES:
        return "cloud metadata address"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return None if allow_loopback else "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_private:
        return "private address"
    if address.is_reserved or not address.is_global:
        return "reserved address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"cannot resolve host {host!r}: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _checked_addresses(host: str, port: int, allow_loopback: bool) -> list[str]:
    """All addresses of ``host``; refuse if any of them is not allowed (no mixed answers)."""
    addresses = _resolve(host, port)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise Refused(f"refused: {host} resolves to a {reason} ({address})")
    return addresses


def check_url(url: str, *, allow_loopback: bool = False) -> str | None:
    """Why fetching ``url`` is refused (scheme, host, address), or None when it is allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"refused: invalid URL ({error})"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"refused: scheme {parts.scheme.lower() or '(none)'!r} is not allowed"
    host = parts.hostname
    if not host:
        return "refused: URL has no host"
    try:
        _checked_addresses(host, port or (443 if parts.scheme == "https" else 80), allow_loopback)
    except Refused as refusal:
        return str(refusal)
    return None


class GuardedBackend(httpcore.SyncBackend):
    """Checks the resolved address of every new connection, then connects to that address."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _checked_addresses(host, port, self.allow_loopback)
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last = error
        raise last or httpcore.ConnectError(f"no address for {host}")
