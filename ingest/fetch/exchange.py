"""One HTTP exchange: a GET with retries, timeouts and a body capped while it is decoded.

``Exchange`` owns the ``httpx.Client`` (with the SSRF guard on every new connection) and turns
every way a request can go wrong into a ``Problem`` with a clear reason and a retry verdict.
``Fetcher`` builds on it: redirects, robots.txt, conditional GET, archiving.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from ingest.archive import media_type
from ingest.config import Settings
from ingest.fetch.decode import CorruptCompressed, Decompressor, content_encodings
from ingest.fetch.guard import GuardedBackend, Refused
from ingest.fetch.politeness import Politeness, Stopped, backoff, host_key, retry_after
from ingest.security import redact_logs_of

__all__ = ["RETRY_STATUSES", "Exchange", "Problem", "Response"]

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass
class Response:
    """A response as far as we need it: final URL, status, lower-case headers, decoded body."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Problem(Exception):
    """One failed attempt: ``retry`` says whether another attempt may help."""

    reason: str
    retry: bool = False
    response: Response | None = field(default=None)

    def __str__(self) -> str:
        return self.reason


class Exchange:
    """GET requests through one thread-safe ``httpx.Client``, within ``politeness``'s gates."""

    def __init__(
        self,
        settings: Settings,
        politeness: Politeness,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.politeness = politeness
        self._stop = threading.Event()
        redact_logs_of("httpx")  # it logs every request URL, credentials included, at INFO
        if transport is None:
            transport = httpx.HTTPTransport(
                limits=httpx.Limits(
                    max_connections=max(8, settings.fetch_workers * 2),
                    max_keepalive_connections=max(8, settings.fetch_workers),
                ),
                retries=0,
            )
            pool = getattr(transport, "_pool", None)
            if pool is not None and hasattr(pool, "_network_backend"):
                pool._network_backend = GuardedBackend(settings.allow_loopback)
        self.client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # no proxies from the environment: the guard checks real targets
            timeout=httpx.Timeout(
                connect=settings.fetch_connect_timeout,
                read=settings.fetch_read_timeout,
                write=settings.fetch_read_timeout,
                pool=settings.fetch_total_timeout,
            ),
            headers={"User-Agent": settings.user_agent},
        )

    def close(self) -> None:
        """Stop waits in progress (they raise ``Stopped``) and release connections."""
        self._stop.set()
        self.client.close()

    def request(
        self,
        url: str,
        headers: dict[str, str],
        accept: Collection[str] | None,
        max_bytes: int,
    ) -> Response:
        """One request with retries; raises ``Problem`` when it finally fails."""
        gate = self.politeness.gate(host_key(url))
        settings = self.settings
        attempts = settings.fetch_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            wait_for = backoff(attempt, settings.fetch_backoff_base, settings.fetch_backoff_max)
            with gate.slot(self._stop):
                try:
                    response = self._attempt(url, headers, accept, max_bytes)
                except Problem as problem:
                    if not problem.retry or last:
                        suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                        raise Problem(problem.reason + suffix, False, problem.response) from None
                    response = None
            if response is not None:
                if response.status not in RETRY_STATUSES:
                    return response
                asked = retry_after(response.headers.get("retry-after"))
                reason = f"http {response.status}"
                if asked is not None:
                    if asked > settings.fetch_max_retry_after:
                        raise Problem(
                            f"{reason}: Retry-After {asked:.0f}s exceeds the "
                            f"{settings.fetch_max_retry_after:.0f}s cap",
                            response=response,
                        )
                    gate.defer(asked)  # the whole host waits, not only this URL
                    wait_for = asked
                elif response.status == 429:
                    gate.defer(wait_for)
                if last:
                    raise Problem(f"{reason} (after {attempts} attempts)", response=response)
            if self._stop.wait(wait_for):
                raise Stopped()
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, url: str, headers: dict[str, str], accept: Collection[str] | None, max_bytes: int
    ) -> Response:
        deadline = time.monotonic() + self.settings.fetch_total_timeout
        try:
            request = self.client.build_request("GET", url, headers=headers)
            with self._send(request) as response:
                status = response.status_code
                lowered = {k.lower(): v for k, v in response.headers.items()}
                result = Response(url=str(response.url), status=status, headers=lowered)
                if 300 <= status < 400 or status in RETRY_STATUSES:
                    return result  # bodies of redirects and retried answers are not needed
                length = lowered.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes and status < 400:
                    raise Problem(
                        f"too large: content-length {int(length)} exceeds {max_bytes} bytes"
                    )
                if 200 <= status < 300 and accept is not None:
                    kind = media_type(lowered.get("content-type"))
                    if kind and kind not in accept and kind != "application/octet-stream":
                        raise Problem(f"skipped: not HTML ({kind})")
                cap = max_bytes if status < 400 else min(max_bytes, 1_000_000)
                result.body = self._read_body(response, lowered, cap, deadline, status < 400)
                return result
        except Problem:
            raise
        except Refused as refusal:
            raise Problem(str(refusal)) from None
        except httpx.TimeoutException as error:
            raise Problem(f"timeout: {_timeout_kind(error)}", retry=True) from None
        except httpx.RemoteProtocolError as error:
            raise Problem(f"truncated or malformed response: {_first_line(error)}", True) from None
        except (httpx.ConnectError, httpx.ReadError, httpx.WriteError) as error:
            raise Problem(f"connection failed: {_first_line(error)}", retry=True) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as error:
            raise Problem(f"refused: invalid request ({_first_line(error)})") from None
        except httpx.HTTPError as error:
            raise Problem(f"http error: {_first_line(error)}", retry=True) from None

    @contextlib.contextmanager
    def _send(self, request: httpx.Request) -> Iterator[httpx.Response]:
        response = self.client.send(request, stream=True)
        try:
            yield response
        finally:
            response.close()

    def _read_body(
        self,
        response: httpx.Response,
        headers: dict[str, str],
        cap: int,
        deadline: float,
        strict: bool,
    ) -> bytes:
        """Raw bytes -> content-decoded body, capped while decoding; ``strict`` raises on
        truncation / overflow, otherwise (error pages) keeps what arrived."""
        encodings = content_encodings(headers.get("content-encoding"))
        try:
            decoders = [Decompressor(e) for e in reversed(encodings)]
        except ValueError as error:
            raise Problem(f"skipped: {error}") from None
        parts: list[bytes] = []
        total = 0
        raw_total = 0
        try:
            for raw in response.iter_raw():
                raw_total += len(raw)
                if time.monotonic() > deadline:
                    raise Problem(
                        f"timeout: response took longer than {self.settings.fetch_total_timeout}s",
                        retry=True,
                    )
                pieces: Iterable[bytes] = [raw]
                for decoder in decoders:
                    pieces = _chain(decoder, pieces)
                for piece in pieces:
                    total += len(piece)
                    if total > cap or raw_total > cap:
                        raise _BodyTooLarge()
                    parts.append(piece)
        except _BodyTooLarge:
            if not strict:
                return b"".join(parts)[:cap]
            what = "decoded body" if decoders else "body"
            raise Problem(f"too large: {what} exceeds {cap} bytes") from None
        except CorruptCompressed as error:
            raise Problem(f"corrupt compressed body ({', '.join(encodings)}): {error}") from None
        if strict and decoders and not all(d.finished for d in decoders):
            raise Problem("truncated body: compressed stream ends early", retry=True)
        return b"".join(parts)


class _BodyTooLarge(Exception):
    """The body passed its cap while it was being read."""


def _chain(decoder: Decompressor, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        for out in decoder.feed(piece):
            if out:
                yield out


def _timeout_kind(error: httpx.TimeoutException) -> str:
    if isinstance(error, httpx.ConnectTimeout):
        return "connect"
    if isinstance(error, httpx.ReadTimeout):
        return "no data received within the read timeout"
    if isinstance(error, httpx.PoolTimeout):
        return "no free connection"
    return "write"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
