"""One streamed reader (`ingest.read`) for `ingest run` and `ingest reprocess` (issue 13).

An archive handed to `ingest run` is read record by record into batches of `batch_size`
documents, like `ingest reprocess`: a real WARC of a few thousand documents goes through the
real CLI in a subprocess, and its peak memory is compared with that of an archive 4× smaller.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ingest.archive import WarcArchive
from ingest.config import load_settings
from ingest.inputs import Target, iter_batches, resolve_inputs
from ingest.models import Failure, RawPage
from ingest.read import iter_positioned, read

ROOT = Path(__file__).resolve().parent.parent
PADDING = 100_000  # bytes of markup per page, so holding a whole archive would show in memory
EXTRACT_CAP = 50_000  # padded pages are over it: the pipeline records them without extracting


def page(number: int, padding: int = 0) -> RawPage:
    """A small English article (unique by its number), optionally padded with a comment."""
    html = (
        f"<html><head><title>Story {number}</title></head><body><article><p>Story number "
        f"{number} is a plain English paragraph, long enough for the extractor to keep it as "
        f"the main text of the page.</p></article><!-- {'x' * padding} --></body></html>"
    )
    return RawPage(
        url=f"https://stream.example/story/{number}",
        source="synthetic",
        body=html.encode(),
        http_status=200,
        headers={"content-type": "text/html; charset=utf-8"},
    )


def write_warc(folder: Path, count: int, padding: int = 0) -> Path:
    """A WARC of ``count`` pages; with ``padding``, all but every 10th page are padded."""
    with WarcArchive(folder, fsync=False) as archive:
        for number in range(count):
            archive.write_page(page(number, padding if number % 10 else 0))
    (path,) = archive.files
    return path


def test_read_streams_files_folders_jsonl_and_warc_in_order(tmp_path):
    folder = tmp_path / "in"
    warc = write_warc(folder / "b-warc", 3)
    (folder / "a.html").write_text("<html><body><p>a local page</p></body></html>")
    lines = [json.dumps({"url": f"https://j.example/{n}", "html": "<p>x</p>"}) for n in (1, 2)]
    (folder / "c.jsonl").write_text("\n".join(lines) + "\n{not json\n")
    items = list(read([folder]))  # a folder's own files (sorted) first, then its subfolders
    urls = [item.url for item in items]
    assert urls[0] == (folder / "a.html").resolve().as_uri()
    assert urls[1:3] == ["https://j.example/1", "https://j.example/2"]
    assert isinstance(items[3], Failure) and items[3].reason.startswith("bad JSON on line 3")
    assert urls[4:] == [f"https://stream.example/story/{n}" for n in range(3)]
    assert all(item.archive_path == str(warc) for item in items[4:])
    positions = [p.position for p in iter_positioned(folder)]
    assert positions == sorted(positions)  # progress and checkpoints only move forward


def test_run_batches_an_archive_by_documents_not_by_target(tmp_path):
    warc = write_warc(tmp_path / "in", 10)
    settings = load_settings(home=tmp_path / "home")
    resolution = resolve_inputs([str(warc), "https://remote.example/page"], settings)
    assert [t.kind for t in resolution.targets] == ["archive", "url"]
    batches = list(iter_batches(resolution.targets, settings, 4))
    assert [len(b) for b in batches] == [4, 4, 3]
    assert [len(b.read) for b in batches] == [4, 4, 2]
    assert [t.location for t in batches[-1].to_fetch] == ["https://remote.example/page"]
    assert [p.url for b in batches for p in b.read] == [
        f"https://stream.example/story/{n}" for n in range(10)
    ]


def test_a_local_archive_named_by_a_remote_feed_is_refused_not_read(tmp_path):
    warc = write_warc(tmp_path / "in", 2)
    target = Target("archive", str(warc), "feed", origin="https://remote.example/feed.xml")
    settings = load_settings(home=tmp_path / "home")
    (batch,) = iter_batches([target], settings, 10)
    (refusal,) = batch.read
    assert isinstance(refusal, Failure) and refusal.reason.startswith("refused")


def test_an_archive_removed_after_resolving_is_a_failure_row_and_the_run_goes_on(tmp_path):
    gone = write_warc(tmp_path / "gone", 2)
    kept = write_warc(tmp_path / "kept", 3)
    settings = load_settings(home=tmp_path / "home")
    resolution = resolve_inputs([str(gone), str(kept)], settings)
    gone.unlink()  # between resolving the inputs and reading them
    (batch,) = iter_batches(resolution.targets, settings, 10)
    failure, *pages = batch.read
    assert isinstance(failure, Failure) and failure.stage == "read"
    assert failure.reason == "unreadable: no such file or folder"
    assert failure.url == gone.resolve().as_uri()
    assert [p.url for p in pages] == [f"https://stream.example/story/{n}" for n in range(3)]


def _run_ingest(archive: Path, home: Path) -> tuple[int, str]:
    """`ingest run -v ARCHIVE` in a subprocess: its peak RSS (MB, from wait4) and its stderr."""
    env = {
        **os.environ,
        "INGEST_HOME": str(home),
        "INGEST_BATCH_SIZE": "100",
        "INGEST_EXTRACT_MAX_BYTES": str(EXTRACT_CAP),
        "PREFECT_LOGGING_LEVEL": "INFO",  # the flow's "processed N/? document(s)" lines
    }
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli.main", "run", "-v", str(archive)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(process.pid, 0)
        err.seek(0)
        text = err.read().decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    return usage.ru_maxrss // 1024, text


def _stored(home: Path) -> int:
    with sqlite3.connect(home / "ingest.db") as db:
        return db.execute("SELECT count(*) FROM documents").fetchone()[0]


@pytest.mark.slow
@pytest.mark.prefect
def test_ingest_run_streams_a_big_warc_in_batches_with_flat_memory(tmp_path):
    """Most pages are over the extraction cap, so the pipeline records them quickly ("too
    large"): the run's time goes to reading, which is what is measured. Read into one list,
    the large archive's pages alone would add ~135 MB to the peak."""
    small = write_warc(tmp_path / "small", 500, PADDING)
    large = write_warc(tmp_path / "large", 2000, PADDING)
    small_peak, _ = _run_ingest(small, tmp_path / "a")
    large_peak, stderr = _run_ingest(large, tmp_path / "b")
    assert _stored(tmp_path / "a") == 500
    assert _stored(tmp_path / "b") == 2000
    done = [int(n) for n in re.findall(r"processed (\d+)/\S+ document", stderr)]
    assert done == list(range(100, 2001, 100))  # twenty batches of 100, not one of 2000
    added_mb = (2000 - 500) * 0.9 * PADDING / 1e6
    assert large_peak - small_peak < added_mb / 4, (small_peak, large_peak)
    assert large_peak / small_peak < 1.2, (small_peak, large_peak)  # archive ratio: 4
