"""`ingest serve`: one process starts its own Prefect server, serves every deployment with its
schedule, and runs a flow triggered through the API; documents land in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from conftest import ROOT, SAMPLES

from flows.deployments import free_port, offline_env, stop_process


def _wait_for_deployment(api: str, name: str, process, log: Path, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            response = httpx.get(f"{api}/deployments/name/{name}", timeout=10)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass  # the server is still starting
        time.sleep(1)
    raise AssertionError(f"{name} never served:\n{log.read_text(errors='replace')[-3000:]}")


def _create_flow_run(api: str, deployment_id: str, timeout: float = 60) -> dict:
    """Serve may still be registering (the deployment row exists a moment before it is
    complete): retry until the server accepts the run."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.post(
            f"{api}/deployments/{deployment_id}/create_flow_run",
            json={"parameters": {}},
            timeout=30,
        )
        if response.status_code < 300 and "id" in response.json():
            return response.json()
        assert time.monotonic() < deadline, (response.status_code, response.text[:2000])
        time.sleep(1)


def test_serve_runs_schedules_and_triggered_runs_in_one_process():
    tmp = Path(tempfile.mkdtemp(prefix="ingest-serve-"))
    sources = tmp / "sources.toml"
    sources.write_text(
        f'[[sources]]\nname = "served-korean"\nurls = ["{SAMPLES / "korean-article.html"}"]\n'
        'interval = "3h"\n',
        encoding="utf-8",
    )
    port = free_port()
    env = offline_env(
        INGEST_HOME=str(tmp / "ingest-home"),
        ARGOS_PACKAGES_DIR=str(tmp / "argos-packages"),
        PREFECT_HOME=str(tmp / "prefect-home"),
    )
    for name in ("PREFECT_API_URL", "INGEST_STORE_URL", "INGEST_PACKAGES_DIR"):
        env.pop(name, None)
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli.main", "serve", "--sources", str(sources)]
            + ["--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deployment = _wait_for_deployment(api, "ingest-sources/served-korean", process, log)
        assert [s["schedule"]["interval"] for s in deployment["schedules"]] == [3 * 3600]
        run = _create_flow_run(api, deployment["id"])
        deadline = time.monotonic() + 240
        state = None
        while time.monotonic() < deadline:
            state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=30).json()["state"]["type"]
            if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                break
            time.sleep(1)
        assert state == "COMPLETED", log.read_text(errors="replace")[-3000:]
        from ingest.store import Store

        store = Store(f"sqlite:///{tmp / 'ingest-home' / 'ingest.db'}")
        (document,) = list(store.iter_documents())
        assert document["source"] == "served-korean" and document["language"] == "ko"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        stop_process(process)
    assert process.returncode is not None
