"""`ingest detect`: language of lines, or of blank-line-separated paragraphs as one document."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.app import app


def _paragraphs(text: str) -> list[str]:
    """Blank-line-separated blocks, each joined into one line of text."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(" ".join(current))
            current = []
    if current:
        blocks.append(" ".join(current))
    return blocks


@app.command()
def detect(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read this file instead of stdin.")
    ] = None,
    paragraphs: Annotated[
        bool,
        typer.Option(
            "--paragraphs",
            help="Treat blank-line-separated blocks as the paragraphs of one document; print one "
            "line per paragraph, then the document result.",
        ),
    ] = False,
    title: Annotated[
        str | None, typer.Option(help="Title of the document (with --paragraphs).")
    ] = None,
    hint: Annotated[
        str | None,
        typer.Option(help="Expected language (with --paragraphs): breaks ties, never overrides."),
    ] = None,
    languages: Annotated[
        str | None,
        typer.Option(help="Comma-separated ISO 639-1 codes; default: INGEST_LANGUAGES / settings."),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(help="auto, accurate, lingua, lingua-low, py3langid, langdetect, scripts."),
    ] = "auto",
) -> None:
    """Detect the language of each input line; print one JSON object per line."""
    from ingest.language import BACKENDS, detect_document, get_detector, guess_to_json

    if backend not in BACKENDS:
        raise typer.BadParameter(f"choose from {', '.join(BACKENDS)}", param_hint="--backend")
    codes = [c.strip() for c in languages.split(",") if c.strip()] if languages else None
    detector = get_detector(codes, backend=backend)
    if file is not None:
        from ingest.localfiles import open_regular

        with open_regular(file) as handle:  # a FIFO would block: refused with one line
            text = handle.read().decode("utf-8")
    else:
        text = sys.stdin.read()
    out = sys.stdout

    def emit(obj: dict[str, object]) -> None:
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")

    if not paragraphs:
        lines = [line for line in text.splitlines() if line.strip()]
        for line, guess in zip(lines, detector.detect_many(lines), strict=True):
            emit(guess_to_json(line, guess))
        return

    blocks = _paragraphs(text)
    result = detect_document(blocks, title, detector=detector, hint=hint)
    if title is not None and result.title is not None:
        emit({"title": True, **guess_to_json(title, result.title)})
    for index, (block, guess) in enumerate(zip(blocks, result.paragraphs, strict=True)):
        emit({"paragraph": index, **guess_to_json(block, guess)})
    emit(
        {
            "document": True,
            "language": result.language,
            "confidence": result.confidence,
            "paragraphs": len(blocks),
            "detector": detector.name,
        }
    )
