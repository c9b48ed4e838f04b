"""Errors that stop a whole run instead of costing one document.

When the store or the raw archive cannot be written (disk full, read-only), every later write
fails the same way: recording one failure per document would print thousands of tracebacks and
store nothing. Writers raise `StoreUnwritable` instead, the pipeline lets it through, and the
flow and CLI stop starting new work and say so once.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

# OSError numbers that mean no later write can succeed either
_UNWRITABLE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_IOERR = 13, 8, 10
# PostgreSQL SQLSTATEs: disk_full, out_of_memory-class "insufficient resources", read-only
_PG_UNWRITABLE = {
    "53100": "disk full",
    "53000": "insufficient resources",
    "25006": "read-only transaction",
}


class StoreUnwritable(Exception):
    """The store (database) or the raw archive cannot be written: the run must stop.

    ``str()`` is the one line shown to the user, e.g.
    ``the store cannot be written: disk full (/data/ingest.db)``.
    """

    @classmethod
    def of(cls, what: str, cause: str, location: str) -> StoreUnwritable:
        return cls(f"the {what} cannot be written: {cause} ({location})")


def unwritable_cause(error: BaseException, location: str | Path | None = None) -> str | None:
    """Why ``error`` means nothing can be written any more ("disk full", …), or None when it
    concerns this one write only (a constraint, a bad value, a bug).

    Follows SQLAlchemy's ``orig`` and the exception chain to the driver's or the OS's error.
    ``location`` (a file or folder) turns SQLite's vague "disk I/O error" into "disk full"
    when that file system has no space left.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _UNWRITABLE_ERRNOS:
            return _UNWRITABLE_ERRNOS[current.errno]
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int):
            primary = code & 0xFF
            if primary == _SQLITE_FULL:
                return "disk full"
            if primary == _SQLITE_READONLY:
                return "read-only database"
            if primary == _SQLITE_IOERR:
                return "disk full" if _no_space_left(location) else "disk I/O error"
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate in _PG_UNWRITABLE:
            return _PG_UNWRITABLE[sqlstate]
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def _no_space_left(location: str | Path | None) -> bool:
    """True when the file system holding ``location`` has (almost) no free space."""
    if location is None:
        return False
    path = Path(location)
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free < 1024 * 1024
            except OSError:
                return False
    return False
