"""The two security rules of ingest, each in one place.

**Provenance** (``link_refusal``): a link found in a document fetched over HTTP(S) — feed item,
sitemap entry, child sitemap, redirect — may only be an ``http``/``https`` URL. Only what the user
typed, and links inside feeds or sitemaps that are themselves local files, may name local files.
A remote server must never make a run read the machine's own files.

**Secrets** (``redact_url``, ``redact_text``, ``display_store_url``): credentials in URLs
(``user:pass@``) and the values of secret query keys are replaced wherever a URL is shown,
logged, stored as a document's identity, archived or handed to Prefect. The request on the wire
keeps them exactly; ``protect``/``reveal`` let the CLI hand Prefect the redacted form and get
the original back inside the same process.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_SECRET_QUERY_KEYS",
    "display_store_url",
    "is_web_url",
    "link_base",
    "link_refusal",
    "protect",
    "redact_logs_of",
    "redact_text",
    "redact_url",
    "reveal",
    "secret_query_keys",
]

WEB_SCHEMES = ("http", "https")
USERINFO_MASK = "***"
VALUE_MASK = "REDACTED"
SECRET_KEYS_VARIABLE = "INGEST_SECRET_QUERY_KEYS"
# Query (and fragment) keys whose values are secrets, compared case-insensitively.
DEFAULT_SECRET_QUERY_KEYS = (
    "token", "access_token", "refresh_token", "id_token", "api_key", "apikey", "key",
    "password", "passwd", "pwd", "secret", "client_secret", "signature", "sig", "auth",
    "session", "sid", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    "x-goog-signature", "x-goog-credential",
)  # fmt: skip
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_USERINFO_FALLBACK = re.compile(r"(//)[^/?#@\s]*@")


# ---------------------------------------------------------------------------- secrets


@functools.lru_cache(maxsize=8)
def _parse_keys(raw: str | None) -> frozenset[str]:
    if raw is None or not raw.strip():
        return frozenset(DEFAULT_SECRET_QUERY_KEYS)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw.split(",")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return frozenset(DEFAULT_SECRET_QUERY_KEYS)
    return frozenset(str(key).strip().lower() for key in value if str(key).strip())


def secret_query_keys() -> frozenset[str]:
    """The secret query keys: ``$INGEST_SECRET_QUERY_KEYS`` (a JSON list or comma-separated
    names, replacing the defaults) or ``DEFAULT_SECRET_QUERY_KEYS``. Read on every call (cheap,
    cached per value) because document models redact on construction, without settings."""
    return _parse_keys(os.environ.get(SECRET_KEYS_VARIABLE))


def _redact_params(text: str, keys: frozenset[str]) -> str:
    """``a=1&token=x`` -> ``a=1&token=REDACTED``; everything else is kept byte for byte."""
    if "=" not in text:
        return text
    pieces = text.split("&")
    for index, piece in enumerate(pieces):
        name, equals, value = piece.partition("=")
        if equals and value and unquote_plus(name).strip().lower() in keys:
            pieces[index] = f"{name}={VALUE_MASK}"
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """``url`` with its userinfo replaced by ``***`` and secret query values by ``REDACTED``.

    Idempotent, and the identity for URLs without secrets (returned unchanged, byte for byte), so
    it can be applied wherever a URL leaves the request: store, WARC, logs, output, Prefect.
    Strings that are not URLs (paths, names) come back as they are.
    """
    if not url or ("@" not in url and "=" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 literal: still never show a password
        return _USERINFO_FALLBACK.sub(rf"\1{USERINFO_MASK}@", url)
    keys = secret_query_keys()
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{USERINFO_MASK}@{netloc.rsplit('@', 1)[1]}"
    query = _redact_params(parts.query, keys)
    fragment = _redact_params(parts.fragment, keys)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_text(text: str) -> str:
    """Every URL inside a message (error texts from httpx and our own name URLs) redacted."""
    if not text or "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def display_store_url(url: str) -> str:
    """A SQLAlchemy URL fit to print: password as ``***`` (SQLAlchemy's own rendering), secret
    query values redacted; unparsable URLs fall back to ``redact_url``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        rendered = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return redact_url(url)
    head, question, query = rendered.partition("?")
    return head + question + _redact_params(query, secret_query_keys())


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message with every URL redacted (httpx logs each request's URL,
    credentials included, at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def redact_logs_of(*names: str) -> None:
    """Make the named loggers (e.g. ``httpx``) redact URLs in what they log; idempotent."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())


_PROTECTED: dict[str, str] = {}
_PROTECTED_LOCK = threading.Lock()


def protect(value: str, *, store_url: bool = False) -> str:
    """The redacted form of ``value`` to hand to Prefect (flow parameters are kept in its
    database); ``reveal`` gives the original back, in this process only."""
    redacted = display_store_url(value) if store_url else redact_url(value)
    if redacted != value:
        with _PROTECTED_LOCK:
            _PROTECTED[redacted] = value
    return redacted


def reveal(value: str) -> str:
    """The original of a value ``protect`` redacted in this process; anything else unchanged
    (a flow started elsewhere, e.g. by a deployment, gets its parameters as given)."""
    with _PROTECTED_LOCK:
        return _PROTECTED.get(value, value)


# ---------------------------------------------------------------------------- provenance


def _scheme(url: str) -> str:
    match = _SCHEME.match(url.strip())
    scheme = match.group(1).lower() if match else ""
    return "" if len(scheme) == 1 else scheme  # "C:\\x" is a Windows path, not a scheme


def is_web_url(url: str) -> bool:
    """An http(s) URL: something fetched from the network, whose links are not trusted."""
    return _scheme(url) in WEB_SCHEMES


def link_refusal(link: str, origin: str) -> str | None:
    """Why ``link``, found in the document at ``origin``, must not be followed; None if it may.

    Documents fetched over HTTP(S) may only link to http(s) URLs, in any spelling of anything
    else (``FILE://``, ``file:/x``, ``/etc/passwd``, ``C:\\x``, ``\\\\host\\x``, ``data:``…):
    such a link is refused, never read. Local feeds and sitemaps may also name local files.
    """
    scheme = _scheme(link)
    if scheme in WEB_SCHEMES:
        return None
    if not is_web_url(origin):
        if scheme in ("", "file"):
            return None
        return f"refused: {_shown(link)} is not an http(s) URL or a local file"
    return (
        f"refused: {_shown(link)} is named by {redact_url(origin)}, a document fetched over "
        "HTTP(S); only http(s) links are followed from fetched documents"
    )


def _shown(link: str, limit: int = 200) -> str:
    text = redact_url(link.strip()).replace("\n", " ")
    return repr(text if len(text) <= limit else text[:limit] + "…")


def link_base(requested: str, final_url: str | None) -> str:
    """What relative links of a fetched document resolve against: the requested URL (with its
    credentials, so links on the same host keep working) unless a redirect moved it; then the
    final URL, which is redacted and so is used without any userinfo (never a masked one)."""
    if not final_url or final_url == redact_url(requested):
        return requested
    try:
        parts = urlsplit(final_url)
    except ValueError:
        return final_url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
