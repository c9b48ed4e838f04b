"""The local Prefect API of runs without ``PREFECT_API_URL``: kept between runs, or per run.

Starting Prefect's API costs 10–25 s, far more than an unchanged rerun. So the first
``ingest run`` starts the API (the same uvicorn app and ephemeral-mode services as Prefect's own
temporary server, plus the UI) as a detached process and later runs reuse it:

- **kept** (``INGEST_SERVER_IDLE_MINUTES`` > 0, the default): one server per Prefect home,
  recorded in ``$PREFECT_HOME/ingest-server/state.json``. It stops itself once no run has used
  it and no request arrived for that many minutes; ``ingest server stop`` stops it at once.
- **temporary** (``INGEST_SERVER_IDLE_MINUTES=0``): a server per run that dies with the run,
  even after ``kill -9`` (Linux ``PR_SET_PDEATHSIG`` plus a watchdog thread).

How the kept server stays correct, with three ``flock`` files in that folder (the kernel drops
a lock when its holder dies, so a killed run or server never leaves a stale lock):

- ``server.lock``: held by the server for its whole life. A state file whose lock is free is
  stale (the server died) and is replaced.
- ``start.lock``: taken by whoever checks for or starts a server, so concurrent first runs
  start one server, not two.
- ``lease.lock``: every run holds it *shared* while it uses the server. The server counts as
  idle only when it can take it *exclusively*; it keeps it exclusively while it stops, so a run
  arriving then waits for the exit and starts a new server. A run of hours keeps its server.

The state file (mode 0600, in a folder only its owner may write) is trusted only when that
server lock is held and the port answers Prefect's health check and proves it knows the
state file's secret (an HMAC of a fresh challenge), so a port reused by another program or
another user is never taken for the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_IDLE_MINUTES = 15.0
SHUTDOWN_GRACE_SECONDS = 5.0  # time for a clean stop before the process is ended
WATCH_INTERVAL_SECONDS = 0.5
LEASE_WAIT_SECONDS = 60.0  # a server that is stopping holds the lease lock this long at most
PORT_IN_USE_EXIT_CODE = 3  # uvicorn's exit code when it cannot bind (another process won)
ALREADY_RUNNING_EXIT_CODE = 4  # the launcher found another live server for this folder
IDENTITY_PATH = "/ingest-server"
_PR_SET_PDEATHSIG = 1

try:
    import fcntl
except ImportError:  # not POSIX: no kept server, every run gets a temporary one
    fcntl = None  # type: ignore[assignment]


class LocalServerError(RuntimeError):
    """The local Prefect API could not be started or used (its message is one line)."""


# ------------------------------------------------------------------------ state and locks


@dataclass(frozen=True)
class ServerPaths:
    """The files of the kept server of one Prefect home."""

    folder: Path

    @classmethod
    def current(cls) -> ServerPaths:
        """The folder for this process's Prefect home (``PREFECT_HOME``, ~/.prefect)."""
        from prefect.settings import PREFECT_HOME

        return cls(Path(PREFECT_HOME.value()).expanduser() / "ingest-server")

    @property
    def state(self) -> Path:
        return self.folder / "state.json"

    @property
    def start_lock(self) -> Path:
        return self.folder / "start.lock"

    @property
    def server_lock(self) -> Path:
        return self.folder / "server.lock"

    @property
    def lease(self) -> Path:
        return self.folder / "lease.lock"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def ui_static(self) -> Path:
        return self.folder / "ui"

    def ensure_private(self) -> None:
        """Create the folder (0700) and refuse one that another user could write into."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.folder.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise LocalServerError(
                f"{self.folder} is not private to this user (owner uid {info.st_uid}, "
                f"mode {info.st_mode & 0o777:o}): remove it or set PREFECT_API_URL"
            )


@dataclass(frozen=True)
class ServerState:
    """What ``state.json`` records about the kept server."""

    pid: int
    port: int
    started_at: float  # seconds since the epoch
    uid: int
    database: str  # Prefect's database URL: runs with another one do not reuse this server
    idle_minutes: float
    ui: bool
    log: str
    secret: str  # proves the server at ``port`` is this one (never shown)
    status: str = "starting"  # then "ready"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _flock_within(fd: int, operation: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not _try_flock(fd, operation):
        if time.monotonic() > deadline:
            raise LocalServerError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def _locked(path: Path, operation: int, timeout: float, what: str) -> Iterator[int]:
    fd = _open_lock_file(path)
    try:
        _flock_within(fd, operation, timeout, what)
        yield fd
    finally:
        os.close(fd)  # closing drops the lock


def server_alive(paths: ServerPaths) -> bool:
    """Whether a server process of this folder lives (it holds ``server.lock``)."""
    if not paths.server_lock.exists():
        return False
    fd = _open_lock_file(paths.server_lock)
    try:
        return not _try_flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def runs_hold_leases(paths: ServerPaths) -> bool:
    """Whether some run is using the kept server right now (holds ``lease.lock`` shared)."""
    if not paths.lease.exists():
        return False
    fd = _open_lock_file(paths.lease)
    try:
        return not _try_flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def read_state(paths: ServerPaths) -> ServerState | None:
    """The recorded state, if the file is ours, private and well formed."""
    try:
        fd = os.open(paths.state, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        try:
            data = json.loads(handle.read(65536))
            return ServerState(**data)
        except (ValueError, TypeError):
            return None


def _write_state(paths: ServerPaths, state: ServerState) -> None:
    """Atomically replace ``state.json`` (mode 0600)."""
    temporary = paths.folder / f".state.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(state), handle)
    os.replace(temporary, paths.state)


def _remove_state(paths: ServerPaths, pid: int | None = None) -> None:
    """Remove ``state.json`` (only if it describes ``pid``, when given)."""
    state = read_state(paths)
    if pid is None or (state is not None and state.pid == pid):
        with contextlib.suppress(FileNotFoundError):
            paths.state.unlink()


def _proof(secret: str, challenge: str) -> str:
    return hmac.new(secret.encode(), challenge.encode(), hashlib.sha256).hexdigest()


def server_info(state: ServerState, timeout: float = 2.0) -> dict[str, Any] | None:
    """The server's own report (pid, idle seconds, in use) if the port answers as this server:
    Prefect's health check, and the HMAC of a fresh challenge with the state's secret."""
    import httpx

    challenge = secrets.token_hex(16)
    try:
        with httpx.Client(timeout=timeout) as client:
            if client.get(f"{state.api_url}/health").status_code != 200:
                return None
            answer = client.get(f"{state.ui_url}{IDENTITY_PATH}", params={"challenge": challenge})
            info = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return None
    proof = info.get("proof") if isinstance(info, dict) else None
    if not isinstance(proof, str) or not hmac.compare_digest(
        proof, _proof(state.secret, challenge)
    ):
        return None
    return info


def current_database() -> str:
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    return str(PREFECT_API_DATABASE_CONNECTION_URL.value() or "")


# ------------------------------------------------------------------------ used by runs


def kept_servers_supported() -> bool:
    return fcntl is not None


@contextlib.contextmanager
def local_api(
    idle_minutes: float = DEFAULT_IDLE_MINUTES, *, ui: bool = True, timeout: float | None = None
) -> Iterator[str]:
    """Yield the Prefect API URL this process should use, and point Prefect at it meanwhile.

    ``PREFECT_API_URL`` (environment or Prefect profile) is used as it is. Otherwise the kept
    local server is reused, or started (``idle_minutes`` > 0), and held by a lease while the
    block runs; with ``idle_minutes`` = 0 a temporary server lives exactly as long as the block.
    """
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    if idle_minutes <= 0 or not kept_servers_supported():
        with _temporary_api(timeout) as url:
            yield url
        return
    paths = ServerPaths.current()
    paths.ensure_private()
    with contextlib.ExitStack() as lease:
        lease.enter_context(
            _locked(paths.lease, fcntl.LOCK_SH, LEASE_WAIT_SECONDS, "the stopping server")
        )
        state = ensure_server(paths, idle_minutes, ui=ui, timeout=timeout)
        if state.database != current_database():
            # the kept server serves another Prefect database: this run gets its own
            lease.close()
            with _temporary_api(timeout) as url:
                yield url
            return
        with _pointing_prefect_at(state.api_url):
            yield state.api_url


@contextlib.contextmanager
def _pointing_prefect_at(url: str) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        try:
            yield
        finally:
            _drain_prefect_clients()


def _drain_prefect_clients() -> None:
    """Send the queued logs and events of the run while its API still answers (else Prefect's
    background clients fail to reach it at exit and print connection errors)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    # each worker logs "Still processing items: N items remaining..." as a WARNING when it is
    # stopped with items queued: expected here, and not for the user's terminal
    loggers = [logging.getLogger(worker.__name__) for worker in (APILogWorker, EventsWorker)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        for worker in (APILogWorker, EventsWorker):
            with contextlib.suppress(Exception):  # a worker never started has nothing to send
                worker.drain_all(timeout=5)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _startup_timeout(timeout: float | None) -> float:
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    return timeout or float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())


def ensure_server(
    paths: ServerPaths, idle_minutes: float, *, ui: bool = True, timeout: float | None = None
) -> ServerState:
    """The kept server of ``paths``: the live one, or a new one started and ready."""
    wait = _startup_timeout(timeout)
    paths.ensure_private()
    with _locked(paths.start_lock, fcntl.LOCK_EX, wait + 30, "another run starting the server"):
        state = _live_server(paths, wait)
        if state is not None:
            return state
        _remove_state(paths)
        return _start_kept_server(paths, idle_minutes, ui, wait)


def _live_server(paths: ServerPaths, wait: float) -> ServerState | None:
    """The server holding ``server.lock`` once it answers (it may still be starting), else
    None when none lives."""
    deadline = time.monotonic() + wait
    while server_alive(paths):
        state = read_state(paths)
        if state is not None and state.status == "ready" and server_info(state) is not None:
            return state
        if time.monotonic() > deadline:
            pid = f" (pid {state.pid})" if state else ""
            raise LocalServerError(
                f"the local Prefect server{pid} does not answer; stop it with `ingest server stop`"
            )
        time.sleep(0.1)
    return None


def _server_environment(paths: ServerPaths, ui: bool) -> dict[str, str]:
    """What Prefect's own temporary server runs with (ephemeral-mode services), this
    process's Prefect settings, and the UI served from a copy in the server's folder."""
    from prefect.settings import get_current_settings

    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "1" if ui else "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    env.setdefault("PREFECT_UI_STATIC_DIRECTORY", str(paths.ui_static))
    env.pop("PREFECT_API_URL", None)
    return env


def _start_kept_server(
    paths: ServerPaths, idle_minutes: float, ui: bool, wait: float
) -> ServerState:
    """Launch the detached server and wait until it answers; called under ``start.lock``."""
    command = [sys.executable, "-m", "flows.local_server", "keep", str(paths.folder)]
    command += [str(idle_minutes), "ui" if ui else "no-ui"]
    env = _server_environment(paths, ui)
    # the same code as this process, whatever the working directory (the server runs in its
    # own folder, so it keeps no other folder busy)
    project = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [project, env.get("PYTHONPATH")]))
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as log, _launcher_timeout(wait):  # the latest start's log only
        launcher = subprocess.run(
            command,
            env=env,
            cwd=paths.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # Ctrl-C in the terminal of a run does not reach it
            check=False,
            timeout=wait,
        )  # returns once the server process is forked off and holds server.lock
    if launcher.returncode == ALREADY_RUNNING_EXIT_CODE:
        state = _live_server(paths, wait)
        if state is not None:
            return state
    elif launcher.returncode != 0:
        raise LocalServerError(
            f"the local Prefect server could not start (exit code {launcher.returncode}); "
            f"log: {paths.log}"
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state = read_state(paths)
        alive = server_alive(paths)
        if state is not None and state.status == "ready" and server_info(state) is not None:
            return state
        if not alive:
            raise LocalServerError(f"the local Prefect server exited at start; log: {paths.log}")
        time.sleep(0.1)
    _terminate(paths)
    raise LocalServerError(f"the local Prefect API did not start within {wait:.0f} s")


@contextlib.contextmanager
def _launcher_timeout(wait: float) -> Iterator[None]:
    try:
        yield
    except subprocess.TimeoutExpired:
        raise LocalServerError(
            f"the local Prefect server's launcher did not return within {wait:.0f} s"
        ) from None


def stop_server(paths: ServerPaths, timeout: float = 15.0) -> int | None:
    """Stop the kept server of ``paths`` (SIGTERM, then SIGKILL), even while runs use it;
    its pid, or None when none runs."""
    if not kept_servers_supported() or not paths.folder.is_dir():
        return None
    paths.ensure_private()
    wait = _startup_timeout(None) + 30
    with _locked(paths.start_lock, fcntl.LOCK_EX, wait, "a run starting the server"):
        return _terminate(paths, timeout)


def _terminate(paths: ServerPaths, timeout: float = 15.0) -> int | None:
    state = read_state(paths)
    if not server_alive(paths):
        _remove_state(paths)
        return None
    if state is None or state.uid != os.getuid():
        raise LocalServerError(f"a local Prefect server runs but {paths.state} is unreadable")
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, sig)
        deadline = time.monotonic() + wait
        while server_alive(paths) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not server_alive(paths):
            break
    _remove_state(paths, state.pid)
    return state.pid


# ------------------------------------------------------------------ temporary (per run)


@contextlib.contextmanager
def _temporary_api(timeout: float | None) -> Iterator[str]:
    process, url = _start_temporary_server(timeout)
    try:
        with _pointing_prefect_at(url):
            yield url
    finally:
        _stop_process(process)


def _start_temporary_server(timeout: float | None) -> tuple[subprocess.Popen[bytes], str]:
    """Start the launcher on a free port and wait until the API answers; (process, API URL)."""
    import httpx

    wait = _startup_timeout(timeout)
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    from prefect.settings import get_current_settings

    env.update(get_current_settings().to_environment_variables(exclude_unset=True))
    env.pop("PREFECT_API_URL", None)
    deadline = time.monotonic() + wait
    with httpx.Client() as client:
        while True:  # a new port when another process took ours between choosing and binding
            port = _free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.local_server", "temporary", str(os.getpid())]
                + [str(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C stops the run, which then stops the server
            )
            url = f"http://127.0.0.1:{port}/api"
            while time.monotonic() < deadline:
                code = process.poll()
                if code == PORT_IN_USE_EXIT_CODE:
                    break
                if code is not None:
                    raise LocalServerError(f"the temporary Prefect API exited with code {code}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/health", timeout=2).status_code == 200:
                        return process, url
                time.sleep(0.1)
            else:
                _stop_process(process)
                raise LocalServerError(
                    f"the temporary Prefect API did not start within {wait:.0f} s"
                )


def _stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM (uvicorn stops cleanly), then SIGKILL if it is still there after a while."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(SHUTDOWN_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- the launchers


def _die_with_parent(parent: int) -> None:
    """Stop this process when ``parent`` dies: kernel death signal plus a watchdog thread."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)  # a clean stop first
        time.sleep(SHUTDOWN_GRACE_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def serve_temporary(parent: int, port: int) -> int:
    """Prefect's API app under uvicorn on 127.0.0.1:PORT until the parent stops it or dies."""
    _die_with_parent(parent)
    import uvicorn

    # exits with PORT_IN_USE_EXIT_CODE (uvicorn's "startup failure") when the port is taken
    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )
    return 0


class Activity:
    """When the server was last used: a request (other than health and identity checks) or
    a run holding a lease."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.in_use = False

    def touch(self) -> None:
        self.last = time.monotonic()

    def idle_seconds(self) -> float:
        return 0.0 if self.in_use else time.monotonic() - self.last


class KeptServerApp:
    """Prefect's app (API under /api, UI elsewhere) that notes activity and answers
    ``/ingest-server`` with its pid, idleness and a proof that it knows the state's secret."""

    def __init__(
        self, prefect_app: Any, ui_app: Any, secret: str, activity: Activity, on_ready: Any
    ) -> None:
        self.prefect_app = prefect_app
        self.ui_app = ui_app
        self.secret = secret
        self.activity = activity
        self.on_ready = on_ready

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.prefect_app(scope, receive, self._watch_startup(send))
            return
        path: str = scope.get("path", "")
        if path == IDENTITY_PATH and scope["type"] == "http":
            await self._identity(scope, send)
            return
        if path not in ("/api/health", "/api/ready"):
            self.activity.touch()
        if path == "/api" or path.startswith("/api/") or self.ui_app is None:
            await self.prefect_app(scope, receive, send)
        else:
            await self.ui_app(scope, receive, send)

    def _watch_startup(self, send: Any) -> Any:
        async def watched(message: dict[str, Any]) -> None:
            if message.get("type") == "lifespan.startup.complete":
                self.on_ready()
            await send(message)

        return watched

    async def _identity(self, scope: dict[str, Any], send: Any) -> None:
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        challenge = (query.get("challenge") or [""])[0][:128]
        body = json.dumps(
            {
                "pid": os.getpid(),
                "proof": _proof(self.secret, challenge),
                "idle_seconds": round(self.activity.idle_seconds(), 1),
                "in_use": self.activity.in_use,
            }
        ).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _watch_idleness(
    paths: ServerPaths, activity: Activity, idle_seconds: float, server: Any
) -> None:
    """Stop the server once no run holds a lease and nothing asked for ``idle_seconds``.

    The lease lock is then kept exclusively until the process exits: a run arriving
    meanwhile waits, finds no server and starts a new one.
    """
    lease = _open_lock_file(paths.lease)  # never closed: the lock lasts until exit
    poll = min(5.0, max(0.2, idle_seconds / 10))
    while not server.should_exit:
        time.sleep(poll)
        if not _try_flock(lease, fcntl.LOCK_EX):
            activity.in_use = True
            activity.touch()
            continue
        if activity.in_use:  # the last run just released its lease: idle from now
            activity.in_use = False
            activity.touch()
        if activity.idle_seconds() >= idle_seconds:
            _remove_state(paths, os.getpid())
            server.should_exit = True
            _exit_after(SHUTDOWN_GRACE_SECONDS * 2)
            return
        fcntl.flock(lease, fcntl.LOCK_UN)


def _exit_after(seconds: float) -> None:
    """End the process if a clean stop takes longer than ``seconds``."""
    timer = threading.Timer(seconds, os._exit, args=(0,))
    timer.daemon = True
    timer.start()


def listening_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1, for the kept server to listen on.

    Made with proto ``IPPROTO_TCP``, not 0: asyncio turns Nagle's algorithm off
    (TCP_NODELAY) on accepted connections only when the listening socket says it is TCP.
    With it on, every response on a kept-alive connection (headers and body are two writes)
    waited ~40 ms for the client's delayed ACK: ~0.5 s of each `ingest run`'s API calls.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_kept(folder: Path, idle_minutes: float, ui: bool) -> int:
    """The detached kept server: holds ``server.lock`` for life, writes ``state.json``."""
    paths = ServerPaths(folder)
    server_lock = _open_lock_file(paths.server_lock)  # inherited by the forked server
    if not _try_flock(server_lock, fcntl.LOCK_EX):
        return ALREADY_RUNNING_EXIT_CODE
    sock = listening_socket()  # no race for the port: uvicorn listens on this socket
    port = int(sock.getsockname()[1])
    state = ServerState(
        pid=0,
        port=port,
        started_at=time.time(),
        uid=os.getuid(),
        database="",
        idle_minutes=idle_minutes,
        ui=ui,
        log=str(paths.log),
        secret=secrets.token_hex(32),
    )
    launcher = os.getpid()
    child = os.fork()  # the starter waits for this parent only; the child is the server
    if child > 0:
        _write_state(paths, dataclasses.replace(state, pid=child))  # "starting", with its pid
        os._exit(0)
    while os.getppid() == launcher:  # the "starting" state is written
        time.sleep(0.01)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.environ["PREFECT_UI_API_URL"] = state.api_url
    import uvicorn
    from prefect.server.api.server import create_app, create_ui_app

    state = dataclasses.replace(state, pid=os.getpid(), database=current_database())
    activity = Activity()
    app = KeptServerApp(
        create_app(),
        create_ui_app(ephemeral=False) if ui else None,
        state.secret,
        activity,
        on_ready=lambda: _write_state(paths, dataclasses.replace(state, status="ready")),
    )
    config = uvicorn.Config(app, log_level="error", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    watcher = threading.Thread(
        target=_watch_idleness,
        args=(paths, activity, idle_minutes * 60, server),
        name="idle-watch",
        daemon=True,
    )
    watcher.start()
    try:
        server.run(sockets=[sock])
    finally:
        _remove_state(paths, os.getpid())
    return 0


def main(argv: list[str]) -> int:
    """``temporary PARENT_PID PORT`` or ``keep FOLDER IDLE_MINUTES ui|no-ui``."""
    if argv and argv[0] == "temporary":
        return serve_temporary(int(argv[1]), int(argv[2]))
    if argv and argv[0] == "keep":
        return serve_kept(Path(argv[1]), float(argv[2]), argv[3] == "ui")
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
