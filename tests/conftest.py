"""Shared fixtures: an isolated INGEST_HOME per test and the sample paths."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
# Benchmark and reference data the tests read, shipped with the repository (tests/data/README.md).
DATA = ROOT / "tests" / "data"
DEMO_PACKAGES = sorted((ROOT / "tests" / "fixtures" / "argos").glob("*.argosmodel"))

# Tests never touch the user's data or Prefect home, and never phone home.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Set before prefect is first imported: settings are read once.
os.environ["PREFECT_HOME"] = SESSION_PREFECT_HOME = tempfile.mkdtemp(prefix="ingest-test-prefect-")
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session", autouse=True)
def no_kept_prefect_server_outlives_the_tests(tmp_path_factory):
    """`ingest run` keeps a local Prefect server (flows.local_server): the session's runs share
    one, tests with their own PREFECT_HOME start theirs. All of them stop when the session ends,
    instead of idling on for INGEST_SERVER_IDLE_MINUTES."""
    yield
    import contextlib

    import psutil

    from flows.local_server import LocalServerError, ServerPaths, stop_server

    roots = [Path(SESSION_PREFECT_HOME).resolve(), tmp_path_factory.getbasetemp().resolve()]
    folders = set()
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if "flows.local_server" in command and "keep" in command[:-1]:
            folders.add(Path(command[command.index("keep") + 1]).resolve())
    for folder in folders:
        if any(folder.is_relative_to(root) for root in roots):
            with contextlib.suppress(LocalServerError, OSError):
                stop_server(ServerPaths(folder))


def in_ci() -> bool:
    """CI sets CI=true: there every test must really run."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(condition: object, why: str, *, opt_out: str | None = None) -> None:
    """Go on only if ``condition`` holds: missing data or services never pass silently.

    Under CI the test FAILS with ``why``. Elsewhere it is skipped with ``why`` as the reason —
    unless ``opt_out`` names an environment variable, then it fails unless that is set to 1.
    """
    if condition:
        return
    if in_ci():
        pytest.fail(f"{why} (CI=true: a missing requirement fails the test)", pytrace=False)
    if opt_out is not None and os.environ.get(opt_out) != "1":
        pytest.fail(f"{why} (set {opt_out}=1 to skip this outside CI)", pytrace=False)
    pytest.skip(why)


def load_gold() -> dict[str, dict]:
    """samples/gold/*.json keyed by page file name."""
    gold = {}
    for path in sorted((SAMPLES / "gold").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        gold[data["file"]] = data
    return gold


def gold_paragraphs(gold: dict) -> list[tuple[str, str, str | None]]:
    """(language, original, english) per gold paragraph; English maps to itself."""
    out = []
    for paragraph in gold["paragraphs"]:
        lang = paragraph["language"]
        sep = "" if lang in ("zh", "ja") else " "
        original = sep.join(s for s, _ in paragraph["sentences"])
        english = original if lang == "en" else " ".join(e for _, e in paragraph["sentences"])
        out.append((lang, original, english))
    return out


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh INGEST_HOME (store, archive, packages) for one test."""
    path = tmp_path / "ingest-home"
    monkeypatch.setenv("INGEST_HOME", str(path))
    for name in ("INGEST_STORE_URL", "INGEST_ARCHIVE_DIR", "INGEST_PACKAGES_DIR"):
        monkeypatch.delenv(name, raising=False)
    # argostranslate's own package folder is read too: keep the user's real packages out
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "argos-packages"))
    return path


@pytest.fixture
def demo_home(home) -> Path:
    """An INGEST_HOME with the shipped demo translation packages installed."""
    from ingest.translate import install_package_file

    assert DEMO_PACKAGES, "tests/fixtures/argos/*.argosmodel missing"
    for package in DEMO_PACKAGES:
        install_package_file(package, home / "packages")
    return home
