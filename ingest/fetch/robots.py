"""robots.txt rules (RFC 9309, parsed by protego) and their cache for one run.

Today's semantics: a missing robots.txt (4xx) allows everything; an unreachable one (5xx,
network) skips the host for ``ROBOTS_RETRY_AFTER`` seconds; rules and ``Crawl-delay`` (capped at
``MAX_CRAWL_DELAY``) are matched on the product token of the user agent (``ingest-bot`` of
``ingest-bot/0.1 (+…)``), the group naming it winning over ``*``. Fetching robots.txt is the
client's job: ``RobotsCache.rules`` is handed a loader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from protego import Protego

__all__ = ["RobotsCache", "RobotsRules", "product_token"]

ROBOTS_MAX_BYTES = 512_000
ROBOTS_TTL = 3600.0
ROBOTS_RETRY_AFTER = 60.0  # an unreadable robots.txt is asked again after this
MAX_CRAWL_DELAY = 60.0


def product_token(user_agent: str) -> str:
    """``ingest-bot/0.1 (+https://…)`` -> ``ingest-bot``: what robots.txt groups name."""
    return user_agent.split("/", 1)[0].strip().lower()


@dataclass
class RobotsRules:
    """The robots.txt of one origin, as far as it concerns us, until ``expires``."""

    parser: Protego | None  # None: everything allowed
    deny_reason: str | None  # set when robots.txt could not be read (RFC 9309: disallow all)
    expires: float

    @classmethod
    def allow_all(cls) -> RobotsRules:
        """No robots.txt (4xx, or it cannot be asked for): no restrictions."""
        return cls(None, None, time.monotonic() + ROBOTS_TTL)

    @classmethod
    def unavailable(cls, reason: str) -> RobotsRules:
        """robots.txt unreachable (5xx, network): the host is skipped, for a minute."""
        return cls(
            None,
            f"skipped: robots.txt unavailable ({reason})",
            time.monotonic() + ROBOTS_RETRY_AFTER,
        )

    @classmethod
    def parse(cls, body: bytes) -> RobotsRules:
        """Rules from the bytes of a robots.txt (invalid UTF-8 replaced, never an error)."""
        parser = Protego.parse(body.decode("utf-8", errors="replace"))
        return cls(parser, None, time.monotonic() + ROBOTS_TTL)

    def denial(self, url: str, user_agent: str) -> str | None:
        """Why ``url`` must not be fetched, or None when it may."""
        if self.deny_reason:
            return self.deny_reason
        if self.parser is not None and not self.parser.can_fetch(url, product_token(user_agent)):
            return "skipped: disallowed by robots.txt"
        return None

    def crawl_delay(self, user_agent: str) -> float | None:
        """Crawl-delay for ``user_agent`` in seconds (fractions allowed), capped."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(product_token(user_agent))
        return None if delay is None else min(float(delay), MAX_CRAWL_DELAY)


class RobotsCache:
    """robots.txt rules per origin (scheme://host:port), shared by every Fetcher of a run;
    an origin is loaded by one thread at a time, so it is asked for once."""

    def __init__(self) -> None:
        self._rules: dict[str, RobotsRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def rules(self, origin: str, load: Callable[[], RobotsRules]) -> RobotsRules:
        """The cached rules of ``origin``, ``load()``-ed when missing or expired."""
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            entry = self._rules.get(origin)
            if entry is None or entry.expires < time.monotonic():
                entry = load()
                self._rules[origin] = entry
            return entry
