"""`ingest server status|start|stop`: the local Prefect server that `ingest run` keeps."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ingest.cli.app import app

server_app = typer.Typer(
    help="The local Prefect server (API and UI) that `ingest run` starts and reuses when "
    "PREFECT_API_URL is not set.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _configured_api_note() -> None:
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        from ingest.security import redact_url

        typer.echo(f"PREFECT_API_URL is set: runs use {redact_url(configured)}, not a local server")


@server_app.command()
def status() -> None:
    """Show the local server: URL, pid, uptime, idle time. Exits 1 when none runs."""
    from flows.local_server import (
        ServerPaths,
        read_state,
        runs_hold_leases,
        server_alive,
        server_info,
    )

    _configured_api_note()
    paths = ServerPaths.current()
    state = read_state(paths) if paths.folder.is_dir() else None
    if state is None or not server_alive(paths):
        typer.echo(f"no local Prefect server is running (folder: {paths.folder})")
        raise typer.Exit(code=1)
    info = server_info(state) if state.status == "ready" else None
    if info is None:
        typer.echo(f"local Prefect server pid {state.pid}: starting or not answering")
        typer.echo(f"log:      {state.log}")
        raise typer.Exit(code=1)
    in_use = runs_hold_leases(paths)
    idle = "in use by a run" if in_use else _duration(float(info["idle_seconds"]))
    typer.echo(f"UI:       {state.ui_url}" if state.ui else f"URL:      {state.ui_url}")
    typer.echo(f"API:      {state.api_url}")
    typer.echo(f"pid:      {state.pid}")
    typer.echo(f"uptime:   {_duration(time.time() - state.started_at)}")
    typer.echo(f"idle:     {idle} (stops after {state.idle_minutes:g} min idle)")
    typer.echo(f"database: {_shown_database(state.database)}")
    typer.echo(f"log:      {state.log}")


def _shown_database(url: str) -> str:
    from ingest.security import display_store_url

    return display_store_url(url) if url else "?"


@server_app.command()
def start(
    idle_minutes: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many minutes without use (default 15, "
            "$INGEST_SERVER_IDLE_MINUTES)."
        ),
    ] = None,
) -> None:
    """Start the local server now (or find the running one) and print its address."""
    from flows.local_server import (
        LocalServerError,
        ServerPaths,
        ensure_server,
        kept_servers_supported,
    )
    from ingest.config import load_settings

    settings = load_settings(server_idle_minutes=idle_minutes)
    minutes = settings.server_idle_minutes
    if minutes <= 0 or not kept_servers_supported():
        typer.echo(
            "error: a kept server needs INGEST_SERVER_IDLE_MINUTES > 0 (and POSIX)", err=True
        )
        raise typer.Exit(code=2)
    try:
        state = ensure_server(ServerPaths.current(), minutes, ui=settings.server_ui)
    except LocalServerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"{'UI' if state.ui else 'URL'}: {state.ui_url}  (API {state.api_url}, pid {state.pid})"
    )


@server_app.command()
def stop() -> None:
    """Stop the local server, even while runs use it (they then fail). Exits 0 when none runs."""
    from flows.local_server import LocalServerError, ServerPaths, stop_server

    try:
        pid = stop_server(ServerPaths.current())
    except LocalServerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        "no local Prefect server was running"
        if pid is None
        else f"stopped the local Prefect server (pid {pid})"
    )
