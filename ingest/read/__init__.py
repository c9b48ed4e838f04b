"""One reader for every local input: HTML files, folders, JSONL and WARC files, streamed.

``read`` (and ``iter_archive`` for one path) yields ``RawPage``s and ``Failure``s one record at a
time, so memory stays flat whatever the archive size; ``iter_positioned`` adds the byte position
that reprocess checkpoints and progress use. A reader per format (``html``, ``jsonl``, ``warc``)
turns one file into records: a folder is walked in sorted order (``ingest.localfiles``), a
corrupt record becomes a ``Failure(stage="read")`` and iteration goes on. ``ingest run`` and
``ingest reprocess`` both read through here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from ingest.localfiles import (
    LocalFileError,
    Unreadable,
    local_kind,
    open_regular,
    walk_files,
)
from ingest.models import Failure, RawPage
from ingest.read.base import (
    DEFAULT_MAX_BODY,
    GZIP_MAGIC,
    HTML_SUFFIXES,
    JSONL_SUFFIXES,
    WARC_SUFFIXES,
    ArchiveError,
    expect_page,
    has_suffix,
    too_large,
)
from ingest.read.html import _html_page, read_html_file
from ingest.read.jsonl import _iter_jsonl, _jsonl_item, jsonl_line_cap, read_bounded_line
from ingest.read.warc import _first_page, _iter_warc, _single_member

__all__ = [
    "DEFAULT_MAX_BODY",
    "HTML_SUFFIXES",
    "JSONL_SUFFIXES",
    "WARC_SUFFIXES",
    "ArchiveError",
    "Positioned",
    "archive_files",
    "check_archive_argument",
    "check_archive_name",
    "file_size",
    "is_archive_name",
    "iter_archive",
    "iter_positioned",
    "jsonl_line_cap",
    "read",
    "read_bounded_line",
    "read_html_file",
    "read_record",
    "resolved",
    "stat_or_none",
]

Record = RawPage | Failure


def read(
    paths: Iterable[str | Path], *, max_body_bytes: int = DEFAULT_MAX_BODY
) -> Iterator[Record]:
    """Every record of every path (file, folder, JSONL, WARC), in order, one at a time."""
    for path in paths:
        yield from iter_archive(Path(path), max_body_bytes=max_body_bytes)


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
        if has_suffix(path, WARC_SUFFIXES):
            yield from _iter_warc(handle, path, src, max_body_bytes)
        elif has_suffix(path, JSONL_SUFFIXES):
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


def read_record(archive_path: str, offset: int) -> RawPage:
    """The page stored at ``offset`` of a WARC (or JSONL) file, for reprocess-by-reference."""
    path = Path(archive_path)
    with open_regular(path) as fh:
        if has_suffix(path, JSONL_SUFFIXES):
            fh.seek(offset)
            line, _ = read_bounded_line(fh, jsonl_line_cap(DEFAULT_MAX_BODY))
            if line is None:
                raise ArchiveError(f"{path}:{offset}: {too_large(DEFAULT_MAX_BODY)}")
            item = _jsonl_item(line, path, 0, offset, str(path), DEFAULT_MAX_BODY)
            return expect_page(item, path, offset)
        fh.seek(offset)
        if fh.read(3) == GZIP_MAGIC:
            fh.seek(offset)
            member = _single_member(fh, offset)
            with member:
                return _first_page(ArchiveIterator(member), path, offset)
        fh.seek(offset)
        return _first_page(ArchiveIterator(fh), path, offset)


# ---------------------------------------------------------------------------- positions


def archive_files(path: Path) -> list[Path]:
    """The files ``iter_archive(path)`` reads, in its order (a file is its own list)."""
    try:
        if local_kind(path) != "folder":
            return [path]
    except LocalFileError:
        return [path]  # iter_archive records why it cannot be read
    # an unreadable subfolder or special file stays in the list: iter_archive records why
    return [
        Path(f.path) if isinstance(f, Unreadable) else f
        for f in walk_files(path, wanted=is_archive_name)
    ]


def stat_or_none(file: Path) -> os.stat_result | None:
    """``file.stat()``, or None when it cannot be looked at."""
    try:
        return file.stat()
    except OSError:
        return None  # unreadable: iter_archive records a failure row for it


def file_size(file: Path) -> int:
    """The size of ``file`` in bytes, 0 when it cannot be looked at."""
    found = stat_or_none(file)
    return found.st_size if found is not None else 0


@dataclass(frozen=True)
class Positioned:
    """A record and how far into its archive (in bytes of files read) the stream is."""

    record: Record
    position: int


def iter_positioned(path: Path, *, source: str | None = None) -> Iterator[Positioned]:
    """Records of one archive argument with a byte position for progress and ETA.

    The position is the offset of the record in its file (WARC, uncompressed JSONL) plus the
    sizes of the files before it; it jumps to the end of a file when the file is done.
    """
    base = 0
    src = source if source is not None else str(path)
    for file in archive_files(path):
        size = file_size(file)
        for record in iter_archive(file, source=src):
            offset = record.archive_offset or 0
            yield Positioned(record, base + min(offset, size))
        base += size


def resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when it cannot be resolved (a symlink loop):
    reading it then records the reason as a failure row."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def check_archive_argument(path: Path) -> None:
    """Refuse, before any run starts, an argument that is missing or not an archive.

    Raises ``FileNotFoundError`` or ``ArchiveError`` with a one-line message. A path that
    cannot be looked at (permission) passes: reading it records a failure row instead.
    """
    try:
        kind = local_kind(path)
    except LocalFileError:
        return
    if kind == "missing":
        raise FileNotFoundError(f"no such archive: {path}")
    if kind in ("file", "other"):  # a FIFO or device named like an archive: a failure row
        check_archive_name(path)
