"""A real `prefect server start` (one per session), `ingest deploy`, a process worker, runs
triggered through the REST API and runs the server's scheduler creates by itself; documents must
land, translated, in the store `ingest deploy` chose, whatever the worker's own environment.

The session follows README's "Scheduling in the Prefect UI" recipe: `.venv/bin/ingest deploy
--home …` and `.venv/bin/prefect worker start --pool …` started in another directory with no
INGEST_* variables and an empty default data folder.

The server, deployments and worker are shared with tests/test_prefect_ui.py through
`deployed_server()` (a per-session singleton, stopped at the end of the session).
Set INGEST_SKIP_BROWSER=1 only to skip the browser test; these tests never skip.
"""

from __future__ import annotations

import atexit
import json
import shutil
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
    data_locations,
    deployment_specs,
    free_port,
    offline_env,
    render_prefect_yaml,
    start_server,
    stop_process,
)

POOL = "ingest-test"
FEED_SOURCE = "test-feed"
SCHEDULED_SOURCE = "test-scheduled"
SCHEDULED_PAGE = "scheduled-korean.html"  # a copy of the Korean sample, not in the feed
SCHEDULED_INTERVAL = 20  # seconds: short, yet past the scheduler's look-ahead
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
BIN = Path(sys.executable).parent  # the venv's bin/, as in README (.venv/bin/…)
SERVER_SETTINGS = {
    # the scheduler visits deployments every 60 s by default; the test cannot wait that long
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    # 10 runs ahead per deployment instead of 100: fewer SQLite writes competing with the tests'
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "10",
}


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
    shutil.copy(SAMPLES / "korean-article.html", path.parent / SCHEDULED_PAGE)
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

[[sources]]
name = "{SCHEDULED_SOURCE}"
urls = ["{SCHEDULED_PAGE}"]
language = "ko"
interval = "{SCHEDULED_INTERVAL}s"
""",
        encoding="utf-8",
    )


def _without_ingest_settings(env: dict[str, str]) -> dict[str, str]:
    """The environment minus every INGEST_* and ARGOS_* variable."""
    return {k: v for k, v in env.items() if not k.startswith(("INGEST_", "ARGOS_"))}


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
    server = start_server(tmp / "prefect-home", settings=SERVER_SETTINGS)
    atexit.register(_teardown)
    ingest_home = tmp / "ingest-home"
    if DEMO_PACKAGES:
        from ingest.translate import install_package_file

        for package in DEMO_PACKAGES:
            install_package_file(package, ingest_home / "packages")
    sources = tmp / "sources.toml"
    _write_sources(sources)
    client_env = _without_ingest_settings(
        server.env(PREFECT_HOME=str(tmp / "client-home"), XDG_DATA_HOME=str(tmp / "xdg-data"))
    )
    # argostranslate's own folder: keep the machine's real packages out of the runs
    deploy_env = {**client_env, "ARGOS_PACKAGES_DIR": str(tmp / "argos-packages")}
    deploy = subprocess.Popen(
        [str(BIN / "ingest"), "deploy", "--sources", str(sources), "--pool", POOL]
        + ["--home", str(ingest_home)],
        env=deploy_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    worker_log = tmp / "worker.log"
    with worker_log.open("wb") as log:
        # Started elsewhere than the project, without INGEST_* settings and with an empty
        # default data folder: the deployments' pull step must find the project, and their job
        # variables the store and the translation packages.
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL],
            env={**client_env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
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


def api_request(method: str, url: str, timeout: float = 60, **kwargs) -> httpx.Response:
    """A request to the Prefect API, repeated while it answers 503: the server's answer to a
    busy SQLite database, which Prefect's own client retries too."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.request(method, url, timeout=30, **kwargs)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response.raise_for_status()
        time.sleep(1)


def run_deployment(api: str, name: str, parameters: dict | None = None, timeout: float = 240):
    deployment = api_request("GET", f"{api}/deployments/name/{name}").json()
    run = api_request(
        "POST",
        f"{api}/deployments/{deployment['id']}/create_flow_run",
        json={"parameters": parameters or {}},
    ).json()
    return run["id"]


def wait_for(api: str, run_id: str, worker_log: Path, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api_request("GET", f"{api}/flow_runs/{run_id}").json()
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
    # where runs keep their data, absolute, from `ingest deploy --home` (the worker has none)
    assert feed["job_variables"]["env"] == {
        "INGEST_HOME": str(deployed.ingest_home),
        "INGEST_STORE_URL": f"sqlite:///{deployed.ingest_home / 'ingest.db'}",
        "INGEST_ARCHIVE_DIR": str(deployed.ingest_home / "archive"),
        "INGEST_PACKAGES_DIR": str(deployed.ingest_home / "packages"),
        "ARGOS_PACKAGES_DIR": str(deployed.tmp / "argos-packages"),
    }
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
    # the scheduled source's runs store into the same home (test_scheduler_…)
    documents = [d for d in store.iter_documents() if d["source"] != SCHEDULED_SOURCE]
    feed_pages = 4  # samples/feed.xml lists the four sample pages
    assert len(documents) == feed_pages
    assert {d["source"] for d in documents} == {FEED_SOURCE}
    by_name = {Path(d["url"]).name: d for d in documents}
    assert by_name["korean-article.html"]["language"] == "ko"
    assert DEMO_PACKAGES, "tests/fixtures/argos/*.argosmodel missing"
    # the worker has no packages of its own: these come through the deployment's job variables
    assert by_name["korean-article.html"]["status"] == "ok"
    assert by_name["german-article.html"]["status"] == "ok"
    assert not (deployed.tmp / "xdg-data" / "ingest").exists(), "a run used the default home"
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


@pytest.mark.slow
def test_the_scheduler_creates_runs_that_complete_translated(deployed):
    """The server's scheduler (not the test) creates the interval source's runs; the worker
    runs one to completion and its document is in `ingest deploy`'s store, translated."""
    from ingest.store import Store

    deployment = httpx.get(
        f"{deployed.api}/deployments/name/ingest-sources/{SCHEDULED_SOURCE}", timeout=30
    ).json()
    assert [s["schedule"]["interval"] for s in deployment["schedules"]] == [SCHEDULED_INTERVAL]
    try:
        completed = _wait_for_completed_scheduled_run(deployed, deployment["id"], timeout=150)
    finally:
        # stop the schedule: its runs would keep the 2 cores busy for the rest of the session
        api_request(
            "PATCH", f"{deployed.api}/deployments/{deployment['id']}", json={"paused": True}
        )
    assert completed["auto_scheduled"] is True
    assert completed["parameters"]["names"] == [SCHEDULED_SOURCE]

    store = Store(f"sqlite:///{deployed.ingest_home / 'ingest.db'}")
    (document,) = [d for d in store.iter_documents() if d["source"] == SCHEDULED_SOURCE]
    assert Path(document["url"]).name == SCHEDULED_PAGE
    assert document["language"] == "ko"
    assert document["status"] == "ok", document["reason"]
    korean = [p for p in document["paragraphs"] if p["language"] == "ko"]
    assert korean and all(p["english"] for p in korean)
    assert document["translated_count"] >= len(korean)

    log = deployed.server.log_path.read_text(errors="replace")
    assert not unexpected_tracebacks(log), log[-5000:]


# Prefect's SQLite-backed server sometimes fails one of its own writes with "database is
# locked" when its services and a worker write at once (upstream: PrefectHQ/prefect#23051,
# #9923); the request is retried and the run completes, as the test checks above.
KNOWN_SERVER_ERRORS = ("database is locked",)


def unexpected_tracebacks(log: str) -> list[str]:
    """The exception line of every traceback in a server log, minus Prefect's known ones."""
    lines = log.splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.strip() != "Traceback (most recent call last):":
            continue
        indent = len(line) - len(line.lstrip())
        exception = next(
            (
                later
                for later in lines[index + 1 :]
                if later.strip() and len(later) - len(later.lstrip()) <= indent
            ),
            "(end of log)",
        )
        if not any(known in exception for known in KNOWN_SERVER_ERRORS):
            found.append(exception)
    return found


def test_unexpected_tracebacks_tolerates_only_the_known_server_errors() -> None:
    locked = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\n'
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked\n"
    )
    other = "Traceback (most recent call last):\n  File \"y.py\", line 2\nKeyError: 'flow'\n"
    assert unexpected_tracebacks(locked) == []
    assert unexpected_tracebacks(locked + other) == ["KeyError: 'flow'"]
    assert unexpected_tracebacks("Traceback (most recent call last):\n") == ["(end of log)"]


def _wait_for_completed_scheduled_run(deployed: Deployed, deployment_id: str, timeout: float):
    """The first run the scheduler created for the deployment that completed; fails with the
    runs seen and the worker's log otherwise."""
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = api_request(
            "POST",
            f"{deployed.api}/flow_runs/filter",
            json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}},
        ).json()
        done = [r for r in runs if r["auto_scheduled"] and r["state"]["type"] == "COMPLETED"]
        if done:
            return done[0]
        failed = [r for r in runs if r["state"]["type"] in TERMINAL - {"COMPLETED"}]
        assert not failed, (failed[0]["state"], deployed.worker_log.read_text()[-3000:])
        time.sleep(2)
    seen = [(r["auto_scheduled"], r["state"]["type"]) for r in runs]
    pytest.fail(
        f"no scheduled run completed in {timeout:.0f} s (auto_scheduled, state): {seen}\n"
        f"server log:\n{deployed.server.log_path.read_text(errors='replace')[-3000:]}\n"
        f"worker log:\n{deployed.worker_log.read_text(errors='replace')[-3000:]}"
    )


def test_deploy_and_serve_refuse_bad_input_with_one_clear_line(deployed, tmp_path):
    bad_schedule = tmp_path / "bad-schedule.toml"
    bad_schedule.write_text(
        '[[sources]]\nname = "bad"\nurls = ["a.html"]\nschedule = "99 * * * *"\n',
        encoding="utf-8",
    )
    sources = str(deployed.tmp / "sources.toml")
    nowhere = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    api_request(
        "POST", f"{deployed.api}/work_pools/", json={"name": "not-process", "type": "kubernetes"}
    )
    cases = {  # name: (arguments, PREFECT_API_URL, exit code, words of the message)
        "bad schedule": (["deploy", "--sources", str(bad_schedule)], deployed.api, 2, "cron"),
        "deploy, no server": (["deploy", "--sources", sources], nowhere, 1, nowhere),
        "serve, no server": (["serve", "--sources", sources], nowhere, 1, nowhere),
        "pool of another type": (
            ["deploy", "--sources", sources, "--pool", "not-process"],
            deployed.api,
            1,
            "type 'kubernetes'",
        ),
        "pool name refused": (
            ["deploy", "--sources", sources, "--pool", "no/slash"],
            deployed.api,
            1,
            "cannot create work pool 'no/slash'",
        ),
    }
    processes = {
        name: subprocess.Popen(
            [str(BIN / "ingest"), *arguments],
            env=offline_env(PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "client-home")),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (arguments, api, _, _) in cases.items()
    }
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        _, _, code, words = cases[name]
        assert process.returncode == code, (name, stdout, stderr)
        assert "Traceback" not in stdout + stderr, (name, stderr)
        (line,) = stderr.strip().splitlines()
        assert line.startswith("error: ") and words in line, (name, line)
    # nothing was half-deployed to the refused pools
    feed = httpx.get(f"{deployed.api}/deployments/name/ingest-sources/{FEED_SOURCE}").json()
    assert feed["work_pool_name"] == POOL


def test_data_locations_are_absolute_paths_resolved_at_deploy_time(tmp_path, monkeypatch):
    for name in ("INGEST_HOME", "INGEST_STORE_URL", "INGEST_ARCHIVE_DIR", "INGEST_PACKAGES_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ARGOS_PACKAGES_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    relative = data_locations(home=Path("data"), store_url="sqlite:///stores/ingest.db")
    assert relative == {
        "INGEST_HOME": str(tmp_path / "data"),
        "INGEST_STORE_URL": f"sqlite:///{tmp_path / 'stores' / 'ingest.db'}",
        "INGEST_ARCHIVE_DIR": str(tmp_path / "data" / "archive"),
        "INGEST_PACKAGES_DIR": str(tmp_path / "data" / "packages"),
    }
    # from the environment when no option is given; a server URL is kept as it is
    monkeypatch.setenv("INGEST_HOME", "elsewhere")
    monkeypatch.setenv("INGEST_PACKAGES_DIR", "models")
    monkeypatch.setenv("INGEST_STORE_URL", "postgresql+psycopg://ingest:secret@db:5432/ingest")
    from_env = data_locations()
    assert from_env["INGEST_HOME"] == str(tmp_path / "elsewhere")
    assert from_env["INGEST_PACKAGES_DIR"] == str(tmp_path / "models")
    assert from_env["INGEST_STORE_URL"] == "postgresql+psycopg://ingest:secret@db:5432/ingest"
    with pytest.raises(ValueError, match="not a SQLAlchemy URL"):
        data_locations(store_url="not a url")


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
