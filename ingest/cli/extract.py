"""`ingest extract`: print the main text and metadata of saved pages, one JSON object per page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.app import app


@app.command("extract")
def extract_command(
    paths: Annotated[list[Path], typer.Argument(help="Saved pages: .html or .html.gz files.")],
    url: Annotated[
        str | None,
        typer.Option(
            help="URL the page was fetched from: its address during extraction (a date in it "
            "counts) and the url printed, instead of the page's canonical URL. One page only."
        ),
    ] = None,
    max_mb: Annotated[
        float | None,
        typer.Option(help="Refuse pages larger than this (MB); default INGEST_EXTRACT_MAX_BYTES."),
    ] = None,
    comments: Annotated[
        bool | None,
        typer.Option(
            "--comments/--no-comments",
            help='Also print the page\'s reader comments (a "comments" list; default: off, '
            "or $INGEST_INCLUDE_COMMENTS).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Extract clean paragraphs and metadata, the same way the pipeline does.

    Prints one UTF-8 JSON line per page: path, url (--url, else the page's canonical URL),
    title, author, date, sitename, language, text, paragraphs (and comments with --comments).
    A page without main text prints {"path", "error"} and the exit code is 1.
    """
    import json

    from ingest.config import load_settings
    from ingest.extract import ExtractionError, extract
    from ingest.language import detect_extracted, get_detector
    from ingest.localfiles import describe_os_error, open_regular
    from ingest.models import RawPage

    settings = load_settings(include_comments=comments)
    max_bytes = int(max_mb * 1024 * 1024) if max_mb else settings.extract_max_bytes
    if url and len(paths) > 1:
        raise typer.BadParameter("--url applies to a single page", param_hint="--url")

    def emit(record: dict[str, object]) -> None:
        # UTF-8 bytes whatever the locale's encoding: text stays readable, never \uXXXX
        typer.echo(json.dumps(record, ensure_ascii=False).encode("utf-8", "backslashreplace"))

    failed = 0
    for path in paths:
        try:
            # regular files only (a FIFO would block forever), never more than the cap + 1 byte
            with open_regular(path) as handle:
                body = handle.read(max_bytes + 1)
        except OSError as error:
            emit({"path": str(path), "error": f"unreadable: {describe_os_error(error)}"})
            failed += 1
            continue
        page = RawPage(url=url or path.resolve().as_uri(), source=str(path), body=body)
        try:
            doc = extract(page, max_bytes=max_bytes, include_comments=settings.include_comments)
        except ExtractionError as error:
            emit({"path": str(path), "error": error.reason})
            failed += 1
            continue
        body = [doc.paragraphs[i] for i in doc.body_indices()]  # comments come after the body
        record: dict[str, object] = {
            "path": str(path),
            "url": url or doc.canonical_url,
            "title": doc.title,
            "author": doc.author,
            "date": doc.date,
            "sitename": doc.sitename,
            # the pipeline's detect stage: the language it would store ("und" if undetermined)
            "language": detect_extracted(doc, get_detector(settings.languages)).language,
            "text": "\n".join(body),
            "paragraphs": body,
        }
        if settings.include_comments:
            record["comments"] = [
                doc.paragraphs[i] for i in range(len(doc.paragraphs)) if i >= len(body)
            ]
        emit(record)
    if failed:
        raise typer.Exit(1)
