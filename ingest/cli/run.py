"""`ingest run`, `ingest export`, `ingest show`: the main job and reading what it stored."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli.app import app

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the store (default: sqlite:///<home>/ingest.db, "
        "or $INGEST_STORE_URL).",
        show_default=False,
    ),
]
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data folder for store, archive and packages (default: $INGEST_HOME or "
        "~/.local/share/ingest).",
        show_default=False,
    ),
]


# `ingest run` exit code when the store or the raw archive cannot be written (disk full, …)
EXIT_UNWRITABLE = 3


def _settings(store: str | None, home: Path | None, **more: Any):  # -> Settings
    from ingest.config import load_settings

    return load_settings(store_url=store, home=home, **more)


@app.command()
def run(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders, URLs, RSS/Atom feeds, sitemaps or WARC/JSONL archives."
        ),
    ],
    store: StoreOption = None,
    home: HomeOption = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Documents per task (default 128, $INGEST_BATCH_SIZE).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Reprocess documents even when unchanged.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect logs.")] = False,
) -> None:
    """Run the ingest flow (Prefect, ephemeral API unless PREFECT_API_URL is set) and summarise.

    Exits 1 if no document succeeded, 3 if the store or archive cannot be written (disk full,
    read-only): the run then stops at once, keeping everything stored before.
    """
    import logging
    import os

    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        logging.getLogger("prefect").setLevel(logging.WARNING)
    settings = _settings(store, home, batch_size=batch_size)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from flows.ingest_flow import PROGRESS_HOOKS, ingest_flow
    from flows.temporary_api import TemporaryApiError, temporary_api
    from ingest.errors import StoreUnwritable

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task_id = progress.add_task("starting Prefect…", total=None, rate="")

    def on_progress(done: int, total: int, _rows: list[dict[str, Any]]) -> None:
        elapsed = progress.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:.1f} docs/s" if done and elapsed else ""
        progress.update(task_id, description="ingesting", total=total, completed=done, rate=rate)

    PROGRESS_HOOKS.append(on_progress)
    try:
        with progress, temporary_api():
            rows = ingest_flow(
                inputs=list(inputs),
                store_url=settings.resolved_store_url(),
                home=str(settings.home),
                batch_size=settings.batch_size,
                force=force,
            )
    except StoreUnwritable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=EXIT_UNWRITABLE) from None
    except TemporaryApiError as error:
        typer.echo(f"error: {error} (or set PREFECT_API_URL to a running server)", err=True)
        raise typer.Exit(code=1) from None
    finally:
        PROGRESS_HOOKS.remove(on_progress)
    print_summary(rows, settings.resolved_store_url())
    succeeded = [r for r in rows if r["status"] != "failed"]
    if not succeeded:
        raise typer.Exit(code=1)


def print_summary(rows: list[dict[str, Any]], store_url: str) -> None:
    """One line per document: source, language, paragraphs, translated?, status."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    table = Table(title=f"ingest: {len(rows)} document(s) → {store_url}", expand=False)
    table.add_column("source", overflow="fold", max_width=48)
    table.add_column("lang")
    table.add_column("paras", justify="right")
    table.add_column("translated")
    table.add_column("status", overflow="fold", max_width=60)
    styles = {"ok": "green", "unchanged": "cyan", "partial": "yellow", "untranslated": "yellow"}
    for row in rows:
        translated = _translated_cell(row)
        status = row["status"] if not row["reason"] else f"{row['status']}: {_short(row)}"
        table.add_row(
            _display_source(row["url"]),
            row["language"] or "",
            str(row["paragraphs"]) if row["status"] != "unchanged" else "",
            translated,
            f"[{styles.get(row['status'], 'red')}]{status}[/]",
        )
    console.print(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing")


def _translated_cell(row: dict[str, Any]) -> str:
    if row["status"] in ("failed", "unchanged"):
        return ""
    if not row["foreign"]:
        return "n/a (English)"
    if row["translated"] == row["foreign"]:
        return f"yes ({row['translated']}/{row['foreign']})"
    return f"no ({row['translated']}/{row['foreign']})"


def _short(row: dict[str, Any]) -> str:
    reason = row["reason"] or ""
    prefix = f"{row['status']}: "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def _display_source(url: str) -> str:
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        path = Path(unquote(urlparse(url).path))
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return url


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="jsonl or parquet (parquet needs --output).")
    ] = "jsonl",
    status: Annotated[
        str | None, typer.Option(help="Only documents with this status (ok, failed, …).")
    ] = None,
    store: StoreOption = None,
    home: HomeOption = None,
) -> None:
    """Write stored documents: English and original text, aligned paragraphs, language, status."""
    from ingest.store import Store, export_jsonl, export_parquet

    if format not in ("jsonl", "parquet"):
        raise typer.BadParameter(
            f"unknown format {format!r} (supported: jsonl, parquet)", param_hint="--format"
        )
    if format == "parquet" and output is None:
        raise typer.BadParameter("parquet is binary: give a file with --output", param_hint="-o")
    settings = _settings(store, home)
    db = Store(settings.resolved_store_url())
    if format == "parquet":
        assert output is not None
        count = export_parquet(db, output, status=status)
    elif output is None:
        count = export_jsonl(db, sys.stdout, status=status)
    else:
        with output.open("w", encoding="utf-8") as handle:
            count = export_jsonl(db, handle, status=status)
    typer.echo(f"exported {count} document(s)", err=True)


@app.command()
def show(
    url: Annotated[str, typer.Argument(help="URL (or canonical URL, or file path) of a document.")],
    store: StoreOption = None,
    home: HomeOption = None,
) -> None:
    """Print one stored document with original and English side by side."""
    from rich.console import Console
    from rich.table import Table

    from ingest.inputs import file_uri
    from ingest.store import Store

    settings = _settings(store, home)
    db = Store(settings.resolved_store_url())
    document = db.get_document(url)
    if document is None and Path(url).exists():
        document = db.get_document(file_uri(Path(url)))
    if document is None:
        typer.echo(f"not in the store: {url}", err=True)
        raise typer.Exit(code=1)
    console = Console()
    console.print(f"[bold]{document['title_english'] or document['title'] or '(no title)'}[/]")
    if document["title_english"] and document["title_english"] != document["title"]:
        console.print(f"original title: {document['title']}")
    for label, key in [
        ("url", "url"),
        ("canonical", "canonical_url"),
        ("site", "sitename"),
        ("author", "author"),
        ("published", "published"),
        ("language", "language"),
        ("status", "status"),
        ("reason", "reason"),
        ("extractor", "extractor"),
        ("detector", "detector"),
        ("translator", "translator"),
    ]:
        if document.get(key) is not None:
            console.print(f"[dim]{label}:[/] {document[key]}")
    table = Table(show_lines=True, expand=True)
    table.add_column("#", justify="right")
    table.add_column("lang")
    # fold, never ellipsize: wide (CJK) characters must wrap without losing any
    table.add_column("original", ratio=1, overflow="fold")
    table.add_column("English", ratio=1, overflow="fold")
    for i, paragraph in enumerate(document["paragraphs"]):
        english = paragraph["english"]
        table.add_row(
            str(i + 1),
            paragraph["language"] or "",
            paragraph["original"],
            english if english is not None else "[yellow](not translated)[/]",
        )
    console.print(table)
    duplicates = db.near_duplicates_of(document["url"], limit=20)
    if duplicates:
        from rich.markup import escape

        count = db.group_size(document["url"]) - 1
        console.print(f"[bold]near-duplicates[/] (same story, {count} other document(s)):")
        for other in duplicates:
            title = other["title_english"] or other["title"] or "(no title)"
            line = f"  - ({other['language']}) {title} — {other['url']}"
            console.print(escape(line), highlight=False, soft_wrap=True)
        if count > len(duplicates):
            console.print(f"  … and {count - len(duplicates)} more")
    else:
        console.print("[dim]near-duplicates: none[/]")
