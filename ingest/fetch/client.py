"""HTTP fetching that is polite, safe and loses nothing.

``Fetcher`` adds what a crawler needs to one HTTP exchange (``ingest.fetch.exchange``: retries
with exponential backoff and jitter, ``Retry-After`` on 429/503, timeouts, a body cap enforced
while decompressing, so gzip bombs stop at the cap): per-host delay and concurrency and
robots.txt (``ingest.fetch.politeness``, shared by the Fetchers of one run), conditional GET
(ETag / Last-Modified in the ``ValidatorStore`` it is given), a redirect limit with loop
detection, an HTML-only content-type check and an SSRF guard (``ingest.fetch.guard``) applied
to every hop and to every connection (so DNS rebinding cannot slip past a check made earlier).
Bodies are kept as bytes, decoded of their transfer encodings only;
``ingest.encoding.decode_html`` picks the charset (BOM, header, ``<meta>``, detection) when the
text is needed. Every outcome is a ``RawPage`` or a ``Failure`` with a clear reason, archived to
WARC (when an archive is given) before it is returned.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from ingest.archive import HTML_TYPES, WarcArchive, media_type, sniff_html, storable_headers
from ingest.config import Settings
from ingest.errors import StoreUnwritable
from ingest.fetch.decode import ACCEPT_ENCODING
from ingest.fetch.exchange import Exchange, Problem, Response
from ingest.fetch.guard import check_url
from ingest.fetch.politeness import Politeness, Stopped, host_key
from ingest.fetch.robots import ROBOTS_MAX_BYTES, RobotsRules
from ingest.fetch.validators import ArchivedCopies, ArchivedCopy, MemoryValidators, ValidatorStore
from ingest.models import Failure, RawPage
from ingest.security import redact_url

__all__ = ["FetchOutcome", "Fetcher", "is_unchanged"]

FetchOutcome = RawPage | Failure


def is_unchanged(outcome: FetchOutcome) -> bool:
    """A 304 answer to a conditional GET: not a failure, there is simply nothing new."""
    return isinstance(outcome, Failure) and outcome.reason.startswith("unchanged")


class Fetcher:
    """Polite, safe HTTP fetcher; a context manager around one thread-safe ``httpx.Client``.

    ``politeness``: the run's per-host gates and robots.txt cache (a new one, from ``settings``,
    when not given); ``validators``: where conditional GET keeps ETag / Last-Modified (in memory,
    for this Fetcher only, when not given; unused when ``settings.conditional_get`` is off).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        archive: WarcArchive | None = None,
        transport: httpx.BaseTransport | None = None,
        politeness: Politeness | None = None,
        validators: ValidatorStore | None = None,
    ) -> None:
        self.settings = settings
        self.archive = archive
        self.politeness = politeness or Politeness.from_settings(settings)
        self._validators: ValidatorStore | None = None
        if settings.conditional_get:
            self._validators = validators if validators is not None else MemoryValidators()
        self.exchange = Exchange(settings, self.politeness, transport)
        self.client = self.exchange.client  # the guarded httpx client, for callers and tests

    # -- lifecycle
    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop waits in progress and release connections (the archive is the caller's)."""
        self.exchange.close()

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
        except Stopped:
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
            self._remember(outcome.final_url or outcome.url, outcome)
            if outcome.final_url and outcome.final_url != outcome.url:
                self._remember(outcome.url, outcome)
        return outcome

    def _remember(self, url: str, page: RawPage) -> None:
        """Keep the validators of a 200 (and, if the store can, where its copy was archived)."""
        assert self._validators is not None
        self._validators.put(url, page.headers.get("etag"), page.headers.get("last-modified"))
        if isinstance(self._validators, ArchivedCopies):
            copy = ArchivedCopy(page.content_hash, page.archive_path, page.archive_offset)
            self._validators.put_copy(url, copy)

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
                        queues.setdefault(host_key(url), deque()).append(url)
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
            headers, copy = self._request_headers(current, accept, conditional)
            try:
                response = self.exchange.request(current, headers, accept, self.settings.max_bytes)
            except Problem as problem:
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
                location: dict[str, Any] = {}
                if copy is not None and copy.archive_path is not None:
                    location = {"archive_path": copy.archive_path}
                    location["archive_offset"] = copy.archive_offset
                stored_hash = copy.content_hash if copy is not None else None
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

    def _request_headers(
        self, url: str, accept: Collection[str] | None, conditional: bool
    ) -> tuple[dict[str, str], ArchivedCopy | None]:
        """Headers for one hop (validators included when ``conditional``), and the archived
        copy those validators describe, when the validator store keeps it."""
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        if accept is not None and set(accept) <= set(HTML_TYPES):
            headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
        if not conditional or self._validators is None:
            return headers, None
        # keyed like the pages they describe: by the redacted URL, no secret kept
        key = redact_url(url)
        etag, modified = self._validators.get(key) or (None, None)
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        copy = None
        if isinstance(self._validators, ArchivedCopies):
            copy = self._validators.copy_of(key)
        return headers, copy

    def _archive_location(self, page: RawPage) -> dict[str, Any]:
        """Archive an error response; its WARC location, for the Failure that points at it."""
        assert self.archive is not None
        archived = self.archive.write_page(page)
        return {"archive_path": archived.archive_path, "archive_offset": archived.archive_offset}

    # -- robots.txt
    def _robots_denial(self, url: str) -> str | None:
        parts = urlsplit(url)
        # cached per scheme, host and port (host lower-cased); the request itself carries the
        # page's credentials exactly as given, never a lower-cased copy of them
        host = host_key(url)
        robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        rules = self.politeness.robots.rules(
            f"{parts.scheme.lower()}://{host}", lambda: self._load_robots(host, robots_url)
        )
        return rules.denial(url, self.settings.user_agent)

    def _load_robots(self, host: str, url: str) -> RobotsRules:
        """robots.txt of ``host`` (host:port), read from ``url``; its Crawl-delay slows the host."""
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        response: Response | None = None
        for _ in range(6):  # robots.txt may redirect (RFC 9309: follow at least five)
            refusal = check_url(url, allow_loopback=self.settings.allow_loopback)
            if refusal:
                return RobotsRules.allow_all()  # cannot be read: treat as absent
            try:
                response = self.exchange.request(url, headers, None, ROBOTS_MAX_BYTES)
            except Problem as problem:
                if problem.response is not None and 400 <= problem.response.status < 500:
                    return RobotsRules.allow_all()
                # RFC 9309: unreachable robots.txt (5xx, network) means "disallow all", for now.
                return RobotsRules.unavailable(problem.reason)
            if 300 <= response.status < 400 and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            break
        if response is None or not 200 <= response.status < 300:
            return RobotsRules.allow_all()  # 4xx (and odd answers): no restrictions
        rules = RobotsRules.parse(response.body)
        delay = rules.crawl_delay(self.settings.user_agent)
        if delay:
            self.politeness.slow_down(host, delay)
        return rules


def _clean_url(url: str) -> str:
    """Strip whitespace and the fragment (never sent to servers)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(parts._replace(fragment=""))


def _page_of(url: str, source: str, hint: str | None, response: Response) -> RawPage:
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
