"""`ingest deploy`, `ingest serve`: scheduling through Prefect deployments.

Prefect is imported inside the commands only (through `flows`), never by the library.
"""

from __future__ import annotations

import os
import sys
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


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Print one `error:` line; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


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
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Data folder the scheduled runs use (store, archive, packages; default: "
            "$INGEST_HOME or ~/.local/share/ingest).",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="SQLAlchemy URL the scheduled runs store into (default: $INGEST_STORE_URL or "
            "sqlite:///<home>/ingest.db).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create/update the deployments on the Prefect server at $PREFECT_API_URL.

    One deployment per source (with its cron/interval schedule), plus `ingest/urls` and
    `reprocess-archive/on-demand` to run from the UI. Each deployment carries where its runs
    keep data (INGEST_HOME, INGEST_STORE_URL, INGEST_ARCHIVE_DIR, INGEST_PACKAGES_DIR, resolved
    now from --home/--store or this environment), so a worker started anywhere
    (`prefect worker start --pool ingest`) stores there with the packages installed there.
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
    from flows.deployments import PrefectApiError, check_api, data_locations
    from flows.deployments import deploy as apply_deployments

    api_url = os.environ["PREFECT_API_URL"]
    try:
        env = data_locations(home=home, store_url=store)
    except ValueError as error:
        raise _fail(str(error), code=2) from None
    try:
        check_api(api_url)
        apply_deployments(specs, work_pool=pool, env=env)
    except PrefectApiError as error:
        raise _fail(str(error)) from None
    _print_specs(specs, f"deployed to work pool {pool!r} at {api_url}")
    _print_next_steps(env, pool, specs[0].full_name)


def _print_next_steps(env: dict[str, str], pool: str, first_deployment: str) -> None:
    """Where the scheduled runs keep data, and the commands that start them."""
    from sqlalchemy.engine import make_url

    from ingest.security import display_store_url

    store_url = make_url(env["INGEST_STORE_URL"])
    typer.echo(f"scheduled runs store into {display_store_url(env['INGEST_STORE_URL'])}")
    typer.echo(f"  with the translation packages in {env['INGEST_PACKAGES_DIR']}")
    if store_url.password:
        typer.echo(
            "warning: the store URL's password is visible in the deployments' job variables",
            err=True,
        )
    bin_dir = Path(sys.executable).parent
    typer.echo(
        f"next: start a worker: {bin_dir / 'prefect'} worker start --pool {pool}\n"
        f"      run one now: {bin_dir / 'prefect'} deployment run {first_deployment!r}"
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
    if os.environ.get("PREFECT_API_URL"):
        from flows.deployments import PrefectApiError, check_api

        try:
            check_api(os.environ["PREFECT_API_URL"])
        except PrefectApiError as error:
            raise _fail(str(error)) from None
    else:
        if not server:
            typer.echo("error: PREFECT_API_URL is not set (or drop --no-server)", err=True)
            raise typer.Exit(code=2)
        from flows.deployments import start_server

        home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
        typer.echo(f"starting a Prefect server on 127.0.0.1:{port} (data in {home}) …")
        try:
            local = start_server(home, port=port)
        except (RuntimeError, TimeoutError) as error:
            first_line = str(error).splitlines()[0]
            raise _fail(
                f"no Prefect server on 127.0.0.1:{port} ({first_line}); log: {home / 'server.log'}"
            ) from None
        os.environ["PREFECT_API_URL"] = local.api_url
        typer.echo(f"Prefect UI: {local.ui_url}")
    _print_specs(specs, "serving")
    from flows.deployments import PrefectApiError
    from flows.deployments import serve as serve_deployments

    try:
        serve_deployments(specs, limit=limit)
    except PrefectApiError as error:
        raise _fail(str(error)) from None
    finally:
        if local is not None:
            local.stop()
