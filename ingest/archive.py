"""The raw archive: WARC writing (before any processing) and streaming reading of archives.

Every fetched response and every fetch failure is written to a WARC file first, so any later
stage can be replayed from the bytes as received. Reading accepts our WARC files, external
Common-Crawl-style WARCs (one gzip member per record), folders of ``.html``/``.html.gz`` files
and JSONL files with ``{"url", "html"}`` lines. Readers are streamed (one record in memory at a
time); a corrupt record becomes a ``Failure(stage="read")`` and iteration goes on.
"""

from __future__ import annotations

import contextlib
import gzip
import http
import io
import json
import os
import secrets
import tempfile
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.errors import StoreUnwritable, unwritable_cause
from ingest.fetch.decode import CorruptCompressed, Decompressor, TooLarge, decompress_bounded
from ingest.localfiles import (
    LocalFileError,
    Unreadable,
    local_kind,
    open_regular,
    walk_files,
)
from ingest.models import Failure, RawPage

if TYPE_CHECKING:
    from ingest.config import Settings

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz")
HTML_TYPES = ("text/html", "application/xhtml+xml")
DEFAULT_MAX_BODY = 50_000_000  # cap for one record's body when reading archives

# Our own WARC header fields (WARC allows extension fields).
H_URL = "WARC-Ingest-Url"  # requested URL, when it differs from WARC-Target-URI (redirects)
H_SOURCE = "WARC-Ingest-Source"
H_HINT = "WARC-Ingest-Language-Hint"
H_KIND = "WARC-Ingest-Kind"  # "failure" on our metadata records

# Headers that describe the transfer, not the body we keep (bodies are stored decoded).
_TRANSFER_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
_GZIP_MAGIC = b"\x1f\x8b\x08"
_CHUNK = 1 << 16


class ArchiveError(ValueError):
    """A record that cannot be read back as a page."""


# ---------------------------------------------------------------------------- content types


def media_type(content_type: str | None) -> str:
    """``text/html; charset=utf-8`` -> ``text/html`` (lower-case, '' when missing)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_html(body: bytes) -> bool:
    """Whether the first bytes look like an HTML document (for responses without a type)."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title"))


def is_html(content_type: str | None, body: bytes = b"") -> bool:
    """HTML by declared type; untyped or ``application/octet-stream`` bodies are sniffed."""
    kind = media_type(content_type)
    if kind in HTML_TYPES:
        return True
    if kind in ("", "application/octet-stream", "text/plain"):
        return sniff_html(body)
    return False


# ---------------------------------------------------------------------------- writing


def warc_date(moment: datetime) -> str:
    """WARC/1.1 date with microseconds, always UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _one_line(value: str) -> str:
    return " ".join(value.split())


def storable_headers(headers: dict[str, str]) -> dict[str, str]:
    """Response headers minus the transfer ones, since the body is kept decoded."""
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _TRANSFER_HEADERS}


class WarcArchive:
    """Rotating, thread-safe WARC writer; each record is its own gzip member, flushed and fsynced.

    A new file is started per instance (never appending to an old, possibly torn file) and
    whenever the current one passes ``max_file_bytes``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_file_bytes: int = 1_000_000_000,
        fsync: bool = True,
        prefix: str = "ingest",
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_file_bytes = max_file_bytes
        self.fsync = fsync
        self.prefix = prefix
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._synced: dict[str, int] = {}
        self._token = secrets.token_hex(3)
        self._seq = 0
        self._fh: IO[bytes] | None = None
        self._writer: WARCWriter | None = None
        self._path: Path | None = None
        self.files: list[Path] = []  # every file this instance wrote, in order

    @classmethod
    def from_settings(cls, settings: Settings) -> WarcArchive:
        """The archive under ``settings.resolved_archive_dir()``, rotated at ``warc_max_bytes``."""
        return cls(settings.resolved_archive_dir(), max_file_bytes=settings.warc_max_bytes)

    # -- lifecycle
    def __enter__(self) -> WarcArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._retire()

    @property
    def current_path(self) -> Path | None:
        return self._path

    def _retire(self) -> None:
        """Close the current file, fsynced first (writers waiting to sync rely on that)."""
        if self._fh is not None:
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            self._fh.close()
        self._fh = self._writer = self._path = None

    def _open_next(self) -> None:
        self._retire()
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._token}-{self._seq:05d}.warc.gz"
        self._seq += 1
        path = self.directory / name
        fh = open(path, "xb")  # noqa: SIM115 - kept open across writes, closed in close()
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        from ingest import __version__

        info = writer.create_warcinfo_record(
            name, {"software": f"ingest/{__version__} (warcio)", "format": "WARC File Format 1.1"}
        )
        writer.write_record(info)
        self._fh, self._writer, self._path = fh, writer, path
        self.files.append(path)

    def _write(self, build: Any) -> tuple[str, int]:
        """Write the record made by ``build(writer)``; return (file, offset of its gzip member).

        The record is serialised and compressed outside the lock (threads compress in
        parallel); only the append is serialised. Durability uses group commit: one fsync
        covers every record appended before it, so concurrent writers share fsyncs.
        """
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
        writer.write_record(build(writer))
        data = buffer.getvalue()
        try:
            with self._lock:
                if self._fh is None or self._fh.tell() >= self.max_file_bytes:
                    self._open_next()
                assert self._fh is not None and self._path is not None
                offset = self._fh.tell()
                try:
                    self._fh.write(data)
                    self._fh.flush()
                except BaseException:
                    # Never leave a torn record in the middle of a file that is written to again.
                    with contextlib.suppress(OSError):
                        self._fh.truncate(offset)
                        self._fh.seek(offset)
                    raise
                path = str(self._path)
            if self.fsync:
                self._group_sync(path, offset + len(data))
        except OSError as error:
            # raw bytes are archived before anything else: if they cannot be, the run stops
            cause = unwritable_cause(error)
            if cause is None:
                raise
            raise StoreUnwritable.of("archive", cause, str(self.directory)) from error
        return path, offset

    def _group_sync(self, path: str, end: int) -> None:
        with self._sync_lock:
            if self._synced.get(path, -1) >= end:
                return  # another writer's fsync already covered this record
            with self._lock:
                if self._fh is None or str(self._path) != path:
                    return  # rotated or closed since: that fsynced the file
                upto = self._fh.tell()
                fd = os.dup(self._fh.fileno())  # stays valid even if the file is rotated now
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced[path] = upto

    # -- public
    def write_page(self, page: RawPage) -> RawPage:
        """Archive the page (a WARC response, or a resource for status-less pages)."""
        target = page.final_url or page.url
        warc_headers = {"WARC-Date": warc_date(page.fetched_at), H_SOURCE: _one_line(page.source)}
        if target != page.url:
            warc_headers[H_URL] = page.url
        if page.language_hint:
            warc_headers[H_HINT] = page.language_hint
        headers = storable_headers(page.headers)

        def build(writer: WARCWriter) -> Any:
            if page.http_status is None:
                ctype = headers.get("content-type") or "text/html"
                return writer.create_warc_record(
                    target,
                    "resource",
                    payload=io.BytesIO(page.body),
                    length=len(page.body),
                    warc_content_type=ctype,
                    warc_headers_dict=warc_headers,
                )
            items = [(k, _one_line(v)) for k, v in headers.items()]
            items.append(("content-length", str(len(page.body))))
            try:
                phrase = http.HTTPStatus(page.http_status).phrase
            except ValueError:
                phrase = ""
            http_headers = StatusAndHeaders(
                f"{page.http_status} {phrase}".strip(), items, "HTTP/1.1"
            )
            return writer.create_warc_record(
                target,
                "response",
                payload=io.BytesIO(page.body),
                length=len(page.body),
                warc_headers_dict=warc_headers,
                http_headers=http_headers,
            )

        path, offset = self._write(build)
        return page.model_copy(update={"archive_path": path, "archive_offset": offset})

    def write_failure(self, failure: Failure) -> Failure:
        """Archive a failure (no usable response) as a WARC metadata record with a JSON body."""
        payload = json.dumps(
            {
                "url": failure.url,
                "source": failure.source,
                "stage": failure.stage,
                "reason": failure.reason,
                "content_hash": failure.content_hash,
                "at": failure.at.isoformat(),
            },
            ensure_ascii=False,
        ).encode("utf-8")
        warc_headers = {
            "WARC-Date": warc_date(failure.at),
            H_KIND: "failure",
            H_SOURCE: _one_line(failure.source),
        }

        def build(writer: WARCWriter) -> Any:
            return writer.create_warc_record(
                failure.url,
                "metadata",
                payload=io.BytesIO(payload),
                length=len(payload),
                warc_content_type="application/json",
                warc_headers_dict=warc_headers,
            )

        path, offset = self._write(build)
        return failure.model_copy(update={"archive_path": path, "archive_offset": offset})


# ---------------------------------------------------------------------------- reading


def _has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    return path.name.lower().endswith(suffixes)


def iter_archive(
    path: Path, *, source: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY
) -> Iterator[RawPage | Failure]:
    """Pages (and failures) from a WARC(.gz) file, a JSONL(.gz) file, or a folder (recursively).

    In a folder, ``.html``/``.html.gz`` files become pages whose identity is
    ``Path.resolve().as_uri()``; WARC and JSONL files inside it are read too; other files are
    ignored. Streamed: memory stays flat whatever the archive size.
    """
    path = Path(path)
    src = source if source is not None else str(path)
    try:
        kind = local_kind(path)
    except LocalFileError as error:
        yield _unreadable_failure(path, src, error.reason)
        return
    if kind == "folder":
        for child in walk_files(path, wanted=is_archive_name):
            if isinstance(child, Unreadable):
                yield _unreadable_failure(Path(child.path), src, child.reason)
            else:
                yield from iter_archive(child, source=src, max_body_bytes=max_body_bytes)
        return
    if kind == "missing":
        raise FileNotFoundError(path)
    check_archive_name(path)
    try:
        handle = open_regular(path)
    except LocalFileError as error:
        yield _unreadable_failure(path, src, error.reason)
        return
    with handle:
        if _has_suffix(path, WARC_SUFFIXES):
            yield from _iter_warc(handle, path, src, max_body_bytes)
        elif _has_suffix(path, JSONL_SUFFIXES):
            yield from _iter_jsonl(handle, path, src, max_body_bytes)
        else:
            yield _html_page(handle, path, src, max_body_bytes)


def is_archive_name(name: str) -> bool:
    """Whether ``iter_archive`` reads a file of this name (WARC, JSONL or HTML)."""
    return name.lower().endswith(HTML_SUFFIXES + WARC_SUFFIXES + JSONL_SUFFIXES)


def check_archive_name(path: Path) -> None:
    """Raise ``ArchiveError`` for a file ``iter_archive`` cannot read, before reading it."""
    if not is_archive_name(path.name):
        raise ArchiveError(
            f"{path}: not a WARC, JSONL or HTML file "
            f"(expected one of {', '.join(WARC_SUFFIXES + JSONL_SUFFIXES + HTML_SUFFIXES)})"
        )


def _unreadable_failure(path: Path, source: str, reason: str) -> Failure:
    return Failure(
        url=path.absolute().as_uri(), source=source, stage="read", reason=reason, archive_path=None
    )


def read_html_file(
    path: Path, *, source: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY
) -> RawPage | Failure:
    """One local HTML file (optionally gzipped) as a page; identity is its file:// URI."""
    path = Path(path)
    src = source if source is not None else str(path)
    try:
        handle = open_regular(path)
    except LocalFileError as error:
        return Failure(url=path.absolute().as_uri(), source=src, stage="read", reason=error.reason)
    with handle:
        return _html_page(handle, path, src, max_body_bytes)


def _html_page(raw: IO[bytes], path: Path, source: str, max_body_bytes: int) -> RawPage | Failure:
    """The page in an open HTML(.gz) file, read at most ``max_body_bytes + 1`` bytes."""
    url = path.resolve().as_uri()
    try:
        if path.name.endswith(".gz"):
            body = decompress_bounded(raw, "gzip", max_body_bytes)
        else:
            body = raw.read(max_body_bytes + 1)
    except TooLarge:
        return Failure(url=url, source=source, stage="read", reason=_too_large(max_body_bytes))
    except (OSError, CorruptCompressed) as error:
        return Failure(url=url, source=source, stage="read", reason=f"unreadable file: {error}")
    if len(body) > max_body_bytes:
        return Failure(url=url, source=source, stage="read", reason=_too_large(max_body_bytes))
    mtime = datetime.fromtimestamp(os.fstat(raw.fileno()).st_mtime, UTC)
    return RawPage(url=url, source=source, body=body, fetched_at=mtime)


def _too_large(cap: int) -> str:
    return f"too large: body exceeds {cap} bytes"


# -- JSONL


def jsonl_line_cap(max_body: int) -> int:
    """Longest JSONL line read into memory: the body cap, doubled for JSON escaping, plus 1 MiB
    for the other fields. Longer lines are skipped in bounded chunks and recorded as too large."""
    return 2 * max_body + (1 << 20)


def read_bounded_line(stream: IO[bytes], cap: int) -> tuple[bytes | None, int]:
    """(line, bytes consumed): the next line if at most ``cap`` bytes, else (None, its length).

    An over-long line is never held in memory: after ``readline(cap)`` the rest of it is read
    and dropped in 1 MiB chunks up to its newline. At the end of the stream: (b"", 0).
    """
    line = stream.readline(cap + 1)
    if len(line) <= cap or line.endswith(b"\n"):
        return line, len(line)
    consumed = len(line)
    del line
    while True:
        chunk = stream.readline(1 << 20)
        consumed += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return None, consumed


def _iter_jsonl(
    raw: IO[bytes], path: Path, source: str, max_body: int
) -> Iterator[RawPage | Failure]:
    compressed = path.name.lower().endswith(".gz")
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if compressed else raw
    cap = jsonl_line_cap(max_body)
    offset = 0
    number = 0
    while True:
        number += 1
        where = f"{path.resolve().as_uri()}#line={number}"
        try:
            line, consumed = read_bounded_line(stream, cap)
        except (OSError, EOFError, zlib.error) as error:
            yield Failure(
                url=where,
                source=source,
                stage="read",
                reason=f"corrupt compressed stream: {error}",
                archive_path=str(path),
            )
            return
        if line is not None and not line:
            return
        here = None if compressed else offset
        offset += consumed
        if line is None:
            yield Failure(
                url=where,
                source=source,
                stage="read",
                reason=f"too large: line {number} exceeds {cap} bytes",
                archive_path=str(path),
                archive_offset=here,
            )
            continue
        if not line.strip():
            continue
        yield _jsonl_item(line, path, number, here, source, max_body)


def _jsonl_item(
    line: bytes, path: Path, number: int, offset: int | None, source: str, max_body: int
) -> RawPage | Failure:
    where = f"{path.resolve().as_uri()}#line={number}"

    def fail(reason: str, url: str = where) -> Failure:
        return Failure(
            url=url,
            source=source,
            stage="read",
            reason=reason,
            archive_path=str(path),
            archive_offset=offset,
        )

    try:
        item = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        return fail(f"bad JSON on line {number}: {error}")
    if not isinstance(item, dict):
        return fail(f"line {number}: expected an object with url and html")
    url = item.get("url")
    html = item.get("html")
    if not isinstance(url, str) or not url:
        return fail(f"line {number}: missing 'url'")
    if not isinstance(html, str):
        return fail(f"line {number}: missing 'html'", url)
    body = html.encode("utf-8")
    if len(body) > max_body:
        return fail(_too_large(max_body), url)
    headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
    headers = {str(k).lower(): str(v) for k, v in headers.items()}
    # The text was decoded already: whatever charset the page declared, these bytes are UTF-8.
    headers["content-type"] = "text/html; charset=utf-8"
    status = item.get("status")
    fields: dict[str, Any] = {
        "url": url,
        "source": source,
        "body": body,
        "headers": headers,
        "http_status": status if isinstance(status, int) else None,
        "final_url": item.get("final_url") if isinstance(item.get("final_url"), str) else None,
        "language_hint": _str_or_none(item.get("language_hint") or item.get("language")),
        "archive_path": str(path),
        "archive_offset": offset,
    }
    fetched = item.get("fetched_at")
    if isinstance(fetched, str) and (moment := parse_warc_date(fetched)):
        fields["fetched_at"] = moment
    else:  # deterministic (re-reading gives an equal page): the file's modification time
        fields["fetched_at"] = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return RawPage(**fields)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# -- WARC


def _iter_warc(
    fh: IO[bytes], path: Path, source: str, max_body: int
) -> Iterator[RawPage | Failure]:
    head = fh.read(3)
    fh.seek(0)
    if head == _GZIP_MAGIC:
        yield from _iter_warc_members(fh, path, source, max_body)
    else:
        yield from _iter_warc_plain(fh, path, source, max_body)


def _iter_warc_members(
    fh: IO[bytes], path: Path, source: str, max_body: int
) -> Iterator[RawPage | Failure]:
    """Gzip member by member, so a torn or corrupt member costs that record only."""
    for offset, stream, error in _gzip_members(fh, record_cap=max_body + (1 << 20)):
        if error is not None:
            yield _read_failure(path, offset, source, error)
            continue
        assert stream is not None
        with stream:
            first = True
            try:
                iterator = ArchiveIterator(stream)
                for record in iterator:
                    item = _record_to_item(
                        record, path, offset if first else None, source, max_body
                    )
                    first = False
                    if item is not None:
                        yield item
            except Exception as exc:  # warcio raises assorted errors on bad headers
                yield _read_failure(path, offset, source, f"bad WARC record: {_describe(exc)}")


def _gzip_members(
    fh: IO[bytes], *, record_cap: int, start: int = 0, size: int | None = None
) -> Iterator[tuple[int, IO[bytes] | None, str | None]]:
    """Yield (offset, decompressed member, None) or (offset, None, error) for each gzip member.

    Decompression is bounded (``max_length``) and spooled to disk past 16 MB, so neither a big
    record nor a gzip bomb can blow memory; bytes past ``record_cap`` are decompressed but dropped.
    """
    if size is None:
        size = os.fstat(fh.fileno()).st_size
    offset = start
    while offset < size:
        fh.seek(offset)
        if fh.read(3) != _GZIP_MAGIC:
            rest = fh.read(_CHUNK)
            if not rest.strip(b"\x00\r\n\t "):  # padding at the end of a file
                return
            following = _find(fh, _GZIP_MAGIC, offset + 1, size)
            yield offset, None, "not a gzip member (garbage between records)"
            offset = following
            continue
        spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - handed to caller
        decomp = Decompressor("gzip", step=_CHUNK * 16)
        written = 0
        position = offset
        fh.seek(offset)
        error: str | None = None
        end = size
        try:
            while not decomp.finished:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    error = "truncated gzip member (file ends inside the record)"
                    break
                position += len(chunk)
                for data in decomp.feed(chunk):
                    if written < record_cap:
                        spool.write(data[: record_cap - written])
                    written += len(data)
            if decomp.finished:
                end = position - len(decomp.unused_data)
        except CorruptCompressed as exc:
            error = f"corrupt gzip member: {exc}"
        if error is not None:
            spool.close()
            following = _find(fh, _GZIP_MAGIC, offset + 1, size)
            yield offset, None, error
            offset = following
            continue
        spool.seek(0)
        yield offset, spool, None
        offset = end


def _find(fh: IO[bytes], needle: bytes, start: int, size: int) -> int:
    """Offset of the next ``needle`` at or after ``start`` (``size`` when there is none)."""
    position = start
    overlap = len(needle) - 1
    while position < size:
        fh.seek(position)
        block = fh.read(_CHUNK)
        if not block:
            break
        found = block.find(needle)
        if found >= 0:
            return position + found
        if len(block) <= overlap:
            break
        position += len(block) - overlap
    return size


def _iter_warc_plain(
    fh: IO[bytes], path: Path, source: str, max_body: int
) -> Iterator[RawPage | Failure]:
    """Uncompressed WARC; after a bad record, resynchronise on the next ``WARC/1.`` line."""
    size = os.fstat(fh.fileno()).st_size
    position = 0
    while position < size:
        fh.seek(position)
        iterator = ArchiveIterator(fh)
        start = position
        try:
            for record in iterator:
                start = iterator.offset
                item = _record_to_item(record, path, start, source, max_body)
                if item is not None:
                    yield item
            return
        except Exception as exc:
            yield _read_failure(path, start, source, f"bad WARC record: {_describe(exc)}")
            following = _find(fh, b"\nWARC/1.", start + 1, size)
            position = following + 1 if following < size else size


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def _read_failure(path: Path, offset: int | None, source: str, reason: str) -> Failure:
    return Failure(
        url=f"{path.resolve().as_uri()}#offset={offset}",
        source=source,
        stage="read",
        reason=reason,
        archive_path=str(path),
        archive_offset=offset,
    )


def _record_to_item(
    record: Any, path: Path, offset: int | None, source: str, max_body: int
) -> RawPage | Failure | None:
    """A page, a failure, or None for records that are not documents (warcinfo, request, …)."""
    kind = record.rec_type
    warc = record.rec_headers
    target = (warc.get_header("WARC-Target-URI") or "").strip().strip("<>")
    url = warc.get_header(H_URL) or target
    src = warc.get_header(H_SOURCE) or source
    at = parse_warc_date(warc.get_header("WARC-Date"))
    base: dict[str, Any] = {"archive_path": str(path), "archive_offset": offset}

    def fail(stage: str, reason: str) -> Failure:
        extra = {"at": at} if at else {}
        return Failure(url=url or target, source=src, stage=stage, reason=reason, **base, **extra)

    if kind == "metadata" and warc.get_header(H_KIND) == "failure":
        try:
            data = json.loads(record.content_stream().read(1 << 20))
            return Failure(
                url=data.get("url") or url,
                source=data.get("source") or src,
                stage=data.get("stage") or "fetch",
                reason=data.get("reason") or "unknown",
                content_hash=data.get("content_hash"),
                at=parse_warc_date(data.get("at")) or at or datetime.now(UTC),
                **base,
            )
        except (ValueError, AttributeError) as exc:
            return fail("read", f"bad failure record: {exc}")
    if kind not in ("response", "resource"):
        return None
    if not target.lower().startswith(("http://", "https://", "file:")):
        return None  # dns:, whois:, … records of crawlers
    status: int | None = None
    headers: dict[str, str] = {}
    if record.http_headers is not None and kind == "response":
        try:
            status = int(record.http_headers.get_statuscode())
        except (TypeError, ValueError):
            return fail("read", "bad HTTP status line")
        for name, value in record.http_headers.headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        content_type = headers.get("content-type")
    else:
        content_type = warc.get_header("Content-Type")
        if content_type:
            headers["content-type"] = content_type
    try:
        body = record.content_stream().read(max_body + 1)
    except Exception as exc:  # truncated or corrupt payload encoding
        return fail("read", f"bad record payload: {_describe(exc)}")
    remaining = getattr(record.raw_stream, "limit", 0)
    if len(body) <= max_body and isinstance(remaining, int) and remaining > 0:
        return fail("read", f"truncated record: {remaining} bytes missing")
    if len(body) > max_body:
        return fail("read", _too_large(max_body))
    if status is not None and not 200 <= status < 300:
        return fail("fetch", f"http {status}")
    if not is_html(content_type, body):
        return fail("read", f"skipped: not HTML ({media_type(content_type) or 'unknown'})")
    page: dict[str, Any] = {
        "url": url,
        "source": src,
        "body": body,
        "final_url": target or None,
        "http_status": status,
        "headers": storable_headers(headers),
        "language_hint": warc.get_header(H_HINT),
        **base,
    }
    if at:
        page["fetched_at"] = at
    return RawPage(**page)


def read_record(archive_path: str, offset: int) -> RawPage:
    """The page stored at ``offset`` of a WARC (or JSONL) file, for reprocess-by-reference."""
    path = Path(archive_path)
    with open_regular(path) as fh:
        if _has_suffix(path, JSONL_SUFFIXES):
            fh.seek(offset)
            line, _ = read_bounded_line(fh, jsonl_line_cap(DEFAULT_MAX_BODY))
            if line is None:
                raise ArchiveError(f"{path}:{offset}: {_too_large(DEFAULT_MAX_BODY)}")
            item = _jsonl_item(line, path, 0, offset, str(path), DEFAULT_MAX_BODY)
            return _expect_page(item, path, offset)
        fh.seek(offset)
        if fh.read(3) == _GZIP_MAGIC:
            fh.seek(offset)
            member = _single_member(fh, offset)
            with member:
                return _first_page(ArchiveIterator(member), path, offset)
        fh.seek(offset)
        return _first_page(ArchiveIterator(fh), path, offset)


def _single_member(fh: IO[bytes], offset: int) -> IO[bytes]:
    size = os.fstat(fh.fileno()).st_size
    cap = DEFAULT_MAX_BODY + (1 << 20)
    for _, stream, error in _gzip_members(fh, record_cap=cap, start=offset, size=size):
        if error is not None:
            raise ArchiveError(f"{fh.name}:{offset}: {error}")
        assert stream is not None
        return stream
    raise ArchiveError(f"{fh.name}:{offset}: no record there")


def _first_page(iterator: ArchiveIterator, path: Path, offset: int) -> RawPage:
    for record in iterator:
        item = _record_to_item(record, path, offset, str(path), DEFAULT_MAX_BODY)
        if item is None:
            raise ArchiveError(f"{path}:{offset}: a {record.rec_type} record, not a page")
        return _expect_page(item, path, offset)
    raise ArchiveError(f"{path}:{offset}: no record there")


def _expect_page(item: RawPage | Failure, path: Path, offset: int) -> RawPage:
    if isinstance(item, Failure):
        raise ArchiveError(f"{path}:{offset}: not a page ({item.reason})")
    return item
