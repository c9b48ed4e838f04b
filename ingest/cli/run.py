"""`ingest run`, `ingest export`, `ingest show`: the main job and reading what it stored."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ingest.cli.app import app

if TYPE_CHECKING:
    from rich.text import Text

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

CommentsOption = Annotated[
    bool | None,
    typer.Option(
        "--comments/--no-comments",
        help="Keep reader comments, as paragraphs marked comment after the article "
        "(default: off, or $INGEST_INCLUDE_COMMENTS).",
        show_default=False,
    ),
]


# `ingest run` exit code when the store or the raw archive cannot be written (disk full, …)
EXIT_UNWRITABLE = 3


def _settings(store: str | None, home: Path | None, **more: Any):  # -> Settings
    from ingest.config import load_settings

    return load_settings(store_url=store, home=home, **more)


def check_writable_store(url: str) -> None:
    """Open the store once and prove it takes writes, before any work starts.

    A bad URL, an unreachable server or a read-only file is then one ``error:`` line from the
    CLI's error boundary instead of a failure deep inside the flow (with Prefect's traceback).
    """
    from ingest.store import Store

    store = Store(url)
    try:
        store.check_writable()
    finally:
        store.close()


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
    comments: CommentsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect logs.")] = False,
) -> None:
    """Run the ingest flow on Prefect and summarise (the local Prefect server is started or
    reused unless PREFECT_API_URL is set; see `ingest server`).

    Exits 1 if no document succeeded, 3 if the store or archive cannot be written (disk full,
    read-only): the run then stops at once, keeping everything stored before.
    """
    import logging
    import os

    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        logging.getLogger("prefect").setLevel(logging.WARNING)
    settings = _settings(store, home, batch_size=batch_size, include_comments=comments)
    check_writable_store(settings.resolved_store_url())
    from flows.ingest_flow import PROGRESS_HOOKS, ingest_flow
    from flows.local_server import LocalServerError, local_api
    from flows.run_settings import cli_flow_runs
    from ingest.errors import StoreUnwritable
    from ingest.security import protect

    progress, on_progress = _progress_bar()
    PROGRESS_HOOKS.append(on_progress)
    try:
        with (
            progress,
            local_api(settings.server_idle_minutes, ui=settings.server_ui),
            cli_flow_runs(),
        ):
            # Prefect stores flow parameters: it gets the redacted forms, the flow (in this
            # process) looks the originals up
            rows = ingest_flow(
                inputs=[protect(item) for item in inputs],
                store_url=protect(settings.resolved_store_url(), store_url=True),
                home=str(settings.home),
                batch_size=settings.batch_size,
                force=force,
                include_comments=settings.include_comments,
            )
    except StoreUnwritable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=EXIT_UNWRITABLE) from None
    except LocalServerError as error:
        typer.echo(f"error: {error} (or set PREFECT_API_URL to a running server)", err=True)
        raise typer.Exit(code=1) from None
    finally:
        PROGRESS_HOOKS.remove(on_progress)
    print_summary(rows, settings.resolved_store_url(), roots=list(inputs))
    succeeded = [r for r in rows if r["status"] != "failed"]
    if not succeeded:
        raise typer.Exit(code=1)


def _progress_bar() -> tuple[Any, Any]:
    """A transient progress bar and the hook the flow calls after each batch."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(  # markup=False: descriptions and fields are shown as given
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task_id = progress.add_task("starting Prefect…", total=None, rate="")

    def on_progress(done: int, total: int | None, _rows: list[dict[str, Any]]) -> None:
        elapsed = progress.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:.1f} docs/s" if done and elapsed else ""
        progress.update(task_id, description="ingesting", total=total, completed=done, rate=rate)

    return progress, on_progress


def print_summary(
    rows: list[dict[str, Any]], store_url: str, roots: list[str] | None = None
) -> None:
    """One line per document: source, language, paragraphs, translated?, status and reason.

    ``roots`` (the run's inputs) make local sources relative paths.
    """
    from rich.console import Console
    from rich.table import Table

    from ingest.cli.display import literal
    from ingest.report import reason_text, status_counts
    from ingest.security import display_store_url

    console = Console(soft_wrap=False)
    shown = display_store_url(store_url)
    table = Table(title=literal(f"ingest: {len(rows)} document(s) → {shown}"), expand=False)
    table.add_column("source", overflow="fold", max_width=48)
    table.add_column("lang")
    table.add_column("paras", justify="right")
    table.add_column("translated")
    table.add_column("status", overflow="fold", max_width=60)
    styles = {
        "ok": "green",
        "unchanged": "cyan",
        "partial": "yellow",
        "untranslated": "yellow",
        "low-confidence": "magenta",
    }
    for row in rows:
        translated = _translated_cell(row)
        status = row["status"] if not row["reason"] else f"{row['status']}: {reason_text(row)}"
        table.add_row(
            literal(_display_source(row["url"], roots or [])),
            literal(row["language"]),
            str(row["paragraphs"]) if row["status"] != "unchanged" else "",
            translated,
            literal(status, styles.get(row["status"], "red")),
        )
    console.print(table)
    counts = status_counts(rows)
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing")


def _translated_cell(row: dict[str, Any]) -> str:
    if row["status"] in ("failed", "unchanged"):
        return ""
    if not row["foreign"]:
        return "n/a (English)"
    if row["translated"] == row["foreign"]:
        return f"yes ({row['translated']}/{row['foreign']})"
    return f"no ({row['translated']}/{row['foreign']})"


def _display_source(url: str, roots: list[str]) -> str:
    """Local files as a path relative to the cwd or an input's folder; web pages as their URL."""
    from ingest.report import local_label, local_path

    path = local_path(url)
    return url if path is None else local_label(path, roots)


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="jsonl or parquet (parquet needs --output).")
    ] = "jsonl",
    status: Annotated[
        str | None,
        typer.Option(
            help="Only documents with this status: ok, partial, untranslated, "
            "low-confidence or failed."
        ),
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
    if output is not None and not output.expanduser().parent.is_dir():
        # checked before writing: pyarrow's own error does not name the path
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(output.expanduser().parent))
    settings = _settings(store, home)
    db = Store(settings.resolved_store_url(), read_only=True)
    if format == "parquet":
        assert output is not None
        count = export_parquet(db, output, status=status)
    elif output is None:
        count = export_jsonl(db, sys.stdout, status=status)
    else:
        with output.open("w", encoding="utf-8") as handle:
            count = export_jsonl(db, handle, status=status)
    typer.echo(f"exported {count} document(s)", err=True)


def _confidence_text(confidence: float | None, low: bool | None) -> Text:
    """A translation confidence for display: two decimals, "low" in red below the threshold
    it was translated with, "–" when no model translated it (or it is unknown)."""
    from rich.text import Text

    if confidence is None:
        return Text("–", style="dim")
    return Text(f"{confidence:.2f} low" if low else f"{confidence:.2f}", "red" if low else "")


@app.command()
def show(
    url: Annotated[str, typer.Argument(help="URL (or canonical URL, or file path) of a document.")],
    store: StoreOption = None,
    home: HomeOption = None,
) -> None:
    """Print one stored document with original and English side by side."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ingest.cli.display import literal
    from ingest.inputs import file_uri
    from ingest.security import redact_url
    from ingest.store import Store

    settings = _settings(store, home)
    db = Store(settings.resolved_store_url(), read_only=True)
    document = db.get_document(url) or db.get_document(redact_url(url))
    if document is None and Path(url).exists():
        document = db.get_document(file_uri(Path(url)))
    if document is None:
        typer.echo(f"not in the store: {redact_url(url)}", err=True)
        raise typer.Exit(code=1)
    console = Console()
    console.print(literal(document["title_english"] or document["title"] or "(no title)", "bold"))
    if document["title_english"] and document["title_english"] != document["title"]:
        console.print(Text.assemble("original title: ", literal(document["title"])))
    if document.get("title_confidence") is not None:
        console.print(
            Text.assemble(
                ("title confidence:", "dim"),
                " ",
                _confidence_text(document["title_confidence"], document["title_low_confidence"]),
            )
        )
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
            console.print(Text.assemble((f"{label}:", "dim"), " ", literal(document[key])))
    table = Table(show_lines=True, expand=True)
    table.add_column("#", justify="right")
    table.add_column("lang")
    # fold, never ellipsize: wide (CJK) characters must wrap without losing any
    table.add_column("original", ratio=1, overflow="fold")
    table.add_column("English", ratio=1, overflow="fold")
    # the model's confidence in each translation (low ones in red); "–": no model translation
    table.add_column("conf.", justify="right")
    for i, paragraph in enumerate(document["paragraphs"]):
        english = paragraph["english"]
        comment = paragraph.get("kind") == "comment"
        table.add_row(
            Text.assemble(str(i + 1), ("\ncomment", "magenta")) if comment else str(i + 1),
            literal(paragraph["language"]),
            literal(paragraph["original"]),
            literal(english) if english is not None else literal("(not translated)", "yellow"),
            _confidence_text(paragraph.get("confidence"), paragraph.get("low_confidence")),
        )
    console.print(table)
    comments = sum(1 for p in document["paragraphs"] if p.get("kind") == "comment")
    if comments:
        console.print(f"[magenta]reader comments:[/] {comments} paragraph(s), marked comment")
    duplicates = db.near_duplicates_of(document["url"], limit=20)
    if duplicates:
        count = db.group_size(document["url"]) - 1
        console.print(f"[bold]near-duplicates[/] (same story, {count} other document(s)):")
        for other in duplicates:
            title = other["title_english"] or other["title"] or "(no title)"
            line = f"  - ({other['language']}) {title} — {other['url']}"
            console.print(literal(line), soft_wrap=True)
        if count > len(duplicates):
            console.print(f"  … and {count - len(duplicates)} more")
    else:
        console.print("[dim]near-duplicates: none[/]")
