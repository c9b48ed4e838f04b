"""`ingest reprocess`, `ingest search`, `ingest runs`: replay archives, query the English text."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli.app import app
from ingest.cli.run import CommentsOption, HomeOption, StoreOption


def _settings(store: str | None, home: Path | None, **more: Any):  # -> Settings
    from ingest.config import load_settings

    return load_settings(store_url=store, home=home, **more)


@app.command()
def reprocess(
    archives: Annotated[
        list[Path],
        typer.Argument(
            help="WARC(.gz) files (ours or external, e.g. Common Crawl), JSONL files of "
            '{"url", "html"} lines, or folders of them and of .html/.html.gz files.',
            show_default=False,
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Redo every document, even when nothing changed.")
    ] = False,
    store: StoreOption = None,
    home: HomeOption = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Documents per batch (default 128, $INGEST_BATCH_SIZE).")
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="Run as the Prefect reprocess flow on a Dask cluster: a scheduler address "
            "(tcp://host:8786) or 'local' for a local cluster. Use a PostgreSQL --store.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="With --dask local: worker processes (default: CPU cores)."),
    ] = None,
    comments: CommentsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show logs.")] = False,
) -> None:
    """Re-run extract → detect → translate → store over archived pages, resumably.

    Unchanged documents (same bytes, extractor, detector and translation packages) are
    skipped unless --force. Interrupted runs (even kill -9) resume when run again.
    """
    from rich.console import Console

    from ingest.cli.run import check_writable_store
    from ingest.errors import StoreUnwritable

    _quiet_logs(verbose)
    _check_archive_arguments(archives)
    settings = _settings(store, home, batch_size=batch_size, include_comments=comments)
    check_writable_store(settings.resolved_store_url())
    _refuse_busy_archives(archives, settings.resolved_store_url())
    console = Console(stderr=True)
    progress, on_progress = _progress_bar(console)
    try:
        with progress:
            if dask:
                stats, run_id = _run_on_dask(archives, settings, force, dask, workers, on_progress)
            else:
                from ingest.reprocess import reprocess as run_reprocess

                report = run_reprocess(archives, settings, force=force, on_progress=on_progress)
                stats, run_id = report.stats, report.run_id
    except StoreUnwritable as error:  # disk full: stopped, what was stored before is intact
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=3) from None
    _print_stats(console, stats, run_id, settings.resolved_store_url())
    if stats.records and stats.statuses.get("failed", 0) == stats.records:
        raise typer.Exit(code=1)


def _quiet_logs(verbose: bool) -> None:
    """INFO logs with --verbose; otherwise warnings only (Dask and Prefect included)."""
    import logging

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if not verbose:
        import os

        # Dask logs every worker start and stop at INFO, in every worker process too
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        for name in ("distributed", "prefect"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _check_archive_arguments(archives: list[Path]) -> None:
    """One `error:` line for a missing path or a file that is not an archive."""
    from ingest.reprocess import check_archive_argument

    for path in archives:
        try:
            check_archive_argument(path)  # a file that is not an archive: one `error:` line
        except FileNotFoundError:
            raise typer.BadParameter(
                f"no such file or folder: {path}", param_hint="ARCHIVES"
            ) from None


def _progress_bar(console: Any) -> tuple[Any, Any]:
    """A transient progress bar over the archives' bytes and the hook that moves it."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ingest.reprocess import ReprocessStats

    progress = Progress(  # markup=False: descriptions and fields are shown as given
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[docs]} docs", markup=False),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task_id = progress.add_task("reprocessing", total=None, docs=0, rate="")

    def on_progress(stats: ReprocessStats) -> None:
        rate = f"{stats.documents_per_second:.1f} docs/s" if stats.records else ""
        progress.update(
            task_id,
            total=stats.bytes_total or None,
            completed=stats.bytes_done,
            docs=stats.records + stats.resumed_from,
            rate=rate,
        )

    return progress, on_progress


def _refuse_busy_archives(archives: list[Path], store_url: str) -> None:
    """One `error:` line now, rather than from inside the flow, if a live run owns an archive."""
    from ingest.reprocess import resolved
    from ingest.store import Store

    store = Store(store_url)
    try:
        store.reap_runs()  # runs of this machine that died are not busy
        for path in archives:
            store.check_not_busy(str(resolved(path)))
    finally:
        store.close()


def _run_on_dask(
    archives: list[Path],
    settings: Any,
    force: bool,
    address: str,
    workers: int | None,
    on_progress: Any,
) -> tuple[Any, str]:
    """The Prefect reprocess flow with its process-batch tasks on a Dask cluster."""
    from flows.reprocess_flow import (
        REPROCESS_PROGRESS_HOOKS,
        ReprocessParameters,
        reprocess_archive_flow,
    )
    from ingest.reprocess import ReprocessStats
    from ingest.security import protect

    params = ReprocessParameters(
        paths=[str(p.resolve()) for p in archives],
        force=force,
        batch_size=settings.batch_size,
        include_comments=settings.include_comments,
        store_url=protect(settings.resolved_store_url(), store_url=True),  # Prefect keeps it
        home=str(settings.home),
        dask_address=address,
        dask_workers=workers,
    )
    from flows.local_server import LocalServerError, local_api
    from flows.run_settings import cli_flow_runs

    REPROCESS_PROGRESS_HOOKS.append(on_progress)
    try:
        # the local Prefect server unless PREFECT_API_URL is set; local Dask worker processes
        # inherit its address (else each would start a temporary Prefect server of its own)
        with (
            local_api(settings.server_idle_minutes, ui=settings.server_ui) as api_url,
            _environment("PREFECT_API_URL", api_url),
            cli_flow_runs(),
        ):
            result = reprocess_archive_flow(params)
    except LocalServerError as error:
        typer.echo(f"error: {error} (or set PREFECT_API_URL to a running server)", err=True)
        raise typer.Exit(code=1) from None
    finally:
        REPROCESS_PROGRESS_HOOKS.remove(on_progress)
    stats = ReprocessStats()
    data = result.get("stats", {})
    stats.records = int(data.get("records", 0))
    stats.resumed_from = int(data.get("resumed_from", 0))
    stats.resumed_runs.update(data.get("resumed_runs", {}))
    stats.statuses.update(data.get("statuses", {}))
    stats.memory_hits = int(data.get("memory_hits", 0))
    stats.model_sentences = int(data.get("model_sentences", 0))
    stats.seconds = float(data.get("seconds", 0.0))
    return stats, str(result.get("run_id", ""))


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` while the block runs (for child processes)."""
    import os

    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _print_stats(console: Any, stats: Any, run_id: str, store_url: str) -> None:
    from ingest.cli.display import literal
    from ingest.security import display_store_url

    statuses = ", ".join(f"{n} {s}" for s, n in sorted(stats.statuses.items())) or "nothing new"
    console.print(literal(f"reprocess → {display_store_url(store_url)} (run {run_id})"))
    console.print(
        literal(
            f"{stats.records} record(s) in {stats.seconds:.1f} s "
            f"({stats.documents_per_second:.1f} docs/s): {statuses}"
        )
    )
    if stats.resumed_from:
        earlier = ", ".join(f"run {run} ({state})" for run, state in stats.resumed_runs.items())
        console.print(
            f"resumed: {stats.resumed_from} record(s) were done by an earlier run"
            + (f": {earlier}" if earlier else ""),
            highlight=False,
        )
    if stats.memory_hits or stats.model_sentences:
        console.print(
            f"translation: {stats.model_sentences} sentence(s) by a model, "
            f"{stats.memory_hits} from the translation memory"
        )


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(help='Words (all must match), "a phrase", a OR b, -excluded.'),
    ],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Results to show.")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (none, exit 1: no match).")
    ] = False,
    store: StoreOption = None,
    home: HomeOption = None,
) -> None:
    """Full-text search over the English text (translated or original) of stored documents.

    Exits 1 when nothing matches, with --json too (then nothing is printed on stdout).
    """
    from ingest.store import Store

    settings = _settings(store, home)
    hits = Store(settings.resolved_store_url(), read_only=True).search(query, limit=limit)
    if not hits:
        typer.echo("no match", err=True)
        raise typer.Exit(code=1)
    if as_json:
        for hit in hits:
            typer.echo(json.dumps(hit.__dict__, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.text import Text

    from ingest.cli.display import literal

    console = Console()
    for rank, hit in enumerate(hits, 1):
        console.print(
            Text.assemble(
                literal(f"{rank}. {hit.title or '(no title)'}", "bold"),
                " ",
                literal(f"({hit.language}, {hit.status})", "dim"),
                "\n   ",
                literal(hit.url),
                "\n   ",
                literal(hit.snippet),
            )
        )


@app.command()
def runs(
    limit: Annotated[int, typer.Option("--limit", "-n", help="Runs to show.")] = 10,
    store: StoreOption = None,
    home: HomeOption = None,
) -> None:
    """Recent reprocess runs and their stats (documents/s, statuses, resumed records)."""
    from rich.console import Console
    from rich.table import Table

    from ingest.cli.display import literal
    from ingest.store import Store

    settings = _settings(store, home)
    table = Table(title="runs")
    for column in ("started", "state", "records", "docs/s", "statuses", "host", "id"):
        table.add_column(column)
    for run in Store(settings.resolved_store_url(), read_only=True).list_runs(limit=limit):
        stats = run["stats"]
        table.add_row(
            literal(str(run["started_at"])[:19]),
            literal(run["state"]),
            literal(run["records"]),
            literal(stats.get("documents_per_second", "")),
            literal(", ".join(f"{n} {s}" for s, n in stats.get("statuses", {}).items())),
            literal(run["host"]),
            literal(run["id"][:8]),
        )
    Console().print(table)
