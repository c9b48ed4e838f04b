"""Content decoding: the one bounded decompressor for gzip, deflate and brotli.

Every compressed body ingest reads (HTTP responses, gzipped pages and feeds on disk, WARC
members) goes through ``Decompressor``, whose output is bounded per step, so a gzip bomb never
inflates at once and a cap is enforced while decompressing, not after. ``decompress_bounded``
is the whole-body form (bytes or a stream in, bytes out, ``TooLarge`` past the cap).
Charsets are picked later, from the decoded bytes, by ``ingest.encoding.decode_html``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import IO, Any

try:  # brotli is a dependency, but everything else still works (without "br") if it is missing
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

__all__ = [
    "ACCEPT_ENCODING",
    "CorruptCompressed",
    "Decompressor",
    "TooLarge",
    "content_encodings",
    "decompress_bounded",
]

GZIP_MAGIC = b"\x1f\x8b"
ACCEPT_ENCODING = "gzip, deflate" + (", br" if brotli is not None else "")
_READ_CHUNK = 1 << 16


class TooLarge(ValueError):
    """The decompressed data exceeds the caller's cap (a gzip bomb, or just a big body)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decompressed data exceeds {limit} bytes")
        self.limit = limit


class CorruptCompressed(ValueError):
    """The compressed data is corrupt or ends early; the message is the decoder's own."""


def content_encodings(header: str | None) -> list[str]:
    """``Content-Encoding: gzip, br`` -> ["gzip", "br"] (in the order they were applied)."""
    return [
        e.strip().lower()
        for e in (header or "").split(",")
        if e.strip() and e.strip().lower() != "identity"
    ]


class Decompressor:
    """One content-encoding, with output bounded per call (so a bomb never inflates at once).

    ``concatenated``: gzip data may hold several members one after another (as files made with
    ``cat a.gz b.gz`` do, and as ``gzip`` reads them; other trailing bytes are ignored);
    otherwise the first member is the whole stream and what follows it is left in
    ``unused_data`` (the WARC reader needs that offset).
    Raises ``ValueError`` for an unsupported encoding and ``CorruptCompressed`` on bad data.
    """

    STEP = 1 << 18

    def __init__(self, encoding: str, *, concatenated: bool = False, step: int = STEP) -> None:
        self.encoding = encoding
        self.step = step
        self.concatenated = concatenated and encoding in ("gzip", "x-gzip")
        self._brotli: Any = None
        self._zlib: Any = None
        self._first = True
        self._pending = b""  # the start of a next gzip member, too short to check
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br":
            if brotli is None:  # pragma: no cover
                raise ValueError("brotli is not installed")
            self._brotli = brotli.Decompressor()
        else:
            raise ValueError(f"unsupported content-encoding {encoding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decompressed pieces of ``data``, each at most ``step`` bytes."""
        try:
            if self._brotli is not None:
                yield from self._feed_brotli(data)
            else:
                yield from self._feed_zlib(data)
        except zlib.error as error:
            raise CorruptCompressed(str(error)) from None
        except Exception as error:
            if brotli is not None and isinstance(error, brotli.error):
                raise CorruptCompressed(str(error)) from None
            raise

    def _feed_brotli(self, data: bytes) -> Iterator[bytes]:
        yield self._brotli.process(data, output_buffer_limit=self.step)
        while not self._brotli.can_accept_more_data():
            yield self._brotli.process(b"", output_buffer_limit=self.step)

    def _feed_zlib(self, data: bytes) -> Iterator[bytes]:
        if self._first and self.encoding == "deflate" and data:
            self._first = False
            probe = zlib.decompressobj()
            try:
                probe.decompress(data[:2])
            except zlib.error:  # raw deflate without the zlib header, as some servers send
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        data, self._pending = self._pending + data, b""
        while data:
            if self._zlib.eof:
                if not self.concatenated:
                    return  # trailing bytes after the stream stay in unused_data
                data = data.lstrip(b"\0")  # gzip files may be padded with zeros
                if len(data) < len(GZIP_MAGIC):  # wait for the rest of the next member
                    self._pending = data
                    return
                if not data.startswith(GZIP_MAGIC):
                    self.concatenated = False  # trailing garbage ends the data, as in browsers
                    return
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
            yield self._zlib.decompress(data, self.step)
            while self._zlib.unconsumed_tail and not self._zlib.eof:
                yield self._zlib.decompress(self._zlib.unconsumed_tail, self.step)
            data = self._zlib.unused_data if self.concatenated and self._zlib.eof else b""

    @property
    def finished(self) -> bool:
        """Whether the compressed stream ended properly (not truncated)."""
        if self._brotli is not None:
            return bool(self._brotli.is_finished())
        return bool(self._zlib.eof) and not self._pending

    @property
    def unused_data(self) -> bytes:
        """Bytes after the end of a single-member stream (empty for brotli)."""
        return b"" if self._zlib is None else bytes(self._zlib.unused_data)


def decompress_bounded(
    data: bytes | IO[bytes],
    encoding: str,
    max_bytes: int,
    *,
    partial: bool = False,
    truncated_ok: bool = False,
) -> bytes:
    """``data`` (bytes or a binary stream, read in chunks) decompressed, at most ``max_bytes``.

    Raises ``TooLarge`` past the cap and ``CorruptCompressed`` on corrupt or truncated data;
    ``truncated_ok`` keeps what a truncated stream gave; ``partial`` returns instead of raising
    what did decompress, up to the cap (for recovering parsers that read what they can).
    Gzip members may be concatenated, as ``gzip`` allows.
    """
    decompressor = Decompressor(encoding, concatenated=True)
    parts: list[bytes] = []
    total = 0
    empty = True
    try:
        for chunk in _chunks(data):
            empty = False
            for piece in decompressor.feed(chunk):
                parts.append(piece)
                total += len(piece)
                if total > max_bytes:
                    if partial:
                        return b"".join(parts)[:max_bytes]
                    raise TooLarge(max_bytes)
        if not decompressor.finished and not truncated_ok and not empty:
            raise CorruptCompressed("compressed data ends early (truncated)")
    except CorruptCompressed:
        if partial:
            return b"".join(parts)[:max_bytes]
        raise
    return b"".join(parts)


def _chunks(data: bytes | IO[bytes]) -> Iterator[bytes]:
    """Input in small pieces, so a step never copies a big unconsumed tail."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), _READ_CHUNK):
            yield bytes(view[start : start + _READ_CHUNK])
        return
    while chunk := data.read(_READ_CHUNK):
        yield chunk
