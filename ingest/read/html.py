"""Reader of one local HTML file (optionally gzipped): the whole file is one page."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ingest.fetch.decode import CorruptCompressed, TooLarge, decompress_bounded
from ingest.localfiles import LocalFileError, open_regular
from ingest.models import Failure, RawPage
from ingest.read.base import DEFAULT_MAX_BODY, too_large


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
        return Failure(url=url, source=source, stage="read", reason=too_large(max_body_bytes))
    except (OSError, CorruptCompressed) as error:
        return Failure(url=url, source=source, stage="read", reason=f"unreadable file: {error}")
    if len(body) > max_body_bytes:
        return Failure(url=url, source=source, stage="read", reason=too_large(max_body_bytes))
    mtime = datetime.fromtimestamp(os.fstat(raw.fileno()).st_mtime, UTC)
    return RawPage(url=url, source=source, body=body, fetched_at=mtime)
