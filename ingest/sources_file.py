"""The sources file: which sites to ingest, how to find their pages, and how often.

TOML (``[[sources]]`` tables) or YAML (a ``sources:`` list, or a bare list)::

    [[sources]]
    name = "yonhap"
    feeds = ["https://www.yna.co.kr/rss/news.xml"]
    sitemaps = ["https://example.kr/sitemap_index.xml"]
    urls = ["https://example.kr/page.html"]
    language = "ko"          # a hint for detection, never forced
    schedule = "0 * * * *"   # cron, or: interval = "30m" (seconds, or s/m/h/d suffix)

Singular keys (``feed``, ``sitemap``, ``url``) and single strings are accepted. Relative local
paths are resolved against the sources file's folder. Every error names the file, the source
and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Source", "SourcesFileError", "load_sources", "parse_interval"]

_FIELDS = {"name", "urls", "feeds", "sitemaps", "language", "schedule", "interval"}
_ALIASES = {"url": "urls", "feed": "feeds", "sitemap": "sitemaps", "lang": "language"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.I)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_SOURCES_FILE_BYTES = 10 * 1024 * 1024  # a sources file is a hand-written list


class SourcesFileError(ValueError):
    """A sources file that cannot be used; the message says where and why."""


@dataclass
class Source:
    """One site or collection to ingest."""

    name: str
    urls: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    language: str | None = None  # ISO 639 code hint, e.g. "ko"
    schedule: str | None = None  # cron expression (5 fields)
    interval: int | None = None  # seconds between runs


def parse_interval(value: object) -> int:
    """Seconds from ``3600``, ``"3600"``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration like '30m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _INTERVAL.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    else:
        raise ValueError(f"expected seconds or a duration like '30m', got {value!r}")
    if seconds < 1:
        raise ValueError(f"must be at least 1 second, got {value!r}")
    return int(seconds)


def _check_cron(expression: str) -> None:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected 5 cron fields (minute hour day month weekday), got {expression!r}"
        )
    try:
        from cronsim import CronSim, CronSimError  # ships with Prefect
    except ImportError:  # pragma: no cover
        if not all(re.fullmatch(r"[\w*/,?#LW-]+", f) for f in fields):
            raise ValueError(f"invalid cron expression {expression!r}") from None
        return
    from datetime import datetime

    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as error:
        raise ValueError(f"invalid cron expression {expression!r}: {error}") from None


def _read(path: Path) -> Any:
    from ingest.localfiles import describe_os_error, open_regular

    suffix = path.suffix.lower()
    try:
        with open_regular(path) as handle:  # a FIFO or a device would block or never end
            data = handle.read(MAX_SOURCES_FILE_BYTES + 1)
        if len(data) > MAX_SOURCES_FILE_BYTES:
            raise SourcesFileError(f"{path}: too large (over {MAX_SOURCES_FILE_BYTES} bytes)")
        text = data.decode("utf-8")
    except OSError as error:
        raise SourcesFileError(f"{path}: cannot read: {describe_os_error(error)}") from None
    except UnicodeDecodeError as error:
        raise SourcesFileError(f"{path}: not UTF-8 text: {error}") from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SourcesFileError(f"{path}: invalid TOML: {error}") from None
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover
            raise SourcesFileError(f"{path}: YAML needs PyYAML (pip install pyyaml)") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise SourcesFileError(f"{path}: invalid YAML: {error}") from None
    raise SourcesFileError(f"{path}: unknown format (use .toml, .yaml or .yml)")


def _locate(value: str, folder: Path) -> str:
    """URLs stay as they are; local paths become absolute (relative to the sources file)."""
    value = value.strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value) or value.startswith("file:"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())


def load_sources(path: Path) -> list[Source]:
    """Read and validate a sources file (TOML or YAML)."""
    path = Path(path)
    data = _read(path)
    if isinstance(data, dict):
        unknown = set(data) - {"sources", "source"}
        if unknown:
            raise SourcesFileError(
                f"{path}: unknown top-level key(s) {sorted(unknown)}; expected 'sources'"
            )
        entries = data.get("sources", data.get("source"))
    else:
        entries = data
    if entries is None:
        raise SourcesFileError(f"{path}: no sources (expected [[sources]] tables or a list)")
    if not isinstance(entries, list):
        raise SourcesFileError(f"{path}: 'sources' must be a list of tables")
    sources: list[Source] = []
    names: set[str] = set()
    for index, entry in enumerate(entries, 1):
        source = _source(entry, index, path)
        if source.name in names:
            raise SourcesFileError(f"{path}: source {source.name!r}: duplicate name")
        names.add(source.name)
        sources.append(source)
    return sources


def _source(entry: object, index: int, path: Path) -> Source:
    label = f"source #{index}"
    if not isinstance(entry, dict):
        raise SourcesFileError(f"{path}: {label}: expected a table with a name, got {entry!r}")
    name = entry.get("name")
    if isinstance(name, str) and name.strip():
        label = f"source {name.strip()!r}"

    def error(field_name: str, message: str) -> SourcesFileError:
        return SourcesFileError(f"{path}: {label}: field '{field_name}': {message}")

    values: dict[str, Any] = {}
    for key, value in entry.items():
        canonical = _ALIASES.get(key, key)
        if canonical not in _FIELDS:
            raise error(key, f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
        if canonical in values:
            raise error(key, f"given twice (as '{canonical}' too)")
        values[canonical] = value
    if not isinstance(name, str) or not name.strip():
        raise error("name", "required, a non-empty string")
    name = name.strip()
    if not _NAME.match(name):
        raise error("name", "use letters, digits and _ . : - (no spaces)")
    lists: dict[str, list[str]] = {}
    for key in ("urls", "feeds", "sitemaps"):
        value = values.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise error(key, "expected a list of non-empty strings")
        lists[key] = list(dict.fromkeys(_locate(v, path.parent) for v in value))
    if not any(lists.values()):
        raise error("urls", "a source needs at least one of urls, feeds or sitemaps")
    language = values.get("language")
    if language is not None:
        if not isinstance(language, str) or not _LANGUAGE.match(language.strip()):
            raise error("language", f"expected an ISO 639 code like 'ko', got {language!r}")
        language = language.strip()
    schedule = values.get("schedule")
    if schedule is not None:
        if not isinstance(schedule, str):
            raise error("schedule", f"expected a cron string, got {schedule!r}")
        try:
            _check_cron(schedule.strip())
        except ValueError as problem:
            raise error("schedule", str(problem)) from None
        schedule = " ".join(schedule.split())
    interval = values.get("interval")
    if interval is not None:
        try:
            interval = parse_interval(interval)
        except ValueError as problem:
            raise error("interval", str(problem)) from None
    if schedule is not None and interval is not None:
        raise error("interval", "give either a schedule (cron) or an interval, not both")
    return Source(
        name=name,
        urls=lists["urls"],
        feeds=lists["feeds"],
        sitemaps=lists["sitemaps"],
        language=language,
        schedule=schedule,
        interval=interval,
    )
