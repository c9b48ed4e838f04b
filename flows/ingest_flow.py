"""The main job: ingest files, folders, URLs and feeds into the store.

Importing any module of `flows` first runs `flows/__init__.py`, which applies the offline
Prefect settings before `prefect` is imported here.

Tasks take batches of documents: the flow streams local files and archives into batches
(`ingest.inputs.iter_batches`), `load_batch` fetches (and archives) the batch's URLs,
`process_batch` runs extract → detect → translate → store. Each can retry on its own.
Batches are passed wrapped in `quote()` so Prefect does not walk every page (and its bytes)
looking for upstream futures: that walk alone cost more than the work on small batches.

A flow run makes one `Politeness` (per-host delays, robots.txt cache) and one validator store
(conditional GET) and hands them to every batch in this process, so a host's delay and its
robots.txt hold across batches instead of starting over with each batch's `Fetcher`.

When the store or the raw archive cannot be written (disk full, read-only), a task returns
`Unwritable` instead of raising (a raised error would be retried and logged with a traceback
per task): the flow starts no new batch and ends Failed with that one-line message, raised to
a caller in the same process as `ingest.errors.StoreUnwritable`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.states import Failed, State
from prefect.utilities.annotations import quote

from ingest.config import Settings, load_settings
from ingest.errors import StoreUnwritable
from ingest.fetch import Politeness, ValidatorStore
from ingest.inputs import Batch, Target, fetch_targets, iter_batches, resolve_inputs
from ingest.models import Failure, RawPage
from ingest.pipeline import Outcome, Pipeline
from ingest.report import summary_markdown, table_rows
from ingest.security import reveal

# Called as hook(done, total, rows_so_far) after each batch. The CLI registers a progress bar
# here when it runs the flow in its own process; a flow on a worker has none.
# ``total`` is None while it is unknown (an archive's documents are counted as it is read).
PROGRESS_HOOKS: list[Callable[[int, int | None, list[dict[str, Any]]], None]] = []


def _report_progress(done: int, total: int | None, rows: list[dict[str, Any]]) -> None:
    for hook in PROGRESS_HOOKS:
        hook(done, total, rows)


@dataclass(frozen=True)
class Unwritable:
    """A task's result when the store or archive cannot be written: the run must stop."""

    message: str  # e.g. "the store cannot be written: disk full (/data/ingest.db)"


T = TypeVar("T")


def unless_unwritable(result: T | Unwritable) -> T:
    """A task's result, or `StoreUnwritable` raised in the flow when the task hit a full or
    read-only store: flows catch it once and stop (see `stopped_run`)."""
    if isinstance(result, Unwritable):
        raise StoreUnwritable(result.message)
    return result


def stopped_run(error: StoreUnwritable) -> State:
    """The final state of a flow that stopped because nothing can be written: Failed with the
    one-line reason (no traceback logged), raising ``error`` again in an in-process caller."""
    return Failed(message=str(error), data=error)


@functools.lru_cache(maxsize=4)
def _pipeline(settings_json: str, force: bool) -> Pipeline:
    """One pipeline per worker process and settings: models and store are loaded once."""
    return Pipeline(Settings.model_validate_json(settings_json), force=force)


@task(name="resolve-inputs", cache_policy=NO_CACHE)
def resolve_task(
    inputs: list[str], settings: Settings, politeness: Politeness | None = None
) -> tuple[list[Target], list[Failure]] | Unwritable:
    try:  # feeds and sitemaps are fetched, so archived, while resolving
        resolution = resolve_inputs(inputs, settings, politeness=politeness)
    except StoreUnwritable as error:
        return Unwritable(str(error))
    return resolution.targets, resolution.failures


@task(name="load-batch", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def load_batch(
    targets: list[Target],
    settings: Settings,
    force: bool = False,
    politeness: Politeness | None = None,
    validators: ValidatorStore | None = None,
) -> list[RawPage | Failure] | Unwritable:
    """Fetch (and archive) a batch's URLs; local files and archives are read by the flow.
    ``politeness`` and ``validators`` are the run's."""
    try:
        return fetch_targets(
            targets, settings, force=force, politeness=politeness, validators=validators
        )
    except StoreUnwritable as error:
        return Unwritable(str(error))


@task(name="process-batch", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def process_batch(
    pages: list[RawPage | Failure], settings: Settings, force: bool = False
) -> list[dict[str, Any]] | Unwritable:
    try:
        pipeline = _pipeline(settings.model_dump_json(), force)
        return [outcome.as_dict() for outcome in pipeline.process(pages)]
    except StoreUnwritable as error:
        return Unwritable(str(error))


@flow(name="ingest", log_prints=True)
def ingest_flow(
    inputs: list[str],
    store_url: str | None = None,
    home: str | None = None,
    batch_size: int | None = None,
    force: bool = False,
    include_comments: bool | None = None,
) -> list[dict[str, Any]]:
    """Ingest pages from files, folders, URLs, feeds or sitemaps; returns one row per document.

    ``include_comments`` keeps reader comments (default: the settings', off).

    ``inputs`` and ``store_url`` may be the redacted forms ``ingest.security.protect`` gave the
    CLI (Prefect keeps flow parameters): the originals are looked up in this process.
    Stops (Failed, `StoreUnwritable` in an in-process caller) when the store or the archive
    cannot be written.
    """
    inputs = [reveal(item) for item in inputs]
    store_url = reveal(store_url) if store_url else store_url
    settings = load_settings(
        store_url=store_url, home=home, batch_size=batch_size, include_comments=include_comments
    )
    logger = get_run_logger()
    times: dict[str, float] = {"resolve": 0.0, "load": 0.0, "process": 0.0}
    rows: list[dict[str, Any]] = []
    politeness = Politeness.from_settings(settings)  # one per run: feeds and pages share it
    try:
        started = time.perf_counter()
        targets, failures = unless_unwritable(resolve_task(inputs, settings, quote(politeness)))
        times["resolve"] += time.perf_counter() - started
        logger.info("%d page(s) to load from %d input(s)", len(targets), len(inputs))
        if failures:
            rows.extend(unless_unwritable(process_batch(quote(list(failures)), settings, force)))
        load_and_process(targets, settings, force, rows, times, politeness=politeness)
    except StoreUnwritable as error:
        publish_run_artifacts(rows, times=times, roots=inputs, stopped=str(error))
        return stopped_run(error)  # type: ignore[return-value]
    publish_run_artifacts(rows, times=times, roots=inputs)
    return rows


def load_and_process(
    targets: Sequence[Target],
    settings: Settings,
    force: bool,
    rows: list[dict[str, Any]],
    times: dict[str, float],
    *,
    politeness: Politeness | None = None,
    validators: ValidatorStore | None = None,
) -> None:
    """The batched body of every ingest flow: per batch a load task, then a process task.

    Batches hold ``batch_size`` documents: local files and archives are streamed here (an
    archive of any size is many batches, memory holds one), URLs are fetched by the load task.
    When there are URLs, the next batch's load task runs (in a Prefect worker thread) while
    this batch is processed: fetching waits on the network and on per-host delays, processing
    on the CPU, so the two overlap (memory then holds two batches).
    Appends one row per document to ``rows`` and adds seconds to ``times["load"/"process"]``
    (``load``: time spent waiting for pages). Raises `StoreUnwritable` (starting no further
    batch) when the store or archive is full.
    Every batch shares ``politeness`` and ``validators`` (made here when not given: the
    store's, so conditional GET works across runs and machines sharing the store).
    """
    logger = get_run_logger()
    politeness = politeness or Politeness.from_settings(settings)
    fetching = any(target.kind == "url" for target in targets)
    if validators is None and fetching:
        validators = _pipeline(settings.model_dump_json(), force).store.fetch_validators
    size = max(1, settings.batch_size)
    # an archive holds an unknown number of documents until it has been read
    total = None if any(target.kind == "archive" for target in targets) else len(targets)
    done = 0
    _report_progress(0, total, rows)

    def start_loading(batch: Batch) -> PrefectFuture[Any] | None:
        if not batch.to_fetch:
            return None
        return load_batch.submit(
            quote(batch.to_fetch), settings, force, quote(politeness), quote(validators)
        )

    batches = iter_batches(targets, settings, size)
    current = next(batches, None)
    loading = start_loading(current) if current is not None else None
    try:
        while current is not None:
            started = time.perf_counter()
            pages = current.read
            if loading is not None:
                pages = pages + unless_unwritable(loading.result())
                loading = None
            times["load"] = times.get("load", 0.0) + time.perf_counter() - started
            following = next(batches, None) if fetching else None
            if following is not None:
                loading = start_loading(following)
            started = time.perf_counter()
            rows.extend(unless_unwritable(process_batch(quote(pages), settings, force)))
            times["process"] = times.get("process", 0.0) + time.perf_counter() - started
            done += len(current)
            logger.info("processed %d/%s document(s)", done, total if total is not None else "?")
            _report_progress(done, total, rows)
            current = following if fetching else next(batches, None)
    finally:
        if loading is not None:  # the run stops: let the next batch's fetch end first
            loading.wait()


def publish_run_artifacts(
    rows: Sequence[dict[str, Any]],
    times: Mapping[str, float] | None = None,
    roots: Sequence[str] = (),
    stopped: str | None = None,
) -> None:
    """A table of documents and a markdown summary, visible on the flow run in the Prefect UI.

    The table leads with a short source label, the status and the reason so a row fits the UI
    without scrolling (the full URL is the last column); the summary lists the reason of every
    document needing attention. ``roots`` (the run's inputs) make local labels relative paths.
    ``times`` (seconds per stage, e.g. discover/load/process) adds a "Time per stage" section;
    ``stopped`` (why the run stopped early, e.g. a full disk) heads the summary.
    """
    create_table_artifact(
        key="ingest-documents",
        table=table_rows(rows, roots),
        description="Documents of this run",
    )
    create_markdown_artifact(
        key="ingest-summary",
        markdown=summary_markdown(rows, times=times, roots=roots, stopped=stopped),
    )


def outcomes_from_rows(rows: Sequence[dict[str, Any]]) -> list[Outcome]:
    return [Outcome(**row) for row in rows]
