"""Reader of WARC(.gz) files, ours or external (Common Crawl): one record at a time.

A gzipped WARC is read gzip member by member, so a torn or corrupt member is one failure row
and reading goes on with the next member; a plain WARC resynchronises on the next record.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator

from ingest.archive import (
    H_HINT,
    H_KIND,
    H_SOURCE,
    H_URL,
    is_html,
    media_type,
    parse_warc_date,
    storable_headers,
)
from ingest.fetch.decode import CorruptCompressed, Decompressor
from ingest.models import Failure, RawPage
from ingest.read.base import DEFAULT_MAX_BODY, GZIP_MAGIC, ArchiveError, expect_page, too_large

_GZIP_MAGIC = GZIP_MAGIC
_CHUNK = 1 << 16


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
        return fail("read", too_large(max_body))
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
        return expect_page(item, path, offset)
    raise ArchiveError(f"{path}:{offset}: no record there")
