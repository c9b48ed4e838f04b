"""Reader of JSONL(.gz) files of ``{"url", "html"}`` lines; lines are read with a size cap."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ingest.archive import parse_warc_date
from ingest.models import Failure, RawPage
from ingest.read.base import too_large


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
        return fail(too_large(max_body), url)
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
