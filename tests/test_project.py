"""Project rules that CI enforces: the library never imports Prefect, the code is ruff clean."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

LIBRARY_MODULES = [
    "ingest.models",
    "ingest.config",
    "ingest.inputs",
    "ingest.fetch",
    "ingest.discover",
    "ingest.archive",
    "ingest.sources_file",
    "ingest.encoding",
    "ingest.extract",
    "ingest.language",
    "ingest.translate",
    "ingest.store",
    "ingest.dedup",
    "ingest.pipeline",
    "ingest.reprocess",
    "ingest.cli.main",
]


def test_library_imports_no_prefect():
    code = (
        "import importlib, sys\n"
        f"for name in {LIBRARY_MODULES!r}: importlib.import_module(name)\n"
        "from ingest.cli.main import load_commands; load_commands()\n"
        "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_clean():
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run([*ruff, "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
