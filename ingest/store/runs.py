"""Runs (statistics of each reprocess run) and per-archive checkpoints used to resume.

Locks on PostgreSQL: a run's row is written by its own run only (one-row insert or update), so
those writes take no lock. A checkpoint is read then written (the claim is atomic, progress
never moves backwards), so its writers hold a lock on that archive's name: two runs claiming
one archive queue, runs on different archives do not.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from ingest.store.schema import checkpoints, runs
from ingest.store.transactions import StorePart


@dataclass(frozen=True)
class Checkpoint:
    archive: str
    identity: str
    records_done: int
    completed: bool
    force: bool
    run_id: str | None


STALE_RUN_SECONDS = 3600.0  # a run on another host whose checkpoint did not move is dead


@dataclass(frozen=True)
class Claim:
    """Where a run starts on an archive: records to skip, and whose work they were."""

    skip: int
    resumed_run: str | None  # the run that did the skipped records (None: a new pass)
    resumed_state: str | None  # its state: "interrupted", "failed", …


class ArchiveBusyError(RuntimeError):
    """Another live run is reprocessing this archive; its checkpoint is not ours to resume."""

    def __init__(self, archive: str, run_id: str, pid: int | None, host: str | None) -> None:
        self.archive, self.run_id, self.pid, self.host = archive, run_id, pid, host
        super().__init__(
            f"archive {archive} is being reprocessed by run {run_id} "
            f"(pid {pid} on host {host}); run again when it has finished"
        )


def checkpoint_lock(archive: str) -> str:
    """The name of the lock writers of this archive's checkpoint hold."""
    return f"checkpoint:{archive}"


class RunRecords(StorePart):
    """``Store.start_run``, ``update_run``, ``reap_runs``, ``get_run``, ``list_runs``."""

    def start_run(self, kind: str, inputs: Sequence[str], *, force: bool = False) -> str:
        run_id = str(uuid.uuid4())
        with self._writing() as conn:
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    kind=kind,
                    state="running",
                    inputs=json.dumps(list(inputs), ensure_ascii=False),
                    force=force,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=datetime.now(UTC),
                    records=0,
                )
            )
        return run_id

    def update_run(
        self,
        run_id: str,
        *,
        records: int,
        stats: Mapping[str, Any],
        state: str | None = None,
        seconds: float | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "records": records,
            "stats": json.dumps(dict(stats), ensure_ascii=False, default=str),
        }
        if seconds is not None:
            values["seconds"] = seconds
        if state is not None:
            values["state"] = state
            if state != "running":
                values["finished_at"] = datetime.now(UTC)
        with self._writing() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def reap_runs(self) -> int:
        """Mark "running" runs of this host whose process is gone (e.g. kill -9) "interrupted"."""
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.pid).where(
                    (runs.c.state == "running") & (runs.c.host == host)
                )
            ).all()
        dead = [run_id for run_id, pid in rows if pid is not None and not _alive(pid)]
        if dead:
            with self._writing() as conn:
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(dead) & (runs.c.state == "running"))
                    .values(state="interrupted")
                )
        return len(dead)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        return None if row is None else _run_dict(row._asdict())

    def list_runs(self, *, limit: int = 20) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.started_at.desc()).limit(limit)).all()
        return [_run_dict(r._asdict()) for r in rows]


class Checkpoints(StorePart):
    """``Store.get_checkpoint``, ``set_checkpoint``, ``check_not_busy``, ``claim_checkpoint``."""

    def get_checkpoint(self, archive: str) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(checkpoints).where(checkpoints.c.archive == archive)).first()
        if row is None:
            return None
        return Checkpoint(
            row.archive,
            row.identity,
            int(row.records_done),
            bool(row.completed),
            bool(row.force),
            row.run_id,
        )

    def set_checkpoint(
        self,
        archive: str,
        *,
        identity: str,
        records_done: int,
        completed: bool = False,
        force: bool = False,
        run_id: str | None = None,
        restart: bool = False,
    ) -> None:
        """Record progress on an archive. Never moves backwards unless ``restart`` (a new pass)."""
        now = datetime.now(UTC)
        with self._writing(checkpoint_lock(archive)) as conn:
            current = conn.execute(
                select(checkpoints.c.records_done, checkpoints.c.identity).where(
                    checkpoints.c.archive == archive
                )
            ).first()
            values = {
                "identity": identity,
                "records_done": records_done,
                "completed": completed,
                "force": force,
                "run_id": run_id,
                "updated_at": now,
            }
            if current is None:
                conn.execute(insert(checkpoints).values(archive=archive, **values))
                return
            if not restart and current.identity == identity:
                # a concurrent run on the same archive may be further along
                values["records_done"] = max(records_done, int(current.records_done))
            conn.execute(
                update(checkpoints).where(checkpoints.c.archive == archive).values(**values)
            )

    def check_not_busy(self, archive: str, *, stale_after: float = STALE_RUN_SECONDS) -> None:
        """Raise ``ArchiveBusyError`` if a live run is reprocessing ``archive`` (read only).

        For an early, clean refusal (e.g. before a Prefect flow starts); the binding check is
        the atomic one in ``claim_checkpoint``.
        """
        with self.engine.connect() as conn:
            row, owner = _checkpoint_and_owner(conn, archive)
        busy = _busy_error(archive, row, owner, None, datetime.now(UTC), stale_after)
        if busy is not None:
            raise busy

    def claim_checkpoint(
        self,
        archive: str,
        *,
        identity: str,
        run_id: str,
        force: bool = False,
        stale_after: float = STALE_RUN_SECONDS,
    ) -> Claim:
        """Make ``run_id`` the owner of the archive's checkpoint, atomically; say where to start.

        An unfinished checkpoint owned by another run that is still alive (its pid exists on
        this host, or, on another host, it moved in the last ``stale_after`` seconds) raises
        ``ArchiveBusyError``: its records are that run's work in progress, not "done". A
        checkpoint of a dead or ended run with the same archive identity is resumed (unless
        this run is forced and that one was not); anything else starts a new pass.
        """
        now = datetime.now(UTC)
        with self._writing(checkpoint_lock(archive)) as conn:
            row, owner = _checkpoint_and_owner(conn, archive)
            busy = _busy_error(archive, row, owner, run_id, now, stale_after)
            if busy is not None:
                raise busy
            resume = (
                row is not None
                and not row.completed
                and row.identity == identity
                and (bool(row.force) or not force)  # a forced run never trusts a lazy one
            )
            if resume:
                assert row is not None
                conn.execute(
                    update(checkpoints)
                    .where(checkpoints.c.archive == archive)
                    .values(run_id=run_id, updated_at=now)
                )
                return Claim(
                    int(row.records_done),
                    row.run_id if row.records_done else None,
                    owner.state if owner is not None and row.records_done else None,
                )
            values = {
                "identity": identity,
                "records_done": 0,
                "completed": False,
                "force": force,
                "run_id": run_id,
                "updated_at": now,
            }
            if row is None:
                conn.execute(insert(checkpoints).values(archive=archive, **values))
            else:
                conn.execute(
                    update(checkpoints).where(checkpoints.c.archive == archive).values(**values)
                )
            return Claim(0, None, None)


def _checkpoint_and_owner(conn: Connection, archive: str) -> tuple[Any, Any]:
    """The checkpoint row of an archive and (state, pid, host) of the run that owns it."""
    row = conn.execute(select(checkpoints).where(checkpoints.c.archive == archive)).first()
    owner = None
    if row is not None and row.run_id:
        owner = conn.execute(
            select(runs.c.state, runs.c.pid, runs.c.host).where(runs.c.id == row.run_id)
        ).first()
    return row, owner


def _busy_error(
    archive: str, row: Any, owner: Any, run_id: str | None, now: datetime, stale: float
) -> ArchiveBusyError | None:
    """The error to raise when another live run owns the unfinished checkpoint, else None."""
    if (
        row is not None
        and not row.completed
        and row.run_id != run_id
        and owner is not None
        and owner.state == "running"
        and _run_is_live(owner.host, owner.pid, row.updated_at, now, stale)
    ):
        return ArchiveBusyError(archive, row.run_id, owner.pid, owner.host)
    return None


def _run_is_live(
    host: str | None, pid: int | None, updated_at: datetime | None, now: datetime, stale: float
) -> bool:
    """Whether a "running" run still works: its process exists (this host) or it moved lately."""
    if host == socket.gethostname():
        return pid is not None and _alive(pid)
    if updated_at is None:
        return False
    if updated_at.tzinfo is None:  # SQLite returns naive UTC times
        updated_at = updated_at.replace(tzinfo=UTC)
    return (now - updated_at).total_seconds() < stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _run_dict(row: dict[str, Any]) -> dict[str, Any]:
    row["inputs"] = json.loads(row["inputs"]) if row["inputs"] else []
    row["stats"] = json.loads(row["stats"]) if row["stats"] else {}
    return row
