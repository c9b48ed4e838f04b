"""What the user hands to `ingest run`: files, folders, URLs, feeds, sitemaps, archives.

`resolve_inputs` turns them into a flat, de-duplicated list of `Target`s (a local file, a URL to
fetch, or a record stream from an archive); `iter_batches` streams them as batches of documents
(local files and archives read through `ingest.read`, URLs left for `fetch_targets`), and
`load_targets` turns a batch of targets into `RawPage`s or `Failure`s. Nothing here extracts or
translates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from ingest.config import Settings
from ingest.fetch.decode import CorruptCompressed, TooLarge, decompress_bounded
from ingest.localfiles import (
    LocalFileError,
    Unreadable,
    describe_os_error,
    local_kind,
    not_regular_reason,
    open_regular,
    walk_files,
)
from ingest.models import Failure, RawPage
from ingest.read import ArchiveError, iter_archive, read_html_file
from ingest.security import is_web_url, link_base, link_refusal

if TYPE_CHECKING:
    from ingest.fetch import Politeness, ValidatorStore

PAGE_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz")
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".xml.gz")
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".jsonl", ".jsonl.gz")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_SITEMAP_DEPTH = 5  # sitemap indexes followed through at most this many levels


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
    """The identity of a local page: its absolute file:// URI (symlinks resolved if possible:
    a symlink loop keeps its own path, and reading it records the reason)."""
    try:
        return path.resolve().as_uri()
    except (OSError, RuntimeError):
        return path.absolute().as_uri()


def is_url(item: str) -> bool:
    return urlparse(item).scheme in ("http", "https")


def resolve_inputs(
    items: Sequence[str],
    settings: Settings,
    *,
    language_hint: str | None = None,
    politeness: Politeness | None = None,
) -> Resolution:
    """Expand folders, feeds and sitemaps into page targets, keeping order and dropping repeats.

    ``politeness``: the run's per-host gates and robots.txt cache (one for this call if None),
    so the feeds and sitemaps fetched here count against the same per-host delays as pages.
    """
    from ingest.fetch.politeness import Politeness

    politeness = politeness or Politeness.from_settings(settings)
    resolution = Resolution()
    seen: set[str] = set()

    def add(target: Target) -> None:
        key = target.location if target.kind != "file" else file_uri(Path(target.location))
        if key not in seen:
            seen.add(key)
            resolution.targets.append(target)

    for item in items:
        if is_url(item):
            for target in _resolve_url(item, settings, resolution, language_hint, (), politeness):
                add(target)
            continue
        if item.startswith("file://"):
            item = unquote(urlparse(item).path)
        path = Path(item).expanduser()
        try:
            kind = local_kind(path)
        except LocalFileError as error:
            resolution.failures.append(_local_failure(path, item, error.reason))
            continue
        if kind == "folder":
            for page in walk_files(path, wanted=_wanted_in_folder, skip_hidden=True):
                if isinstance(page, Unreadable):
                    resolution.failures.append(_local_failure(Path(page.path), item, page.reason))
                    continue
                kind = "archive" if page.name.endswith(ARCHIVE_SUFFIXES) else "file"
                add(Target(kind, str(page), item, language_hint))
        elif kind == "file":
            for target in _resolve_file(
                path, item, settings, resolution, language_hint, (), politeness
            ):
                add(target)
        elif kind == "other":
            resolution.failures.append(_local_failure(path, item, not_regular_reason(path)))
        else:
            resolution.failures.append(
                Failure(url=item, source=item, stage="read", reason="no such file, folder or URL")
            )
    return resolution


def _local_failure(path: Path, source: str, reason: str) -> Failure:
    """A failure row for a local path; ``absolute`` (not ``resolve``) never touches the disk."""
    return Failure(url=path.absolute().as_uri(), source=source, stage="read", reason=reason)


def _wanted_in_folder(name: str) -> bool:
    """Pages and archives are read from folders; feeds only when named on the command line."""
    return name.lower().endswith(PAGE_SUFFIXES + ARCHIVE_SUFFIXES)


def _cycle_or_depth(location: str, trail: tuple[str, ...]) -> str | None:
    """Why the sitemap at ``location`` (reached through ``trail``) must not be expanded."""
    if location in trail:
        loop = [*trail[trail.index(location) :], location]
        return "sitemap index cycle: " + " -> ".join(loop)
    if len(trail) > MAX_SITEMAP_DEPTH:
        return f"sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH} levels"
    return None


def _resolve_file(
    path: Path,
    source: str,
    settings: Settings,
    resolution: Resolution,
    hint: str | None,
    trail: tuple[str, ...] = (),
    politeness: Politeness | None = None,
) -> Iterator[Target]:
    """Targets of one local file; ``trail`` is the chain of sitemap indexes that led here."""
    name = path.name.lower()
    if name.endswith(ARCHIVE_SUFFIXES):
        yield Target("archive", str(path), source, hint)
        return
    if name.endswith(FEED_SUFFIXES):
        from ingest.discover import discover_feed, discover_sitemap, looks_like_feed

        data = _read_small(path)
        if isinstance(data, str):
            resolution.failures.append(
                Failure(url=file_uri(path), source=source, stage="read", reason=data)
            )
            return
        children: list[str] = []
        here = file_uri(path)
        if looks_like_feed(data):
            urls = discover_feed(data, here)
        else:
            urls, children = discover_sitemap(data, here)
            for child in children:  # a sitemap index: follow its (local or remote) sitemaps
                refused = link_refusal(child, here) or _cycle_or_depth(child, (*trail, here))
                if refused:
                    resolution.failures.append(_refused(child, source, refused))
                elif child.startswith("file://"):
                    child_path = Path(unquote(urlparse(child).path))
                    yield from _resolve_file(
                        child_path, source, settings, resolution, hint, (*trail, here), politeness
                    )
                else:
                    yield from _resolve_url(
                        child, settings, resolution, hint, (*trail, here), politeness
                    )
        if not urls and not children:
            resolution.failures.append(
                Failure(
                    url=file_uri(path), source=source, stage="read", reason="feed lists no pages"
                )
            )
        for url in urls:
            target = _target_for_link(url, here, source, hint)
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
    url: str,
    settings: Settings,
    resolution: Resolution,
    hint: str | None,
    trail: tuple[str, ...] = (),
    politeness: Politeness | None = None,
) -> Iterator[Target]:
    """A URL is a page unless its path looks like a feed or sitemap, which we fetch and expand.

    Sitemap indexes are followed at most ``MAX_SITEMAP_DEPTH`` levels deep; an index that leads
    back to itself is a failure row naming the cycle (``trail`` is the chain that led here).
    """
    path = urlparse(url).path.lower()
    looks_discoverable = path.endswith(FEED_SUFFIXES) or any(
        word in path for word in ("/feed", "/rss", "sitemap")
    )
    if not looks_discoverable:
        yield Target("url", url, url, hint)
        return
    from ingest.discover import discover_feed, discover_sitemap, looks_like_feed, looks_like_sitemap
    from ingest.fetch import Fetcher

    pending: list[tuple[str, tuple[str, ...]]] = [(url, trail)]
    visited: set[str] = set()
    with Fetcher(settings, politeness=politeness) as fetcher:
        while pending:
            current, chain = pending.pop(0)
            refused = _cycle_or_depth(current, chain)
            if refused:
                resolution.failures.append(
                    Failure(url=current, source=url, stage="discover", reason=refused)
                )
                continue
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
                        pending.append((child, (*chain, current)))
            else:
                yield Target("url", current, url, hint)


def _read_small(path: Path) -> bytes | str:
    """A feed or sitemap file, decompressed if gzipped; or why it cannot be used."""
    try:
        with open_regular(path) as raw:
            if path.name.lower().endswith(".gz"):
                data = decompress_bounded(raw, "gzip", MAX_FILE_BYTES)
            else:
                data = raw.read(MAX_FILE_BYTES + 1)
    except LocalFileError as error:
        return error.reason
    except TooLarge:
        return f"too large: over {MAX_FILE_BYTES} bytes"
    except (OSError, CorruptCompressed):
        return "unreadable file"
    return data if len(data) <= MAX_FILE_BYTES else f"too large: over {MAX_FILE_BYTES} bytes"


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
    result = read_html_file(path, source=source, max_body_bytes=max_bytes)
    if isinstance(result, RawPage) and language_hint:
        return result.model_copy(update={"language_hint": language_hint})
    return result


def read_local(target: Target, settings: Settings) -> Iterator[RawPage | Failure]:
    """The records of one local target (a page file or an archive), streamed one at a time.

    A local target named by a fetched (remote) feed or sitemap is refused, never read.
    """
    if is_web_url(target.origin):
        # the choke point (_target_for_link) never makes one; this is the local-read check
        reason = link_refusal(target.location, target.origin) or "refused: local target"
        yield _refused(target.location, target.source, reason)
    elif target.kind == "file":
        yield read_file(
            Path(target.location),
            target.source,
            target.language_hint,
            max_bytes=settings.extract_max_bytes,
        )
    else:
        try:
            for record in iter_archive(Path(target.location), source=target.source):
                if isinstance(record, RawPage) and target.language_hint:
                    record = record.model_copy(update={"language_hint": target.language_hint})
                yield record
        except (OSError, ArchiveError) as error:  # e.g. removed since the inputs were resolved
            why = describe_os_error(error) if isinstance(error, OSError) else str(error)
            reason = f"unreadable: {why}"
            yield Failure(
                url=file_uri(Path(target.location)),
                source=target.source,
                stage="read",
                reason=reason,
            )


@dataclass
class Batch:
    """Up to ``batch_size`` documents: pages already read from disk and URLs still to fetch."""

    read: list[RawPage | Failure] = field(default_factory=list)
    to_fetch: list[Target] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.read) + len(self.to_fetch)


def iter_batches(targets: Iterable[Target], settings: Settings, size: int) -> Iterator[Batch]:
    """Targets in batches of ``size`` documents, local ones read as the batches are taken.

    An archive is streamed record by record, so it becomes as many batches as it has
    documents / ``size`` and memory holds one batch, whatever the archive's size.
    """
    batch = Batch()
    for target in targets:
        if target.kind == "url":
            batch.to_fetch.append(target)
            if len(batch) >= size:
                yield batch
                batch = Batch()
            continue
        for record in read_local(target, settings):
            batch.read.append(record)
            if len(batch) >= size:
                yield batch
                batch = Batch()
    if len(batch):
        yield batch


def load_targets(
    targets: Iterable[Target],
    settings: Settings,
    *,
    force: bool = False,
    politeness: Politeness | None = None,
    validators: ValidatorStore | None = None,
) -> list[RawPage | Failure]:
    """Read files, fetch URLs (archiving every response first) and read archive records.

    ``force`` fetches unconditionally (no If-None-Match / If-Modified-Since). A run that loads
    in batches passes its one ``politeness`` (per-host delays, robots.txt cache) and
    ``validators`` (conditional GET) to every call, so they hold across batches.
    """
    results: list[RawPage | Failure] = []
    urls: list[Target] = []
    for target in targets:
        if target.kind == "url":
            urls.append(target)
        else:
            results.extend(read_local(target, settings))
    if urls:
        results.extend(
            fetch_targets(urls, settings, force=force, politeness=politeness, validators=validators)
        )
    return results


def fetch_targets(
    urls: Sequence[Target],
    settings: Settings,
    *,
    force: bool = False,
    politeness: Politeness | None = None,
    validators: ValidatorStore | None = None,
) -> list[RawPage | Failure]:
    """Fetch URL targets, archiving every response first, grouped by source and language hint.

    ``force`` fetches unconditionally (no If-None-Match / If-Modified-Since); ``politeness``
    and ``validators`` are the run's, so delays, robots.txt and validators hold across batches.
    """
    from ingest.archive import WarcArchive
    from ingest.fetch import Fetcher

    results: list[RawPage | Failure] = []
    groups: dict[tuple[str, str | None], list[str]] = {}
    for target in urls:
        groups.setdefault((target.source, target.language_hint), []).append(target.location)
    with (
        WarcArchive.from_settings(settings) as archive,
        Fetcher(settings, archive=archive, politeness=politeness, validators=validators) as fetcher,
    ):
        for (source, hint), locations in groups.items():
            results.extend(
                fetcher.fetch_many(
                    locations, source=source, language_hint=hint, conditional=not force
                )
            )
    return results
