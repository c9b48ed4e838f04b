"""A real `prefect server start` (one per session), `ingest deploy`, a process worker, and runs
triggered through the REST API; documents must land in the store.

The server, deployments and worker are shared with tests/test_prefect_ui.py through
`deployed_server()` (a per-session singleton, stopped at the end of the session).
Set INGEST_SKIP_BROWSER=1 only to skip the browser test; these tests never skip.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import DEMO_PACKAGES, ROOT, SAMPLES

from flows.deployments import (
    LocalServer,
    deployment_specs,
    render_prefect_yaml,
    start_server,
    stop_process,
)

POOL = "ingest-test"
FEED_SOURCE = "test-feed"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Deployed:
    server: LocalServer
    worker: subprocess.Popen[bytes]
    tmp: Path
    ingest_home: Path
    worker_log: Path

    @property
    def api(self) -> str:
        return self.server.api_url


_STATE: dict[str, Deployed] = {}


def _write_sources(path: Path) -> None:
    path.write_text(
        f"""
[[sources]]
name = "{FEED_SOURCE}"
feeds = ["{SAMPLES / "feed.xml"}"]
schedule = "30 4 * * *"

[[sources]]
name = "test-korean"
urls = ["{SAMPLES / "korean-article.html"}"]
language = "ko"
interval = "2h"
""",
        encoding="utf-8",
    )


def _teardown() -> None:
    deployed = _STATE.pop("deployed", None)
    if deployed is not None:
        stop_process(deployed.worker)
        deployed.server.stop()


def deployed_server() -> Deployed:
    """Server, `ingest deploy` and a worker, once per session (deploy and worker in parallel)."""
    if "deployed" in _STATE:
        return _STATE["deployed"]
    tmp = Path(tempfile.mkdtemp(prefix="ingest-prefect-server-"))
    server = start_server(tmp / "prefect-home")
    atexit.register(_teardown)
    ingest_home = tmp / "ingest-home"
    if DEMO_PACKAGES:
        from ingest.translate import install_package_file

        for package in DEMO_PACKAGES:
            install_package_file(package, ingest_home / "packages")
    sources = tmp / "sources.toml"
    _write_sources(sources)
    env = server.env(
        INGEST_HOME=str(ingest_home),
        ARGOS_PACKAGES_DIR=str(tmp / "argos-packages"),
        PREFECT_HOME=str(tmp / "client-home"),
    )
    for name in ("INGEST_STORE_URL", "INGEST_ARCHIVE_DIR", "INGEST_PACKAGES_DIR"):
        env.pop(name, None)
    deploy = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli.main", "deploy", "--sources", str(sources)]
        + ["--pool", POOL],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    worker_log = tmp / "worker.log"
    with worker_log.open("wb") as log:
        # started elsewhere than the project: the deployments' pull step must find it
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
            + ["--type", "process", "--limit", "4"],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deployed = Deployed(server, worker, tmp, ingest_home, worker_log)
    _STATE["deployed"] = deployed
    output, _ = deploy.communicate(timeout=180)
    assert deploy.returncode == 0, output.decode(errors="replace")[-3000:]
    return deployed


@pytest.fixture(scope="session")
def deployed(request) -> Deployed:
    request.addfinalizer(_teardown)
    return deployed_server()


def run_deployment(api: str, name: str, parameters: dict | None = None, timeout: float = 240):
    deployment = httpx.get(f"{api}/deployments/name/{name}", timeout=30).raise_for_status().json()
    run = (
        httpx.post(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": parameters or {}},
            timeout=30,
        )
        .raise_for_status()
        .json()
    )
    return run["id"]


def wait_for(api: str, run_id: str, worker_log: Path, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).raise_for_status().json()
        if run["state"]["type"] in TERMINAL:
            return run
        time.sleep(1)
    log = worker_log.read_text(errors="replace")[-3000:]
    pytest.fail(f"flow run {run_id} still {run['state']['type']} after {timeout} s\n{log}")


def artifacts(api: str, run_id: str) -> dict[str, dict]:
    found = httpx.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [run_id]}}},
        timeout=30,
    ).json()
    return {artifact["key"]: artifact for artifact in found}


def test_deployments_carry_the_sources_file_schedules(deployed):
    feed = httpx.get(f"{deployed.api}/deployments/name/ingest-sources/{FEED_SOURCE}").json()
    assert [s["schedule"]["cron"] for s in feed["schedules"]] == ["30 4 * * *"]
    assert feed["work_pool_name"] == POOL
    assert feed["parameters"]["names"] == [FEED_SOURCE]
    assert feed["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]
    korean = httpx.get(f"{deployed.api}/deployments/name/ingest-sources/test-korean").json()
    assert [s["schedule"]["interval"] for s in korean["schedules"]] == [7200]
    reprocess = httpx.get(f"{deployed.api}/deployments/name/reprocess-archive/on-demand").json()
    assert reprocess["schedules"] == []
    # the pydantic parameter model is exposed as a typed form
    schema = reprocess["parameter_openapi_schema"]
    assert "params" in schema["properties"]
    model = next(iter(schema["definitions"].values()))
    assert {"paths", "force", "batch_size", "store_url"} <= set(model["properties"])
    assert model["properties"]["batch_size"]["type"] == "integer"


def test_triggered_runs_complete_and_documents_land_in_the_store(deployed):
    from ingest.store import Store

    reprocess_db = deployed.tmp / "reprocess.db"
    sources_run = run_deployment(deployed.api, f"ingest-sources/{FEED_SOURCE}")
    reprocess_run = run_deployment(
        deployed.api,
        "reprocess-archive/on-demand",
        {
            "params": {
                "paths": [str(SAMPLES)],
                "batch_size": 3,
                "store_url": f"sqlite:///{reprocess_db}",
            }
        },
    )
    for run_id in (sources_run, reprocess_run):
        run = wait_for(deployed.api, run_id, deployed.worker_log)
        assert run["state"]["type"] == "COMPLETED", (run["state"], deployed.worker_log.read_text())

    store = Store(f"sqlite:///{deployed.ingest_home / 'ingest.db'}")
    documents = list(store.iter_documents())
    feed_pages = 4  # samples/feed.xml lists the four sample pages
    assert len(documents) == feed_pages
    assert {d["source"] for d in documents} == {FEED_SOURCE}
    by_name = {Path(d["url"]).name: d for d in documents}
    assert by_name["korean-article.html"]["language"] == "ko"
    if DEMO_PACKAGES:
        assert by_name["korean-article.html"]["status"] == "ok"
    assert Store(f"sqlite:///{reprocess_db}").count_documents() == len(list(SAMPLES.glob("*.html")))

    found = artifacts(deployed.api, sources_run)
    table = found["ingest-documents"]
    assert table["type"] == "table"
    rows = json.loads(table["data"])
    assert len(rows) == feed_pages
    assert {"source", "language", "status", "translated", "cache_hits"} <= set(rows[0])
    summary = found["ingest-summary"]["data"]
    assert "Time per stage" in summary and "| process |" in summary
    replayed = json.loads(artifacts(deployed.api, reprocess_run)["ingest-documents"]["data"])
    assert len(replayed) == len(list(SAMPLES.glob("*.html")))


def test_prefect_yaml_matches_the_sample_sources_file():
    committed = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    rendered = render_prefect_yaml(
        deployment_specs(ROOT / "samples" / "sources.toml"), sources_file="samples/sources.toml"
    )
    assert committed == rendered, "regenerate: ingest deploy --write-yaml prefect.yaml"


def test_prefect_deploy_all_applies_prefect_yaml(deployed):
    # Kept after the trigger test: prefect.yaml's on-demand deployments share their names with
    # those of `ingest deploy` and move them to the "ingest" pool, which has no worker here.
    httpx.post(f"{deployed.api}/work_pools/", json={"name": "ingest", "type": "process"})
    env = deployed.server.env(PREFECT_HOME=str(deployed.tmp / "client-home"))
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    specs = deployment_specs(ROOT / "samples" / "sources.toml")
    for spec in specs:
        got = httpx.get(f"{deployed.api}/deployments/name/{spec.full_name}").json()
        assert got["work_pool_name"] == "ingest"
        assert got["entrypoint"] == spec.entrypoint
        crons = [s["schedule"].get("cron") for s in got["schedules"]]
        intervals = [s["schedule"].get("interval") for s in got["schedules"]]
        assert crons == ([spec.cron] if spec.cron else [None] * len(crons))
        if spec.interval:
            assert intervals == [spec.interval]
        if not spec.cron and not spec.interval:
            assert got["schedules"] == []
        assert got["pull_steps"][0]["prefect.deployments.steps.set_working_directory"] == {
            "directory": str(ROOT)
        }


def test_server_runs_with_telemetry_and_analytics_off(deployed):
    environ = Path(f"/proc/{deployed.server.process.pid}/environ").read_bytes().split(b"\0")
    variables = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    assert variables["DO_NOT_TRACK"] == "1"
    assert variables["PREFECT_SERVER_ANALYTICS_ENABLED"].lower() == "false"
