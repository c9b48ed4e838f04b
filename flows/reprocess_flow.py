"""On-demand job: replay archived raw pages (WARC, JSONL, HTML folders) through the pipeline.

Used after an extractor, detector or translation-package update: the archive keeps the raw
bytes, so nothing is fetched again. Records are streamed from `ingest.archive.iter_archive`
(memory stays flat whatever the archive size) and handed to the same batched `process-batch`
task as the other flows. Without ``force`` a document is only redone when its bytes, extractor,
detector or translation packages changed since it was stored.

The parameters are one pydantic model, so the Prefect UI shows a typed form for them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from flows.ingest_flow import _report_progress, process_batch, publish_run_artifacts
from ingest.config import load_settings
from ingest.models import Failure, RawPage


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
    batch_size: int = Field(default=32, ge=1, le=10_000, description="Documents per task.")
    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store (default: the worker's settings)."
    )
    home: str | None = Field(default=None, description="Data folder (default: $INGEST_HOME).")


def iter_records(paths: list[str]) -> Iterator[RawPage | Failure]:
    """Every record of every path, in order; a missing or unreadable path becomes a Failure."""
    from ingest.archive import iter_archive

    for item in paths:
        path = Path(item).expanduser()
        try:
            yield from iter_archive(path)
        except (OSError, ValueError) as error:
            reason = str(error) or repr(error)
            yield Failure(url=str(path), source=item, stage="read", reason=reason)


@flow(name="reprocess-archive", log_prints=True)
def reprocess_archive_flow(
    params: ReprocessParameters = ReprocessParameters(),  # noqa: B008 (Prefect reads the default)
) -> list[dict[str, Any]]:
    """Replay archived pages through extract → detect → translate → store, in batches."""
    logger = get_run_logger()
    settings = load_settings(
        store_url=params.store_url, home=params.home, batch_size=params.batch_size
    )
    paths = params.paths or [str(settings.resolved_archive_dir())]
    times = {"read": 0.0, "process": 0.0}
    rows: list[dict[str, Any]] = []
    batch: list[RawPage | Failure] = []

    def flush() -> None:
        started = time.perf_counter()
        rows.extend(process_batch(list(batch), settings, params.force))
        times["process"] += time.perf_counter() - started
        batch.clear()
        logger.info("reprocessed %d record(s)", len(rows))
        _report_progress(len(rows), 0, rows)  # total unknown: archives are streamed

    records = iter_records(paths)
    while True:
        started = time.perf_counter()
        record = next(records, None)
        times["read"] += time.perf_counter() - started
        if record is None:
            break
        batch.append(record)
        if len(batch) >= params.batch_size:
            flush()
    if batch:
        flush()
    publish_run_artifacts(rows, times=times)
    return rows
