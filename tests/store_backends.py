"""Store fixtures for SQLite and PostgreSQL; import them into a test module to use them.

    pytest_plugins = ["store_backends"]  # in the test module

PostgreSQL comes from ``INGEST_TEST_POSTGRES_URL`` (CI starts a throwaway cluster with
``scripts/start-postgres.sh``); when it is not set, a throwaway cluster is started for the
session with that script. Each test gets a fresh database. When PostgreSQL is not reachable
the tests FAIL — in CI (``CI=true``) always; locally they are skipped only when
``INGEST_SKIP_POSTGRES=1`` (``conftest.require``).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, in_ci, require

BACKENDS = ["sqlite", "postgresql"]


def _skip_allowed() -> bool:
    return not in_ci() and os.environ.get("INGEST_SKIP_POSTGRES") == "1"


@functools.lru_cache(maxsize=1)
def _server() -> tuple[str | None, str]:
    """(admin URL, "") or (None, why not). Started at most once per test session."""
    url = os.environ.get("INGEST_TEST_POSTGRES_URL")
    if not url:
        if _skip_allowed():
            return None, "INGEST_SKIP_POSTGRES=1"
        state = Path(tempfile.mkdtemp(prefix="ingest-pg-state-")) / "state"
        env = {**os.environ, "INGEST_PG_STATE": str(state)}
        script = ROOT / "scripts" / "start-postgres.sh"
        try:
            done = subprocess.run(
                [str(script)], env=env, capture_output=True, text=True, timeout=300, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"could not run {script}: {error}"
        if done.returncode != 0:
            return None, f"{script} failed: {done.stderr.strip()[-500:]}"
        url = done.stdout.strip().splitlines()[-1]

        def stop() -> None:
            subprocess.run([str(script), "stop"], env=env, capture_output=True, check=False)
            shutil.rmtree(state.parent, ignore_errors=True)

        atexit.register(stop)
    try:
        import psycopg

        with psycopg.connect(_libpq(url), connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any reason makes PostgreSQL unusable
        return None, f"PostgreSQL at {url} not reachable: {error}"
    return url, ""


def _libpq(url: str) -> str:
    """SQLAlchemy URL → libpq URL (drop the +driver)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_admin_url() -> str:
    """The server URL, or fail (skip only where allowed) with the reason."""
    url, why = _server()
    require(
        url is not None,
        f"PostgreSQL needed: {why}. Set INGEST_TEST_POSTGRES_URL (scripts/start-postgres.sh "
        "prints one) or, outside CI, INGEST_SKIP_POSTGRES=1 to skip these tests.",
        opt_out="INGEST_SKIP_POSTGRES",
    )
    assert url is not None  # for the type checker: require() stopped the test otherwise
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    import psycopg

    admin = postgres_admin_url()
    name = f"ingest_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store, once per backend (SQLite file, PostgreSQL database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")
