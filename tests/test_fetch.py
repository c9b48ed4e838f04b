"""Fetcher against a real HTTP server on 127.0.0.1 with fault injection.

Every fault must end as a page (after retries) or a Failure with a clear reason, archived before
it is returned, and the run must finish. A socket tripwire makes any connection to a
non-loopback address fail the test instead of leaving the machine.
"""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import socket
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli
import pytest

from ingest.archive import WarcArchive
from ingest.config import Settings
from ingest.encoding import decode_html
from ingest.fetch import (
    Fetcher,
    MemoryValidators,
    Refused,
    address_refusal,
    check_url,
    is_unchanged,
)
from ingest.models import Failure, RawPage
from ingest.read import iter_archive, read_record

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

KOREAN = "미중 고위급 회담이 알래스카에서 열린다. 블링컨 국무장관은 한일 순방을 마쳤다."
PAGE = f"<!doctype html><html><head><title>t</title></head><body><p>{KOREAN}</p></body></html>"


def _bomb() -> bytes:
    """~50 KB of gzip that inflates to 50 MB of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(50)) + compressor.flush()


BOMB = _bomb()


# ---------------------------------------------------------------------------- safety tripwire


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if anything tries to connect outside 127.0.0.0/8 or ::1."""
    attempts: list[str] = []
    original = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        inet = self.family in (socket.AF_INET, socket.AF_INET6)
        if inet and not ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            attempts.append(str(host))
            raise AssertionError(f"test tried to connect to {host}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


# ---------------------------------------------------------------------------- fault server


class FaultServer:
    """A real threaded HTTP/1.1 server whose paths each misbehave in a known way."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.log: list[tuple[str, float, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.robots: str | None = "User-agent: *\nDisallow: /private/\n"
        self.robots_status = 200
        self.active: dict[str, int] = defaultdict(int)
        self.max_active: dict[str, int] = defaultdict(int)
        self.max_active_total = 0
        self._active_total = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                path = self.path.split("?", 1)[0]
                host = self.headers.get("Host", "")
                with outer.lock:
                    outer.hits[path] += 1
                    count = outer.hits[path]
                    outer.log.append((path, time.monotonic(), dict(self.headers)))
                    outer.active[host] += 1
                    outer._active_total += 1
                    outer.max_active[host] = max(outer.max_active[host], outer.active[host])
                    outer.max_active_total = max(outer.max_active_total, outer._active_total)
                try:
                    outer.route(self, path, count)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with outer.lock:
                        outer.active[host] -= 1
                        outer._active_total -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- helpers
    @staticmethod
    def send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str | None = "text/html; charset=utf-8",
    ) -> None:
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def route(self, h: BaseHTTPRequestHandler, path: str, count: int) -> None:
        send = self.send
        html = PAGE.encode()
        if path == "/robots.txt":
            if self.robots is None:
                send(h, 404, b"not found", content_type="text/plain")
            else:
                send(h, self.robots_status, self.robots.encode(), content_type="text/plain")
        elif path.startswith(("/page/", "/private/")):
            send(h, 200, html)
        elif path == "/slowish" or path.startswith("/slowish/"):
            time.sleep(0.3)
            send(h, 200, html)
        elif path == "/etag":
            if h.headers.get("If-None-Match") == '"v1"':
                send(h, 304, content_type=None, headers={"ETag": '"v1"'})
            else:
                send(h, 200, html, headers={"ETag": '"v1"'})
        elif path == "/lastmod":
            stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
            if h.headers.get("If-Modified-Since") == stamp:
                send(h, 304, content_type=None)
            else:
                send(h, 200, html, headers={"Last-Modified": stamp})
        elif path == "/storm":  # 5xx storm that clears after two answers
            if count <= 2:
                send(h, 503, b"busy")
            else:
                send(h, 200, html)
        elif path == "/down":
            send(h, 500, b"<html>server error</html>")
        elif path == "/ratelimit":
            if count == 1:
                send(h, 429, b"slow down", headers={"Retry-After": "1"})
            else:
                send(h, 200, html)
        elif path == "/ratelimit-long":
            send(h, 429, b"go away", headers={"Retry-After": "3600"})
        elif path == "/slow":
            time.sleep(1.2)
            send(h, 200, html)
        elif path == "/slow-once":
            if count == 1:
                time.sleep(1.2)
            send(h, 200, html)
        elif path == "/drip":  # bytes keep coming, but too slowly to ever finish in time
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "400")
            h.end_headers()
            for _ in range(400):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.02)
        elif path in ("/truncated", "/truncated-once"):
            if path == "/truncated" or count == 1:
                h.send_response(200)
                h.send_header("Content-Type", "text/html")
                h.send_header("Content-Length", str(len(html) * 2))
                h.end_headers()
                h.wfile.write(html)
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
            else:
                send(h, 200, html)
        elif path == "/loop/a":
            send(h, 302, headers={"Location": "/loop/b"})
        elif path == "/loop/b":
            send(h, 301, headers={"Location": self.url("/loop/a")})
        elif path.startswith("/chain/"):
            step = int(path.rsplit("/", 1)[1])
            send(h, 302, headers={"Location": f"/chain/{step + 1}"})
        elif path == "/moved":
            send(h, 301, headers={"Location": "/page/moved-here"})
        elif path == "/huge-declared":  # 50 MB announced up front
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(50 * 1024 * 1024))
            h.end_headers()
            block = b"<p>" + b"a" * 65533
            for _ in range(800):
                h.wfile.write(block)
        elif path == "/huge-stream":  # 50 MB with no length: only the cap can stop it
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            block = b"<p>" + b"a" * 65533
            for _ in range(800):
                h.wfile.write(block)
        elif path == "/bomb":
            send(h, 200, BOMB, headers={"Content-Encoding": "gzip"})
        elif path == "/gzip":
            send(h, 200, gzip.compress(html), headers={"Content-Encoding": "gzip"})
        elif path == "/brotli":
            send(h, 200, brotli.compress(html), headers={"Content-Encoding": "br"})
        elif path == "/pdf":
            send(h, 200, b"%PDF-1.4 " + b"x" * 5000, content_type="application/pdf")
        elif path == "/image":
            send(h, 200, b"\x89PNG\r\n" + b"x" * 100, content_type="image/png")
        elif path == "/untyped":
            send(h, 200, html, content_type=None)
        elif path == "/wrong-charset":  # says Latin-1, is UTF-8
            send(h, 200, html, content_type="text/html; charset=iso-8859-1")
        elif path == "/euc-kr":  # says UTF-8, is EUC-KR (and says so in <meta>)
            body = (
                '<html><head><meta charset="euc-kr"></head><body><p>'
                + KOREAN
                + "</p></body></html>"
            ).encode("euc-kr")
            send(h, 200, body, content_type="text/html; charset=utf-8")
        elif path == "/notfound":
            send(h, 404, b"<html>no such page</html>")
        elif path == "/to-metadata":
            send(h, 302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/to-private":
            send(h, 302, headers={"Location": "http://10.0.0.1/admin"})
        elif path == "/to-file":
            send(h, 302, headers={"Location": "file:///etc/passwd"})
        else:
            send(h, 404, b"unknown test path")


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer()
    yield srv
    srv.close()


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "allow_loopback": True,
        "per_host_delay": 0.0,
        "per_host_concurrency": 4,
        "fetch_workers": 8,
        "fetch_retries": 2,
        "fetch_backoff_base": 0.05,
        "fetch_backoff_max": 0.2,
        "fetch_connect_timeout": 2.0,
        "fetch_read_timeout": 0.5,
        "fetch_total_timeout": 1.5,
        "fetch_max_retry_after": 5.0,
        "max_bytes": 1_000_000,
        "max_redirects": 5,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[WarcArchive]:
    with WarcArchive(tmp_path / "archive") as warc:
        yield warc


def reason(outcome: RawPage | Failure) -> str:
    assert isinstance(outcome, Failure), f"expected a failure, got a page for {outcome.url}"
    return outcome.reason


# ---------------------------------------------------------------------------- basics


def test_page_is_archived_before_it_is_returned(server, settings, archive):
    with Fetcher(settings, archive=archive) as fetcher:
        page = fetcher.fetch(server.url("/page/1"), source="test", language_hint="ko")
    assert isinstance(page, RawPage)
    assert page.url == server.url("/page/1")
    assert page.final_url == server.url("/page/1")
    assert page.http_status == 200
    assert page.body == PAGE.encode()
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert all(key == key.lower() for key in page.headers)
    assert page.archive_path and page.archive_offset is not None
    stored = read_record(page.archive_path, page.archive_offset)
    assert stored.body == page.body
    assert stored.url == page.url
    assert stored.source == "test"
    assert stored.language_hint == "ko"
    assert stored.fetched_at == page.fetched_at


@pytest.mark.parametrize("path", ["/gzip", "/brotli"])
def test_compressed_bodies_are_decoded(server, settings, path):
    with Fetcher(settings) as fetcher:
        page = fetcher.fetch(server.url(path))
    assert isinstance(page, RawPage)
    assert page.body == PAGE.encode()
    assert "content-encoding" not in page.headers  # the body is stored decoded
    accepted = server.log[-1][2].get("Accept-Encoding", "")
    assert "gzip" in accepted and "br" in accepted


def test_redirect_is_followed_and_identity_kept(server, settings, archive):
    with Fetcher(settings, archive=archive) as fetcher:
        page = fetcher.fetch(server.url("/moved"))
    assert isinstance(page, RawPage)
    assert page.url == server.url("/moved")
    assert page.final_url == server.url("/page/moved-here")
    stored = read_record(page.archive_path, page.archive_offset)
    assert (stored.url, stored.final_url) == (page.url, page.final_url)


# ---------------------------------------------------------------------------- faults one by one


def test_5xx_storm_is_retried_until_it_clears(server, settings):
    with Fetcher(settings) as fetcher:
        page = fetcher.fetch(server.url("/storm"))
    assert isinstance(page, RawPage)
    assert server.hits["/storm"] == 3


def test_permanent_5xx_gives_up_with_the_response_archived(server, settings, archive):
    with Fetcher(settings, archive=archive) as fetcher:
        failure = fetcher.fetch(server.url("/down"))
    assert reason(failure) == "http 500 (after 3 attempts)"
    assert server.hits["/down"] == 3
    assert failure.archive_path is not None
    replayed = [item for item in iter_archive(Path(failure.archive_path))]
    assert [(item.url, reason(item)) for item in replayed] == [(server.url("/down"), "http 500")]


def test_429_waits_for_retry_after(server, settings):
    with Fetcher(settings) as fetcher:
        page = fetcher.fetch(server.url("/ratelimit"))
    assert isinstance(page, RawPage)
    times = [t for path, t, _ in server.log if path == "/ratelimit"]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.9  # Retry-After: 1 honoured (jittered backoff is ≤ 0.2 s)


def test_429_with_retry_after_beyond_the_cap_gives_up_at_once(server, settings):
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url("/ratelimit-long"))
    assert "Retry-After 3600s exceeds" in reason(failure)
    assert server.hits["/ratelimit-long"] == 1


def test_slow_response_times_out_after_retries(server, settings):
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url("/slow"))
        recovered = fetcher.fetch(server.url("/slow-once"))
    assert reason(failure).startswith("timeout: no data received")
    assert server.hits["/slow"] == 3
    assert isinstance(recovered, RawPage)


def test_dripping_body_hits_the_total_deadline(server, tmp_path):
    settings = make_settings(tmp_path / "home", fetch_retries=0, fetch_total_timeout=1.0)
    started = time.monotonic()
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url("/drip"))
    assert reason(failure).startswith("timeout: response took longer")
    assert time.monotonic() - started < 7  # the drip alone would take 8 s


def test_truncated_body_is_retried_then_recorded(server, settings):
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url("/truncated"))
        recovered = fetcher.fetch(server.url("/truncated-once"))
    assert reason(failure).startswith("truncated or malformed response")
    assert server.hits["/truncated"] == 3
    assert isinstance(recovered, RawPage)
    assert recovered.body == PAGE.encode()


def test_redirect_loop_and_redirect_limit(server, settings):
    with Fetcher(settings) as fetcher:
        loop = fetcher.fetch(server.url("/loop/a"))
        chain = fetcher.fetch(server.url("/chain/0"))
    assert reason(loop).startswith("redirect loop")
    assert reason(chain) == "too many redirects (more than 5)"
    assert server.hits["/chain/5"] == 1 and server.hits["/chain/6"] == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/huge-declared", "too large: content-length 52428800 exceeds 1000000 bytes"),
        ("/huge-stream", "too large: body exceeds 1000000 bytes"),
        ("/bomb", "too large: decoded body exceeds 1000000 bytes"),
    ],
)
def test_size_caps(server, settings, path, expected):
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url(path))
    assert reason(failure) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/pdf", "skipped: not HTML (application/pdf)"), ("/image", "skipped: not HTML (image/png)")],
)
def test_non_html_is_skipped_with_its_type(server, settings, archive, path, expected):
    with Fetcher(settings, archive=archive) as fetcher:
        failure = fetcher.fetch(server.url(path))
    assert reason(failure) == expected
    assert failure.stage == "fetch"
    assert failure.archive_path is not None  # recorded, not lost


def test_untyped_html_is_sniffed(server, settings):
    with Fetcher(settings) as fetcher:
        page = fetcher.fetch(server.url("/untyped"))
    assert isinstance(page, RawPage)


def test_http_error_is_a_failure_not_a_page(server, settings):
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url("/notfound"))
    assert reason(failure) == "http 404"
    assert server.hits["/notfound"] == 1  # a 404 is not retried


def test_the_one_bounded_decompressor():
    """What every reader of compressed data relies on: the cap holds while inflating, corrupt
    and truncated data are errors unless the caller asks for what did decompress."""
    import io

    from ingest.fetch import CorruptCompressed, TooLarge, decompress_bounded

    page = PAGE.encode()
    two_members = gzip.compress(page) + b"\0\0" + gzip.compress(b"<p>more</p>")
    assert decompress_bounded(two_members, "gzip", 10_000) == page + b"<p>more</p>"
    assert decompress_bounded(io.BytesIO(gzip.compress(page)), "gzip", 10_000) == page
    assert decompress_bounded(brotli.compress(page), "br", 10_000) == page
    assert decompress_bounded(zlib.compress(page), "deflate", 10_000) == page
    with pytest.raises(TooLarge):
        decompress_bounded(BOMB, "gzip", 1_000_000)
    assert len(decompress_bounded(BOMB, "gzip", 1_000_000, partial=True)) == 1_000_000
    truncated = gzip.compress(page)[:-20]
    with pytest.raises(CorruptCompressed, match="ends early"):
        decompress_bounded(truncated, "gzip", 10_000)
    assert page.startswith(decompress_bounded(truncated, "gzip", 10_000, truncated_ok=True))
    with pytest.raises(CorruptCompressed):
        decompress_bounded(b"\x1f\x8b\x08" + b"\xff" * 40, "gzip", 10_000)


# ---------------------------------------------------------------------------- charset


def test_wrong_charset_declarations_still_decode(server, settings):
    """Fetched bytes and headers are kept as sent, so the decoder can overrule a wrong label."""
    with Fetcher(settings) as fetcher:
        latin = fetcher.fetch(server.url("/wrong-charset"))
        euckr = fetcher.fetch(server.url("/euc-kr"))
    assert isinstance(latin, RawPage) and isinstance(euckr, RawPage)
    assert latin.headers["content-type"] == "text/html; charset=iso-8859-1"
    assert euckr.body.decode("euc-kr").count(KOREAN) == 1
    for page in (latin, euckr):
        assert KOREAN in decode_html(page.body, page.headers)


# ---------------------------------------------------------------------------- robots.txt


def test_robots_disallow_is_honoured_without_touching_the_page(server, settings, archive):
    with Fetcher(settings, archive=archive) as fetcher:
        denied = fetcher.fetch(server.url("/private/secret"))
        allowed = fetcher.fetch(server.url("/page/ok"))
    assert reason(denied) == "skipped: disallowed by robots.txt"
    assert denied.archive_path is not None
    assert server.hits["/private/secret"] == 0
    assert isinstance(allowed, RawPage)
    assert server.hits["/robots.txt"] == 1  # cached per host
    assert all(h.get("User-Agent") == settings.user_agent for _, _, h in server.log)


def test_robots_for_our_user_agent_only(server, tmp_path):
    server.robots = "User-agent: ingest-bot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    with Fetcher(make_settings(tmp_path / "a")) as fetcher:
        assert reason(fetcher.fetch(server.url("/page/1"))).startswith("skipped: disallowed")
    settings = make_settings(tmp_path / "b", user_agent="otherbot/2.0")
    with Fetcher(settings) as fetcher:
        assert isinstance(fetcher.fetch(server.url("/page/1")), RawPage)
    with Fetcher(make_settings(tmp_path / "c", respect_robots=False)) as fetcher:
        assert isinstance(fetcher.fetch(server.url("/page/2")), RawPage)


def test_missing_robots_allows_and_unavailable_robots_denies(server, tmp_path):
    server.robots = None
    with Fetcher(make_settings(tmp_path / "a")) as fetcher:
        assert isinstance(fetcher.fetch(server.url("/private/x")), RawPage)
    server.robots, server.robots_status = "User-agent: *\nAllow: /\n", 503
    with Fetcher(make_settings(tmp_path / "b")) as fetcher:
        failure = fetcher.fetch(server.url("/page/1"))
    assert reason(failure).startswith("skipped: robots.txt unavailable (http 503")
    assert server.hits["/page/1"] == 0


def test_crawl_delay_slows_the_host(server, tmp_path):
    server.robots = "User-agent: *\nCrawl-delay: 0.4\n"
    with Fetcher(make_settings(tmp_path / "h", per_host_concurrency=4)) as fetcher:
        outcomes = list(fetcher.fetch_many([server.url(f"/page/{i}") for i in range(3)]))
    assert all(isinstance(o, RawPage) for o in outcomes)
    starts = sorted(t for path, t, _ in server.log if path.startswith("/page/"))
    # Starts are spaced on our side; the server sees them with some network jitter.
    assert len(starts) == 3 and starts[-1] - starts[0] >= 2 * 0.4 - 0.1


def test_robots_rules_match_our_product_token_and_cap_the_crawl_delay():
    from ingest.fetch.robots import MAX_CRAWL_DELAY, RobotsRules

    rules = RobotsRules.parse(
        b"User-agent: ingest-bot\nCrawl-delay: 500\nDisallow: /x/\n\n"
        b"User-agent: *\nCrawl-delay: 2.5\nDisallow: /y/\n# caf\xe9 is not UTF-8\n"
    )
    ours, other = "ingest-bot/0.1 (+https://example.org/bot)", "otherbot/2.0"
    assert rules.crawl_delay(ours) == MAX_CRAWL_DELAY == 60.0
    assert rules.denial("http://h/x/1", ours) == "skipped: disallowed by robots.txt"
    assert rules.denial("http://h/y/1", ours) is None  # our group wins over *
    assert rules.crawl_delay(other) == 2.5
    assert rules.denial("http://h/x/1", other) is None
    assert rules.denial("http://h/y/1", other) == "skipped: disallowed by robots.txt"
    assert RobotsRules.allow_all().denial("http://h/x/1", ours) is None
    assert RobotsRules.unavailable("http 503").denial("http://h/", ours) == (
        "skipped: robots.txt unavailable (http 503)"
    )


# ---------------------------------------------------------------------------- conditional GET


@pytest.mark.parametrize(("path", "header"), [("/etag", "If-None-Match"), ("/lastmod", None)])
def test_conditional_get_skips_unchanged_pages(server, settings, archive, path, header):
    header = header or "If-Modified-Since"
    validators = MemoryValidators()
    with Fetcher(settings, archive=archive, validators=validators) as fetcher:
        first = fetcher.fetch(server.url(path))
    # validators persist across instances
    with Fetcher(settings, archive=archive, validators=validators) as fetcher:
        second = fetcher.fetch(server.url(path))
        forced = fetcher.fetch(server.url(path), conditional=False)
    assert isinstance(first, RawPage)
    assert is_unchanged(second)
    assert reason(second) == "unchanged (304)"
    assert second.content_hash == first.content_hash
    assert isinstance(forced, RawPage)
    sent = [h for p, _, h in server.log if p == path]
    assert header not in sent[0] and header in sent[1] and header not in sent[2]


def test_conditional_get_through_the_store_is_shared_by_every_machine(
    server, settings, archive, store_url
):
    """Two fetchers with two Store instances on one database (two machines): the second sends
    the first one's validators and its 304 points at the copy the first one archived."""
    from ingest.store import Store

    machines = [Store(store_url).fetch_validators for _ in range(2)]
    with Fetcher(settings, archive=archive, validators=machines[0]) as fetcher:
        first = fetcher.fetch(server.url("/etag"))
    with Fetcher(settings, archive=archive, validators=machines[1]) as fetcher:
        second = fetcher.fetch(server.url("/etag"))
    assert isinstance(first, RawPage) and is_unchanged(second)
    assert (second.archive_path, second.archive_offset) == (
        first.archive_path,
        first.archive_offset,
    )
    sent = [h for p, _, h in server.log if p == "/etag"]
    assert "If-None-Match" not in sent[0] and "If-None-Match" in sent[1]


def test_validators_are_not_kept_without_conditional_get(server, tmp_path):
    settings = make_settings(tmp_path / "h", conditional_get=False)
    validators = MemoryValidators()
    with Fetcher(settings, validators=validators) as fetcher:
        assert isinstance(fetcher.fetch(server.url("/etag")), RawPage)
        assert isinstance(fetcher.fetch(server.url("/etag")), RawPage)
    assert not (tmp_path / "h" / "fetch-validators.sqlite").exists()
    assert validators.get(server.url("/etag")) is None  # the store it was given stays empty
    assert all("If-None-Match" not in headers for _, _, headers in server.log)


# ---------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.100.100.200", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("2002:a00:1::", False),  # 6to4 wrapping 10.0.0.1
    ],
)
def test_address_refusal(address, allowed):
    assert (address_refusal(ipaddress.ip_address(address)) is None) is allowed


def test_loopback_needs_the_explicit_setting():
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_refusal(ipaddress.ip_address("0.0.0.0"), allow_loopback=True)
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "ftp://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:192.168.0.1]/",
        "http://0.0.0.0:80/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http:///nohost",
    ],
)
def test_ssrf_targets_are_refused_without_a_connection(tmp_path, url, loopback_only, archive):
    with Fetcher(make_settings(tmp_path / "h", allow_loopback=False), archive=archive) as fetcher:
        failure = fetcher.fetch(url)
    assert reason(failure).startswith("refused:")
    assert failure.archive_path is not None
    assert loopback_only == []  # the guard, not the tripwire, stopped it


def test_loopback_refused_by_default(server, tmp_path):
    with Fetcher(make_settings(tmp_path / "h", allow_loopback=False)) as fetcher:
        failure = fetcher.fetch(server.url("/page/1"))
        localhost = fetcher.fetch(server.url("/page/1", host="localhost"))
    assert reason(failure) == "refused: 127.0.0.1 resolves to a loopback address (127.0.0.1)"
    assert reason(localhost).startswith("refused: localhost resolves to a loopback address")
    assert sum(server.hits.values()) == 0
    assert check_url(server.url("/"), allow_loopback=True) is None


@pytest.mark.parametrize("path", ["/to-metadata", "/to-private", "/to-file"])
def test_redirect_into_a_forbidden_target_is_refused(server, settings, path, loopback_only):
    with Fetcher(settings) as fetcher:
        failure = fetcher.fetch(server.url(path))
    assert reason(failure).startswith("refused:")
    assert loopback_only == []


def test_connection_level_guard_catches_what_skips_the_url_check(server, tmp_path):
    """DNS rebinding defence: even a request sent straight through the client is checked."""
    with (
        Fetcher(make_settings(tmp_path / "h", allow_loopback=False)) as fetcher,
        pytest.raises(Refused),
    ):
        fetcher.client.get(server.url("/page/1"))
    assert sum(server.hits.values()) == 0


# ---------------------------------------------------------------------------- politeness


def test_per_host_delay_spaces_requests(server, tmp_path):
    settings = make_settings(tmp_path / "h", per_host_delay=0.25, per_host_concurrency=2)
    with Fetcher(settings) as fetcher:
        outcomes = list(fetcher.fetch_many([server.url(f"/page/{i}") for i in range(4)]))
    assert all(isinstance(o, RawPage) for o in outcomes)
    starts = sorted(t for path, t, _ in server.log if path.startswith("/page/"))
    # Starts are spaced on our side; the server sees them with some network jitter.
    assert len(starts) == 4 and starts[-1] - starts[0] >= 3 * 0.25 - 0.1


def test_per_host_concurrency_is_capped_while_hosts_run_in_parallel(server, tmp_path):
    settings = make_settings(tmp_path / "h", per_host_concurrency=2, fetch_workers=8)
    urls = [server.url(f"/slowish/{i}") for i in range(6)]
    urls += [server.url(f"/slowish/{i}", host="localhost") for i in range(6)]
    with Fetcher(settings) as fetcher:
        outcomes = list(fetcher.fetch_many(urls))
    assert len(outcomes) == 12 and all(isinstance(o, RawPage) for o in outcomes)
    assert max(server.max_active.values()) <= 2
    assert server.max_active_total >= 3  # two hosts were served at the same time


# ---------------------------------------------------------------------------- the whole run


EXPECTED = {
    "/page/a": None,
    "/gzip": None,
    "/brotli": None,
    "/storm": None,
    "/ratelimit": None,
    "/truncated-once": None,
    "/slow-once": None,
    "/moved": None,
    "/wrong-charset": None,
    "/down": "http 500",
    "/ratelimit-long": "http 429: Retry-After",
    "/slow": "timeout",
    "/truncated": "truncated",
    "/loop/a": "redirect loop",
    "/chain/0": "too many redirects",
    "/huge-declared": "too large",
    "/huge-stream": "too large",
    "/bomb": "too large",
    "/pdf": "skipped: not HTML",
    "/private/x": "skipped: disallowed by robots.txt",
    "/to-metadata": "refused",
    "/notfound": "http 404",
}


def test_fault_storm_run_finishes_and_loses_nothing(server, settings, archive):
    urls = [server.url(path) for path in EXPECTED] + ["file:///etc/passwd"]
    urls.append(server.url("/page/a"))  # a duplicate is fetched once
    with Fetcher(settings, archive=archive) as fetcher:
        outcomes = list(fetcher.fetch_many(urls, source="storm"))
    by_url = {o.url: o for o in outcomes}
    assert len(outcomes) == len(by_url) == len(EXPECTED) + 1
    for path, expected in EXPECTED.items():
        outcome = by_url[server.url(path)]
        if expected is None:
            assert isinstance(outcome, RawPage), (path, getattr(outcome, "reason", None))
        else:
            assert expected in reason(outcome), (path, outcome.reason)
        assert outcome.archive_path is not None, path
    assert reason(by_url["file:///etc/passwd"]).startswith("refused: scheme 'file'")
    # Replaying the archive gives back every outcome: nothing that was fetched is lost.
    archive.close()
    replayed = {item.url: item for item in iter_archive(archive.directory)}
    assert set(replayed) == set(by_url)
    for url, outcome in by_url.items():
        again = replayed[url]
        assert type(again) is type(outcome), url
        if isinstance(outcome, RawPage):
            assert again.body == outcome.body
        else:
            assert outcome.reason.startswith(again.reason), (again.reason, outcome.reason)


def test_fetch_many_is_lazy_and_survives_a_closed_fetcher(server, settings):
    def endless() -> Iterator[str]:
        index = 0
        while True:
            index += 1
            yield server.url(f"/page/{index}")

    with Fetcher(settings) as fetcher:
        stream = fetcher.fetch_many(endless())
        first = [next(stream) for _ in range(5)]
        stream.close()
    assert all(isinstance(o, RawPage) for o in first)
    # at most: the 5 taken, plus one batch of 8 workers done and 8 more in flight
    assert sum(server.hits[p] for p in server.hits if p.startswith("/page/")) <= 5 + 2 * 8
    with pytest.raises(RuntimeError):  # closed means closed
        fetcher.client.get(server.url("/page/x"))


def test_one_politeness_per_run_holds_across_batches(server, tmp_path):
    """A run loads its URLs in batches, each with a new Fetcher: the run's one Politeness keeps
    the per-host delay and the robots.txt cache, so batch 2 waits for batch 1's last request and
    robots.txt is asked for once. Without it (the control host) both start over per batch."""
    from ingest.fetch import Politeness
    from ingest.inputs import Target, load_targets

    delay = 0.5
    settings = make_settings(tmp_path / "h", per_host_delay=delay, per_host_concurrency=1)

    def run_in_two_batches(host: str, politeness: Politeness | None) -> list[float]:
        targets = [Target("url", server.url(f"/page/{host}/{i}", host), "t") for i in range(4)]
        for batch in (targets[:2], targets[2:]):
            outcomes = load_targets(batch, settings, politeness=politeness)
            assert all(isinstance(o, RawPage) for o in outcomes)
        return sorted(t for _, t, headers in server.log if headers["Host"].startswith(host))

    shared = run_in_two_batches("127.0.0.1", Politeness.from_settings(settings))
    control = run_in_two_batches("localhost", None)

    def robots_requests(host: str) -> int:
        return sum(
            1 for path, _, h in server.log if path == "/robots.txt" and h["Host"].startswith(host)
        )

    assert robots_requests("127.0.0.1") == 1
    assert len(shared) == 1 + 4  # robots.txt once, then the four pages
    # every request to the host, across the batch boundary too, starts `delay` after the last
    # (on our side; the server sees the starts with some network jitter)
    assert min(b - a for a, b in itertools.pairwise(shared)) >= delay - 0.1
    assert robots_requests("localhost") == 2  # the control: each batch asks again...
    assert min(b - a for a, b in itertools.pairwise(control)) < delay - 0.1  # ...at once
