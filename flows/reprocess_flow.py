"""On-demand job: replay archived raw pages (WARC, JSONL, HTML folders) through the pipeline.

Used after an extractor, detector or translation-package update: the archive keeps the raw
bytes, so nothing is fetched again. `ingest.reprocess.reprocess` streams the records in batches
(memory stays flat, checkpoints make an interrupted run resume) and hands each batch to the same
`process-batch` task as the other flows, on Dask when `dask_address` is set. Without ``force`` a
document is only redone when its bytes, extractor, detector or translation packages changed.

The parameters are one pydantic model, so the Prefect UI shows a typed form for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from flows.ingest_flow import process_batch, publish_run_artifacts, stopped_run, unless_unwritable
from ingest.config import Settings, load_settings
from ingest.errors import StoreUnwritable
from ingest.models import Failure, RawPage
from ingest.security import reveal

# Called with the run's ReprocessStats after every batch (the CLI's progress bar registers here
# when it runs the flow in its own process; a flow on a worker has none).
REPROCESS_PROGRESS_HOOKS: list[Callable[[Any], None]] = []
TABLE_ROWS_MAX = 1000  # rows kept for the artifacts; the returned stats and `ingest runs` cover all


class ReprocessParameters(BaseModel):
    """What to replay and where to store it."""

    paths: list[str] = Field(
        default_factory=list,
        description="WARC/JSONL files or folders of them (or of HTML files); "
        "empty = the archive folder of the settings (<home>/archive).",
    )
    force: bool = Field(
        default=False, description="Redo every document, even when nothing changed."
    )
    batch_size: int = Field(default=128, ge=1, le=10_000, description="Documents per task.")
    include_comments: bool | None = Field(
        default=None,
        description="Keep reader comments as paragraphs marked comment "
        "(default: the worker's INGEST_INCLUDE_COMMENTS, off).",
    )
    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store (default: the worker's settings)."
    )
    home: str | None = Field(default=None, description="Data folder (default: $INGEST_HOME).")
    dask_address: str | None = Field(
        default=None,
        description="Run the process-batch tasks on Dask: a scheduler address "
        "(tcp://host:8786) or 'local' for a local cluster. Use a PostgreSQL store.",
    )
    dask_workers: int | None = Field(
        default=None, ge=1, description="Worker processes of a 'local' Dask cluster."
    )


class _Collected:
    """A submitted batch; its rows are kept for the run's artifacts when the result is read."""

    def __init__(self, future: Any, rows: list[dict[str, Any]]) -> None:
        self.future, self.rows = future, rows

    def result(self) -> list[dict[str, Any]]:
        rows = unless_unwritable(self.future.result())  # a full store stops the replay
        room = TABLE_ROWS_MAX - len(self.rows)  # keep memory flat whatever the archive size
        if room > 0:
            self.rows.extend(rows[:room])
        return rows


def _replay(params: ReprocessParameters, settings: Settings, in_flight: int) -> dict[str, Any]:
    from ingest.reprocess import reprocess

    logger = get_run_logger()
    paths = params.paths or [str(settings.resolved_archive_dir())]
    rows: list[dict[str, Any]] = []

    def processor(batch: list[RawPage | Failure]) -> _Collected:
        return _Collected(process_batch.submit(batch, settings, params.force), rows)

    def on_progress(stats: Any) -> None:
        logger.info(
            "reprocessed %d record(s), %.1f docs/s", stats.records, stats.documents_per_second
        )
        for hook in REPROCESS_PROGRESS_HOOKS:
            hook(stats)

    started = time.perf_counter()
    try:
        report = reprocess(
            paths,
            settings,
            force=params.force,
            processor=processor,
            batch_size=params.batch_size,
            max_in_flight=in_flight,
            on_progress=on_progress,
        )
    except StoreUnwritable as error:
        publish_run_artifacts(rows, stopped=str(error))
        return stopped_run(error)  # type: ignore[return-value]
    seconds = time.perf_counter() - started
    publish_run_artifacts(rows, times={"reprocess": seconds}, roots=paths)
    return {"run_id": report.run_id, "stats": report.stats.as_dict(), "archives": report.archives}


def _settings_of(params: ReprocessParameters) -> Settings:
    """The run's settings; a store URL the CLI redacted (``ingest.security.protect``, since
    Prefect keeps flow parameters) is looked up in this process."""
    store_url = reveal(params.store_url) if params.store_url else None
    return load_settings(
        store_url=store_url,
        home=params.home,
        batch_size=params.batch_size,
        include_comments=params.include_comments,
    )


@flow(name="reprocess-archive-on-dask", log_prints=True)
def _replay_on_dask(params: ReprocessParameters) -> dict[str, Any]:
    # settings are rebuilt here, not passed: a subflow's parameters are kept by Prefect too
    return _replay(params, _settings_of(params), in_flight=2 * (params.dask_workers or 2))


@flow(name="reprocess-archive", log_prints=True)
def reprocess_archive_flow(
    params: ReprocessParameters = ReprocessParameters(),  # noqa: B008 (Prefect reads the default)
) -> dict[str, Any]:
    """Replay archived pages through extract → detect → translate → store, resumably.

    Returns ``{"run_id", "stats", "archives"}``; the run's table and summary are artifacts.
    """
    if not params.dask_address:
        # one in flight: the worker process's single Pipeline is not shared across threads
        return _replay(params, _settings_of(params), in_flight=1)
    from prefect_dask import DaskTaskRunner

    if params.dask_address == "local":
        runner = DaskTaskRunner(
            cluster_kwargs={"n_workers": params.dask_workers, "processes": True}
            if params.dask_workers
            else {"processes": True}
        )
    else:
        runner = DaskTaskRunner(address=params.dask_address)
    return _replay_on_dask.with_options(task_runner=runner)(params)
