"""Reprocess archives (WARC, JSONL, folders of HTML) through the pipeline, resumably.

Records are streamed from ``ingest.read`` (``iter_positioned``) in batches (memory stays flat
whatever the archive size) and handed to a *processor*: by default a local ``Pipeline``; the
Prefect flow passes one that submits a ``process-batch`` task (on a Dask cluster when asked).
Up to ``max_in_flight`` batches run at once; their results are consumed in submission order,
so the checkpoint — "the first N records of this archive are stored" — only moves over
batches that are entirely stored.

Resuming and idempotency:
- each archive argument has a checkpoint row in the store (``Store.set_checkpoint``), written
  after every batch; a run interrupted in any way (kill -9 included) is resumed by running it
  again: the records before the checkpoint are read but not processed;
- records after the checkpoint that were already stored (the batch in flight when the process
  died) are stored again under the same URL key — never duplicated — or skipped as unchanged;
- without ``force`` a document whose bytes, extractor, detector and translation packages did
  not change is skipped (``Pipeline``), so a second pass over an unchanged archive only reads;
  with ``force`` everything is redone (and the translation memory makes unchanged sentences
  free). A finished archive starts a new pass next time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ingest.config import Settings
from ingest.models import Failure, RawPage
from ingest.read import (  # re-exported: callers imported these from here before ingest.read
    HTML_SUFFIXES,
    JSONL_SUFFIXES,
    WARC_SUFFIXES,
    archive_files,
    check_archive_argument,
    file_size,
    iter_positioned,
    resolved,
    stat_or_none,
)
from ingest.store import ArchiveBusyError, Store

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = HTML_SUFFIXES + WARC_SUFFIXES + JSONL_SUFFIXES
Record = RawPage | Failure
Row = dict[str, Any]  # Outcome.as_dict()


class ResultLike(Protocol):
    """A future (Prefect, Dask, concurrent.futures) or anything with ``result()``."""

    def result(self) -> list[Row]: ...


Processor = Callable[[list[Record]], "list[Row] | ResultLike"]


# ---------------------------------------------------------------------------- archives


def archive_identity(path: Path) -> str:
    """Size and modification time (of every file, for a folder): a changed archive starts over."""
    digest = hashlib.sha256()
    for file in archive_files(path):
        stat = stat_or_none(file)
        size, mtime = (stat.st_size, stat.st_mtime_ns) if stat is not None else (-1, -1)
        digest.update(f"{resolved(file)}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()[:32]


# ---------------------------------------------------------------------------- stats


@dataclass
class ReprocessStats:
    """What a run did; stored with the run (``runs`` table) and shown by the CLI."""

    records: int = 0  # records processed by this run (failures included)
    resumed_from: int = 0  # records skipped because a checkpoint said they were done
    resumed_runs: dict[str, str] = field(default_factory=dict)  # run id -> state: whose they were
    statuses: Counter[str] = field(default_factory=Counter)
    memory_hits: int = 0
    model_sentences: int = 0
    seconds: float = 0.0
    bytes_done: int = 0
    bytes_total: int = 0

    @property
    def documents_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def add(self, rows: Sequence[Row]) -> None:
        self.records += len(rows)
        for row in rows:
            self.statuses[str(row["status"])] += 1
            self.memory_hits += int(row.get("memory_hits") or 0)
            self.model_sentences += int(row.get("model_sentences") or 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "resumed_from": self.resumed_from,
            "resumed_runs": dict(self.resumed_runs),
            "statuses": dict(sorted(self.statuses.items())),
            "memory_hits": self.memory_hits,
            "model_sentences": self.model_sentences,
            "seconds": round(self.seconds, 3),
            "documents_per_second": round(self.documents_per_second, 2),
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
        }


@dataclass
class RunReport:
    run_id: str
    stats: ReprocessStats
    archives: list[str]


ProgressHook = Callable[[ReprocessStats], None]


# ---------------------------------------------------------------------------- the loop


def local_processor(settings: Settings, *, force: bool, store: Store | None = None) -> Processor:
    """Process batches in this process with one Pipeline (models loaded once)."""
    from ingest.pipeline import Pipeline

    pipeline = Pipeline(settings, store=store, force=force)

    def process(batch: list[Record]) -> list[Row]:
        return [outcome.as_dict() for outcome in pipeline.process(batch)]

    return process


def _result(value: list[Row] | ResultLike) -> list[Row]:
    return value if isinstance(value, list) else value.result()


def reprocess(
    archives: Sequence[str | Path],
    settings: Settings,
    *,
    force: bool = False,
    store: Store | None = None,
    processor: Processor | None = None,
    batch_size: int | None = None,
    max_in_flight: int = 1,
    on_progress: ProgressHook | None = None,
) -> RunReport:
    """Replay every record of ``archives`` through the pipeline; resume where a run stopped.

    Raises ``FileNotFoundError`` before doing anything if an archive does not exist.
    """
    paths = [Path(a).expanduser() for a in archives]
    for path in paths:
        check_archive_argument(path)
    store = store or Store(settings.resolved_store_url())
    processor = processor or local_processor(settings, force=force, store=store)
    size = max(1, batch_size or settings.batch_size)
    stats = ReprocessStats(bytes_total=sum(file_size(f) for p in paths for f in archive_files(p)))
    store.reap_runs()  # runs of this machine that died without a word become "interrupted"
    run_id = store.start_run("reprocess", [str(p) for p in paths], force=force)
    started = time.perf_counter()
    state = "failed"
    bytes_before = 0

    def progress() -> None:
        stats.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(stats)

    try:
        claims = _claim_all(paths, store, run_id=run_id, force=force, stats=stats)
        for path, key, identity, skip in claims:
            done = _run_archive(
                path,
                key=key,
                identity=identity,
                skip=skip,
                store=store,
                processor=processor,
                batch_size=size,
                max_in_flight=max(1, max_in_flight),
                force=force,
                run_id=run_id,
                stats=stats,
                bytes_before=bytes_before,
                progress=progress,
            )
            store.set_checkpoint(
                key,
                identity=identity,
                records_done=done,
                completed=True,
                force=force,
                run_id=run_id,
            )
            bytes_before += sum(file_size(f) for f in archive_files(path))
            stats.bytes_done = bytes_before
            progress()
        state = "finished"
    except KeyboardInterrupt:
        state = "interrupted"
        raise
    except ArchiveBusyError:
        state = "refused"  # another live run owns an archive; this one did nothing
        raise
    finally:
        stats.seconds = time.perf_counter() - started
        store.update_run(
            run_id, records=stats.records, stats=stats.as_dict(), state=state, seconds=stats.seconds
        )
    return RunReport(run_id, stats, [str(p) for p in paths])


def _claim_all(
    paths: Sequence[Path], store: Store, *, run_id: str, force: bool, stats: ReprocessStats
) -> list[tuple[Path, str, str, int]]:
    """(path, checkpoint key, identity, records to skip) of every archive, all claimed first.

    Every archive is claimed before any is processed: one that a live run is working on
    refuses the whole run (ArchiveBusyError) instead of counting its records as done.
    """
    claims = []
    for path in paths:
        key = str(resolved(path))
        identity = archive_identity(path)
        claim = store.claim_checkpoint(key, identity=identity, run_id=run_id, force=force)
        claims.append((path, key, identity, claim.skip))
        stats.resumed_from += claim.skip
        if claim.resumed_run:
            stats.resumed_runs[claim.resumed_run] = claim.resumed_state or "unknown"
    return claims


def _run_archive(
    path: Path,
    *,
    key: str,
    identity: str,
    skip: int,
    store: Store,
    processor: Processor,
    batch_size: int,
    max_in_flight: int,
    force: bool,
    run_id: str,
    stats: ReprocessStats,
    bytes_before: int,
    progress: Callable[[], None],
) -> int:
    """Stream one archive argument; returns the number of records it has (done)."""
    in_flight: deque[tuple[int, int, list[Row] | ResultLike]] = deque()  # (end, position, result)
    batch: list[Record] = []
    index = 0
    position = 0

    def settle(until: int) -> None:
        while len(in_flight) > until:
            end, at, pending = in_flight.popleft()
            stats.add(_result(pending))
            stats.bytes_done = bytes_before + at
            store.set_checkpoint(
                key, identity=identity, records_done=end, force=force, run_id=run_id
            )
            store.update_run(run_id, records=stats.records, stats=stats.as_dict())
            progress()

    def submit() -> None:
        in_flight.append((index, position, processor(list(batch))))
        batch.clear()
        settle(max_in_flight - 1)

    for item in iter_positioned(path):
        index += 1
        position = item.position
        if index <= skip:
            if index % 1000 == 0 or index == skip:
                stats.bytes_done = bytes_before + position
                progress()
            continue
        batch.append(item.record)
        if len(batch) >= batch_size:
            submit()
    if batch:
        submit()
    settle(0)
    return index
