"""What every format reader shares: file-name suffixes, the body cap, and its error type."""

from __future__ import annotations

from pathlib import Path

from ingest.models import Failure, RawPage

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz")
DEFAULT_MAX_BODY = 50_000_000  # cap for one record's body when reading archives
GZIP_MAGIC = b"\x1f\x8b\x08"


class ArchiveError(ValueError):
    """A record that cannot be read back as a page."""


def has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether the file name ends with one of ``suffixes``, whatever its case."""
    return path.name.lower().endswith(suffixes)


def too_large(cap: int) -> str:
    """The one reason every reader gives for a body over the cap."""
    return f"too large: body exceeds {cap} bytes"


def expect_page(item: RawPage | Failure, path: Path, offset: int) -> RawPage:
    """The page read back by reference, or ``ArchiveError`` when the record is not one."""
    if isinstance(item, Failure):
        raise ArchiveError(f"{path}:{offset}: not a page ({item.reason})")
    return item
