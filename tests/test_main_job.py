"""The main job's fixed cost: what an unchanged rerun loads, and the main-job benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


@pytest.mark.slow
def test_main_job_benchmark_runs_in_a_tiny_mode():
    """Three pages through the real CLI (and its Prefect API) and the parts, with ratio lines."""
    env = {**os.environ}
    env.pop("INGEST_HOME", None)
    result = subprocess.run(
        [sys.executable, "benchmarks/main_job.py", "--pages", "3", "--length", "4"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "3 ok" in out and "3 unchanged" in out and "1 ok" in out, out
    assert "whole cold run / sum of parts:" in out, out
    names = {
        line.split("=")[0].split()[-1] for line in out.splitlines() if line.startswith("RESULT")
    }
    assert {
        "main_job.whole_vs_parts",
        "main_job.unchanged_rerun_s",
        "main_job.one_page_run_s",
        "main_job.peak_rss_mb",
    } <= names, out
