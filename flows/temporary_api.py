"""The temporary Prefect API of a local run, which dies with the process that started it.

Without ``PREFECT_API_URL`` Prefect starts its own temporary API server in a subprocess and
stops it at exit; after ``kill -9`` of the run (or an OOM kill) nothing stops it and the
server (~230 MB) lives on. Here the run starts the same server itself (the same uvicorn app,
settings and start-up polling as Prefect's ``SubprocessASGIServer``) through a small launcher,
``python -m flows.temporary_api PARENT_PID PORT``, that ties the server's life to its parent:

- Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel signals the server when its parent
  dies, however it dies;
- a watchdog thread (every system): once the parent is gone (``getppid()`` changes) it asks
  the server to stop, and ends the process a few seconds later if it has not.

`temporary_api` is the one place where the temporary API is started and stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

SHUTDOWN_GRACE_SECONDS = 5.0  # after the parent died: time for a clean stop before _exit
WATCH_INTERVAL_SECONDS = 0.5
PORT_IN_USE_EXIT_CODE = 3  # uvicorn's exit code when it cannot bind (another process won)
_PR_SET_PDEATHSIG = 1


class TemporaryApiError(RuntimeError):
    """The temporary API did not come up (its message is one line for the user)."""


@contextlib.contextmanager
def temporary_api(timeout: float | None = None) -> Iterator[str]:
    """Yield the Prefect API URL this process should use.

    When ``PREFECT_API_URL`` is set (environment or Prefect profile) it is used as it is.
    Otherwise a temporary API server is started on a free loopback port, the Prefect settings
    of this process point at it while the block runs, and it is stopped afterwards. The server
    also stops by itself if this process dies (kill -9 included).
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    process, url = _start_server(timeout)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield url
            finally:
                _drain_prefect_clients()
    finally:
        _stop_server(process)


def _drain_prefect_clients() -> None:
    """Send the queued logs and events of the run while its API still answers (else Prefect's
    background clients fail to reach it at exit and print connection errors)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):  # a worker that never started has nothing to send
            worker.drain_all(timeout=5)


def _start_server(timeout: float | None) -> tuple[subprocess.Popen[bytes], str]:
    """Start the launcher on a free port and wait until the API answers; (process, API URL)."""
    import httpx
    from prefect.settings import (
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        get_current_settings,
    )

    wait = timeout or float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    env = {
        **os.environ,
        # what Prefect's own temporary server runs with: no UI, ephemeral-mode services
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    env.pop("PREFECT_API_URL", None)
    deadline = time.monotonic() + wait
    with httpx.Client() as client:
        while True:  # a new port when another process took ours between choosing and binding
            port = _free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.temporary_api", str(os.getpid()), str(port)],
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
                    raise TemporaryApiError(f"the temporary Prefect API exited with code {code}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/health", timeout=2).status_code == 200:
                        return process, url
                time.sleep(0.1)
            else:
                _stop_server(process)
                raise TemporaryApiError(
                    f"the temporary Prefect API did not start within {wait:.0f} s"
                )


def _stop_server(process: subprocess.Popen[Any]) -> None:
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


# ------------------------------------------------------------------------- the launcher


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


def main(argv: list[str]) -> int:
    """Run Prefect's API app under uvicorn on 127.0.0.1:PORT until the parent stops it or dies."""
    parent, port = int(argv[0]), int(argv[1])
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
