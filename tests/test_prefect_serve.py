"""`ingest serve` on a Prefect database where `ingest deploy` already created the deployments:
one process starts its own Prefect server, takes the deployments over, and runs their schedules
by itself (no worker) and a run triggered through the API; documents land, translated, in the
store of serve's environment, and neither serve nor the server logs a traceback."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from conftest import DEMO_PACKAGES, ROOT, SAMPLES
from test_prefect_server import BIN, SERVER_SETTINGS, TERMINAL, api_request

from flows.deployments import free_port, offline_env, start_server, stop_process

SOURCE = "served-korean"
PAGE = "served-korean.html"  # a copy of the Korean sample
INTERVAL = 20  # seconds


def _deploy_first(tmp: Path, sources: Path, prefect_home: Path) -> None:
    """`ingest deploy` to a server on `prefect_home`'s database, which is then stopped."""
    with start_server(prefect_home, settings=SERVER_SETTINGS) as server:
        env = server.env(INGEST_HOME=str(tmp / "deploy-home"), PREFECT_HOME=str(tmp / "client"))
        result = subprocess.run(
            [str(BIN / "ingest"), "deploy", "--sources", str(sources), "--pool", "serve-test"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        deployed = httpx.get(f"{server.api_url}/deployments/name/ingest-sources/{SOURCE}").json()
        assert deployed["work_pool_name"] == "serve-test" and deployed["pull_steps"]


def _runs(api: str, deployment_id: str) -> list[dict]:
    try:
        response = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}},
            timeout=30,
        )
    except httpx.HTTPError:
        return []  # the server is still starting
    return response.json() if response.status_code == 200 else []


@pytest.mark.slow
def test_serve_after_deploy_runs_schedules_and_triggered_runs_in_one_process():
    assert DEMO_PACKAGES, "tests/fixtures/argos/*.argosmodel missing"
    from ingest.translate import install_package_file

    tmp = Path(tempfile.mkdtemp(prefix="ingest-serve-"))
    shutil.copy(SAMPLES / "korean-article.html", tmp / PAGE)
    sources = tmp / "sources.toml"
    sources.write_text(
        f'[[sources]]\nname = "{SOURCE}"\nurls = ["{PAGE}"]\nlanguage = "ko"\n'
        f'interval = "{INTERVAL}s"\n',
        encoding="utf-8",
    )
    prefect_home = tmp / "prefect-home"
    _deploy_first(tmp, sources, prefect_home)
    ingest_home = tmp / "ingest-home"
    for package in DEMO_PACKAGES:
        install_package_file(package, ingest_home / "packages")

    port = free_port()
    env = offline_env(
        INGEST_HOME=str(ingest_home),
        ARGOS_PACKAGES_DIR=str(tmp / "argos-packages"),
        PREFECT_HOME=str(prefect_home),  # the database `ingest deploy` wrote to
        **SERVER_SETTINGS,  # serve's own server inherits them
    )
    for name in ("PREFECT_API_URL", "INGEST_STORE_URL", "INGEST_PACKAGES_DIR"):
        env.pop(name, None)
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "ingest"), "serve", "--sources", str(sources), "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    triggered = None
    try:
        deadline = time.monotonic() + 180
        done: dict[str, dict] = {}
        deployment: dict = {}
        while time.monotonic() < deadline and not {"scheduled", "triggered"} <= set(done):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(2)
            try:
                response = httpx.get(f"{api}/deployments/name/ingest-sources/{SOURCE}", timeout=10)
            except httpx.HTTPError:
                continue  # serve's server is still starting
            deployment = response.json()
            if deployment.get("work_pool_name") is not None:
                continue  # serve has not taken the deployment over yet
            if triggered is None:
                triggered = api_request(
                    "POST",
                    f"{api}/deployments/{deployment['id']}/create_flow_run",
                    json={"parameters": {}},
                ).json()
            for run in _runs(api, deployment["id"]):
                state = run["state"]["type"]
                assert state not in TERMINAL - {"COMPLETED"}, (
                    run["state"],
                    log.read_text(errors="replace")[-3000:],
                )
                if state == "COMPLETED":
                    done["triggered" if run["id"] == triggered["id"] else "scheduled"] = run
        assert {"scheduled", "triggered"} <= set(done), (
            deployment,
            [(r["auto_scheduled"], r["state"]["type"]) for r in _runs(api, deployment["id"])],
            log.read_text(errors="replace")[-3000:],
        )
        assert done["scheduled"]["auto_scheduled"] is True
        assert [s["schedule"]["interval"] for s in deployment["schedules"]] == [INTERVAL]
    finally:
        stop_process(process)

    from ingest.store import Store

    store = Store(f"sqlite:///{ingest_home / 'ingest.db'}")
    (document,) = list(store.iter_documents())
    assert document["source"] == SOURCE and document["language"] == "ko"
    assert document["status"] == "ok", document["reason"]
    assert all(p["english"] for p in document["paragraphs"] if p["language"] == "ko")
    assert not (tmp / "deploy-home").exists(), "serve ran the flow with deploy's job variables"
    for output in (log, prefect_home / "server.log"):
        text = output.read_text(errors="replace")
        assert "Traceback" not in text, text[-5000:]
