"""Faults that concern a whole run, provoked for real: a full disk under the store and the
archive, a translation package whose model is garbage, and `kill -9` of `ingest run` while
it uses a local Prefect API (kept between runs, or temporary).

The disk is a small tmpfs mounted as INGEST_HOME (we run as root in CI). Where mounting is not
permitted the store tests use the equivalent SQLite fault instead (``PRAGMA max_page_count``:
SQLite then answers "database or disk is full", exactly as on a full disk) and say so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from conftest import DEMO_PACKAGES, SAMPLES
from sqlalchemy import event

from ingest.config import load_settings
from ingest.errors import StoreUnwritable
from ingest.inputs import load_targets, resolve_inputs
from ingest.pipeline import Pipeline
from ingest.store import Store

ROOT = Path(__file__).resolve().parent.parent
KOREAN_DEMO = next(p for p in DEMO_PACKAGES if "ko_en" in p.name)


def ingest_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """Run `python -m ingest.cli.main ARGS` as a user would; (rc, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=ROOT,
    )
    return done.returncode, done.stdout, done.stderr


# ------------------------------------------------------------------------------ disk full


@contextlib.contextmanager
def small_disk(size: str = "24m") -> Iterator[Path | None]:
    """A freshly mounted tmpfs of ``size``, unmounted afterwards; None when mount is refused."""
    mountpoint = Path(tempfile.mkdtemp(prefix="ingest-small-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True,
    )
    try:
        yield mountpoint if mounted.returncode == 0 else None
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):
            mountpoint.rmdir()


def fill(directory: Path) -> Path:
    """Write zeros into ``directory`` until its file system is full; returns the filler file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: nothing left to flush at close
        for size in (1 << 16, 512):  # big blocks, then the last partial page
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    return filler


def pipeline_run(inputs: list[str], **kwargs) -> list:
    settings = load_settings()
    resolution = resolve_inputs(inputs, settings)
    pipeline = Pipeline(settings, **kwargs)
    pages = list(resolution.failures) + load_targets(resolution.targets, settings)
    return pipeline.process(pages)


def stored_rows(database: Path) -> set[tuple]:
    """Every stored document with its paragraphs, read with plain sqlite3 after an integrity
    check (which must pass)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return set(
            conn.execute(
                "SELECT d.url, d.status, d.content_hash, p.position, p.original, p.english "
                "FROM documents d JOIN paragraphs p ON p.document_id = d.id"
            )
        )


def test_full_disk_stops_ingest_run_once_with_one_clear_line(home, tmp_path, monkeypatch):
    """Documents stored earlier, then the disk fills: `ingest run` says once that the store
    cannot be written, exits 3 without a traceback, and the store is intact afterwards."""
    with small_disk() as disk:
        if disk is None:
            print("mount not permitted: the library-level max_page_count test covers this")
            test_full_store_stops_the_pipeline_at_its_first_document(home, tmp_path)
            return
        print(f"fault used: tmpfs mounted at {disk}, filled with zeros")
        data_home = disk / "home"
        monkeypatch.setenv("INGEST_HOME", str(data_home))
        first = pipeline_run([str(SAMPLES / "english-article.html")])
        assert [o.status for o in first] == ["ok"]
        database = data_home / "ingest.db"
        before = stored_rows(database)
        assert before

        filler = fill(disk)
        rc, out, err = ingest_cli("run", str(SAMPLES), "--home", str(data_home))

        assert rc == 3, (out, err)
        assert "Traceback" not in err and "Traceback" not in out
        expected = f"error: the store cannot be written: disk full ({database})"
        assert err.count("the store cannot be written") == 1, err
        assert expected in err.splitlines(), err

        rc, out, err = ingest_cli("reprocess", str(SAMPLES), "--home", str(data_home))
        assert rc == 3, (out, err)
        assert "Traceback" not in err and "Traceback" not in out
        assert err.count("the store cannot be written") == 1, err
        assert expected in err.splitlines(), err
        filler.unlink()  # room again: what was stored must be exactly as before
        assert stored_rows(database) == before


def test_full_store_stops_the_pipeline_at_its_first_document(home, tmp_path):
    """The equivalent SQLite fault (a page cap reached), at library level: the pipeline raises
    StoreUnwritable at the first document instead of recording one failure per document."""
    database = tmp_path / "capped.db"
    store = Store(f"sqlite:///{database}")
    first = pipeline_run([str(SAMPLES / "english-article.html")], store=store)
    assert [o.status for o in first] == ["ok"]
    before = stored_rows(database)

    pages = store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar_one()
    store.engine.dispose()

    @event.listens_for(store.engine, "connect")
    def cap_pages(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(StoreUnwritable) as raised:
        pipeline_run([str(SAMPLES)], store=store)
    assert str(raised.value) == f"the store cannot be written: disk full ({database})"
    store.engine.dispose()
    assert stored_rows(database) >= before  # pages free before the cap may hold one more


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<html><body><article><p>" + b"A sentence of the page. " * 50 + b"</p>"
        body += b"</article></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_full_archive_stops_loading_before_anything_is_processed(home, monkeypatch):
    """Raw bytes are archived before anything else: a full archive folder stops the load with
    StoreUnwritable naming the folder (the flow turns it into the same one-line stop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("INGEST_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("INGEST_RESPECT_ROBOTS", "false")
    try:
        with small_disk("2m") as disk:
            if disk is None:
                pytest.fail("mount not permitted: no equivalent fault for the archive folder")
            archive_dir = disk / "archive"
            monkeypatch.setenv("INGEST_ARCHIVE_DIR", str(archive_dir))
            settings = load_settings()
            url = f"http://127.0.0.1:{server.server_port}/page-1.html"
            [page] = load_targets(resolve_inputs([url], settings).targets, settings)
            assert page.archive_path and Path(page.archive_path).parent == archive_dir
            fill(disk)
            more = [f"http://127.0.0.1:{server.server_port}/page-{i}.html" for i in range(2, 6)]
            with pytest.raises(StoreUnwritable) as raised:
                load_targets(resolve_inputs(more, settings).targets, settings)
            assert str(raised.value) == (
                f"the archive cannot be written: disk full ({archive_dir})"
            )
    finally:
        server.shutdown()


# ---------------------------------------------------------------------------- broken model


def broken_package(folder: Path) -> Path:
    """A copy of the Korean demo package whose model/model.bin is garbage."""
    broken = folder / "translate-ko_en-broken.argosmodel"
    with zipfile.ZipFile(KOREAN_DEMO) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("model/model.bin"):
                data = b"not a CTranslate2 model " * 4096
            target.writestr(item, data)
    return broken


def test_install_refuses_a_package_whose_model_does_not_load(home, tmp_path):
    packages = home / "packages"
    rc, out, err = ingest_cli(
        "models", "install", str(broken_package(tmp_path)), "--home", str(home), timeout=120
    )
    assert rc != 0, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "translate-ko_en-broken.argosmodel: the model does not load or translate" in lines[0]
    assert "Unsupported model binary version" in lines[0]
    assert not packages.exists() or not any(packages.iterdir())


def test_a_model_broken_after_install_costs_one_line_and_untranslated_rows(demo_home, caplog):
    """model.bin corrupted after install: every Korean document is stored untranslated with a
    short reason, and the error is logged once (one line, no traceback), not per batch."""
    model_bin = next((demo_home / "packages").glob("translate-ko_en*/model/model.bin"))
    model_bin.write_bytes(b"\0garbage" * 1000)
    inputs = [str(SAMPLES / "korean-article.html"), str(SAMPLES / "english-article.html")]
    settings = load_settings()
    pipeline = Pipeline(settings, force=True)  # force: the third batch redoes the first
    pages = load_targets(resolve_inputs(inputs, settings).targets, settings)
    with caplog.at_level(logging.DEBUG, logger="ingest"):
        outcomes = [
            o for batch in (pages[:1], pages[1:], pages[:1]) for o in pipeline.process(batch)
        ]
    korean, english, korean_again = outcomes
    assert english.status == "ok"
    assert korean.status == "untranslated" and korean_again.status == "untranslated"
    assert korean.reason.startswith(
        "untranslated: ko→en translation failed: model of translate-ko_en@1.0-demo is unusable:"
    ), korean.reason
    assert "\n" not in korean.reason and len(korean.reason) < 300
    stored = pipeline.store.get_document(korean.url)
    assert stored["status"] == "untranslated" and stored["reason"] == korean.reason
    assert stored["paragraphs"] and all(
        p["english"] is None for p in stored["paragraphs"] if p["language"] == "ko"
    )
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is None and "\n" not in errors[0].getMessage()

    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "translate", "--from", "ko"],
        input="안녕하세요.\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: model of translate-ko_en@1.0-demo is unusable: ")
    assert done.stderr.count("\n") == 1

    # a working package again: the next plain run (no --force) redoes the Korean document
    from ingest.translate import install_package_file

    install_package_file(KOREAN_DEMO, demo_home / "packages")
    fixed = Pipeline(load_settings()).process(pages[:1])
    assert [o.status for o in fixed] == ["ok"], fixed


# ------------------------------------------------------- the local Prefect API after kill -9


@contextlib.contextmanager
def held_page() -> Iterator[str]:
    """A local page whose answer is held back until the block ends: a run fetching it is
    still running whatever the machine's speed."""
    release = threading.Event()

    class HeldPage(_Page):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            release.wait(300)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), HeldPage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/held.html"
    finally:
        release.set()
        server.shutdown()


def run_fetching(url: str, demo_home: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli.main", "run", url],
        env={
            **os.environ,
            "INGEST_HOME": str(demo_home),
            "INGEST_ALLOW_LOOPBACK": "true",
            "INGEST_RESPECT_ROBOTS": "false",
            "INGEST_FETCH_READ_TIMEOUT": "300",
            "INGEST_FETCH_TOTAL_TIMEOUT": "300",
            **env,
        },
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kept_servers(folder: Path) -> list[psutil.Process]:
    """The kept-server processes serving ``folder`` (flows.local_server keep FOLDER …)."""
    found = []
    for process in psutil.process_iter():
        command = _cmdline(process).split()
        if command[-4:-2] == ["keep", str(folder)] and not _zombie(process):
            found.append(process)
    return found


def _zombie(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_concurrent_first_runs_share_one_kept_server_that_outlives_a_killed_run_then_idles_out(
    demo_home, tmp_path
):
    """Two first `ingest run`s at once (no server yet) start ONE kept server and both use it.
    `kill -9` of one leaves the server to the other, which finishes normally; once neither uses
    it, the server stops by itself after its idle time (here 6 s): nothing is orphaned."""
    from flows.local_server import ServerPaths, read_state, server_alive, server_info

    prefect_home = tmp_path / "prefect"
    paths = ServerPaths(prefect_home / "ingest-server")
    env = {"PREFECT_HOME": str(prefect_home), "INGEST_SERVER_IDLE_MINUTES": "0.1"}
    survivor = victim = None
    with held_page() as held_url:
        try:
            victim = run_fetching(held_url, demo_home, **env)
            survivor = subprocess.Popen(
                [sys.executable, "-m", "ingest.cli.main", "run", str(SAMPLES)]
                + ["--home", str(tmp_path / "other-home")],
                env={**os.environ, **env},
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            out, err = survivor.communicate(timeout=300)
            assert survivor.returncode == 0, (out, err)
            assert "Traceback" not in err
            state = read_state(paths)
            assert state is not None and server_info(state) is not None
            assert [p.pid for p in kept_servers(paths.folder)] == [state.pid]
            assert victim.poll() is None, "the victim run should still wait for its page"

            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            time.sleep(1)
            assert server_info(state) is not None  # still there for its idle time
            deadline = time.monotonic() + 60
            while server_alive(paths) and time.monotonic() < deadline:  # its lock: held for life
                time.sleep(0.2)
            assert not server_alive(paths), "the idle server did not stop by itself"
            assert read_state(paths) is None and not kept_servers(paths.folder)
        finally:
            for process in (victim, survivor):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
            for process in kept_servers(paths.folder):  # never leave one behind
                process.kill()


def temporary_api_child(run: psutil.Process, timeout: float = 120) -> psutil.Process:
    """The child of ``run`` that serves its temporary Prefect API, once it listens (found by
    its listening socket, whoever started it: this test also fails on Prefect's own server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in run.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp")):
                    return child
        assert run.is_running(), "ingest run ended before its temporary API was up"
        time.sleep(0.2)
    raise AssertionError("no temporary API process appeared")


def test_without_a_kept_server_the_temporary_api_dies_with_a_killed_run(demo_home, tmp_path):
    """INGEST_SERVER_IDLE_MINUTES=0: two `ingest run`s at once each have their own temporary
    API (separate ports); `kill -9` of one takes its API down within seconds while the other
    run finishes normally and stops its own.

    The second run starts once the first one's API is up: both share this session's
    PREFECT_HOME, whose fresh database the first server migrates.
    """
    survivor = None
    with held_page() as held_url:
        victim = run_fetching(held_url, demo_home, INGEST_SERVER_IDLE_MINUTES="0")
        try:
            victim_api = temporary_api_child(psutil.Process(victim.pid))
            survivor = subprocess.Popen(
                [sys.executable, "-m", "ingest.cli.main", "run", str(SAMPLES)]
                + ["--home", str(tmp_path / "other-home")],
                env={**os.environ, "INGEST_SERVER_IDLE_MINUTES": "0"},
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            survivor_api = temporary_api_child(psutil.Process(survivor.pid))
            ports = {
                c.laddr.port
                for api in (victim_api, survivor_api)
                for c in api.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN
            }
            assert len(ports) == 2

            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            _, alive = psutil.wait_procs([victim_api], timeout=10)
            assert not alive, f"temporary API {victim_api.pid} outlived its killed run"

            out, err = survivor.communicate(timeout=300)
            assert survivor.returncode == 0, (out, err)
            assert "Traceback" not in err
            assert not survivor_api.is_running()  # stopped at the end of a normal run too
        finally:
            for process in (victim, survivor):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
            with contextlib.suppress(NameError):
                for api in psutil.wait_procs([victim_api], timeout=0)[1]:  # never leave one
                    api.kill()


def test_a_configured_prefect_api_url_is_used_and_no_server_is_started(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.local_server import local_api

    before = {p.pid for p in psutil.Process().children()}
    for idle_minutes in (0, 15):
        configured = temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"})
        with configured, local_api(idle_minutes) as url:
            assert url == "http://127.0.0.1:9/api"
            assert {p.pid for p in psutil.Process().children()} == before


@pytest.mark.parametrize(
    ("idle_minutes", "which"), [("0", "temporary"), ("15", "local")], ids=["temporary", "kept"]
)
def test_a_local_api_that_does_not_come_up_is_one_line_and_leaves_no_process(
    idle_minutes, which, home, tmp_path
):
    """A start-up deadline too short for any server: a clear line, exit 1, nothing left over."""
    before = {p.pid for p in psutil.process_iter() if "flows.local_server" in _cmdline(p)}
    rc, out, err = ingest_cli(
        "run",
        str(SAMPLES / "english-article.html"),
        env={
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1",
            "INGEST_SERVER_IDLE_MINUTES": idle_minutes,
            "PREFECT_HOME": str(tmp_path / "prefect"),
        },
        timeout=120,
    )
    assert rc == 1, (out, err)
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: the {which} Prefect API did not start within 1 s "
        "(or set PREFECT_API_URL to a running server)"
    ]
    time.sleep(0.5)
    after = {
        p.pid
        for p in psutil.process_iter()
        if "flows.local_server" in _cmdline(p) and not _zombie(p)
    }
    assert after <= before


def _cmdline(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(process.cmdline())
    return ""
