"""Politeness: per-host concurrency and delay, Retry-After, Crawl-delay, backoff.

One ``Politeness`` belongs to one run and is handed to every ``Fetcher`` the run builds (one per
batch, per feed expansion…), so per-host delays, a host's ``Retry-After`` and the robots.txt
cache hold across batches instead of starting over with each new ``Fetcher``.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from ingest.config import Settings
from ingest.fetch.robots import RobotsCache

__all__ = ["HostGate", "Politeness", "Stopped", "backoff", "host_key", "retry_after"]


class Stopped(Exception):
    """The fetcher was closed while a request waited for its turn."""


class HostGate:
    """Per-host concurrency (semaphore) and minimum delay between request starts."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self.semaphore = threading.BoundedSemaphore(max(1, concurrency))
        self.delay = delay
        self.next_at = 0.0
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, stop: threading.Event) -> Iterator[None]:
        """Wait for a free slot and the host's next start time (``Stopped`` if ``stop`` is set)."""
        self.semaphore.acquire()
        try:
            while True:
                with self.lock:
                    now = time.monotonic()
                    if self.next_at <= now:
                        self.next_at = now + self.delay
                        break
                    pause = self.next_at - now
                if stop.wait(pause):
                    raise Stopped()
            yield
        finally:
            self.semaphore.release()

    def defer(self, seconds: float) -> None:
        """No request to this host starts for ``seconds`` (Retry-After, 429 backoff)."""
        with self.lock:
            self.next_at = max(self.next_at, time.monotonic() + seconds)


class Politeness:
    """The per-host gates and robots.txt cache of one run, shared by all its Fetchers."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self.concurrency = concurrency
        self.delay = delay
        self.robots = RobotsCache()
        self._gates: dict[str, HostGate] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Politeness:
        """Per-host concurrency and delay from ``per_host_concurrency`` / ``per_host_delay``."""
        return cls(settings.per_host_concurrency, settings.per_host_delay)

    def gate(self, host: str) -> HostGate:
        """The gate of ``host`` (a ``host_key``), made on first use."""
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = HostGate(self.concurrency, self.delay)
                self._gates[host] = gate
            return gate

    def slow_down(self, host: str, seconds: float) -> None:
        """Raise the minimum delay of ``host`` (a robots.txt Crawl-delay), never lower it."""
        gate = self.gate(host)
        with gate.lock:
            gate.delay = max(gate.delay, seconds)


def host_key(url: str) -> str:
    """Politeness key: the host name (and port), lower-case."""
    try:
        return urlsplit(url).netloc.lower().rsplit("@", 1)[-1]
    except ValueError:
        return ""


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d] for d = base * 2**attempt."""
    delay = min(cap, base * (2**attempt))
    return delay / 2 + random.random() * delay / 2


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
