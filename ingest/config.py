"""Settings, read from environment variables (prefix ``INGEST_``) or passed explicitly.

Everything lives under one home folder by default so a demo or a test can be isolated by
pointing ``INGEST_HOME`` somewhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The 16 languages of the language-identification benchmark plus a few common news languages.
DEFAULT_LANGUAGES = [
    "en", "ko", "zh", "ja", "de", "fr", "es", "pt", "it", "ru",
    "ar", "hi", "id", "th", "tr", "vi", "nl", "pl", "uk",
]  # fmt: skip


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ingest"


class Settings(BaseSettings):
    """All knobs of the library. CLI flags override these; these override the defaults."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    store_url: str | None = None  # SQLAlchemy URL; default sqlite:///<home>/ingest.db
    archive_dir: Path | None = None  # default <home>/archive
    packages_dir: Path | None = None  # translation packages; default <home>/packages
    languages: list[str] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES))
    target_language: str = "en"
    # documents per batch (one load and one process task each): large enough that Prefect's
    # ~50 ms per task stays under 10 % of the work (benchmarks/orchestration.py)
    batch_size: int = 128
    extract_max_bytes: int = 50 * 1024 * 1024  # larger pages fail extraction ("page too large")
    # reader comments are not the source's text: kept (as "comment" paragraphs after the body)
    # only when asked for
    include_comments: bool = False
    # Translation engine (see ingest.translate.engine and benchmarks/translation.py).
    translate_beam_size: int = 1  # 1 = greedy, ~3x faster than argos' beam 4
    translate_max_batch_size: int = 64  # hypotheses (sentences x beam) per batch
    translate_threads: int | None = None  # CPU threads per model; default: all usable cores
    translate_max_decoding_length: int = 256  # output tokens per sentence, at most
    # Paragraphs whose translation confidence (exp of the model's mean token log-probability,
    # 0..1) is below this are marked low-confidence; a document whose foreign text is mostly
    # low-confidence gets the status "low-confidence". None (default): each package's own
    # measured threshold, else ingest.translate.confidence.DEFAULT_MIN_CONFIDENCE (README,
    # "Translation confidence").
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)

    # Fetching (ingest.fetch). Politeness is per host (host:port); retries cover network errors,
    # 408, 429 and 5xx; a Retry-After longer than fetch_max_retry_after gives up instead of waiting.
    user_agent: str = "ingest-bot/0.1 (+https://github.com/ingest/ingest)"
    fetch_connect_timeout: float = 10.0  # seconds
    fetch_read_timeout: float = 30.0  # seconds without a byte arriving
    fetch_total_timeout: float = 120.0  # seconds for one attempt, headers to last byte
    fetch_retries: int = 3  # extra attempts after the first
    fetch_backoff_base: float = 1.0  # seconds; attempt n waits ~base * 2**n, with jitter
    fetch_backoff_max: float = 60.0
    fetch_max_retry_after: float = 120.0  # seconds; longer Retry-After -> give up on the URL
    fetch_workers: int = 16  # threads of Fetcher.fetch_many
    per_host_concurrency: int = 2  # requests in flight per host
    per_host_delay: float = 1.0  # seconds between request starts on one host
    max_redirects: int = 5
    max_bytes: int = 10_000_000  # body cap, after decompression
    respect_robots: bool = True
    conditional_get: bool = True  # ETag / Last-Modified; a 304 yields "unchanged (304)"
    allow_loopback: bool = False  # SSRF guard: allow 127.0.0.0/8 and ::1 (local testing)
    warc_max_bytes: int = 1_000_000_000  # rotate WARC files past this size
    # The local Prefect server of runs without PREFECT_API_URL (flows.local_server): kept this
    # many minutes after its last use (0 = a temporary server per run), with the Prefect UI.
    server_idle_minutes: float = Field(default=15.0, ge=0)
    server_ui: bool = True
    # INGEST_SECRET_QUERY_KEYS (query keys whose values are redacted) is read by ingest.security:
    # document models redact their URLs when built, where no Settings object is at hand.

    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.home / 'ingest.db'}"

    def resolved_archive_dir(self) -> Path:
        return self.archive_dir or self.home / "archive"

    def resolved_packages_dir(self) -> Path:
        return self.packages_dir or self.home / "packages"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides applied on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
