"""The local Prefect server `ingest run` keeps between runs (flows/local_server.py).

Few tests start a real server (each start costs 12–24 s); the trust rules of the state file
are checked against a plain HTTP server posing as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psutil
import pytest

from flows.local_server import (
    LocalServerError,
    ServerPaths,
    ServerState,
    _live_server,
    _proof,
    _write_state,
    listening_socket,
    read_state,
    server_alive,
    server_info,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def cli(*args: str, prefect_home: Path, timeout: float = 300, **env: str):
    """`python -m ingest.cli.main ARGS` with its own Prefect home; the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PREFECT_HOME": str(prefect_home), "COLUMNS": "200", **env},
        cwd=ROOT,
    )


def gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` exits (or is a zombie nobody reaps) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def stops(paths: ServerPaths, timeout: float) -> bool:
    """Whether the kept server of ``paths`` ends within ``timeout``: its server lock is free
    (a process whose main thread ended may still hold it while its other threads stop)."""
    deadline = time.monotonic() + timeout
    while server_alive(paths):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


# ----------------------------------------------------------------- trusting the state file


class Impostor(BaseHTTPRequestHandler):
    """Answers Prefect's health check and the identity check, with a proof from ``secret``."""

    secret = "not the server's secret"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        if url.path == "/api/health":
            body = b"true"
        elif url.path == "/ingest-server":
            challenge = parse_qs(url.query).get("challenge", [""])[0]
            body = json.dumps({"pid": 1, "proof": _proof(self.secret, challenge)}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def impostor(secret: str):
    handler = type("Handler", (Impostor,), {"secret": secret})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def state_for(port: int, secret: str = "s" * 64) -> ServerState:
    return ServerState(
        pid=os.getpid(),
        port=port,
        started_at=time.time(),
        uid=os.getuid(),
        database="sqlite+aiosqlite:///x.db",
        idle_minutes=15,
        ui=False,
        log="server.log",
        secret=secret,
        status="ready",
    )


def accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection an asyncio server (uvicorn's way) accepted on ``sock``."""

    async def scenario() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connect(_reader, writer) -> None:
            accepted = writer.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        async with server:
            _reader, writer = await asyncio.open_connection(*sock.getsockname())
            value = await asyncio.wait_for(seen, 10)
            writer.close()
            return value

    return asyncio.run(scenario())


def test_the_kept_server_answers_without_nagle_delays():
    # a socket made without proto (0) gets no TCP_NODELAY from asyncio: the control case
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    assert accepted_nodelay(plain) == 0
    assert accepted_nodelay(listening_socket()) != 0


def test_a_port_that_answers_like_prefect_is_trusted_only_with_the_secret(tmp_path):
    state = state_for(0)
    with impostor("another secret") as port:
        assert server_info(state_for(port, state.secret)) is None
    with impostor(state.secret) as port:  # the check can pass: it is the proof that decides
        assert server_info(state_for(port, state.secret)) is not None


def test_a_state_file_whose_server_lock_is_free_is_stale_and_replaced(tmp_path):
    """A state file left by a dead server, whose port now answers as the real server would:
    no process holds server.lock, so it is not reused."""
    paths = ServerPaths(tmp_path / "ingest-server")
    paths.ensure_private()
    secret = "k" * 64
    with impostor(secret) as port:
        _write_state(paths, state_for(port, secret))
        assert read_state(paths) is not None
        assert not server_alive(paths)
        assert _live_server(paths, wait=1) is None


def test_state_files_and_folders_others_could_write_are_not_trusted(tmp_path):
    paths = ServerPaths(tmp_path / "ingest-server")
    paths.ensure_private()
    assert paths.folder.stat().st_mode & 0o777 == 0o700
    _write_state(paths, state_for(1234))
    assert paths.state.stat().st_mode & 0o777 == 0o600
    assert read_state(paths) == state_for(1234).__class__(**json.loads(paths.state.read_text()))
    paths.state.chmod(0o644)
    assert read_state(paths) is None
    paths.folder.chmod(0o777)
    with pytest.raises(LocalServerError, match="not private"):
        paths.ensure_private()


def test_status_and_stop_without_a_server(tmp_path):
    status = cli("server", "status", prefect_home=tmp_path)
    assert status.returncode == 1 and "no local Prefect server is running" in status.stdout
    stop = cli("server", "stop", prefect_home=tmp_path)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == "no local Prefect server was running"


# ------------------------------------------------------------------------ a real server


@pytest.mark.prefect
@pytest.mark.slow
def test_runs_reuse_one_kept_server_until_it_is_stopped(tmp_path):
    """The first run starts the server, the second connects to the same process (no start:
    much faster), status shows it, the UI is served, and `ingest server stop` ends it."""
    prefect_home = tmp_path / "prefect"
    page = str(SAMPLES / "english-article.html")
    first = cli("run", page, "--home", str(tmp_path / "a"), prefect_home=prefect_home)
    assert first.returncode == 0, first.stderr[-3000:]
    state = read_state(ServerPaths(prefect_home / "ingest-server"))
    assert state is not None and state.status == "ready"
    assert psutil.Process(state.pid).is_running()

    started = time.monotonic()
    second = cli("run", page, "--home", str(tmp_path / "b"), prefect_home=prefect_home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "1 ok" in second.stdout
    for run in (first, second):  # Prefect's clients drain quietly ("Still processing items")
        assert "WARNING" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert read_state(ServerPaths(prefect_home / "ingest-server")) == state  # same process
    assert time.monotonic() - started < 120

    status = cli("server", "status", prefect_home=prefect_home)
    assert status.returncode == 0, status.stderr
    assert f"pid:      {state.pid}" in status.stdout
    assert f"UI:       http://127.0.0.1:{state.port}" in status.stdout
    assert "stops after 15 min idle" in status.stdout

    import httpx

    ui = httpx.get(state.ui_url, headers={"accept": "text/html"}, follow_redirects=True)
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    runs = httpx.post(f"{state.api_url}/flow_runs/filter", json={}).json()
    assert sorted(run["state_type"] for run in runs) == ["COMPLETED", "COMPLETED"]

    stop = cli("server", "stop", prefect_home=prefect_home)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == f"stopped the local Prefect server (pid {state.pid})"
    assert gone(state.pid, 5)
    assert not (prefect_home / "ingest-server" / "state.json").exists()


LEASE_HOLDER = """
import sys, time
from flows.local_server import local_api
with local_api(idle_minutes=float(sys.argv[1])) as url:
    print(url, flush=True)
    time.sleep(float(sys.argv[2]))
"""


@pytest.mark.prefect
@pytest.mark.slow
def test_a_kept_server_lives_while_a_run_holds_it_and_stops_once_idle(tmp_path):
    """With a 3-second idle time, a run holding the server for 12 s keeps it; once the run
    ends the server stops by itself and removes its state file."""
    prefect_home = tmp_path / "prefect"
    paths = ServerPaths(prefect_home / "ingest-server")
    holder = subprocess.Popen(
        [sys.executable, "-c", LEASE_HOLDER, "0.05", "12"],
        env={**os.environ, "PREFECT_HOME": str(prefect_home), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None
        url = holder.stdout.readline().strip()
        state = read_state(paths)
        assert state is not None and url == state.api_url
        while holder.poll() is None:  # 12 s: four times the idle time
            assert server_info(state) is not None, "the server stopped under a run"
            time.sleep(1)
        assert holder.returncode == 0
        assert stops(paths, 30), "the idle server did not stop by itself"
        assert gone(state.pid, 10) and read_state(paths) is None
    finally:
        if holder.poll() is None:
            holder.kill()


@pytest.mark.prefect
@pytest.mark.slow
def test_a_server_whose_starter_was_killed_during_start_up_stops_by_itself(tmp_path):
    """`kill -9` of the process starting the server, while the server starts: the server is
    nobody's, so once up it stops after its idle time (here 3 s) instead of living on."""
    prefect_home = tmp_path / "prefect"
    paths = ServerPaths(prefect_home / "ingest-server")
    starter = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli.main", "server", "start", "--idle-minutes", "0.05"],
        env={**os.environ, "PREFECT_HOME": str(prefect_home)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while read_state(paths) is None:  # "starting": the server process exists
            assert time.monotonic() < deadline and starter.poll() is None
            time.sleep(0.05)
        state = read_state(paths)
        assert state is not None and state.status == "starting"
        starter.kill()
        starter.wait(10)
        assert server_alive(paths)
        assert stops(paths, 150), "the unclaimed server did not stop by itself"
        assert gone(state.pid, 10) and read_state(paths) is None
    finally:
        if starter.poll() is None:
            starter.kill()
