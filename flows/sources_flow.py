"""The scheduled job: ingest the sources of a sources file (feeds, sitemaps, page URLs).

One deployment per source runs this flow on the source's own cron/interval schedule (see
`flows/deployments.py`). Discovery is its own task (retried on its own), then the batched
`load-batch` (fetch + archive) and `process-batch` (extract → detect → translate → store) tasks
of `flows/ingest_flow.py` do the rest, each retried on its own.

Politeness: per-host concurrency and delay come from the library's `Fetcher` (settings
`per_host_concurrency`, `per_host_delay`, robots.txt), through one `Politeness` per flow run
shared by discovery and every batch; each source deployment allows one run at a time
(deployment concurrency limit 1), so a slow run is never overlapped by its next schedule.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from flows.ingest_flow import (
    Unwritable,
    load_and_process,
    process_batch,
    publish_run_artifacts,
    stopped_run,
    unless_unwritable,
)
from ingest.config import Settings, load_settings
from ingest.errors import StoreUnwritable
from ingest.fetch import Politeness
from ingest.inputs import Target, is_url, resolve_inputs
from ingest.models import Failure

DEFAULT_SOURCES_FILE = "samples/sources.toml"


def source_items(source: Any, base_dir: Path) -> list[str]:
    """The feeds, sitemaps and URLs of a source; relative local paths resolve against base_dir."""
    items: list[str] = []
    for item in [*source.feeds, *source.sitemaps, *source.urls]:
        item = str(item)
        if not is_url(item) and not item.startswith("file://"):
            path = Path(item).expanduser()
            if not path.is_absolute():
                path = base_dir / path
            item = str(path)
        items.append(item)
    return items


@task(name="discover-source", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def discover_source(
    name: str,
    items: list[str],
    language: str | None,
    settings: Settings,
    politeness: Politeness | None = None,
) -> tuple[list[Target], list[Failure]] | Unwritable:
    """Expand a source's feeds and sitemaps into page targets labelled with the source name."""
    try:  # fetched feeds and sitemaps are archived
        resolution = resolve_inputs(items, settings, language_hint=language, politeness=politeness)
    except StoreUnwritable as error:
        return Unwritable(str(error))
    targets = [dataclasses.replace(target, source=name) for target in resolution.targets]
    failures = [failure.model_copy(update={"source": name}) for failure in resolution.failures]
    return targets, failures


def select_sources(sources: Sequence[Any], names: Sequence[str] | None) -> list[Any]:
    """The sources named (all when names is empty); an unknown name is an error, not a no-op."""
    if not names:
        return list(sources)
    known = {source.name: source for source in sources}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown source(s) {', '.join(unknown)}; the sources file has: {', '.join(known)}"
        )
    return [known[name] for name in names]


@flow(name="ingest-sources", log_prints=True)
def ingest_sources_flow(
    sources_file: str = DEFAULT_SOURCES_FILE,
    names: list[str] | None = None,
    store_url: str | None = None,
    home: str | None = None,
    batch_size: int | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Discover and ingest the pages of the named sources (all sources when none are named)."""
    from ingest.sources_file import load_sources

    logger = get_run_logger()
    settings = load_settings(store_url=store_url, home=home, batch_size=batch_size)
    path = Path(sources_file).expanduser()
    sources = select_sources(load_sources(path), names)
    times: dict[str, float] = {"discover": 0.0, "load": 0.0, "process": 0.0}

    rows: list[dict[str, Any]] = []
    targets: list[Target] = []
    roots: list[str] = []  # the sources' items: local labels in the artifacts are relative to them
    politeness = Politeness.from_settings(settings)  # one per run: discovery and pages share it
    try:
        for source in sources:
            started = time.perf_counter()
            items = source_items(source, path.parent)
            roots.extend(items)
            found, failures = unless_unwritable(
                discover_source(source.name, items, source.language, settings, quote(politeness))
            )
            times["discover"] += time.perf_counter() - started
            logger.info(
                "source %s: %d page(s), %d failure(s)", source.name, len(found), len(failures)
            )
            targets.extend(found)
            if failures:
                started = time.perf_counter()
                rows.extend(
                    unless_unwritable(process_batch(quote(list(failures)), settings, force))
                )
                times["process"] += time.perf_counter() - started

        load_and_process(targets, settings, force, rows, times, politeness=politeness)
    except StoreUnwritable as error:
        publish_run_artifacts(rows, times=times, roots=roots, stopped=str(error))
        return stopped_run(error)  # type: ignore[return-value]
    publish_run_artifacts(rows, times=times, roots=roots)
    return rows
