"""Feeds and sitemaps -> URLs, on real documents, the bundled sample feed and a local server."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.config import Settings
from ingest.discover import (
    discover_feed,
    discover_sitemap,
    discover_source,
    feed_links_in_html,
    looks_like_feed,
    looks_like_sitemap,
)
from ingest.fetch import Fetcher
from ingest.models import Failure
from ingest.security import link_refusal
from ingest.sources_file import Source

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<!-- a comment before the root -->
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>News</title><link>https://news.example/</link>
  <atom:link href="https://news.example/feed.xml" rel="self"/>
  <item><title>One</title><link>https://news.example/a/1?x=1&amp;y=2</link></item>
  <item><title>Two</title><link>  /a/2  </link></item>
  <item><title>Three</title><guid>https://news.example/a/3</guid></item>
  <item><title>Not a link</title><guid isPermaLink="false">tag:news.example,3</guid></item>
  <item><title>Dup</title><link>https://news.example/a/1?x=1&amp;y=2</link></item>
  <item><title>Script</title><link>javascript:alert(1)</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example/posts/">
  <title>Blog</title>
  <link href="https://blog.example/" rel="alternate"/>
  <entry>
    <title>First</title>
    <link rel="enclosure" href="https://cdn.example/audio.mp3"/>
    <link rel="alternate" type="text/html" href="first.html"/>
  </entry>
  <entry><title>Second</title><link href="https://blog.example/second"/></entry>
  <entry xml:base="https://other.example/dir/"><title>Third</title><link href="third"/></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://rdf.example/"><title>RDF</title></channel>
  <item rdf:about="https://rdf.example/1"><title>1</title><link>https://rdf.example/1</link></item>
  <item rdf:about="https://rdf.example/2"><title>2</title></item>
</rdf:RDF>"""

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://site.example/p/1</loc><news:news><news:title>x</news:title></news:news></url>
  <url><loc> https://site.example/p/2 </loc><lastmod>2024-01-01</lastmod></url>
  <url><loc>https://site.example/p/1</loc></url>
</urlset>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://site.example/sitemap-1.xml.gz</loc></sitemap>
  <sitemap><loc>/sitemap-2.xml</loc></sitemap>
</sitemapindex>"""


# ---------------------------------------------------------------------------- feeds


def test_rss2_links_guid_relative_and_duplicates():
    urls = discover_feed(RSS2, "https://news.example/feed.xml")
    assert urls == [
        "https://news.example/a/1?x=1&y=2",
        "https://news.example/a/2",
        "https://news.example/a/3",
        "javascript:alert(1)",  # kept, so the caller reports it instead of losing it
    ]
    refusals = [link_refusal(url, "https://news.example/feed.xml") for url in urls]
    assert refusals[:3] == [None, None, None] and refusals[3].startswith("refused: ")


def test_atom_prefers_alternate_and_honours_xml_base():
    assert discover_feed(ATOM, "https://ignored.example/feed") == [
        "https://blog.example/posts/first.html",
        "https://blog.example/second",
        "https://other.example/dir/third",
    ]


def test_rss1_rdf_uses_link_or_about():
    assert discover_feed(RDF, "https://rdf.example/rss") == [
        "https://rdf.example/1",
        "https://rdf.example/2",
    ]


def test_json_feed():
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": "1", "url": "/j/1"}, {"id": "2", "external_url": "https://x.example/2"}],
    }
    data = json.dumps(document).encode()
    assert looks_like_feed(data)
    assert discover_feed(data, "https://j.example/feed.json") == [
        "https://j.example/j/1",
        "https://x.example/2",
    ]


def test_sample_feed_resolves_against_a_file_uri():
    path = SAMPLES / "feed.xml"
    data = path.read_bytes()
    assert looks_like_feed(data) and not looks_like_sitemap(data)
    urls = discover_feed(data, path.resolve().as_uri())
    assert len(urls) == 4
    assert all(url.startswith("file://") for url in urls)
    assert {Path(url.removeprefix("file://")).name for url in urls} == {
        p.name for p in SAMPLES.glob("*.html")
    }
    assert all(Path(url.removeprefix("file://")).exists() for url in urls)


def test_entities_are_never_expanded():
    evil = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>
<rss version="2.0"><channel><item><link>https://e.example/&xxe;</link></item>
<item><link>https://e.example/ok</link></item></channel></rss>"""
    urls = discover_feed(evil, "https://e.example/")
    assert "https://e.example/ok" in urls
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    assert not hostname or all(hostname not in url for url in urls)


def test_broken_feed_is_recovered_and_junk_gives_nothing():
    broken = RSS2.replace(b"</channel></rss>", b"")  # cut off at the end
    assert discover_feed(broken, "https://news.example/")[:1] == [
        "https://news.example/a/1?x=1&y=2"
    ]
    assert discover_feed(b"\x00\x01 not xml at all", "https://x.example/") == []
    assert discover_feed(b"", "https://x.example/") == []


def test_looks_like():
    assert looks_like_feed(RSS2) and looks_like_feed(ATOM) and looks_like_feed(RDF)
    assert looks_like_sitemap(URLSET) and looks_like_sitemap(INDEX)
    assert looks_like_sitemap(gzip.compress(URLSET))
    html = (SAMPLES / "korean-article.html").read_bytes()
    for data in (html, b"", b"{}", b"<html><body>rss feed</body></html>"):
        assert not looks_like_feed(data) and not looks_like_sitemap(data)
    assert not looks_like_feed(URLSET) and not looks_like_sitemap(RSS2)


def test_feed_links_in_html():
    html = b"""<html><head>
    <link rel="alternate" type="application/rss+xml" href="/rss.xml">
    <link rel="alternate" type="application/atom+xml" href="https://a.example/atom">
    <link rel="stylesheet" href="/s.css"></head><body></body></html>"""
    assert feed_links_in_html(html, "https://a.example/page") == [
        "https://a.example/rss.xml",
        "https://a.example/atom",
    ]


# ---------------------------------------------------------------------------- sitemaps


def test_urlset_and_index():
    assert discover_sitemap(URLSET, "https://site.example/sitemap.xml") == (
        ["https://site.example/p/1", "https://site.example/p/2"],
        [],
    )
    assert discover_sitemap(INDEX, "https://site.example/sitemap.xml") == (
        [],
        ["https://site.example/sitemap-1.xml.gz", "https://site.example/sitemap-2.xml"],
    )


def test_gzip_and_text_sitemaps():
    assert discover_sitemap(gzip.compress(URLSET), "https://site.example/s.xml.gz")[0] == [
        "https://site.example/p/1",
        "https://site.example/p/2",
    ]
    text = b"https://t.example/1\n\nhttps://t.example/2\r\nnot a url\nftp://t.example/x\n"
    assert discover_sitemap(text, "https://t.example/sitemap.txt") == (
        ["https://t.example/1", "https://t.example/2", "ftp://t.example/x"],  # refused later
        [],
    )


def test_sitemap_gzip_bomb_is_capped_not_fatal():
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    head = b'<?xml version="1.0"?><urlset><url><loc>https://b.example/1</loc></url><!--'
    parts = [compressor.compress(head)]
    parts += [compressor.compress(b" " * (1 << 20)) for _ in range(60)]  # 60 MB of padding
    bomb = b"".join(parts) + compressor.flush()
    assert len(bomb) < 1_000_000
    pages, children = discover_sitemap(bomb, "https://b.example/sitemap.xml.gz")
    assert pages == ["https://b.example/1"] and children == []


# ---------------------------------------------------------------------------- whole sources


class _SiteServer:
    def __init__(self) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.hits.append(self.path)
                base = f"http://127.0.0.1:{outer.port}"
                documents = {
                    "/robots.txt": (b"User-agent: *\nDisallow: /secret\n", "text/plain"),
                    "/sitemap_index.xml": (
                        INDEX.replace(b"https://site.example", base.encode()),
                        "application/xml",
                    ),
                    "/sitemap-1.xml.gz": (
                        gzip.compress(URLSET.replace(b"https://site.example", base.encode())),
                        "application/gzip",
                    ),
                    "/sitemap-2.xml": (
                        b"<urlset><url><loc>/p/3</loc></url><url><loc>/p/1</loc></url></urlset>",
                        "text/xml",
                    ),
                    "/feed.xml": (RSS2, "application/rss+xml"),
                }
                body, kind = documents.get(self.path, (b"missing", "text/plain"))
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def site() -> Iterator[_SiteServer]:
    server = _SiteServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_discover_source_walks_local_feeds_and_remote_sitemap_indexes(site, tmp_path):
    settings = Settings(home=tmp_path, allow_loopback=True, per_host_delay=0.0)
    source = Source(
        name="mixed",
        urls=["https://news.example/a/2"],  # also in the feed: listed once
        feeds=[str(SAMPLES / "feed.xml"), site.url("/missing.xml")],
        sitemaps=[site.url("/sitemap_index.xml")],
        language="ko",
    )
    with Fetcher(settings) as fetcher:
        found = list(discover_source(source, fetcher))
    urls = [item for item in found if isinstance(item, str)]
    failures = [item for item in found if isinstance(item, Failure)]
    assert urls[0] == "https://news.example/a/2"
    assert sum(u.startswith("file://") for u in urls) == 4
    assert urls[-3:] == [site.url("/p/1"), site.url("/p/2"), site.url("/p/3")]
    assert len(urls) == len(set(urls)) == 8
    assert [(f.url, f.stage, f.reason) for f in failures] == [
        (site.url("/missing.xml"), "discover", "http 404")
    ]
    assert "/robots.txt" in site.hits  # discovery fetches are polite too


def test_discover_source_without_a_fetcher_reports_remote_feeds(tmp_path):
    source = Source(name="s", feeds=["https://remote.example/feed.xml"], sitemaps=[])
    found = list(discover_source(source))
    assert len(found) == 1 and isinstance(found[0], Failure)
    assert found[0].reason == "no fetcher for a remote feed"
    missing = Source(name="m", feeds=[str(tmp_path / "nope.xml")])
    failure = next(iter(discover_source(missing)))
    assert isinstance(failure, Failure) and failure.reason.startswith("unreadable")
