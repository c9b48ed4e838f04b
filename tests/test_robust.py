"""No traceback for any input, memory flat, the run goes on (issue 12).

Every case runs the real thing: the `ingest` CLI in a subprocess, real files, FIFOs and
folders, a loopback HTTP server, real SQLite stores. Permission cases run the CLI as the
unprivileged user ``nobody`` when the tests run as root (root ignores file permissions).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import update

from ingest.config import Settings, load_settings
from ingest.discover import discover_source
from ingest.inputs import MAX_SITEMAP_DEPTH, resolve_inputs
from ingest.models import Failure, RawPage
from ingest.read import iter_archive, read_record
from ingest.reprocess import archive_identity, reprocess
from ingest.sources_file import Source, SourcesFileError, load_sources
from ingest.store import ArchiveBusyError, Store, runs

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples"
NOBODY = 65534
ROOTED = os.geteuid() == 0
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def page_html(words: str) -> str:
    return (
        f"<html><head><title>{words}</title></head><body><article><p>{words}, a plain "
        "English paragraph long enough for the extractor to keep it as main text.</p>"
        "</article></body></html>"
    )


def jsonl_line(number: int) -> str:
    url = f"https://robust.example/{number}"
    return json.dumps({"url": url, "html": page_html(f"Story number {number}")}) + "\n"


def cli(
    *args: str,
    env: dict[str, str] | None = None,
    unprivileged: bool = False,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run `ingest ARGS` (as ``nobody`` if asked and we are root) and capture its output."""
    return subprocess.run(
        [*(as_nobody() if unprivileged else []), sys.executable, "-m", "ingest.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/" if unprivileged else ROOT,
        env={**os.environ, **(env or {})},
    )


def as_nobody() -> list[str]:
    """Command prefix that drops root to ``nobody`` (util-linux setpriv); nothing if not root."""
    if not ROOTED:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot test file permissions")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture(autouse=True, scope="module")
def code_reachable_by_nobody() -> Iterator[None]:
    """``nobody`` must reach the checkout and its venv: a clone inside a private folder (e.g.
    ``mktemp -d``, mode 0700) hides them and every unprivileged run fails to import ``ingest``.
    Grants search permission (o+x, nothing readable is listed) on those folders for this module
    and restores their modes afterwards."""
    changed: list[tuple[Path, int]] = []
    if ROOTED:
        places = [Path(__file__).resolve().parent.parent, Path(sys.prefix).resolve()]
        for folder in {folder for place in places for folder in (place, *place.parents)}:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append((folder, stat.S_IMODE(mode)))
    yield
    for folder, mode in changed:
        folder.chmod(mode)


def assert_one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit code 2, exactly one ``error: …`` line on stderr, no traceback; returns the line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stdout, result.stdout[-3000:]


def stored_rows(database: Path) -> dict[str, tuple[str, str | None]]:
    """url -> (status, reason) of every stored document (failures included)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT url, status, reason FROM documents").fetchall()
    return {url: (status, reason) for url, status, reason in rows}


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder ``nobody`` can use (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ingest-robust-"))
    path.chmod(0o777)
    yield path
    for folder, dirs, _ in os.walk(path):  # undo the chmods that make parts unreadable
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    path.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------- CLI errors

PASSWORD = "s3cret-pw"


def _bad_stores(tmp_path: Path) -> list[tuple[str, str]]:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("these are notes, not a database\n")
    return [
        ("notaurl", "invalid store URL 'notaurl'"),
        (f"mysql://user:{PASSWORD}@db.example/ingest", "unsupported store backend 'mysql'"),
        (
            f"postgresql+psycopg://user:{PASSWORD}@127.0.0.1:1/ingest",
            "cannot open the store postgresql+psycopg://user:***@127.0.0.1:1/ingest",
        ),
        (f"sqlite:///{folder}", "the store is a folder"),
        (f"sqlite:///{not_a_database}", "not an SQLite database"),
    ]


@pytest.mark.parametrize("command", ["export", "runs", "search", "show", "reprocess", "run"])
def test_a_bad_store_is_one_error_line_for_every_command(command, home, tmp_path):
    archive = tmp_path / "pages.jsonl"
    archive.write_text(jsonl_line(1))
    page = tmp_path / "page.html"
    page.write_text(page_html("A page"))
    arguments = {
        "export": [],
        "runs": [],
        "search": ["story"],
        "show": ["https://robust.example/1"],
        "reprocess": [str(archive)],
        "run": [str(page)],
    }[command]
    for url, expected in _bad_stores(tmp_path):
        result = cli(command, *arguments, "--store", url)
        line = assert_one_error_line(result, expected)
        assert PASSWORD not in result.stderr + result.stdout, line
    assert not home.exists()  # nothing was started, nothing was created


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("INGEST_LANGUAGES", "notjson", "invalid setting INGEST_LANGUAGES: expected JSON"),
        ("INGEST_MAX_BYTES", "abc", "invalid setting INGEST_MAX_BYTES='abc'"),
        ("INGEST_BATCH_SIZE", "many", "invalid setting INGEST_BATCH_SIZE='many'"),
    ],
)
def test_invalid_settings_are_one_error_line(variable, value, expected, home, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(page_html("A page"))
    for args in (["export"], ["runs"], ["run", str(page)], ["reprocess", str(page)]):
        assert_one_error_line(cli(*args, env={variable: value}), expected)


def test_export_into_a_missing_folder_is_one_error_line(home, tmp_path):
    missing = tmp_path / "no" / "such" / "folder"
    for fmt in ("jsonl", "parquet"):
        result = cli("export", "--format", fmt, "-o", str(missing / f"out.{fmt}"))
        assert_one_error_line(result, str(missing), "no such")
    assert not (tmp_path / "no").exists()


def test_reprocess_of_a_non_archive_file_is_refused_before_any_run(home, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an archive")
    result = cli("reprocess", str(notes))
    assert_one_error_line(result, f"{notes}: not a WARC, JSONL or HTML file")
    assert Store(load_settings().resolved_store_url()).list_runs() == []


def test_the_traceback_is_shown_only_when_debugging(home):
    quiet = cli("export", "--store", "notaurl")
    assert_one_error_line(quiet)
    loud = cli("export", "--store", "notaurl", env={"INGEST_DEBUG": "1"})
    assert loud.returncode == 2
    assert "Traceback" in loud.stderr and "StoreError" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("error: invalid store URL")


# ---------------------------------------------------------------------------- read-only store


def test_reading_commands_work_on_a_read_only_store_and_writing_ones_say_so(shared_dir):
    """A 0444 store in a 0555 folder, used by a user who cannot write either (``nobody``).

    SQLite cannot even read a WAL store there with a plain read-only open (it would create the
    -shm file): the store must open it without any write attempt."""
    archive = shared_dir / "pages.jsonl"
    archive.write_text(jsonl_line(1) + jsonl_line(2))
    archive.chmod(0o644)
    folder = shared_dir / "store"
    folder.mkdir()
    database = folder / "ingest.db"
    url = f"sqlite:///{database}"
    settings = Settings(home=shared_dir / "home", store_url=url)
    writer = Store(url)
    report = reprocess([archive], settings, store=writer)
    assert report.stats.statuses["ok"] == 2
    writer.close()
    assert not (folder / "ingest.db-wal").exists()  # a clean close checkpointed the log
    before = database.read_bytes()
    database.chmod(0o444)
    folder.chmod(0o555)
    env = {"INGEST_HOME": str(shared_dir / "home"), "HOME": str(shared_dir)}

    exported = cli("export", "--store", url, env=env, unprivileged=True)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert {json.loads(line)["url"] for line in exported.stdout.splitlines()} == {
        "https://robust.example/1",
        "https://robust.example/2",
    }
    shown = cli("show", "https://robust.example/2", "--store", url, env=env, unprivileged=True)
    assert shown.returncode == 0 and "Story number 2" in shown.stdout, shown.stderr[-2000:]
    found = cli("search", "story", "--json", "--store", url, env=env, unprivileged=True)
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 2, found.stderr[-2000:]
    listed = cli("runs", "--store", url, env=env, unprivileged=True)
    assert listed.returncode == 0 and "finished" in listed.stdout, listed.stderr[-2000:]
    for result in (exported, shown, found, listed):
        assert_no_traceback(result)

    refused = cli("reprocess", str(archive), "--store", url, env=env, unprivileged=True)
    assert_one_error_line(refused, "the store is read-only")
    assert database.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["ingest.db"]


# ---------------------------------------------------------------------------- FIFOs


def test_a_fifo_named_html_never_blocks_extract_run_or_reprocess(home, tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "good.html").write_text(page_html("A good page"))
    fifo = folder / "pipe.html"
    os.mkfifo(fifo)

    extracted = cli("extract", str(fifo), str(folder / "good.html"), timeout=60)
    assert_no_traceback(extracted)
    assert extracted.returncode == 1  # documented: 1 when a page could not be extracted
    first, second = (json.loads(line) for line in extracted.stdout.splitlines())
    assert first == {"path": str(fifo), "error": "unreadable: not a regular file: a FIFO"}
    assert "A good page" in second["text"]

    reprocessed = cli("reprocess", str(folder), timeout=120)
    assert_no_traceback(reprocessed)
    assert reprocessed.returncode == 0, reprocessed.stderr[-2000:]
    rows = stored_rows(home / "ingest.db")
    assert rows[fifo.absolute().as_uri()] == ("failed", "not a regular file: a FIFO")
    assert rows[(folder / "good.html").resolve().as_uri()][0] == "ok"

    resolution = resolve_inputs([str(folder), str(fifo)], load_settings())
    assert [Path(t.location).name for t in resolution.targets] == ["good.html"]
    assert [f.reason for f in resolution.failures] == [
        "not a regular file: a FIFO",
        "not a regular file: a FIFO",
    ]


def test_a_fifo_feed_is_a_discovery_failure(tmp_path):
    fifo = tmp_path / "feed.xml"
    os.mkfifo(fifo)
    (failure,) = discover_source(Source(name="s", feeds=[str(fifo)]))
    assert isinstance(failure, Failure) and "not a regular file: a FIFO" in failure.reason
    resolution = resolve_inputs([str(fifo)], Settings(home=tmp_path))
    assert [f.reason for f in resolution.failures] == ["not a regular file: a FIFO"]


# ---------------------------------------------------------------------------- permissions


def _locked_tree(base: Path) -> tuple[Path, Path, Path]:
    """base/tree/{ok.html, locked/hidden.html (folder mode 000)}."""
    tree = base / "tree"
    locked = tree / "locked"
    locked.mkdir(parents=True)
    (tree / "ok.html").write_text(page_html("A readable page"))
    (locked / "hidden.html").write_text(page_html("A hidden page"))
    for path in (tree, tree / "ok.html", locked / "hidden.html"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    locked.chmod(0o000)
    return tree, locked, locked / "hidden.html"


RESOLVE_SNIPPET = """
import json, sys
from ingest.config import Settings
from ingest.inputs import resolve_inputs
resolution = resolve_inputs(sys.argv[2:], Settings(home=sys.argv[1]))
print(json.dumps({
    "targets": [t.location for t in resolution.targets],
    "failures": [[f.url, f.reason] for f in resolution.failures],
}))
"""


def test_unreadable_folders_and_paths_are_failure_rows_and_the_run_goes_on(shared_dir):
    tree, locked, hidden = _locked_tree(shared_dir)
    other = shared_dir / "other.html"
    other.write_text(page_html("Another page"))
    other.chmod(0o644)
    snippet = [sys.executable, "-c", RESOLVE_SNIPPET, str(shared_dir / "h")]
    resolved = subprocess.run(
        [*as_nobody(), *snippet, str(tree), str(hidden), str(other)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert resolved.returncode == 0, resolved.stderr[-2000:]
    found = json.loads(resolved.stdout)
    assert found["targets"] == [str(tree / "ok.html"), str(other)]
    assert found["failures"] == [
        [locked.as_uri(), "unreadable folder: permission denied"],
        [hidden.as_uri(), "cannot read: permission denied"],
    ]

    env = {"INGEST_HOME": str(shared_dir / "home"), "HOME": str(shared_dir)}
    reprocessed = cli("reprocess", str(tree), str(hidden), env=env, unprivileged=True)
    assert_no_traceback(reprocessed)
    assert reprocessed.returncode == 0, reprocessed.stderr[-2000:]
    rows = stored_rows(shared_dir / "home" / "ingest.db")
    assert rows[locked.as_uri()] == ("failed", "unreadable folder: permission denied")
    assert rows[hidden.as_uri()] == ("failed", "cannot read: permission denied")
    assert rows[(tree / "ok.html").as_uri()][0] == "ok"

    extracted = cli("extract", str(hidden), env=env, unprivileged=True)
    assert_no_traceback(extracted)
    assert extracted.returncode == 1
    assert json.loads(extracted.stdout)["error"] == "unreadable: cannot read: permission denied"


# ---------------------------------------------------------------------------- sitemap cycles


def _index(*children: str) -> str:
    entries = "".join(f"<sitemap><loc>{child}</loc></sitemap>" for child in children)
    return f'<?xml version="1.0"?><sitemapindex xmlns="{SITEMAP_NS}">{entries}</sitemapindex>'


def _urlset(*pages: str) -> str:
    entries = "".join(f"<url><loc>{page}</loc></url>" for page in pages)
    return f'<?xml version="1.0"?><urlset xmlns="{SITEMAP_NS}">{entries}</urlset>'


def test_local_sitemap_indexes_that_reference_each_other(home, tmp_path):
    (tmp_path / "a.html").write_text(page_html("Page a"))
    (tmp_path / "b.html").write_text(page_html("Page b"))
    (tmp_path / "index-a.xml").write_text(_index("index-b.xml", "pages.xml"))
    (tmp_path / "index-b.xml").write_text(_index("index-a.xml"))
    (tmp_path / "pages.xml").write_text(_urlset("a.html"))
    resolution = resolve_inputs(
        [str(tmp_path / "index-a.xml"), str(tmp_path / "b.html")], load_settings()
    )
    assert sorted(Path(t.location).name for t in resolution.targets) == ["a.html", "b.html"]
    a, b = ((tmp_path / name).resolve().as_uri() for name in ("index-a.xml", "index-b.xml"))
    assert [(f.stage, f.reason) for f in resolution.failures] == [
        ("discover", f"sitemap index cycle: {a} -> {b} -> {a}")
    ]

    found = list(discover_source(Source(name="s", sitemaps=[str(tmp_path / "index-a.xml")])))
    assert [i for i in found if isinstance(i, str)] == [(tmp_path / "a.html").resolve().as_uri()]
    cycles = [i.reason for i in found if isinstance(i, Failure)]
    assert cycles == [f"sitemap index cycle: {a} -> {b} -> {a}"]


def test_a_sitemap_index_pointing_at_itself_and_a_deep_chain(home, tmp_path):
    (tmp_path / "self.xml").write_text(_index("self.xml"))
    depth = MAX_SITEMAP_DEPTH + 3
    for level in range(depth):
        (tmp_path / f"level-{level}.xml").write_text(_index(f"level-{level + 1}.xml"))
    (tmp_path / f"level-{depth}.xml").write_text(_urlset("deep.html"))
    resolution = resolve_inputs(
        [str(tmp_path / "self.xml"), str(tmp_path / "level-0.xml")], load_settings()
    )
    me = (tmp_path / "self.xml").resolve().as_uri()
    assert [f.reason for f in resolution.failures] == [
        f"sitemap index cycle: {me} -> {me}",
        f"sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH} levels",
    ]
    assert resolution.targets == []


class _CyclicSite:
    """A loopback site whose two sitemap indexes reference each other, plus one page."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                base = f"http://127.0.0.1:{outer.port}"
                documents = {
                    "/robots.txt": ("User-agent: *\n", "text/plain"),
                    "/sitemap-a.xml": (_index(f"{base}/sitemap-b.xml"), "application/xml"),
                    "/sitemap-b.xml": (
                        _index(f"{base}/sitemap-a.xml", f"{base}/sitemap-pages.xml"),
                        "application/xml",
                    ),
                    "/sitemap-pages.xml": (_urlset(f"{base}/story"), "application/xml"),
                    "/story": (page_html("A remote story"), "text/html; charset=utf-8"),
                }
                body, kind = documents.get(self.path, ("missing", "text/plain"))
                data = body.encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def test_remote_sitemap_indexes_that_reference_each_other(home, tmp_path):
    site = _CyclicSite()
    try:
        settings = Settings(home=tmp_path, allow_loopback=True, per_host_delay=0.0)
        local = tmp_path / "local.html"
        local.write_text(page_html("A local page"))
        resolution = resolve_inputs([site.url("/sitemap-a.xml"), str(local)], settings)
    finally:
        site.httpd.shutdown()
        site.httpd.server_close()
    assert [t.location for t in resolution.targets] == [site.url("/story"), str(local)]
    a, b = site.url("/sitemap-a.xml"), site.url("/sitemap-b.xml")
    assert [f.reason for f in resolution.failures] == [f"sitemap index cycle: {a} -> {b} -> {a}"]


@pytest.mark.prefect
@pytest.mark.slow
def test_ingest_run_with_a_cycle_a_fifo_and_a_good_page_goes_on(home, tmp_path):
    (tmp_path / "index-a.xml").write_text(_index("index-b.xml"))
    (tmp_path / "index-b.xml").write_text(_index("index-a.xml"))
    os.mkfifo(tmp_path / "pipe.html")
    good = tmp_path / "good.html"
    good.write_text(page_html("The page that must not be lost"))
    result = cli(
        "run",
        str(tmp_path / "index-a.xml"),
        str(tmp_path / "pipe.html"),
        str(good),
        str(tmp_path / "missing.html"),
        timeout=300,
    )
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 ok" in result.stdout and "3 failed" in result.stdout, result.stdout[-3000:]
    rows = stored_rows(home / "ingest.db")
    assert rows[good.resolve().as_uri()][0] == "ok"


# ---------------------------------------------------------------------------- bounded reads


def test_an_over_long_jsonl_line_is_skipped_in_bounded_chunks(tmp_path):
    archive = tmp_path / "pages.jsonl"
    huge = json.dumps({"url": "https://robust.example/huge", "html": "x" * 2_000_000}) + "\n"
    archive.write_text(jsonl_line(1) + huge + jsonl_line(3))
    items = list(iter_archive(archive, max_body_bytes=1000))
    assert [type(i).__name__ for i in items] == ["RawPage", "Failure", "RawPage"]
    failure = items[1]
    assert isinstance(failure, Failure)
    assert failure.reason.startswith("too large: line 2 exceeds")
    third = items[2]
    assert isinstance(third, RawPage) and third.url == "https://robust.example/3"
    assert third.archive_offset == len(jsonl_line(1)) + len(huge)  # offsets stay exact
    assert read_record(str(archive), third.archive_offset).url == third.url


def _peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `ingest ARGS` and return its own peak RSS (MB, from wait4) and its stderr."""
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli.main", *args],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    assert process.returncode == 0, text[-2000:]
    assert "Traceback" not in text, text[-3000:]
    return usage.ru_maxrss // 1024, text


@pytest.mark.slow
def test_a_half_gigabyte_jsonl_line_keeps_memory_flat(tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text(jsonl_line(1) + jsonl_line(3))
    big = tmp_path / "big.jsonl"
    with big.open("wb") as handle:  # sparse: 512 MiB of NUL bytes cost no disk
        handle.write(jsonl_line(1).encode())
        handle.write(b'{"url": "https://robust.example/huge", "html": "')
        handle.seek(512 << 20, os.SEEK_CUR)
        handle.write(b'"}\n')
        handle.write(jsonl_line(3).encode())
    baseline, _ = _peak_rss_mb(["reprocess", str(small)], {"INGEST_HOME": str(tmp_path / "a")})
    peak, stderr = _peak_rss_mb(["reprocess", str(big)], {"INGEST_HOME": str(tmp_path / "b")})
    assert peak < 2 * baseline + 100, (baseline, peak)
    assert "1 failed, 2 ok" in stderr
    rows = stored_rows(tmp_path / "b" / "ingest.db")
    (failed,) = [reason for status, reason in rows.values() if status == "failed"]
    assert failed is not None and failed.startswith("too large: line 2 exceeds")


# ---------------------------------------------------------------------------- concurrent runs


def _big_archive(path: Path, records: int) -> Path:
    path.write_text("".join(jsonl_line(i) for i in range(records)))
    return path


def _checkpoint_moved(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT max(records_done) FROM checkpoints").fetchone()
    except sqlite3.OperationalError:
        return False  # schema not created yet
    return bool(row and row[0])


@pytest.mark.slow
def test_a_second_concurrent_reprocess_is_refused_not_resumed(home, tmp_path):
    archive = _big_archive(tmp_path / "many.jsonl", 1500)
    database = home / "ingest.db"
    first = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli.main", "reprocess", str(archive), "--batch-size", "4"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _checkpoint_moved(database) and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            time.sleep(0.05)
        second = cli("reprocess", str(archive), "--batch-size", "4")
        assert first.poll() is None, "the first run ended too soon for this test"
        _, first_err = first.communicate(timeout=600)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, first_err[-2000:]
    assert "resumed" not in second.stderr
    line = assert_one_error_line(second, f"archive {archive.resolve()} is being reprocessed by run")
    (finished,) = Store(f"sqlite:///{database}").list_runs()  # the refused one never started
    assert finished["state"] == "finished" and finished["stats"]["records"] == 1500
    assert f"by run {finished['id']} (pid {first.pid} on host {finished['host']})" in line


def test_the_claim_itself_refuses_an_archive_a_live_run_owns(home, tmp_path):
    """The atomic check in the store, for a run that got past the CLI's early check."""
    archive = _big_archive(tmp_path / "pages.jsonl", 6)
    settings = load_settings()
    store = Store(settings.resolved_store_url())
    owner = store.start_run("reprocess", [str(archive)])  # this process: alive, this host
    key = str(archive.resolve())
    store.set_checkpoint(key, identity=archive_identity(archive), records_done=2, run_id=owner)
    with pytest.raises(ArchiveBusyError, match=f"by run {owner} \\(pid {os.getpid()} on host"):
        reprocess([archive], settings, store=store)
    states = {run["id"]: run["state"] for run in store.list_runs()}
    assert states.pop(owner) == "running"
    assert list(states.values()) == ["refused"]
    checkpoint = store.get_checkpoint(key)
    assert checkpoint is not None and checkpoint.run_id == owner and checkpoint.records_done == 2
    assert store.count_documents() == 0


def test_the_checkpoint_of_a_dead_run_is_resumed_and_named(home, tmp_path):
    archive = _big_archive(tmp_path / "pages.jsonl", 12)
    settings = load_settings()
    store = Store(settings.resolved_store_url())
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    run_id = store.start_run("reprocess", [str(archive)])
    with store.engine.begin() as conn:  # make it the run of a process that is gone
        conn.execute(update(runs).where(runs.c.id == run_id).values(pid=int(gone.stdout)))
    key = str(archive.resolve())
    store.set_checkpoint(key, identity=archive_identity(archive), records_done=8, run_id=run_id)

    report = reprocess([archive], settings)
    assert report.stats.resumed_from == 8 and report.stats.records == 4
    assert report.stats.resumed_runs == {run_id: "interrupted"}
    checkpoint = store.get_checkpoint(key)
    assert checkpoint is not None and checkpoint.completed
    assert checkpoint.run_id == report.run_id  # the checkpoint now belongs to the new run


def test_other_local_readers_refuse_a_fifo_with_one_line(home, tmp_path):
    """`ingest detect -f`, `ingest models install` and sources files never block on a FIFO."""
    for name in ("text.txt", "demo.argosmodel", "sources.toml"):
        os.mkfifo(tmp_path / name)
    detected = cli("detect", "-f", str(tmp_path / "text.txt"), timeout=60)
    assert_one_error_line(detected, f"{tmp_path / 'text.txt'}: not a regular file: a FIFO")
    installed = cli("models", "install", str(tmp_path / "demo.argosmodel"), timeout=60)
    assert_no_traceback(installed)
    assert installed.returncode == 1  # documented: 1 when a package could not be installed
    assert "not a regular file: a FIFO" in installed.stderr
    with pytest.raises(SourcesFileError, match="cannot read: not a regular file: a FIFO"):
        load_sources(tmp_path / "sources.toml")
    not_utf8 = tmp_path / "latin1.txt"
    not_utf8.write_bytes("caf\xe9\n".encode("latin-1"))
    assert_one_error_line(cli("detect", "-f", str(not_utf8), timeout=60), "not UTF-8 text")
