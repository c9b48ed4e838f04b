"""Inputs: folders, files, feeds and bad paths become targets; files become RawPages."""

from __future__ import annotations

import gzip
from pathlib import Path

from conftest import SAMPLES

from ingest.config import load_settings
from ingest.inputs import file_uri, load_targets, read_file, resolve_inputs
from ingest.models import Failure, RawPage

SAMPLE_PAGES = sorted(p.name for p in SAMPLES.glob("*.html"))


def test_folder_expands_to_its_pages_not_its_feed(home):
    resolution = resolve_inputs([str(SAMPLES)], load_settings())
    assert sorted(Path(t.location).name for t in resolution.targets) == SAMPLE_PAGES
    assert all(t.kind == "file" for t in resolution.targets)
    assert not resolution.failures


def test_local_feed_resolves_relative_links_to_the_same_files(home):
    resolution = resolve_inputs([str(SAMPLES / "feed.xml")], load_settings())
    assert sorted(Path(t.location).name for t in resolution.targets) == SAMPLE_PAGES
    both = resolve_inputs([str(SAMPLES), str(SAMPLES / "feed.xml")], load_settings())
    assert len(both.targets) == len(SAMPLE_PAGES)  # de-duplicated by identity


def test_missing_path_is_a_failure_not_an_exception(home):
    resolution = resolve_inputs(["/no/such/place.html"], load_settings())
    assert resolution.targets == []
    assert resolution.failures[0].reason == "no such file, folder or URL"


def test_read_file_gives_file_uri_identity_and_bytes(tmp_path):
    page = tmp_path / "a.html"
    page.write_bytes(b"<html><body><p>hi</p></body></html>")
    raw = read_file(page, "src")
    assert isinstance(raw, RawPage)
    assert raw.url == file_uri(page) and raw.url.startswith("file:///")
    assert raw.body.startswith(b"<html>")


def test_read_file_handles_gzip_and_reports_bad_gzip(tmp_path):
    good = tmp_path / "b.html.gz"
    good.write_bytes(gzip.compress(b"<html>ok</html>"))
    assert read_file(good, "s").body == b"<html>ok</html>"
    bad = tmp_path / "c.html.gz"
    bad.write_bytes(b"\x1f\x8b\x08 not really gzip")
    result = read_file(bad, "s")
    assert isinstance(result, Failure) and result.stage == "read"
    assert result.reason.startswith("unreadable file")


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = tmp_path / "bomb.html.gz"
    with gzip.open(bomb, "wb") as handle:
        for _ in range(64):
            handle.write(b" " * 1_000_000)  # 64 MB of spaces, ~64 KB on disk
    result = read_file(bomb, "s", max_bytes=5_000_000)
    assert isinstance(result, Failure) and "too large" in result.reason


def test_local_sitemap_index_is_followed_to_its_pages(home, tmp_path):
    (tmp_path / "a.html").write_text("<html><body><p>a</p></body></html>")
    (tmp_path / "child.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>a.html</loc></url></urlset>"
    )
    (tmp_path / "index.xml").write_text(
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>child.xml</loc></sitemap></sitemapindex>"
    )
    resolution = resolve_inputs([str(tmp_path / "index.xml")], load_settings())
    assert [(t.kind, Path(t.location).name) for t in resolution.targets] == [("file", "a.html")]
    assert resolution.failures == []


def test_unreadable_file_is_a_failure(tmp_path):
    locked = tmp_path / "d.html"
    locked.mkdir()  # a directory where a file is expected cannot be read as one
    result = read_file(locked, "s")
    assert isinstance(result, Failure) and result.stage == "read"


def test_load_targets_reads_files_in_order(home):
    resolution = resolve_inputs([str(SAMPLES)], load_settings())
    pages = load_targets(resolution.targets, load_settings())
    assert [Path(p.url).name for p in pages] == SAMPLE_PAGES
    assert all(isinstance(p, RawPage) and p.body for p in pages)


def test_feed_and_pages_over_http_are_fetched_archived_and_processed(home, monkeypatch):
    """A real HTTP server on 127.0.0.1 serves samples/: feed URL → pages → WARC → store."""
    import functools
    import http.server
    import threading

    from ingest.pipeline import Pipeline
    from ingest.read import read_record

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLES))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("INGEST_ALLOW_LOOPBACK", "true")
        monkeypatch.setenv("INGEST_PER_HOST_DELAY", "0")
        settings = load_settings()
        base = f"http://127.0.0.1:{server.server_port}"
        resolution = resolve_inputs([f"{base}/feed.xml"], settings)
        assert sorted(t.location for t in resolution.targets) == sorted(
            f"{base}/{name}" for name in SAMPLE_PAGES
        )
        pages = load_targets(resolution.targets, settings)
        assert all(isinstance(p, RawPage) for p in pages), pages
        for page in pages:
            assert page.http_status == 200 and page.archive_path
            assert read_record(page.archive_path, page.archive_offset).body == page.body
        outcomes = Pipeline(settings).process(pages)
        assert {o.status for o in outcomes} <= {"ok", "untranslated"}
        korean_url = f"{base}/korean-article.html"
        korean_page = next(p for p in pages if p.url == korean_url)
        stored = Pipeline(settings).store.get_document(korean_url)
        assert stored["language"] == "ko" and stored["http_status"] == 200
        assert (stored["archive_path"], stored["archive_offset"]) == (
            korean_page.archive_path,
            korean_page.archive_offset,
        )
    finally:
        server.shutdown()
