"""Deployments built from the sources file: one scheduled deployment per source, plus on-demand
ingest and reprocess deployments. Used by `ingest deploy`, `ingest serve` and to (re)generate
`prefect.yaml`, so the three always agree.

- `deployment_specs(sources_file)`: plain description of every deployment (no Prefect calls).
- `render_prefect_yaml(specs)`: the same as a `prefect.yaml` for `prefect deploy --all`.
- `deploy(specs, work_pool)`: create/update them on the server (work pool of type process; the
  worker runs each flow from the project directory, pulled with `set_working_directory`).
- `serve(specs)`: the one-process local mode (`prefect.serve`), no worker or work pool.
- `start_server()`: a real `prefect server start` on 127.0.0.1 in a subprocess, for local use,
  tests and benchmarks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows import PREFECT_DEFAULTS

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES_FILE = "samples/sources.toml"
DEFAULT_WORK_POOL = "ingest"
SCHEDULE_TIMEZONE = "UTC"

SOURCES_ENTRYPOINT = "flows/sources_flow.py:ingest_sources_flow"
REPROCESS_ENTRYPOINT = "flows/reprocess_flow.py:reprocess_archive_flow"
INGEST_ENTRYPOINT = "flows/ingest_flow.py:ingest_flow"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment, independent of how it is applied (API, prefect.yaml or serve)."""

    name: str
    flow_name: str
    entrypoint: str  # "path/relative/to/project.py:function"
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    interval: int | None = None  # seconds
    tags: tuple[str, ...] = ("ingest",)
    concurrency_limit: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"

    def schedule_text(self) -> str:
        if self.cron:
            return f"cron {self.cron} ({SCHEDULE_TIMEZONE})"
        if self.interval:
            return f"every {self.interval} s"
        return "on demand"


def _project_relative(path: Path, project_dir: Path) -> str:
    """A path as the worker (running in the project directory) should see it."""
    resolved = path.expanduser().resolve()
    try:
        return resolved.relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def deployment_specs(
    sources_file: str | Path = DEFAULT_SOURCES_FILE, *, project_dir: Path = PROJECT_DIR
) -> list[DeploymentSpec]:
    """Every deployment: one per source (with its schedule) + on-demand ingest and reprocess."""
    from ingest.sources_file import load_sources

    path = Path(sources_file)
    if not path.is_absolute() and not path.exists():
        path = project_dir / path
    sources = load_sources(path)
    parameter_path = _project_relative(path, project_dir)
    specs = [
        DeploymentSpec(
            name=source.name,
            flow_name="ingest-sources",
            entrypoint=SOURCES_ENTRYPOINT,
            description=f"Ingest source {source.name!r} of {parameter_path} "
            f"({len(source.feeds)} feed(s), {len(source.sitemaps)} sitemap(s), "
            f"{len(source.urls)} URL(s)).",
            parameters={"sources_file": parameter_path, "names": [source.name]},
            cron=source.schedule,
            interval=source.interval,
            tags=("ingest", "source"),
            concurrency_limit=1,  # the next schedule never overlaps a slow run of the source
        )
        for source in sources
    ]
    specs.append(
        DeploymentSpec(
            name="urls",
            flow_name="ingest",
            entrypoint=INGEST_ENTRYPOINT,
            description="Ingest the given files, folders, URLs, feeds or sitemaps.",
            tags=("ingest", "on-demand"),
        )
    )
    specs.append(
        DeploymentSpec(
            name="on-demand",
            flow_name="reprocess-archive",
            entrypoint=REPROCESS_ENTRYPOINT,
            description="Replay archived raw pages (WARC/JSONL/HTML) through the pipeline.",
            tags=("ingest", "on-demand"),
        )
    )
    return specs


# --------------------------------------------------------------------------- prefect.yaml


def render_prefect_yaml(
    specs: list[DeploymentSpec], *, work_pool: str = DEFAULT_WORK_POOL, sources_file: str = ""
) -> str:
    """The deployments as a `prefect.yaml` (`prefect deploy --all` applies the same thing).

    The build step records the directory `prefect deploy` runs in (the project) and the pull
    step makes the worker run every flow from there.
    """
    import yaml

    deployments = []
    for spec in specs:
        entry: dict[str, Any] = {
            "name": spec.name,
            "entrypoint": spec.entrypoint,
            "description": spec.description,
            "tags": list(spec.tags),
            "parameters": dict(spec.parameters),
            "work_pool": {"name": work_pool},
            "schedules": [],
        }
        if spec.cron:
            entry["schedules"] = [{"cron": spec.cron, "timezone": SCHEDULE_TIMEZONE}]
        elif spec.interval:
            entry["schedules"] = [{"interval": spec.interval, "timezone": SCHEDULE_TIMEZONE}]
        if spec.concurrency_limit:
            entry["concurrency_limit"] = spec.concurrency_limit
        deployments.append(entry)
    document = {
        "name": "ingest",
        "build": [
            {
                "prefect.deployments.steps.run_shell_script": {
                    "id": "project-dir",
                    "script": "pwd",
                    "stream_output": False,
                }
            }
        ],
        "push": None,
        "pull": [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": "{{ project-dir.stdout }}"
                }
            }
        ],
        "deployments": deployments,
    }
    header = (
        "# Generated by `ingest deploy --write-yaml` from "
        f"{sources_file or DEFAULT_SOURCES_FILE}: edit that file, then regenerate.\n"
        "# Apply from the project directory: `prefect deploy --all` (work pool "
        f"{work_pool!r}, type process).\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


# --------------------------------------------------------------------------- apply


def _flow_from_project(spec: DeploymentSpec, project_dir: Path) -> Any:
    from prefect import Flow

    return Flow.from_source(source=str(project_dir), entrypoint=spec.entrypoint)


def _schedule_kwargs(spec: DeploymentSpec) -> dict[str, Any]:
    from prefect.schedules import Cron, Interval

    if spec.cron:
        return {"schedules": [Cron(spec.cron, timezone=SCHEDULE_TIMEZONE)]}
    if spec.interval:
        return {"schedules": [Interval(spec.interval, timezone=SCHEDULE_TIMEZONE)]}
    return {}


def ensure_work_pool(name: str = DEFAULT_WORK_POOL) -> bool:
    """Create a work pool of type process unless it exists; True if it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True
    if pool.type != "process":
        raise ValueError(f"work pool {name!r} exists with type {pool.type!r}, expected 'process'")
    return False


def deploy(
    specs: list[DeploymentSpec],
    *,
    work_pool: str = DEFAULT_WORK_POOL,
    project_dir: Path = PROJECT_DIR,
) -> list[str]:
    """Create or update the deployments on the server PREFECT_API_URL points at; returns ids."""
    ensure_work_pool(work_pool)
    deployments = [
        _flow_from_project(spec, project_dir).to_deployment(
            name=spec.name,
            description=spec.description,
            parameters=dict(spec.parameters),
            tags=list(spec.tags),
            concurrency_limit=spec.concurrency_limit,
            **_schedule_kwargs(spec),
        )
        for spec in specs
    ]
    # RunnerDeployment.apply directly: prefect.deploy() also lists the pool's workers, which
    # fails with a 422 on prefect 3.8 (None limit/offset) and only serves its printed hints.
    ids = [deployment.apply(work_pool_name=work_pool) for deployment in deployments]
    return [str(i) for i in ids]


def serve(specs: list[DeploymentSpec], *, limit: int | None = None) -> None:
    """Run every deployment from this process (schedules included) until SIGTERM/Ctrl-C."""
    from prefect import serve as prefect_serve
    from prefect.flows import load_flow_from_entrypoint

    deployments = []
    for spec in specs:
        flow = load_flow_from_entrypoint(str(PROJECT_DIR / spec.entrypoint))
        deployments.append(
            flow.to_deployment(
                name=spec.name,
                description=spec.description,
                parameters=dict(spec.parameters),
                tags=list(spec.tags),
                concurrency_limit=spec.concurrency_limit,
                **_schedule_kwargs(spec),
            )
        )
    prefect_serve(*deployments, limit=limit, print_starting_message=True)


# --------------------------------------------------------------------------- local server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def offline_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """An environment for Prefect subprocesses: the project's offline defaults applied."""
    env = dict(os.environ if base is None else base)
    for name, value in PREFECT_DEFAULTS.items():
        env.setdefault(name, value)
    env.update(extra)
    return env


@dataclass
class LocalServer:
    """A `prefect server start` subprocess; `api_url` is what PREFECT_API_URL should be."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    home: Path
    log_path: Path

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a client process (worker, deploy) of this server."""
        return offline_env(PREFECT_API_URL=self.api_url, **extra)

    def healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM the process group (Prefect serve/worker/server stop on it), then kill."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def start_server(
    home: Path, *, host: str = "127.0.0.1", port: int | None = None, timeout: float = 120
) -> LocalServer:
    """Start `prefect server start` with its own PREFECT_HOME and wait until it is healthy."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log_path = home / "server.log"
    env = offline_env(
        PREFECT_HOME=str(home),
        # the UI reads its API address from these, not from --host/--port
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=f"http://{host}:{port}/api",
    )
    env.pop("PREFECT_API_URL", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"]
            + ["--host", host, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LocalServer(process=process, host=host, port=port, home=home, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prefect server exited with {process.returncode}: "
                f"{log_path.read_text(errors='replace')[-2000:]}"
            )
        if server.healthy():
            return server
        time.sleep(0.5)
    server.stop()
    raise TimeoutError(f"prefect server not healthy after {timeout:.0f} s; log: {log_path}")
