"""Deployments built from the sources file: one scheduled deployment per source, plus on-demand
ingest and reprocess deployments. Used by `ingest deploy`, `ingest serve` and to (re)generate
`prefect.yaml`, so the three always agree.

- `deployment_specs(sources_file)`: plain description of every deployment (no Prefect calls).
- `render_prefect_yaml(specs)`: the same as a `prefect.yaml` for `prefect deploy --all`.
- `deploy(specs, work_pool, env)`: create/update them on the server (work pool of type process;
  the worker runs each flow from the project directory, pulled with `set_working_directory`,
  with `env` from `data_locations()` so a worker started anywhere uses the intended store and
  translation packages).
- `serve(specs)`: the one-process local mode (a Prefect `Runner`), no worker or work pool.
- `start_server()`: a real `prefect server start` on 127.0.0.1 in a subprocess, for local use,
  tests and benchmarks.
"""

from __future__ import annotations

import contextlib
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


def data_locations(home: Path | None = None, store_url: str | None = None) -> dict[str, str]:
    """Where scheduled runs keep their data, as absolute INGEST_* variables for the worker.

    Resolved here, at deploy time, from `--home`/`--store` or this process's environment: a
    worker started in another directory or by another user would otherwise fall back to its
    own default home, without the translation packages installed here.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from ingest.config import load_settings

    settings = load_settings(home=home, store_url=store_url)
    home_dir = settings.home.expanduser().resolve()
    try:
        store = make_url(settings.resolved_store_url())
    except ArgumentError:
        raise ValueError(
            f"store URL {settings.resolved_store_url()!r} is not a SQLAlchemy URL"
        ) from None
    database = store.database
    if store.get_backend_name() == "sqlite" and database and database != ":memory:":
        store = store.set(database=str(Path(database).expanduser().resolve()))
    env = {
        "INGEST_HOME": str(home_dir),
        "INGEST_STORE_URL": store.render_as_string(hide_password=False),
        "INGEST_ARCHIVE_DIR": str(settings.resolved_archive_dir().expanduser().resolve()),
        "INGEST_PACKAGES_DIR": str(settings.resolved_packages_dir().expanduser().resolve()),
    }
    argos_packages = os.environ.get("ARGOS_PACKAGES_DIR")
    if argos_packages:  # argostranslate's own folder is read too (ingest.translate.packages)
        env["ARGOS_PACKAGES_DIR"] = str(Path(argos_packages).expanduser().resolve())
    return env


class PrefectApiError(RuntimeError):
    """The Prefect API cannot be used (unreachable, or it refused a request); one-line message."""


def check_api(api_url: str) -> None:
    """Fail with one clear line when nothing answers at PREFECT_API_URL (instead of a
    connection traceback from deep inside the Prefect client)."""
    import httpx

    try:
        response = httpx.get(f"{api_url.rstrip('/')}/health", timeout=10)
    except httpx.HTTPError as error:
        raise PrefectApiError(
            f"no Prefect server answers at PREFECT_API_URL={api_url} ({error}); "
            "start one with `prefect server start`"
        ) from None
    if response.status_code != 200:
        raise PrefectApiError(
            f"PREFECT_API_URL={api_url} is not a Prefect API "
            f"(GET /health answered {response.status_code})"
        )


def ensure_work_pool(name: str = DEFAULT_WORK_POOL) -> bool:
    """Create a work pool of type process unless it exists; True if it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            try:
                client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            except (PrefectHTTPStatusError, ValueError) as error:
                raise PrefectApiError(
                    f"cannot create work pool {name!r}: {_api_detail(error)}"
                ) from None
            return True
    if pool.type != "process":
        raise PrefectApiError(
            f"work pool {name!r} exists with type {pool.type!r}; ingest needs type 'process' "
            "(choose another --pool)"
        )
    return False


def _api_detail(error: Exception) -> str:
    """The server's own words for a refused request, on one line."""
    response = getattr(error, "response", None)
    if response is not None:
        try:
            return " ".join(str(response.json().get("detail", response.text)).split())
        except ValueError:
            return " ".join(response.text.split())[:300]
    return " ".join(str(error).split())[:300]


def deploy(
    specs: list[DeploymentSpec],
    *,
    work_pool: str = DEFAULT_WORK_POOL,
    project_dir: Path = PROJECT_DIR,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Create or update the deployments on the server PREFECT_API_URL points at; returns ids.

    `env` (see `data_locations`) becomes the process work pool's `env` job variable: every
    run of these deployments sees it whatever the worker's own environment is.
    """
    from prefect.exceptions import PrefectHTTPStatusError

    ensure_work_pool(work_pool)
    deployments = [
        _flow_from_project(spec, project_dir).to_deployment(
            name=spec.name,
            description=spec.description,
            parameters=dict(spec.parameters),
            tags=list(spec.tags),
            concurrency_limit=spec.concurrency_limit,
            job_variables={"env": dict(env or {})},
            **_schedule_kwargs(spec),
        )
        for spec in specs
    ]
    # RunnerDeployment.apply directly: prefect.deploy() also lists the pool's workers, which
    # fails with a 422 on prefect 3.8 (None limit/offset) and only serves its printed hints.
    ids = []
    for deployment in deployments:
        try:
            ids.append(deployment.apply(work_pool_name=work_pool))
        except (PrefectHTTPStatusError, ValueError) as error:  # DeploymentApplyError too
            raise PrefectApiError(
                f"cannot deploy {deployment.full_name!r}: {_api_detail(error)}"
            ) from None
    return [str(i) for i in ids]


def serve(specs: list[DeploymentSpec], *, limit: int | None = None) -> None:
    """Run every deployment from this process (schedules included) until SIGTERM/Ctrl-C.

    `Runner.add_flow`, not `prefect.serve`: it detaches a deployment that `ingest deploy`
    created earlier on the same server from its work pool and runs the flow objects loaded
    here. `prefect.serve` keeps the old work pool and, with the pull steps cleared, makes each
    run look for the flow code "in storage at None" (FileNotFoundError).
    """
    import asyncio

    from prefect.exceptions import PrefectHTTPStatusError, TerminationSignal
    from prefect.flows import load_flow_from_entrypoint
    from prefect.runner import Runner

    class QuietStopRunner(Runner):
        """Stops on SIGTERM from inside its event loop.

        Prefect's own handler calls ``sys.exit(0)`` in the middle of the loop: a control-channel
        connection still pending then fails with CancelledError, which asyncio logs as a
        traceback. Here the first SIGTERM schedules ``astop()`` in the loop (signal-safe via
        ``call_soon_threadsafe``), so ``start()`` returns normally (schedules paused); a second
        SIGTERM, or one before the loop runs, keeps Prefect's immediate exit.
        """

        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            loop = self._loop
            if self.stopping or not self.started or loop is None or loop.is_closed():
                super().handle_sigterm(*args, **kwargs)
                return
            self._logger.info("SIGTERM received, stopping the runner…")
            pending: list[Any] = []  # keeps the stop task referenced until it is done
            loop.call_soon_threadsafe(lambda: pending.append(loop.create_task(self.astop())))

    runner = QuietStopRunner(limit=limit, pause_on_shutdown=True)
    for spec in specs:
        flow = load_flow_from_entrypoint(str(PROJECT_DIR / spec.entrypoint))
        try:
            runner.add_flow(
                flow,
                name=spec.name,
                description=spec.description,
                parameters=dict(spec.parameters),
                tags=list(spec.tags),
                concurrency_limit=spec.concurrency_limit,
                **_schedule_kwargs(spec),
            )
        except (PrefectHTTPStatusError, ValueError) as error:  # DeploymentApplyError too
            raise PrefectApiError(
                f"cannot serve {spec.full_name!r}: {_api_detail(error)}"
            ) from None
    with contextlib.suppress(KeyboardInterrupt, TerminationSignal):  # Ctrl-C / SIGTERM: stop
        asyncio.run(runner.start())


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
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 120,
    settings: dict[str, str] | None = None,
) -> LocalServer:
    """Start `prefect server start` with its own PREFECT_HOME and wait until it is healthy.

    `settings`: extra server settings, e.g. a shorter PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS
    so tests see scheduled runs within seconds instead of a minute.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log_path = home / "server.log"
    env = offline_env(
        PREFECT_HOME=str(home),
        # the UI reads its API address from these, not from --host/--port
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=f"http://{host}:{port}/api",
        **(settings or {}),
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
