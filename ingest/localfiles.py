"""Opening local inputs safely: regular files only, errors as one-line reasons.

Every command that reads a path the user gave (``ingest run``, ``ingest reprocess``,
``ingest extract``, local feeds and sitemaps) goes through here so that a FIFO or a device
named ``page.html`` never blocks or streams forever, and a permission problem becomes a
failure row instead of a traceback that aborts the whole run.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "LocalFileError",
    "Unreadable",
    "describe_os_error",
    "local_kind",
    "not_regular_reason",
    "open_regular",
    "walk_files",
]


class LocalFileError(OSError):
    """A local input that cannot be read; ``str(error)`` is a one-line reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(reason)
        self.path = str(path)
        self.filename = self.path  # so generic OSError handlers can name the file
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Unreadable:
    """A folder (or file) a walk could not enter, and why: reported, never skipped silently."""

    path: str
    reason: str


def describe_os_error(error: OSError) -> str:
    """``permission denied``, ``no such file or folder``… without the errno prefix."""
    if isinstance(error, LocalFileError):
        return error.reason
    if error.errno == errno.EACCES or isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, FileNotFoundError):
        return "no such file or folder"
    return (error.strerror or str(error) or type(error).__name__).lower()


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def not_regular_reason(path: str | os.PathLike[str]) -> str:
    """``not a regular file: a FIFO`` (a device, a socket, a folder…) for a special file."""
    try:
        return f"not a regular file: {_kind_of(os.stat(path).st_mode)}"
    except OSError as error:
        return f"cannot read: {describe_os_error(error)}"


def local_kind(path: str | os.PathLike[str]) -> str:
    """``"file"``, ``"folder"``, ``"missing"`` or ``"other"`` (FIFO, device, socket).

    Raises ``LocalFileError`` when the path cannot even be looked at (a parent folder is not
    searchable), so the caller can record that reason instead of a misleading "missing".
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as error:
        raise LocalFileError(path, f"cannot read: {describe_os_error(error)}") from error
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "other"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading, or raise ``LocalFileError`` saying why not.

    The file is opened with ``O_NONBLOCK`` so that opening a FIFO returns at once instead of
    waiting for a writer; it is refused after ``fstat`` (a FIFO or a device would block or
    never end), and blocking mode is restored for the regular file that is returned.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise LocalFileError(path, f"cannot read: {describe_os_error(error)}") from error
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise LocalFileError(path, f"not a regular file: {_kind_of(mode)}")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def walk_files(
    folder: Path, *, wanted: Callable[[str], bool], skip_hidden: bool = False
) -> Iterator[Path | Unreadable]:
    """Regular files under ``folder`` whose name ``wanted`` accepts, sorted, depth first.

    A subfolder that cannot be listed is yielded as ``Unreadable`` (``os.walk``'s ``onerror``)
    rather than skipped silently; FIFOs, devices and sockets with a wanted name are yielded as
    ``Unreadable`` too, so they are reported and never opened.
    """
    errors: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=errors.append):
        while errors:
            error = errors.pop(0)
            where = error.filename or root
            yield Unreadable(str(where), f"unreadable folder: {describe_os_error(error)}")
        if skip_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        dirs.sort()
        for name in sorted(files):
            if (skip_hidden and name.startswith(".")) or not wanted(name):
                continue
            child = Path(root) / name
            try:
                mode = os.stat(child).st_mode
            except OSError as error:
                yield Unreadable(str(child), f"cannot read: {describe_os_error(error)}")
                continue
            if stat.S_ISREG(mode):
                yield child
            else:
                yield Unreadable(str(child), f"not a regular file: {_kind_of(mode)}")
    while errors:  # the folder itself could not be listed
        error = errors.pop(0)
        where = error.filename or str(folder)
        yield Unreadable(str(where), f"unreadable folder: {describe_os_error(error)}")
