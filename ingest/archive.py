"""The raw archive: WARC writing (before any processing), content types and our WARC fields.

Every fetched response and every fetch failure is written to a WARC file first, so any later
stage can be replayed from the bytes as received. Reading archives back (ours, external WARCs,
JSONL, folders of HTML) is ``ingest.read``; its names are still importable from here.
"""

from __future__ import annotations

import contextlib
import http
import io
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.errors import StoreUnwritable, unwritable_cause
from ingest.models import Failure, RawPage

if TYPE_CHECKING:
    from ingest.config import Settings

HTML_TYPES = ("text/html", "application/xhtml+xml")

# Our own WARC header fields (WARC allows extension fields).
H_URL = "WARC-Ingest-Url"  # requested URL, when it differs from WARC-Target-URI (redirects)
H_SOURCE = "WARC-Ingest-Source"
H_HINT = "WARC-Ingest-Language-Hint"
H_KIND = "WARC-Ingest-Kind"  # "failure" on our metadata records

# Headers that describe the transfer, not the body we keep (bodies are stored decoded).
_TRANSFER_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


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


# ---------------------------------------------------------------------------- reading (moved)

# Reading moved to ``ingest.read``, which imports the names above; they are looked up lazily
# (not imported here) so that importing either module first never meets a half-built other.
_MOVED_TO_READ = frozenset(
    {
        "ArchiveError",
        "DEFAULT_MAX_BODY",
        "HTML_SUFFIXES",
        "JSONL_SUFFIXES",
        "WARC_SUFFIXES",
        "check_archive_name",
        "is_archive_name",
        "iter_archive",
        "jsonl_line_cap",
        "read_bounded_line",
        "read_html_file",
        "read_record",
    }
)


def __getattr__(name: str) -> Any:
    """``from ingest.archive import iter_archive`` keeps working for code older than the move."""
    if name in _MOVED_TO_READ:
        import ingest.read

        return getattr(ingest.read, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
