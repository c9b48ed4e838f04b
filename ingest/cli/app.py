"""The Typer application object every command module registers on.

Command modules import heavy dependencies inside their functions so `ingest --help` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ingest",
    help="Translation-aware ingestion: fetch, extract, detect language, translate, store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="Manage translation packages (argostranslate format).", no_args_is_help=True
)
app.add_typer(models_app, name="models")
