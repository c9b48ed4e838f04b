"""What the user hands to `ingest run`: files, folders, URLs, feeds, sitemaps, archives.

`resolve_inputs` turns them into a flat, de-duplicated list of `Target`s (a local file, a URL to
fetch, or a record stream from an archive); `load_targets` turns a batch of targets into
`RawPage`s or `Failure`s. Nothing here extracts or translates.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ingest.config import Settings
from ingest.models import Failure, RawPage
from ingest.security import is_web_url, link_base, link_refusal

PAGE_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz")
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".xml.gz")
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".jsonl", ".jsonl.gz")
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    """One thing to load: ``kind`` is "file", "url" or "archive".

    ``origin`` is the http(s) URL of the fetched feed or sitemap that named the target, or ""
    when the user (or a local feed) did: a target of remote origin is never read from disk.
    """

    kind: str
    location: str  # a path for files/archives, a URL for urls
    source: str  # what the user gave, for the summary
    language_hint: str | None = None
    origin: str = ""


@dataclass
class Resolution:
    targets: list[Target] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def file_uri(path: Path) -> str:
    """The identity of a local page: its absolute file:// URI."""
    return path.resolve().as_uri()


def is_url(item: str) -> bool:
    return urlparse(item).scheme in ("http", "https")


def resolve_inputs(
    items: Sequence[str], settings: Settings, *, language_hint: str | None = None
) -> Resolution:
    """Expand folders, feeds and sitemaps into page targets, keeping order and dropping repeats."""
    resolution = Resolution()
    seen: set[str] = set()

    def add(target: Target) -> None:
        key = target.location if target.kind != "file" else file_uri(Path(target.location))
        if key not in seen:
            seen.add(key)
            resolution.targets.append(target)

    for item in items:
        if is_url(item):
            for target in _resolve_url(item, settings, resolution, language_hint):
                add(target)
            continue
        if item.startswith("file://"):
            item = unquote(urlparse(item).path)
        path = Path(item).expanduser()
        if path.is_dir():
            for page in _walk_folder(path):
                kind = "archive" if page.name.endswith(ARCHIVE_SUFFIXES) else "file"
                add(Target(kind, str(page), item, language_hint))
        elif path.is_file():
            for target in _resolve_file(path, item, settings, resolution, language_hint):
                add(target)
        else:
            resolution.failures.append(
                Failure(url=item, source=item, stage="read", reason="no such file, folder or URL")
            )
    return resolution


def _walk_folder(folder: Path) -> list[Path]:
    """Pages and archives under a folder (recursively, sorted). Feeds are only read when named."""
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.name.lower().endswith(PAGE_SUFFIXES + ARCHIVE_SUFFIXES)
    ]
    return sorted(found)


def _resolve_file(
    path: Path, source: str, settings: Settings, resolution: Resolution, hint: str | None
) -> Iterator[Target]:
    name = path.name.lower()
    if name.endswith(ARCHIVE_SUFFIXES):
        yield Target("archive", str(path), source, hint)
        return
    if name.endswith(FEED_SUFFIXES):
        from ingest.discover import discover_feed, discover_sitemap, looks_like_feed

        data = _read_small(path)
        if data is None:
            resolution.failures.append(
                Failure(url=file_uri(path), source=source, stage="read", reason="unreadable file")
            )
            return
        children: list[str] = []
        origin = file_uri(path)
        if looks_like_feed(data):
            urls = discover_feed(data, origin)
        else:
            urls, children = discover_sitemap(data, origin)
            for child in children:  # a sitemap index: follow its (local or remote) sitemaps
                refusal = link_refusal(child, origin)
                if refusal:
                    resolution.failures.append(_refused(child, source, refusal))
                elif child.startswith("file://"):
                    child_path = Path(unquote(urlparse(child).path))
                    if child_path != path and child_path.is_file():
                        yield from _resolve_file(child_path, source, settings, resolution, hint)
                else:
                    yield from _resolve_url(child, settings, resolution, hint)
        if not urls and not children:
            resolution.failures.append(
                Failure(
                    url=file_uri(path), source=source, stage="read", reason="feed lists no pages"
                )
            )
        for url in urls:
            target = _target_for_link(url, origin, source, hint)
            if isinstance(target, Failure):
                resolution.failures.append(target)
            else:
                yield target
        return
    yield Target("file", str(path), source, hint)


def _target_for_link(url: str, origin: str, source: str, hint: str | None) -> Target | Failure:
    """The one way a link found in a feed or sitemap becomes work: a URL to fetch, a local
    file (only when ``origin``, the document naming it, is itself local), or a refusal."""
    refusal = link_refusal(url, origin)
    if refusal:
        return _refused(url, source, refusal)
    if is_web_url(url):
        return Target("url", url, source, hint, origin if is_web_url(origin) else "")
    if not url.lower().startswith("file:"):
        return Target("file", url, source, hint)  # a plain path in a local text sitemap
    try:
        return Target("file", unquote(urlparse(url).path), source, hint)
    except ValueError as error:  # e.g. "file://[x/y"
        return _refused(url, source, f"refused: invalid URL ({error})")


def _refused(url: str, source: str, reason: str) -> Failure:
    return Failure(url=url, source=source, stage="discover", reason=reason)


def _resolve_url(
    url: str, settings: Settings, resolution: Resolution, hint: str | None
) -> Iterator[Target]:
    """A URL is a page unless its path looks like a feed or sitemap, which we fetch and expand."""
    path = urlparse(url).path.lower()
    looks_discoverable = path.endswith(FEED_SUFFIXES) or any(
        word in path for word in ("/feed", "/rss", "sitemap")
    )
    if not looks_discoverable:
        yield Target("url", url, url, hint)
        return
    from ingest.discover import discover_feed, discover_sitemap, looks_like_feed, looks_like_sitemap
    from ingest.fetch import Fetcher

    pending, visited = [url], set()
    with Fetcher(settings) as fetcher:
        while pending:
            current = pending.pop(0)
            if current in visited or len(visited) >= 1000:
                continue
            visited.add(current)
            result = fetcher.fetch_document(current, source=url)
            if isinstance(result, Failure):
                resolution.failures.append(result)
                continue
            base = link_base(current, result.final_url)
            if looks_like_feed(result.body) or looks_like_sitemap(result.body):
                if looks_like_feed(result.body):
                    items, children = discover_feed(result.body, base), []
                else:
                    items, children = discover_sitemap(result.body, base)
                for item in items:
                    target = _target_for_link(item, current, url, hint)
                    if isinstance(target, Failure):
                        resolution.failures.append(target)
                    else:
                        yield target
                for child in children:  # fetched, never read from disk: http(s) only
                    refusal = link_refusal(child, current)
                    if refusal:
                        resolution.failures.append(_refused(child, url, refusal))
                    else:
                        pending.append(child)
            else:
                yield Target("url", current, url, hint)


def _read_small(path: Path) -> bytes | None:
    """A feed or sitemap file, decompressed if gzipped; None if unreadable or over the cap."""
    try:
        with path.open("rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
            data = stream.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError, zlib.error):
        return None
    return data if len(data) <= MAX_FILE_BYTES else None


def read_file(
    path: Path,
    source: str,
    language_hint: str | None = None,
    *,
    max_bytes: int = MAX_FILE_BYTES,
) -> RawPage | Failure:
    """A local page as a RawPage (url = its file:// URI), or a Failure saying why not.

    Gzipped files are decompressed as a stream and capped, so a gzip bomb is refused.
    """
    from ingest.archive import read_html_file

    result = read_html_file(path, source=source, max_body_bytes=max_bytes)
    if isinstance(result, RawPage) and language_hint:
        return result.model_copy(update={"language_hint": language_hint})
    return result


def load_targets(
    targets: Iterable[Target], settings: Settings, *, force: bool = False
) -> list[RawPage | Failure]:
    """Read files, fetch URLs (archiving every response first) and read archive records.

    ``force`` fetches unconditionally (no If-None-Match / If-Modified-Since).
    """
    results: list[RawPage | Failure] = []
    urls: list[Target] = []
    for target in targets:
        if target.kind != "url" and is_web_url(target.origin):
            # the choke point (_target_for_link) never makes one; this is the local-read check
            reason = link_refusal(target.location, target.origin) or "refused: local target"
            results.append(_refused(target.location, target.source, reason))
        elif target.kind == "file":
            results.append(
                read_file(
                    Path(target.location),
                    target.source,
                    target.language_hint,
                    max_bytes=settings.extract_max_bytes,
                )
            )
        elif target.kind == "archive":
            from ingest.archive import iter_archive

            for record in iter_archive(Path(target.location), source=target.source):
                if isinstance(record, RawPage) and target.language_hint:
                    record = record.model_copy(update={"language_hint": target.language_hint})
                results.append(record)
        else:
            urls.append(target)
    if urls:
        from ingest.archive import WarcArchive
        from ingest.fetch import Fetcher

        groups: dict[tuple[str, str | None], list[str]] = {}
        for target in urls:
            groups.setdefault((target.source, target.language_hint), []).append(target.location)
        with (
            WarcArchive.from_settings(settings) as archive,
            Fetcher(settings, archive=archive) as fetcher,
        ):
            for (source, hint), locations in groups.items():
                results.extend(
                    fetcher.fetch_many(
                        locations, source=source, language_hint=hint, conditional=not force
                    )
                )
    return results
