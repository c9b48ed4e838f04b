"""HTTP fetching that is polite, safe and loses nothing.

``Fetcher`` wraps one ``httpx.Client`` and adds what a crawler needs: retries with exponential
backoff and jitter, ``Retry-After`` on 429/503, per-host delay and concurrency, robots.txt,
conditional GET (ETag / Last-Modified kept in SQLite under ``settings.home``), a redirect limit
with loop detection, a body cap enforced while decompressing (gzip bombs stop at the cap), an
HTML-only content-type check and an SSRF guard applied to every hop and to every connection
(so DNS rebinding cannot slip past a check made earlier). Bodies are kept as bytes, decoded of
their transfer encodings only; ``ingest.encoding.decode_html`` picks the charset (BOM, header,
``<meta>``, detection) when the text is needed. Every outcome is a ``RawPage`` or a
``Failure`` with a clear reason, archived to WARC (when an archive is given) before it is returned.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import random
import socket
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from ingest.archive import HTML_TYPES, WarcArchive, media_type, sniff_html, storable_headers
from ingest.config import Settings
from ingest.errors import StoreUnwritable
from ingest.models import Failure, RawPage
from ingest.security import redact_logs_of, redact_url

try:  # brotli is a dependency, but fetching still works (without "br") if it is missing
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

__all__ = [
    "Fetcher",
    "FetchOutcome",
    "address_refusal",
    "check_url",
    "is_unchanged",
]

FetchOutcome = RawPage | Failure
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
ALLOWED_SCHEMES = ("http", "https")
# Cloud metadata endpoints that are not covered by the link-local / private checks.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
ROBOTS_MAX_BYTES = 512_000
ROBOTS_TTL = 3600.0
ROBOTS_RETRY_AFTER = 60.0  # an unreadable robots.txt is asked again after this
MAX_CRAWL_DELAY = 60.0


def is_unchanged(outcome: FetchOutcome) -> bool:
    """A 304 answer to a conditional GET: not a failure, there is simply nothing new."""
    return isinstance(outcome, Failure) and outcome.reason.startswith("unchanged")


# ---------------------------------------------------------------------------- SSRF guard


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


class _GuardedBackend(httpcore.SyncBackend):
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


# ---------------------------------------------------------------------------- decoding


class _TooLarge(Exception):
    pass


class _Decoder:
    """One content-encoding, with output bounded per call (so a bomb never inflates at once)."""

    STEP = 1 << 18

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._brotli: Any = None
        self._zlib: Any = None
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br":
            if brotli is None:  # pragma: no cover
                raise ValueError("brotli is not installed")
            self._brotli = brotli.Decompressor()
        else:
            raise ValueError(f"unsupported content-encoding {encoding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._brotli is not None:
            yield self._brotli.process(data, output_buffer_limit=self.STEP)
            while not self._brotli.can_accept_more_data():
                yield self._brotli.process(b"", output_buffer_limit=self.STEP)
            return
        if self._first and self.encoding == "deflate" and data:
            self._first = False
            probe = zlib.decompressobj()
            try:
                probe.decompress(data[:2])
            except zlib.error:  # raw deflate without the zlib header, as some servers send
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        if self._zlib.eof:
            return  # trailing garbage after the stream
        chunk = self._zlib.decompress(data, self.STEP)
        yield chunk
        while self._zlib.unconsumed_tail and not self._zlib.eof:
            yield self._zlib.decompress(self._zlib.unconsumed_tail, self.STEP)

    def complete(self) -> bool:
        if self._brotli is not None:
            return bool(self._brotli.is_finished())
        return bool(self._zlib.eof)


# ---------------------------------------------------------------------------- politeness


class _HostGate:
    """Per-host concurrency (semaphore) and minimum delay between request starts."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self.semaphore = threading.BoundedSemaphore(max(1, concurrency))
        self.delay = delay
        self.next_at = 0.0
        self.lock = threading.Lock()
        self.in_flight = 0  # used by fetch_many's scheduler

    @contextlib.contextmanager
    def slot(self, stop: threading.Event) -> Iterator[None]:
        self.semaphore.acquire()
        try:
            while True:
                with self.lock:
                    now = time.monotonic()
                    if self.next_at <= now:
                        self.next_at = now + self.delay
                        break
                    pause = self.next_at - now
                if stop.wait(pause):
                    raise _Stopped()
            yield
        finally:
            self.semaphore.release()

    def defer(self, seconds: float) -> None:
        with self.lock:
            self.next_at = max(self.next_at, time.monotonic() + seconds)


class _Stopped(Exception):
    pass


# ---------------------------------------------------------------------------- validators


class _Validators:
    """ETag / Last-Modified per URL, in SQLite (shared by processes, safe across threads)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS validators (url TEXT PRIMARY KEY, etag TEXT,"
                " last_modified TEXT, content_hash TEXT, archive_path TEXT, archive_offset INTEGER,"
                " updated_at TEXT)"
            )

    def get(self, url: str) -> tuple[str | None, str | None, str | None, str | None, int | None]:
        """(etag, last-modified, content hash, archive path, archive offset) of the last 200."""
        with self._lock:
            row = self._db.execute(
                "SELECT etag, last_modified, content_hash, archive_path, archive_offset"
                " FROM validators WHERE url = ?",
                (url,),
            ).fetchone()
        return tuple(row) if row else (None, None, None, None, None)  # type: ignore[return-value]

    def put(self, url: str, page: RawPage) -> None:
        etag = page.headers.get("etag")
        modified = page.headers.get("last-modified")
        with self._lock, self._db:
            if not etag and not modified:
                self._db.execute("DELETE FROM validators WHERE url = ?", (url,))
                return
            self._db.execute(
                "INSERT OR REPLACE INTO validators VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    url,
                    etag,
                    modified,
                    page.content_hash,
                    page.archive_path,
                    page.archive_offset,
                    datetime.now(UTC).isoformat(),
                ),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------------- fetcher


@dataclass
class _Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Problem(Exception):
    """One failed attempt: ``retry`` says whether another attempt may help."""

    reason: str
    retry: bool = False
    response: _Response | None = field(default=None)

    def __str__(self) -> str:
        return self.reason


@dataclass
class _Robots:
    parser: RobotFileParser | None  # None: everything allowed
    deny_reason: str | None  # set when robots.txt could not be read (RFC 9309: disallow all)
    expires: float


class Fetcher:
    """Polite, safe HTTP fetcher; a context manager around one thread-safe ``httpx.Client``."""

    def __init__(
        self,
        settings: Settings,
        *,
        archive: WarcArchive | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.archive = archive
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
                pool._network_backend = _GuardedBackend(settings.allow_loopback)
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
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._validators: _Validators | None = None
        if settings.conditional_get:
            self._validators = _Validators(Path(settings.home) / "fetch-validators.sqlite")
        self._accept_encoding = "gzip, deflate" + (", br" if brotli is not None else "")

    # -- lifecycle
    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop waits in progress and release connections (the archive is the caller's)."""
        self._stop.set()
        self.client.close()
        if self._validators is not None:
            self._validators.close()
            self._validators = None

    # -- public
    def fetch(
        self,
        url: str,
        *,
        source: str | None = None,
        language_hint: str | None = None,
        accept: Collection[str] | None = HTML_TYPES,
        conditional: bool = True,
        archive: bool = True,
    ) -> RawPage | Failure:
        """Fetch one URL. ``accept``: allowed media types (None: any); ``conditional``: use the
        stored validators (a 304 gives ``Failure(reason="unchanged (304)")``); ``archive``: write
        the outcome to the WARC archive before returning it."""
        src = source or url
        try:
            outcome = self._fetch(url, src, language_hint, accept, conditional)
        except _Stopped:
            outcome = Failure(
                url=url, source=src, stage="fetch", reason="cancelled: fetcher closed"
            )
        except StoreUnwritable:  # the archive is full: the run stops, not this URL
            raise
        except Exception as error:  # a bug must cost one URL, not the run
            outcome = Failure(
                url=url, source=src, stage="fetch", reason=f"error: {type(error).__name__}: {error}"
            )
        if archive and self.archive is not None:
            outcome = self._archive(outcome)
        if (
            isinstance(outcome, RawPage)
            and self._validators is not None
            and conditional
            and outcome.http_status == 200
        ):
            # Only after the page is safely archived: a later 304 must never hide a lost page.
            self._validators.put(outcome.final_url or outcome.url, outcome)
            if outcome.final_url and outcome.final_url != outcome.url:
                self._validators.put(outcome.url, outcome)
        return outcome

    def fetch_document(self, url: str, *, source: str | None = None) -> RawPage | Failure:
        """A feed, sitemap or other index document: any content type, never conditional (a
        crash after reading a feed must not hide its items next time), not archived."""
        return self.fetch(url, source=source, accept=None, conditional=False, archive=False)

    def fetch_many(
        self,
        urls: Iterable[str],
        *,
        source: str | None = None,
        language_hint: str | None = None,
        accept: Collection[str] | None = HTML_TYPES,
        conditional: bool = True,
    ) -> Iterator[RawPage | Failure]:
        """Fetch concurrently within per-host limits; yields outcomes as they complete.

        ``urls`` is consumed lazily (memory stays flat for long inputs); duplicate URLs are
        fetched once. Each outcome is archived before it is yielded.
        """
        workers = max(1, self.settings.fetch_workers)
        per_host = max(1, self.settings.per_host_concurrency)
        buffer_cap = workers * 64  # URLs read ahead, so one busy host does not starve others
        queues: dict[str, deque[str]] = {}
        in_flight: dict[Future[RawPage | Failure], str] = {}
        host_load: dict[str, int] = {}
        seen: set[str] = set()
        pending = 0
        source_iter = iter(urls)
        exhausted = False

        def submit(pool: ThreadPoolExecutor) -> None:
            for host in list(queues):
                queue = queues[host]
                while queue and host_load.get(host, 0) < per_host and len(in_flight) < workers:
                    url = queue.popleft()
                    future = pool.submit(
                        self.fetch,
                        url,
                        source=source,
                        language_hint=language_hint,
                        accept=accept,
                        conditional=conditional,
                    )
                    in_flight[future] = host
                    host_load[host] = host_load.get(host, 0) + 1
                if not queue:
                    del queues[host]

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            try:
                while True:
                    while not exhausted and pending < buffer_cap:
                        try:
                            url = next(source_iter)
                        except StopIteration:
                            exhausted = True
                            break
                        url = url.strip()
                        if not url or url in seen:
                            continue
                        seen.add(url)
                        queues.setdefault(_host_key(url), deque()).append(url)
                        pending += 1
                    submit(pool)
                    if not in_flight:
                        if exhausted and not queues:
                            return
                        continue
                    done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                    for future in done:
                        host = in_flight.pop(future)
                        host_load[host] -= 1
                        pending -= 1
                        yield future.result()
            finally:
                for future in in_flight:
                    future.cancel()

    # -- internals
    def _archive(self, outcome: RawPage | Failure) -> RawPage | Failure:
        assert self.archive is not None
        if isinstance(outcome, RawPage):
            return self.archive.write_page(outcome)
        if outcome.archive_path is not None:
            return outcome  # already points at its archived response
        return self.archive.write_failure(outcome)

    def _gate(self, host: str) -> _HostGate:
        with self._gates_lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = _HostGate(self.settings.per_host_concurrency, self.settings.per_host_delay)
                self._gates[host] = gate
            return gate

    def _fail(self, url: str, source: str, reason: str, **extra: Any) -> Failure:
        return Failure(url=url, source=source, stage="fetch", reason=reason, **extra)

    def _fetch(
        self,
        url: str,
        source: str,
        hint: str | None,
        accept: Collection[str] | None,
        conditional: bool,
    ) -> RawPage | Failure:
        current = _clean_url(url)
        seen = {current}
        redirects = 0
        while True:
            refusal = check_url(current, allow_loopback=self.settings.allow_loopback)
            if refusal:
                return self._fail(url, source, refusal)
            if self.settings.respect_robots:
                denial = self._robots_denial(current)
                if denial:
                    return self._fail(url, source, denial)
            headers = {"Accept-Encoding": self._accept_encoding}
            if accept is not None and set(accept) <= set(HTML_TYPES):
                headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
            stored_hash = stored_path = stored_offset = None
            if conditional and self._validators is not None:
                # keyed like the pages they describe: by the redacted URL, no secret on disk
                etag, modified, stored_hash, stored_path, stored_offset = self._validators.get(
                    redact_url(current)
                )
                if etag:
                    headers["If-None-Match"] = etag
                if modified:
                    headers["If-Modified-Since"] = modified
            try:
                response = self._with_retries(current, headers, accept, self.settings.max_bytes)
            except _Problem as problem:
                extra: dict[str, Any] = {}
                if problem.response is not None and self.archive is not None:
                    error_page = _page_of(url, source, hint, problem.response)
                    extra = self._archive_location(error_page)
                return self._fail(url, source, problem.reason, **extra)
            if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                target = _clean_url(urljoin(current, response.headers["location"].strip()))
                if target in seen:
                    return self._fail(url, source, f"redirect loop: {current} -> {target}")
                redirects += 1
                if redirects > self.settings.max_redirects:
                    return self._fail(
                        url, source, f"too many redirects (more than {self.settings.max_redirects})"
                    )
                seen.add(target)
                current = target
                continue
            if response.status == 304:
                # points at the archived copy of the unchanged page, so it can be replayed
                location = (
                    {"archive_path": stored_path, "archive_offset": stored_offset}
                    if stored_path is not None
                    else {}
                )
                return self._fail(
                    url, source, "unchanged (304)", content_hash=stored_hash, **location
                )
            page = _page_of(url, source, hint, response)
            if not 200 <= response.status < 300:
                extra = self._archive_location(page) if self.archive is not None else {}
                return self._fail(
                    url, source, f"http {response.status}", content_hash=page.content_hash, **extra
                )
            if accept is not None:
                kind = media_type(response.headers.get("content-type"))
                if kind not in accept and not (
                    kind in ("", "application/octet-stream") and sniff_html(response.body)
                ):
                    return self._fail(url, source, f"skipped: not HTML ({kind or 'no type'})")
            return page

    def _archive_location(self, page: RawPage) -> dict[str, Any]:
        """Archive an error response; its WARC location, for the Failure that points at it."""
        assert self.archive is not None
        archived = self.archive.write_page(page)
        return {"archive_path": archived.archive_path, "archive_offset": archived.archive_offset}

    def _with_retries(
        self,
        url: str,
        headers: dict[str, str],
        accept: Collection[str] | None,
        max_bytes: int,
    ) -> _Response:
        """One request with retries; raises ``_Problem`` when it finally fails."""
        gate = self._gate(_host_key(url))
        settings = self.settings
        attempts = settings.fetch_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            wait_for = _backoff(attempt, settings.fetch_backoff_base, settings.fetch_backoff_max)
            with gate.slot(self._stop):
                try:
                    response = self._attempt(url, headers, accept, max_bytes)
                except _Problem as problem:
                    if not problem.retry or last:
                        suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                        raise _Problem(problem.reason + suffix, False, problem.response) from None
                    response = None
            if response is not None:
                if response.status not in RETRY_STATUSES:
                    return response
                retry_after = _retry_after(response.headers.get("retry-after"))
                reason = f"http {response.status}"
                if retry_after is not None:
                    if retry_after > settings.fetch_max_retry_after:
                        raise _Problem(
                            f"{reason}: Retry-After {retry_after:.0f}s exceeds the "
                            f"{settings.fetch_max_retry_after:.0f}s cap",
                            response=response,
                        )
                    gate.defer(retry_after)  # the whole host waits, not only this URL
                    wait_for = retry_after
                elif response.status == 429:
                    gate.defer(wait_for)
                if last:
                    raise _Problem(f"{reason} (after {attempts} attempts)", response=response)
            if self._stop.wait(wait_for):
                raise _Stopped()
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, url: str, headers: dict[str, str], accept: Collection[str] | None, max_bytes: int
    ) -> _Response:
        deadline = time.monotonic() + self.settings.fetch_total_timeout
        try:
            request = self.client.build_request("GET", url, headers=headers)
            with self._send(request) as response:
                status = response.status_code
                lowered = {k.lower(): v for k, v in response.headers.items()}
                result = _Response(url=str(response.url), status=status, headers=lowered)
                if 300 <= status < 400 or status in RETRY_STATUSES:
                    return result  # bodies of redirects and retried answers are not needed
                length = lowered.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes and status < 400:
                    raise _Problem(
                        f"too large: content-length {int(length)} exceeds {max_bytes} bytes"
                    )
                if 200 <= status < 300 and accept is not None:
                    kind = media_type(lowered.get("content-type"))
                    if kind and kind not in accept and kind != "application/octet-stream":
                        raise _Problem(f"skipped: not HTML ({kind})")
                cap = max_bytes if status < 400 else min(max_bytes, 1_000_000)
                result.body = self._read_body(response, lowered, cap, deadline, status < 400)
                return result
        except _Problem:
            raise
        except Refused as refusal:
            raise _Problem(str(refusal)) from None
        except httpx.TimeoutException as error:
            raise _Problem(f"timeout: {_timeout_kind(error)}", retry=True) from None
        except httpx.RemoteProtocolError as error:
            raise _Problem(f"truncated or malformed response: {_first_line(error)}", True) from None
        except (httpx.ConnectError, httpx.ReadError, httpx.WriteError) as error:
            raise _Problem(f"connection failed: {_first_line(error)}", retry=True) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as error:
            raise _Problem(f"refused: invalid request ({_first_line(error)})") from None
        except httpx.HTTPError as error:
            raise _Problem(f"http error: {_first_line(error)}", retry=True) from None

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
        encodings = [
            e.strip().lower()
            for e in headers.get("content-encoding", "").split(",")
            if e.strip() and e.strip().lower() != "identity"
        ]
        try:
            decoders = [_Decoder(e) for e in reversed(encodings)]
        except ValueError as error:
            raise _Problem(f"skipped: {error}") from None
        parts: list[bytes] = []
        total = 0
        raw_total = 0
        try:
            for raw in response.iter_raw():
                raw_total += len(raw)
                if time.monotonic() > deadline:
                    raise _Problem(
                        f"timeout: response took longer than {self.settings.fetch_total_timeout}s",
                        retry=True,
                    )
                pieces: Iterable[bytes] = [raw]
                for decoder in decoders:
                    pieces = _chain(decoder, pieces)
                for piece in pieces:
                    total += len(piece)
                    if total > cap or raw_total > cap:
                        raise _TooLarge()
                    parts.append(piece)
        except _TooLarge:
            if not strict:
                return b"".join(parts)[:cap]
            what = "decoded body" if decoders else "body"
            raise _Problem(f"too large: {what} exceeds {cap} bytes") from None
        except zlib.error as error:
            raise _Problem(f"corrupt compressed body ({', '.join(encodings)}): {error}") from None
        except Exception as error:
            if brotli is not None and isinstance(error, brotli.error):
                raise _Problem(f"corrupt compressed body (br): {error}") from None
            raise
        if strict and decoders and not all(d.complete() for d in decoders):
            raise _Problem("truncated body: compressed stream ends early", retry=True)
        return b"".join(parts)

    # -- robots.txt
    def _robots_denial(self, url: str) -> str | None:
        parts = urlsplit(url)
        # cached per scheme, host and port (host lower-cased); the request itself carries the
        # page's credentials exactly as given, never a lower-cased copy of them
        key = f"{parts.scheme.lower()}://{_host_key(url)}"
        robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        with self._gates_lock:
            lock = self._robots_locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._robots.get(key)
            if entry is None or entry.expires < time.monotonic():
                entry = self._load_robots(key, robots_url)
                self._robots[key] = entry
        if entry.deny_reason:
            return entry.deny_reason
        if entry.parser is not None and not entry.parser.can_fetch(self.settings.user_agent, url):
            return "skipped: disallowed by robots.txt"
        return None

    def _load_robots(self, origin: str, url: str) -> _Robots:
        """robots.txt of ``origin`` (scheme://host:port), read from ``url``."""
        expires = time.monotonic() + ROBOTS_TTL
        headers = {"Accept-Encoding": self._accept_encoding}
        response: _Response | None = None
        for _ in range(6):  # robots.txt may redirect (RFC 9309: follow at least five)
            refusal = check_url(url, allow_loopback=self.settings.allow_loopback)
            if refusal:
                return _Robots(None, None, expires)  # cannot be read: treat as absent
            try:
                response = self._with_retries(url, headers, None, ROBOTS_MAX_BYTES)
            except _Problem as problem:
                if problem.response is not None and 400 <= problem.response.status < 500:
                    return _Robots(None, None, expires)
                # RFC 9309: unreachable robots.txt (5xx, network) means "disallow all", for now.
                return _Robots(
                    None,
                    f"skipped: robots.txt unavailable ({problem.reason})",
                    time.monotonic() + ROBOTS_RETRY_AFTER,
                )
            if 300 <= response.status < 400 and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            break
        if response is None or not 200 <= response.status < 300:
            return _Robots(None, None, expires)  # 4xx (and odd answers): no restrictions
        parser = RobotFileParser()
        parser.parse(response.body.decode("utf-8", errors="replace").splitlines())
        delay = crawl_delay(response.body.decode("utf-8", "replace"), self.settings.user_agent)
        if delay:
            gate = self._gate(urlsplit(origin).netloc.lower())
            gate.delay = max(gate.delay, min(float(delay), MAX_CRAWL_DELAY))
        return _Robots(parser, None, expires)


def crawl_delay(robots: str, user_agent: str) -> float | None:
    """Crawl-delay for ``user_agent`` (fractions allowed, unlike urllib's parser); the group
    naming our product token wins over ``*``."""
    token = user_agent.split("/", 1)[0].strip().lower()
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in robots.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        elif key == "crawl-delay":
            in_rules = True
            try:
                seconds = float(value)
            except ValueError:
                continue
            for agent in agents:
                delays.setdefault(agent, seconds)
        else:
            in_rules = True
    for agent, seconds in delays.items():
        if agent != "*" and agent in token:
            return seconds
    return delays.get("*")


def _chain(decoder: _Decoder, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        for out in decoder.feed(piece):
            if out:
                yield out


def _clean_url(url: str) -> str:
    """Strip whitespace and the fragment (never sent to servers)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(parts._replace(fragment=""))


def _host_key(url: str) -> str:
    """Politeness key: the host name (and port), lower-case."""
    try:
        return urlsplit(url).netloc.lower().rsplit("@", 1)[-1]
    except ValueError:
        return ""


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d] for d = base * 2**attempt."""
    delay = min(cap, base * (2**attempt))
    return delay / 2 + random.random() * delay / 2


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


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


def _page_of(url: str, source: str, hint: str | None, response: _Response) -> RawPage:
    """The page a response carries, as received (error pages included)."""
    return RawPage(
        url=url,
        source=source,
        body=response.body,
        final_url=response.url,
        http_status=response.status,
        headers=storable_headers(response.headers),
        language_hint=hint,
    )
