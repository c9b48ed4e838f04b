"""Entry point of the `ingest` console script."""

from __future__ import annotations

import importlib

from ingest.cli.app import app

# Each module registers its commands on `app` when imported.
COMMAND_MODULES = ["run", "extract", "detect", "translate", "deploy", "reprocess"]


def load_commands() -> None:
    """Import every command module so its commands are registered on `app`."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"ingest.cli.{name}")


def main() -> None:
    load_commands()
    app()


if __name__ == "__main__":
    main()
