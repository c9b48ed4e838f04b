"""`ingest deploy`, `ingest serve`: scheduling through Prefect deployments.

Prefect is imported inside the commands only (through `flows`), never by the library.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.app import app

SourcesOption = Annotated[
    Path,
    typer.Option(
        "--sources",
        "-s",
        help="Sources file (TOML/YAML): one scheduled deployment per source.",
    ),
]
PoolOption = Annotated[
    str, typer.Option("--pool", help="Prefect work pool (type process; created if missing).")
]

DEFAULT_SOURCES = Path("samples/sources.toml")


def _specs(sources: Path):  # -> list[DeploymentSpec]
    from flows.deployments import deployment_specs
    from ingest.sources_file import SourcesFileError

    try:
        return deployment_specs(sources)
    except (SourcesFileError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


def _print_specs(specs, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from ingest.cli.display import literal

    table = Table(title=literal(title))
    table.add_column("deployment")
    table.add_column("schedule")
    table.add_column("parameters", overflow="fold")
    for spec in specs:
        params = ", ".join(f"{k}={v}" for k, v in spec.parameters.items()) or "(when run)"
        table.add_row(literal(spec.full_name), literal(spec.schedule_text()), literal(params))
    Console().print(table)


@app.command()
def deploy(
    sources: SourcesOption = DEFAULT_SOURCES,
    pool: PoolOption = "ingest",
    write_yaml: Annotated[
        Path | None,
        typer.Option(
            "--write-yaml",
            help="Write the deployments as a prefect.yaml to this path instead of applying them.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create/update the deployments on the Prefect server at $PREFECT_API_URL.

    One deployment per source (with its cron/interval schedule), plus `ingest/urls` and
    `reprocess-archive/on-demand` to run from the UI. Then start a worker:
    `prefect worker start --pool ingest` in the project directory.
    """
    specs = _specs(sources)
    if write_yaml is not None:
        from flows.deployments import render_prefect_yaml

        write_yaml.write_text(
            render_prefect_yaml(specs, work_pool=pool, sources_file=sources.as_posix()),
            encoding="utf-8",
        )
        typer.echo(f"wrote {len(specs)} deployment(s) to {write_yaml}")
        return
    if not os.environ.get("PREFECT_API_URL"):
        typer.echo(
            "error: PREFECT_API_URL is not set. Start a server (`prefect server start`) and\n"
            "  export PREFECT_API_URL=http://127.0.0.1:4200/api\n"
            "or use `ingest serve` to run the schedules from one process.",
            err=True,
        )
        raise typer.Exit(code=2)
    from flows.deployments import deploy as apply_deployments

    apply_deployments(specs, work_pool=pool)
    _print_specs(specs, f"deployed to work pool {pool!r} at {os.environ['PREFECT_API_URL']}")
    typer.echo(
        f"next: start a worker in this directory: prefect worker start --pool {pool}\n"
        f"      run one now: prefect deployment run {specs[0].full_name!r}"
    )


@app.command()
def serve(
    sources: SourcesOption = DEFAULT_SOURCES,
    server: Annotated[
        bool,
        typer.Option(
            "--server/--no-server",
            help="Start a local Prefect server (UI at http://127.0.0.1:PORT) when "
            "PREFECT_API_URL is not set.",
        ),
    ] = True,
    port: Annotated[int, typer.Option(help="Port of the local server.")] = 4200,
    limit: Annotated[
        int | None, typer.Option(help="Flow runs at the same time (default: no limit).")
    ] = None,
) -> None:
    """One-process local mode: run every deployment's schedule from this process until Ctrl-C.

    No work pool or worker needed. Without PREFECT_API_URL a local server is started (its data
    in $PREFECT_HOME) and stopped on exit.
    """
    specs = _specs(sources)
    local = None
    if not os.environ.get("PREFECT_API_URL"):
        if not server:
            typer.echo("error: PREFECT_API_URL is not set (or drop --no-server)", err=True)
            raise typer.Exit(code=2)
        from flows.deployments import start_server

        home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
        typer.echo(f"starting a Prefect server on 127.0.0.1:{port} (data in {home}) …")
        local = start_server(home, port=port)
        os.environ["PREFECT_API_URL"] = local.api_url
        typer.echo(f"Prefect UI: {local.ui_url}")
    _print_specs(specs, "serving")
    from flows.deployments import serve as serve_deployments

    try:
        serve_deployments(specs, limit=limit)
    finally:
        if local is not None:
            local.stop()
