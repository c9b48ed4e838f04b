"""Fetching over HTTP(S): ``Fetcher`` and the parts it is made of.

``client`` (Fetcher: retries, conditional GET, fetch / fetch_document / fetch_many), ``guard``
(SSRF checks), ``politeness`` (per-host concurrency and delay, Retry-After, Crawl-delay; one per
run), ``robots`` (robots.txt via protego), ``decode`` (the one bounded decompressor, also used
for files and WARC members), ``validators`` (where conditional GET keeps ETag / Last-Modified).

``ingest.fetch.decode`` is imported by readers below the fetcher (archive, extract), so this
package imports the client lazily: importing ``ingest.fetch.decode`` never pulls in httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.fetch.client import Fetcher, FetchOutcome, is_unchanged
    from ingest.fetch.decode import CorruptCompressed, TooLarge, decompress_bounded
    from ingest.fetch.guard import Refused, address_refusal, check_url
    from ingest.fetch.politeness import Politeness
    from ingest.fetch.validators import MemoryValidators, ValidatorStore

__all__ = [
    "CorruptCompressed",
    "FetchOutcome",
    "Fetcher",
    "MemoryValidators",
    "Politeness",
    "Refused",
    "TooLarge",
    "ValidatorStore",
    "address_refusal",
    "check_url",
    "decompress_bounded",
    "is_unchanged",
]

_HOMES = {
    "FetchOutcome": "client",
    "Fetcher": "client",
    "is_unchanged": "client",
    "CorruptCompressed": "decode",
    "TooLarge": "decode",
    "decompress_bounded": "decode",
    "Refused": "guard",
    "address_refusal": "guard",
    "check_url": "guard",
    "Politeness": "politeness",
    "MemoryValidators": "validators",
    "ValidatorStore": "validators",
}


def __getattr__(name: str) -> Any:
    """``from ingest.fetch import Fetcher`` loads ``ingest.fetch.client`` on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ingest.fetch' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ingest.fetch.{home}"), name)
