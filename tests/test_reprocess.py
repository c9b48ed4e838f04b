"""Reprocessing archives: unchanged skip, --force, translation memory, input kinds, corrupt
records, resume after an error and after kill -9, two concurrent runs on one store."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.archive import WarcArchive
from ingest.config import load_settings
from ingest.models import RawPage
from ingest.reprocess import local_processor, reprocess
from ingest.store import Store

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.html"))


def page_body(i: int) -> bytes:
    """Sample page number i % 4, made unique by a reference in its first paragraph."""
    html = SAMPLES[i % len(SAMPLES)].read_text(encoding="utf-8")
    return html.replace("</p>", f" Ref {i}.</p>", 1).encode("utf-8")


def write_warc(folder: Path, numbers: range) -> Path:
    with WarcArchive(folder, fsync=False) as archive:
        for i in numbers:
            archive.write_page(
                RawPage(
                    url=f"https://news.example/story/{i}",
                    source="synthetic",
                    body=page_body(i),
                    http_status=200,
                    headers={"content-type": "text/html; charset=utf-8"},
                )
            )
    assert len(archive.files) == 1
    return archive.files[0]


def stored_counts(url: str) -> dict[str, int]:
    """Documents, URLs seen twice, documents whose paragraph rows disagree with their count."""
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {
            "documents": conn.execute(text("SELECT count(*) FROM documents")).scalar_one(),
            "duplicate_urls": conn.execute(
                text(
                    "SELECT count(*) FROM "
                    "(SELECT url FROM documents GROUP BY url HAVING count(*) > 1) d"
                )
            ).scalar_one(),
            "misaligned": conn.execute(
                text(
                    "SELECT count(*) FROM documents d WHERE d.paragraph_count != "
                    "(SELECT count(*) FROM paragraphs p WHERE p.document_id = d.id)"
                )
            ).scalar_one(),
        }
    engine.dispose()
    return counts


def test_second_pass_skips_unchanged_and_force_redoes_everything(home):
    warc = write_warc(home / "in", range(12))
    settings = load_settings()
    first = reprocess([warc], settings, batch_size=5)
    assert first.stats.records == 12
    assert first.stats.statuses["unchanged"] == 0
    assert first.stats.statuses["failed"] == 0
    assert first.stats.statuses["ok"] >= 3  # the English sample at least (no packages here)
    store = Store(settings.resolved_store_url())
    assert store.count_documents() == 12

    second = reprocess([warc], settings, batch_size=5)
    assert dict(second.stats.statuses) == {"unchanged": 12}
    assert second.stats.resumed_from == 0  # the first pass finished: a new pass, not a resume

    forced = reprocess([warc], settings, batch_size=5, force=True)
    assert forced.stats.records == 12 and forced.stats.statuses["unchanged"] == 0
    assert store.count_documents() == 12

    runs = store.list_runs()
    assert [r["state"] for r in runs] == ["finished"] * 3
    by_id = {r["id"]: r for r in runs}
    assert by_id[second.run_id]["stats"]["statuses"] == {"unchanged": 12}
    assert by_id[forced.run_id]["force"] is True
    assert by_id[first.run_id]["records"] == 12


def test_translation_memory_makes_unchanged_sentences_free(demo_home):
    german = (ROOT / "samples" / "german-article.html").read_bytes()
    with WarcArchive(demo_home / "in", fsync=False) as archive:
        archive.write_page(
            RawPage(
                url="https://news.example/de",
                source="t",
                body=german,
                http_status=200,
                headers={"content-type": "text/html; charset=utf-8"},
            )
        )
    settings = load_settings()
    first = reprocess(archive.files, settings)
    assert first.stats.statuses["ok"] == 1
    assert first.stats.model_sentences > 0
    english = Store(settings.resolved_store_url()).get_document("https://news.example/de")
    again = reprocess(archive.files, settings, force=True)
    assert again.stats.statuses["ok"] == 1
    assert again.stats.model_sentences == 0
    assert again.stats.memory_hits >= first.stats.model_sentences
    redone = Store(settings.resolved_store_url()).get_document("https://news.example/de")
    assert [p["english"] for p in redone["paragraphs"]] == [
        p["english"] for p in english["paragraphs"]
    ]


def _common_crawl_style_warc(path: Path, pages: dict[str, bytes]) -> None:
    """WARC/1.0, one gzip member per record, request + response + metadata per page."""
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.0")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "crawler"}))
        for url, body in pages.items():
            request = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                http_headers=StatusAndHeaders(
                    "GET / HTTP/1.1", [("Host", "cc.example")], is_http_request=True
                ),
            )
            writer.write_record(request)
            response = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=StatusAndHeaders(
                    "200 OK",
                    [
                        ("Content-Type", "text/html; charset=UTF-8"),
                        ("Content-Length", str(len(body))),
                    ],
                    protocol="HTTP/1.1",
                ),
            )
            writer.write_record(response)
            metadata = writer.create_warc_record(
                url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 12\r\n")
            )
            writer.write_record(metadata)


def test_reads_html_folders_jsonl_and_external_warc(home):
    folder = home / "in"
    (folder / "pages").mkdir(parents=True)
    (folder / "pages" / "a.html").write_bytes(page_body(0))
    (folder / "pages" / "b.html.gz").write_bytes(gzip.compress(page_body(1)))
    (folder / "pages" / "notes.txt").write_text("not a page")
    lines = [{"url": f"https://jsonl.example/{i}", "html": page_body(i).decode()} for i in (2, 3)]
    (folder / "items.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    _common_crawl_style_warc(
        folder / "cc.warc.gz", {f"https://cc.example/{i}": page_body(i) for i in (4, 5, 6)}
    )
    settings = load_settings()
    report = reprocess([folder], settings)
    assert report.stats.records == 7
    assert report.stats.statuses["failed"] == 0
    store = Store(settings.resolved_store_url())
    urls = {d["url"] for d in store.iter_documents()}
    assert urls == {
        (folder / "pages" / "a.html").resolve().as_uri(),
        (folder / "pages" / "b.html.gz").resolve().as_uri(),
        "https://jsonl.example/2",
        "https://jsonl.example/3",
        "https://cc.example/4",
        "https://cc.example/5",
        "https://cc.example/6",
    }
    assert report.stats.bytes_done == report.stats.bytes_total > 0


def test_corrupt_records_are_recorded_and_skipped(home):
    warc = write_warc(home / "good", range(6))
    data = warc.read_bytes()
    members = _member_offsets(data)  # [warcinfo, record 0, …, record 5]
    assert len(members) == 7
    cut = members[3]  # record 2
    truncated = data[cut : members[4]][:-40]  # its gzip member without the end
    bad_header = gzip.compress(b"WARX/1.1\r\nWARC-Type: response\r\nContent-Length: 2\r\n\r\nhi")
    broken = home / "in" / "broken.warc.gz"
    broken.parent.mkdir()
    broken.write_bytes(data[:cut] + truncated + bad_header + data[members[4] :])

    settings = load_settings()
    report = reprocess([broken], settings)
    assert report.stats.statuses["failed"] == 2
    assert report.stats.records == 5 + 2  # the 5 intact pages and the 2 corrupt records
    store = Store(settings.resolved_store_url())
    failed = list(store.iter_documents(status="failed"))
    assert len(failed) == 2
    assert {f["failed_stage"] for f in failed} == {"read"}
    assert any("truncated" in f["reason"] or "gzip" in f["reason"] for f in failed)
    ok_urls = {d["url"] for d in store.iter_documents() if d["status"] != "failed"}
    assert ok_urls == {f"https://news.example/story/{i}" for i in (0, 1, 3, 4, 5)}


def _member_offsets(data: bytes) -> list[int]:
    import zlib

    offsets, position = [], 0
    while position < len(data):
        offsets.append(position)
        decompressor = zlib.decompressobj(31)
        decompressor.decompress(data[position:])
        position = len(data) - len(decompressor.unused_data)
    return offsets


def test_a_failed_run_resumes_from_its_checkpoint(home):
    warc = write_warc(home / "in", range(20))
    settings = load_settings()
    inner = local_processor(settings, force=False)
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("worker lost")
        return inner(batch)

    with pytest.raises(RuntimeError):
        reprocess([warc], settings, batch_size=4, processor=flaky)
    store = Store(settings.resolved_store_url())
    assert store.count_documents() == 12
    assert store.list_runs()[0]["state"] == "failed"

    report = reprocess([warc], settings, batch_size=4)
    assert report.stats.resumed_from == 12
    assert report.stats.records == 8
    assert report.stats.statuses["unchanged"] == 0
    assert stored_counts(settings.resolved_store_url()) == {
        "documents": 20,
        "duplicate_urls": 0,
        "misaligned": 0,
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ingest.cli.main", *args]


def test_kill_9_in_the_middle_then_rerun_loses_and_duplicates_nothing(home):
    total = 120
    warc = write_warc(home / "in", range(total))
    database = home / "ingest.db"
    process = subprocess.Popen(
        _cli("reprocess", str(warc), "--batch-size", "8"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    stored = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if database.exists():
                try:
                    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
                        stored = db.execute("SELECT count(*) FROM documents").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0  # schema not created yet
            if stored >= 24:
                break
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(database) as db:
        stored = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert 0 < stored < total

    rerun = subprocess.run(
        _cli("reprocess", str(warc), "--batch-size", "8"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resumed:" in rerun.stderr

    url = f"sqlite:///{database}"
    assert stored_counts(url) == {"documents": total, "duplicate_urls": 0, "misaligned": 0}
    store = Store(url)
    urls = {d["url"] for d in store.iter_documents()}
    assert urls == {f"https://news.example/story/{i}" for i in range(total)}
    with sqlite3.connect(database) as db:
        (fts_rows,) = db.execute("SELECT count(*) FROM document_fts").fetchone()
        (fts_distinct,) = db.execute("SELECT count(DISTINCT rowid) FROM document_fts").fetchone()
    assert fts_rows == fts_distinct  # no search entry was written twice
    killed, finished = sorted(store.list_runs(), key=lambda r: r["started_at"])
    assert killed["state"] == "interrupted"  # found dead by the next run
    assert finished["state"] == "finished"
    stats = finished["stats"]
    assert stats["resumed_from"] > 0
    assert stats["resumed_from"] + stats["records"] == total


def test_two_concurrent_runs_on_one_store_stay_consistent(store_url, home):
    first = write_warc(home / "a", range(0, 24))
    second = write_warc(home / "b", range(12, 36))  # half of it overlaps the first
    env = {**os.environ, "INGEST_STORE_URL": store_url}
    runs = [
        subprocess.Popen(
            _cli("reprocess", str(path), "--batch-size", "4"),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (first, second)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
    assert stored_counts(store_url) == {"documents": 36, "duplicate_urls": 0, "misaligned": 0}
    store = Store(store_url)
    assert store.count_documents(status="failed") == 0
    assert [r["state"] for r in store.list_runs()] == ["finished", "finished"]
    # every stored document can be found by its text
    hits = store.search("Blinken", limit=100)
    assert len({h.url for h in hits}) == len(hits) > 0


@pytest.mark.prefect
@pytest.mark.slow
def test_the_flow_on_a_local_dask_cluster_with_postgres(postgres_url, home, tmp_path):
    """`ingest reprocess --dask local`: the Prefect flow, process-batch tasks on Dask worker
    processes, PostgreSQL as the shared store, a real Prefect server (as on several machines).
    The store URL's password (ignored by the test cluster's trust auth) never reaches Prefect."""
    import httpx

    from flows.deployments import start_server

    warc = write_warc(home / "in", range(10))
    server = start_server(tmp_path / "prefect-home")
    secret_url = postgres_url.replace("://postgres@", "://postgres:DaskSecret7@")
    assert "DaskSecret7" in secret_url
    try:
        env = server.env(INGEST_HOME=str(home), ARGOS_PACKAGES_DIR=str(tmp_path / "argos"))
        command = ["reprocess", str(warc), "--store", secret_url, "--batch-size", "3"]
        done = subprocess.run(
            _cli(*command, "--dask", "local", "--workers", "2"),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "10 record(s)" in done.stderr
        assert "INFO" not in done.stderr  # Dask's worker chatter is silenced
        assert "postgres:***@" in done.stderr and "DaskSecret7" not in done.stderr + done.stdout
        flow_runs = httpx.post(f"{server.api_url}/flow_runs/filter", json={}, timeout=30)
        parameters = [run["parameters"] for run in flow_runs.raise_for_status().json()]
        assert len(parameters) == 2  # the flow and its Dask subflow
        assert "DaskSecret7" not in json.dumps(parameters)
        assert all("postgres:***@" in run["params"]["store_url"] for run in parameters)
    finally:
        server.stop()
    assert stored_counts(postgres_url) == {"documents": 10, "duplicate_urls": 0, "misaligned": 0}
    store = Store(postgres_url)
    (run,) = store.list_runs()
    assert run["state"] == "finished" and run["stats"]["records"] == 10
    checkpoint = store.get_checkpoint(str(warc.resolve()))
    assert checkpoint is not None and checkpoint.completed and checkpoint.records_done == 10
