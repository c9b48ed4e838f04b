"""The main job's fixed cost: what an unchanged rerun loads, and the main-job benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT, SAMPLES

# What only extracting, detecting or translating a document needs: an unchanged batch must not
# pay for any of it (importing them costs ~1 s; loading their models more).
HEAVY_MODULES = [
    "trafilatura",
    "htmldate",
    "ctranslate2",
    "sentencepiece",
    "argostranslate",
    "torch",
    "stanza",
    "lingua",
    "py3langid",
    "wordfreq",
    "langdetect",
]

BATCH = """
import json, sys
from ingest.config import load_settings
from ingest.inputs import load_targets, resolve_inputs
from ingest.pipeline import Pipeline

settings = load_settings()
resolution = resolve_inputs(sys.argv[1:], settings)
pipeline = Pipeline(settings)
outcomes = pipeline.process(list(resolution.failures) + load_targets(resolution.targets, settings))
heavy = [name for name in json.loads(sys.stdin.read()) if name in sys.modules]
print(json.dumps({"statuses": sorted({o.status for o in outcomes}), "heavy": heavy}))
"""


def process_batch_in_new_process(inputs: list[str]) -> dict:
    """One pipeline batch over ``inputs`` in a fresh interpreter (nothing imported before)."""
    result = subprocess.run(
        [sys.executable, "-c", BATCH, *inputs],
        input=json.dumps(HEAVY_MODULES),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=300,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_unchanged_batch_imports_no_extractor_detector_or_translator(demo_home):
    first = process_batch_in_new_process([str(SAMPLES)])
    assert first["statuses"] == ["ok"]
    # the check is able to fail: the first pass did extract, detect and translate
    assert {"trafilatura", "ctranslate2", "py3langid"} <= set(first["heavy"]), first

    again = process_batch_in_new_process([str(SAMPLES)])
    assert again["statuses"] == ["unchanged"]
    assert again["heavy"] == [], f"an unchanged rerun imported {again['heavy']}"


ENGLISH = (ROOT / "tests" / "data" / "langid" / "sentences" / "en.txt").read_text().splitlines()


class _Article(BaseHTTPRequestHandler):
    """A page per path; remembers which paths were asked for."""

    asked: list[str] = []
    asked_event = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).asked.append(self.path)
        type(self).asked_event.set()
        number = int(self.path.rsplit("-", 1)[-1])
        text = " ".join(ENGLISH[number * 5 : number * 5 + 5])  # unique text per story
        body = f"<html><body><article><p>{text}</p></article></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.prefect
def test_the_next_batch_is_fetched_while_this_one_is_processed(home, monkeypatch):
    """With URLs, batch N+1's load task runs while batch N is processed: the progress hook
    after batch 1 waits for a request of batch 2, which only an overlapping load can send."""
    from typer.testing import CliRunner

    from flows.ingest_flow import PROGRESS_HOOKS
    from ingest.cli.main import app, load_commands

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Article)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name, value in [
        ("INGEST_ALLOW_LOOPBACK", "true"),
        ("INGEST_RESPECT_ROBOTS", "false"),
        ("INGEST_PER_HOST_DELAY", "0"),
    ]:
        monkeypatch.setenv(name, value)
    urls = [f"http://127.0.0.1:{server.server_port}/story-{i}" for i in range(6)]
    seen_during_batch_one: list[str] = []

    def after_batch(done: int, _total: int | None, _rows: list) -> None:
        if done == 2:  # batch 1 (stories 0 and 1) is processed; batch 2 must be on its way
            _Article.asked_event.clear()
            while not set(_Article.asked) - {"/story-0", "/story-1"}:
                if not _Article.asked_event.wait(60):
                    break
                _Article.asked_event.clear()
            seen_during_batch_one.extend(_Article.asked)

    _Article.asked.clear()
    load_commands()
    PROGRESS_HOOKS.append(after_batch)
    try:
        result = CliRunner().invoke(app, ["run", *urls, "--batch-size", "2"])
    finally:
        PROGRESS_HOOKS.remove(after_batch)
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert "6 ok" in result.output, result.output
    assert set(seen_during_batch_one) & {"/story-2", "/story-3"}, seen_during_batch_one


@pytest.mark.slow
def test_main_job_benchmark_runs_in_a_tiny_mode():
    """Three pages through the real CLI (and its Prefect API) and the parts, with ratio lines."""
    env = {**os.environ}
    env.pop("INGEST_HOME", None)
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/main_job.py",
            "--pages",
            "3",
            "--length",
            "4",
            "--rounds",
            "2",  # a second round: a new store and a new parts database each round
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    # every run exited 0 (else the benchmark fails); a random model's English is stored
    # "low-confidence", so only the rerun's status is fixed
    assert out.count("exit 0") == 6 and out.count("3 unchanged") == 2, out
    assert "medians of 2 round(s):" in out, out
    assert "whole cold run / sum of parts (medians):" in out, out
    names = {
        line.split("=")[0].split()[-1] for line in out.splitlines() if line.startswith("RESULT")
    }
    assert {
        "main_job.whole_vs_parts",
        "main_job.unchanged_rerun_s",
        "main_job.one_page_run_s",
        "main_job.peak_rss_mb",
    } <= names, out
