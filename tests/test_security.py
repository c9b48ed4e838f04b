"""Issue 12: fetched content never names a local file; secrets in URLs are never stored or shown.

Real loopback HTTP servers, real temporary files, the real CLI (and Prefect) in a subprocess.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import SAMPLES

from ingest.config import Settings
from ingest.discover import discover_source
from ingest.fetch import Fetcher
from ingest.inputs import Target, load_targets, resolve_inputs
from ingest.models import Failure, RawPage
from ingest.security import (
    display_store_url,
    link_refusal,
    protect,
    redact_text,
    redact_url,
    reveal,
)
from ingest.sources_file import Source
from ingest.store import Store

pytest_plugins = ["store_backends"]

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (SAMPLES / "english-article.html").read_bytes()
MARKER = "LOCALSECRETMARKER"  # text of the local file a remote document must never get read

# ---------------------------------------------------------------------------- helpers


class RecordingServer:
    """A loopback HTTP server serving fixed answers and recording (path, Authorization)."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append((self.path, self.headers.get("Authorization")))
                status, headers, body = outer.routes.get(
                    self.path.split("?", 1)[0], (404, {"Content-Type": "text/plain"}, b"missing")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value.replace("{base}", outer.base))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def xml(body: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/xml"}, body.encode()


def html(body: bytes = ARTICLE) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, body


def redirect(location: str) -> tuple[int, dict[str, str], bytes]:
    return 302, {"Location": location}, b""


def secret_page(folder: Path) -> Path:
    """A local page that would extract fine (so a leak would be stored) and a local sitemap."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "passwd.html"
    paragraphs = "".join(
        f"<p>{MARKER} line {i}: this private file must never be read because a remote "
        "server named it in a feed, a sitemap or a redirect.</p>"
        for i in range(6)
    )
    page.write_text(
        f"<html><head><title>{MARKER}</title></head><body><article><h1>{MARKER}</h1>"
        f"{paragraphs}</article></body></html>",
        encoding="utf-8",
    )
    (folder / "sitemap.xml").write_text(
        f"<urlset><url><loc>{page.as_uri()}</loc></url></urlset>", encoding="utf-8"
    )
    return page


def local_spellings(page: Path) -> list[str]:
    """Ways to name a local file that are not http(s) URLs; each must be refused."""
    path = str(page)
    return [
        f"file://{path}",
        f"FILE://{path}",
        f"File://localhost{path}",
        f"file:{path}",
        f"fIlE:{path}?download=1",
        "file:passwd.html",
        "C:\\Windows\\win.ini",
        "data:text/html,<p>hi</p>",
        "javascript:alert(1)",
        "mailto:someone@example.org",
    ]


def attack_routes(page: Path) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """A remote feed, sitemap, text sitemap and sitemap index naming local files, plus a
    redirect to one; path-like spellings resolve against the server (fetched, never read)."""
    spellings = local_spellings(page)
    path_like = [str(page), f"../../..{page}", "\\\\fileserver\\share\\passwd.html"]
    items = "".join(
        f"<item><title>x</title><link>{_escape(link)}</link></item>"
        for link in [*spellings, *path_like, "{base}/ok.html"]
    )
    locs = "".join(f"<url><loc>{_escape(link)}</loc></url>" for link in spellings)
    entries = "".join(f'<entry><link href="{_escape(link)}"/></entry>' for link in spellings)
    json_items = [{"url": link} for link in spellings]
    routes = {
        "/feed.xml": xml(f'<rss version="2.0"><channel>{items}</channel></rss>'),
        "/atom.xml": xml(f'<feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'),
        "/feed.json": (
            200,
            {"Content-Type": "application/feed+json"},
            json.dumps(
                {"version": "https://jsonfeed.org/version/1.1", "items": json_items}
            ).encode(),
        ),
        "/sitemap.xml": xml(f"<urlset>{locs}</urlset>"),
        "/sitemap.txt": (200, {"Content-Type": "text/plain"}, "\n".join(spellings).encode()),
        "/sitemap_index.xml": xml(
            f"<sitemapindex><sitemap><loc>{(page.parent / 'sitemap.xml').as_uri()}</loc>"
            f"</sitemap><sitemap><loc>{page.parent / 'sitemap.xml'}</loc></sitemap>"
            "</sitemapindex>"
        ),
        "/go": redirect(page.as_uri()),
        "/go-upper": redirect(f"FILE://{page}"),
        "/ok.html": html(),
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"),
    }
    return routes


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[tuple[RecordingServer, Path]]:
    page = secret_page(tmp_path / "secret")
    routes = attack_routes(page)
    server = RecordingServer(routes)
    # links naming the server itself ("{base}") are filled in once the port is known
    server.routes = {
        path: (status, headers, body.replace(b"{base}", server.base.encode()))
        for path, (status, headers, body) in routes.items()
    }
    yield server, page
    server.close()


def loopback_settings(home: Path) -> Settings:
    return Settings(home=home, allow_loopback=True, per_host_delay=0.0, fetch_retries=0)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def cli_env(home: Path, prefect_home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "INGEST_HOME": str(home),
        "INGEST_ALLOW_LOOPBACK": "true",
        "INGEST_PER_HOST_DELAY": "0",
        "INGEST_FETCH_RETRIES": "0",
        "PREFECT_HOME": str(prefect_home),  # its own Prefect database, to read back and grep
        "INGEST_SERVER_IDLE_MINUTES": "0",  # a server per run: it is gone, its database flushed
        "COLUMNS": "200",
    }
    env.pop("PREFECT_API_URL", None)
    return env


def every_byte_under(*folders: Path) -> bytes:
    """All files below the folders, gzip members undone (WARC), as one blob to search."""
    blob = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            blob.append(data)
    return b"\n".join(blob)


# ---------------------------------------------------------------------------- provenance


@pytest.mark.parametrize("link", local_spellings(Path("/etc/passwd")))
def test_a_fetched_document_may_only_link_to_http_urls(link):
    reason = link_refusal(link, "https://feeds.example/feed.xml")
    assert reason is not None and reason.startswith("refused: ")
    assert "only http(s) links are followed from fetched documents" in reason
    assert link_refusal("HTTPS://news.example/a", "https://feeds.example/feed.xml") is None


def test_a_local_feed_may_name_local_files_but_no_other_scheme():
    origin = "file:///home/me/feed.xml"
    assert link_refusal("file:///home/me/page.html", origin) is None
    assert link_refusal("/home/me/page.html", origin) is None
    assert link_refusal("https://news.example/a", origin) is None
    assert link_refusal("data:text/html,x", origin).startswith("refused: ")


@pytest.mark.parametrize("document", ["/atom.xml", "/feed.json", "/sitemap.xml"])
def test_every_kind_of_remote_index_refuses_every_spelling(attacker, tmp_path, document):
    server, page = attacker
    resolution = resolve_inputs([f"{server.base}{document}"], loopback_settings(tmp_path / "h"))
    assert resolution.targets == []
    assert sorted(f.url for f in resolution.failures) == sorted(local_spellings(page))
    assert all(f.reason.startswith("refused: ") for f in resolution.failures)


def test_remote_feeds_and_sitemaps_never_turn_into_local_reads(attacker, tmp_path):
    server, page = attacker
    settings = loopback_settings(tmp_path / "home")
    inputs = [f"{server.base}{p}" for p in ("/feed.xml", "/sitemap.xml", "/sitemap.txt")]
    resolution = resolve_inputs([*inputs, f"{server.base}/sitemap_index.xml"], settings)
    assert {t.kind for t in resolution.targets} == {"url"}
    assert all(t.location.startswith(server.base) for t in resolution.targets)
    refused = {f.url for f in resolution.failures if "only http(s) links" in f.reason}
    assert set(local_spellings(page)) <= refused
    # the index's children are local files: a file: URI is refused, never opened; a bare path
    # resolves against the server, so it is asked for over http (and is not there)
    assert (page.parent / "sitemap.xml").as_uri() in refused
    reasons = {f.url: f.reason for f in resolution.failures}
    assert reasons[f"{server.base}{page.parent / 'sitemap.xml'}"] == "http 404"
    assert {f.stage for f in resolution.failures if f.url in refused} == {"discover"}
    loaded = load_targets(resolution.targets, settings)
    assert not any(isinstance(x, RawPage) and MARKER.encode() in x.body for x in loaded)
    # the path-like spellings were requested from the server: http, not the disk
    assert any(path.endswith("/passwd.html") for path, _ in server.requests)


def test_redirect_to_a_local_file_is_refused(attacker, tmp_path):
    server, _page = attacker
    with Fetcher(loopback_settings(tmp_path / "home")) as fetcher:
        for path in ("/go", "/go-upper"):
            outcome = fetcher.fetch(f"{server.base}{path}")
            assert isinstance(outcome, Failure)
            assert outcome.reason == "refused: scheme 'file' is not allowed"


def test_discover_source_refuses_local_links_and_local_sitemaps_of_remote_documents(
    attacker, tmp_path
):
    server, page = attacker
    source = Source(
        name="remote",
        feeds=[f"{server.base}/feed.xml"],
        sitemaps=[f"{server.base}/sitemap_index.xml", f"{server.base}/sitemap.txt"],
    )
    with Fetcher(loopback_settings(tmp_path / "home")) as fetcher:
        found = list(discover_source(source, fetcher))
    urls = [item for item in found if isinstance(item, str)]
    failures = {item.url: item.reason for item in found if isinstance(item, Failure)}
    assert urls and all(url.startswith(server.base) for url in urls), urls
    assert set(local_spellings(page)) <= set(failures)
    child = (page.parent / "sitemap.xml").as_uri()
    assert failures[child].startswith(f"refused: {child!r} is named by {server.base}/sitemap")


def test_a_local_target_of_remote_origin_is_refused_where_files_are_read(attacker, tmp_path):
    _server, page = attacker
    target = Target("file", str(page), "feed", None, origin="http://feeds.example/feed.xml")
    (outcome,) = load_targets([target], loopback_settings(tmp_path / "home"))
    assert isinstance(outcome, Failure) and outcome.reason.startswith("refused: ")


def test_cli_run_records_every_refused_link_and_reads_no_local_file(attacker, tmp_path):
    server, page = attacker
    home, prefect_home = tmp_path / "home", tmp_path / "prefect"
    inputs = [
        f"{server.base}{path}"
        for path in ("/feed.xml", "/sitemap.xml", "/sitemap_index.xml", "/sitemap.txt", "/go")
    ]
    done = run_cli("run", *inputs, env=cli_env(home, prefect_home))
    assert done.returncode == 0, done.stderr  # the one real page succeeded
    assert "Traceback" not in done.stderr + done.stdout
    documents = {d["url"]: d for d in Store(f"sqlite:///{home / 'ingest.db'}").iter_documents()}
    assert documents[f"{server.base}/ok.html"]["status"] == "ok"
    for spelling in local_spellings(page):
        assert documents[spelling]["status"] == "failed", spelling
        assert "only http(s) links are followed" in documents[spelling]["reason"]
    assert documents[f"{server.base}/go"]["reason"] == "refused: scheme 'file' is not allowed"
    assert documents[f"{server.base}{page}"]["reason"] == "http 404"  # asked the server
    assert MARKER.encode() not in every_byte_under(home)
    assert MARKER not in done.stdout


# ---------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@h.example/a?x=1", "https://***@h.example/a?x=1"),
        ("https://TOKENONLY@h.example/", "https://***@h.example/"),
        (
            "https://h.example/a?Token=abc&id=7&api_key=k&X-Amz-Signature=s#access_token=t",
            "https://h.example/a?Token=REDACTED&id=7&api_key=REDACTED"
            "&X-Amz-Signature=REDACTED#access_token=REDACTED",
        ),
        ("https://h.example/a?key=&b", "https://h.example/a?key=&b"),  # nothing to hide
        ("https://h.example/a?x=%20y&z", "https://h.example/a?x=%20y&z"),  # byte for byte
        ("http://[::1@h.example/", "http://***@h.example/"),  # unparsable, still masked
        ("/home/me/page.html", "/home/me/page.html"),
        ("yonhap", "yonhap"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected
    assert redact_url(expected) == expected  # idempotent


def test_secret_query_keys_are_configurable(monkeypatch):
    monkeypatch.setenv("INGEST_SECRET_QUERY_KEYS", '["article_key"]')
    assert (
        redact_url("https://h/a?article_key=1&token=2")
        == "https://h/a?article_key=REDACTED&token=2"
    )
    monkeypatch.setenv("INGEST_SECRET_QUERY_KEYS", "sid, Ticket")
    assert (
        redact_url("https://h/a?ticket=1&sid=2&key=3")
        == "https://h/a?ticket=REDACTED&sid=REDACTED&key=3"
    )


def test_messages_store_urls_and_models_are_redacted():
    message = "redirect loop: http://u:pw@h/a?sig=1 -> http://u:pw@h/b"
    assert redact_text(message) == "redirect loop: http://***@h/a?sig=REDACTED -> http://***@h/b"
    shown = display_store_url("postgresql+psycopg://app:S3cr3t@db:5432/ingest?password=x")
    assert shown == "postgresql+psycopg://app:***@db:5432/ingest?password=REDACTED"
    page = RawPage(url="http://u:pw@h/a?token=t", source="http://u:pw@h/f", body=b"")
    assert (page.url, page.source) == ("http://***@h/a?token=REDACTED", "http://***@h/f")
    failure = Failure(url="http://u:pw@h/", source="s", stage="fetch", reason=message)
    assert "pw" not in failure.url + failure.reason
    assert reveal(protect("http://u:pw@h/x")) == "http://u:pw@h/x"


USER, PASSWORD, TOKEN = "MixedCase", "PaSsW0rdQ7", "TOKq9X2"


def secret_routes() -> dict[str, tuple[int, dict[str, str], bytes]]:
    return {
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"),
        "/private/page.html": html(),
        # a relative link keeps the sitemap's credentials; the server checks them all
        "/private/sitemap.xml": xml("<urlset><url><loc>other.html</loc></url></urlset>"),
        "/private/other.html": html(ARTICLE.replace(b"Blinken", b"Blinken again")),
        "/private/loop": redirect("/private/loop?sig=S1G9"),
    }


def with_credentials(base: str, path: str) -> str:
    return base.replace("http://", f"http://{USER}:{PASSWORD}@") + path


def assert_no_secret(blob: bytes | str, *secrets: str) -> None:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    squeezed = "".join(ch for ch in text if ch.isalnum())  # tables fold long cells
    for secret in secrets:
        assert secret not in squeezed, f"{secret} leaked"


def test_credentials_go_on_the_wire_unchanged_robots_included(tmp_path):
    server = RecordingServer(secret_routes())
    try:
        url = with_credentials(server.base, f"/private/page.html?token={TOKEN}&id=7")
        with Fetcher(loopback_settings(tmp_path / "home")) as fetcher:
            page = fetcher.fetch(url)
    finally:
        server.close()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert server.requests == [
        ("/robots.txt", expected),
        (f"/private/page.html?token={TOKEN}&id=7", expected),
    ]
    assert isinstance(page, RawPage)
    assert (
        page.url
        == f"{server.base.replace('http://', 'http://***@')}/private/page.html?token=REDACTED&id=7"
    )


def test_cli_run_keeps_url_secrets_out_of_store_archive_output_and_prefect(tmp_path):
    server = RecordingServer(secret_routes())
    home, prefect_home = tmp_path / "home", tmp_path / "prefect"
    inputs = [
        with_credentials(server.base, f"/private/sitemap.xml?token={TOKEN}"),
        with_credentials(server.base, f"/private/page.html?token={TOKEN}&id=7"),
        with_credentials(server.base, f"/private/loop?access_token={TOKEN}"),
    ]
    try:
        done = run_cli("run", *inputs, env=cli_env(home, prefect_home))
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert {auth for _path, auth in server.requests} == {expected}  # robots.txt too
    assert any(path == f"/private/page.html?token={TOKEN}&id=7" for path, _ in server.requests)
    assert any(path == "/private/other.html" for path, _ in server.requests)

    masked = server.base.replace("http://", "http://***@")
    documents = {d["url"]: d for d in Store(f"sqlite:///{home / 'ingest.db'}").iter_documents()}
    assert documents[f"{masked}/private/page.html?token=REDACTED&id=7"]["status"] == "ok"
    assert documents[f"{masked}/private/other.html"]["status"] == "ok"
    loop = documents[f"{masked}/private/loop?access_token=REDACTED"]
    assert loop["status"] == "failed" and loop["reason"].startswith("redirect loop: ")
    assert "***@" in done.stdout
    for blob in (done.stdout, done.stderr, every_byte_under(home), every_byte_under(prefect_home)):
        assert_no_secret(blob, PASSWORD, TOKEN, "S1G9")

    with sqlite3.connect(prefect_home / "prefect.db") as db:
        (parameters,) = db.execute("SELECT parameters FROM flow_run").fetchone()
    assert json.loads(parameters)["inputs"] == [redact_url(item) for item in inputs]


def test_cli_store_url_password_is_never_shown_nor_given_to_prefect(postgres_url, tmp_path):
    store_url = postgres_url.replace("://postgres@", "://postgres:St0reSecret9@")  # trust auth
    assert "St0reSecret9" in store_url
    home, prefect_home = tmp_path / "home", tmp_path / "prefect"
    env = cli_env(home, prefect_home)
    page = tmp_path / "pages" / "english-article.html"
    page.parent.mkdir()
    page.write_bytes(ARTICLE)
    done = run_cli("run", str(page), "--store", store_url, env=env)
    assert done.returncode == 0, done.stderr
    assert "postgres:***@" in done.stdout and "Traceback" not in done.stderr
    again = run_cli("reprocess", str(page.parent), "--store", store_url, "--force", env=env)
    assert again.returncode == 0, again.stderr
    assert "reprocess → postgresql+psycopg://postgres:***@" in again.stderr
    for blob in (
        done.stdout,
        done.stderr,
        again.stdout,
        again.stderr,
        every_byte_under(prefect_home),
    ):
        assert_no_secret(blob, "St0reSecret9")
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        (parameters,) = db.execute("SELECT parameters FROM flow_run").fetchone()
    assert json.loads(parameters)["store_url"] == display_store_url(store_url)
    assert Store(store_url).get_document(page.resolve().as_uri())["status"] == "ok"


def test_unparsable_links_are_failure_rows_not_exceptions(tmp_path):
    links = ["http://[::1/x", "file://[x/y", "//[x"]
    feed = "".join(f"<item><link>{link}</link></item>" for link in links)
    server = RecordingServer(
        {"/feed.xml": xml(f'<rss version="2.0"><channel>{feed}</channel></rss>')}
    )
    try:
        settings = loopback_settings(tmp_path / "home")
        resolution = resolve_inputs([f"{server.base}/feed.xml"], settings)
        loaded = load_targets(resolution.targets, settings)
    finally:
        server.close()
    failures = {f.url: f.reason for f in [*resolution.failures, *loaded]}
    assert set(failures) == set(links)
    assert all(reason.startswith("refused: ") for reason in failures.values()), failures
    local_feed = tmp_path / "feed.xml"
    local_feed.write_text(f'<rss version="2.0"><channel>{feed}</channel></rss>', encoding="utf-8")
    local = resolve_inputs([str(local_feed)], settings)
    assert "file://[x/y" in {f.url for f in local.failures}


def test_httpx_request_logs_are_redacted(tmp_path, caplog):
    server = RecordingServer(secret_routes())
    try:
        with caplog.at_level("INFO", logger="httpx"), Fetcher(loopback_settings(tmp_path)) as f:
            f.fetch(with_credentials(server.base, f"/private/page.html?token={TOKEN}"))
    finally:
        server.close()
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "httpx")
    assert "/private/page.html?token=REDACTED" in logged and "***@" in logged
    assert_no_secret(logged, PASSWORD, TOKEN)
