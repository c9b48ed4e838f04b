"""Fetch throughput: ingest's Fetcher vs a plain sequential httpx loop, same local servers.

Serves N pages from local HTTP servers on 127.0.0.1 (one port per "host"; politeness is per
host:port; the servers run in a child process so they do not share our GIL), each answer
delayed a few milliseconds like a real network; 10% of the pages fail transiently on their
first request (503, 500, or a body cut short). Prints pages/s of both, the ratio, a reference
ceiling (bare concurrent httpx without retries) and the number of lost pages (never returned,
or missing from the WARC archive), which must be 0.

    .venv/bin/python benchmarks/fetch.py [--pages 2000] [--hosts 4] [--latency 0.01]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.archive import WarcArchive  # noqa: E402
from ingest.config import Settings  # noqa: E402
from ingest.fetch import Fetcher  # noqa: E402
from ingest.models import RawPage  # noqa: E402
from ingest.read import iter_archive  # noqa: E402

BODY = (
    "<!doctype html><html><head><meta charset='utf-8'><title>기사 {n}</title></head><body>"
    + "<p>서울에서 열린 회담에서 양측은 협력을 강화하기로 했다. 기사 번호 {n}.</p>" * 20
    + "</body></html>"
)


class Site:
    """A local HTTP/1.1 server; ``error_rate`` of paths fail on their first request."""

    def __init__(self, latency: float, error_rate: float) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with outer.lock:
                    outer.requests += 1
                    first = self.path not in outer.seen
                    outer.seen.add(self.path)
                time.sleep(latency)
                if self.path == "/robots.txt":
                    return self.reply(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
                digest = hashlib.blake2b(self.path.encode(), digest_size=4).digest()
                draw = int.from_bytes(digest, "big") / 2**32
                body = BODY.format(n=self.path).encode()
                if first and draw < error_rate:
                    kind = int(draw / error_rate * 3)
                    if kind == 0:
                        return self.reply(503, b"busy", "text/plain")
                    if kind == 1:
                        return self.reply(500, b"oops", "text/plain")
                    self.send_response(200)  # truncated: promise more than we send
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                return self.reply(200, body, "text/html; charset=utf-8")

            def reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on the truncated answers is expected


def serve(latency: float, error_rate: float, hosts: int, ports: Queue, stop: Event) -> None:
    """Child process: the servers get their own interpreter (and GIL), like a real network."""
    sites = [Site(latency, error_rate) for _ in range(hosts)]
    for site in sites:
        threading.Thread(
            target=site.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
    ports.put([site.port for site in sites])
    stop.wait()
    for site in sites:
        site.httpd.shutdown()


def urls_for(ports: list[int], pages: int, run: str) -> list[str]:
    return [
        f"http://127.0.0.1:{ports[i % len(ports)]}/{run}/article/{i}.html" for i in range(pages)
    ]


def plain_loop(urls: list[str], tries: int = 5) -> tuple[float, int]:
    """The baseline: one request after another, immediate retry on errors (no archive)."""
    ok = 0
    started = time.perf_counter()
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        for url in urls:
            for _ in range(tries):
                try:
                    response = client.get(url)
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    ok += 1
                    break
    return time.perf_counter() - started, ok


def threaded_ceiling(urls: list[str], threads: int) -> tuple[float, int]:
    """Reference: bare concurrent httpx (no politeness, robots, archive or retries)."""
    from concurrent.futures import ThreadPoolExecutor

    limits = httpx.Limits(max_connections=threads * 2, max_keepalive_connections=threads * 2)
    started = time.perf_counter()
    with httpx.Client(timeout=10.0, trust_env=False, limits=limits) as client:

        def get(url: str) -> bool:
            try:
                return client.get(url).status_code == 200
            except httpx.HTTPError:
                return False

        with ThreadPoolExecutor(threads) as pool:
            ok = sum(pool.map(get, urls))
    return time.perf_counter() - started, ok


def fetcher_run(urls: list[str], home: Path, hosts: int) -> tuple[float, int, int]:
    settings = Settings(
        home=home,
        allow_loopback=True,
        per_host_delay=0.0,
        per_host_concurrency=4,
        fetch_workers=4 * hosts,
        fetch_retries=3,
        fetch_backoff_base=0.05,
        fetch_backoff_max=0.5,
    )
    archive_dir = home / "archive"
    returned: set[str] = set()
    started = time.perf_counter()
    with WarcArchive(archive_dir) as archive, Fetcher(settings, archive=archive) as fetcher:
        for outcome in fetcher.fetch_many(urls, source="benchmark"):
            if isinstance(outcome, RawPage):
                returned.add(outcome.url)
    elapsed = time.perf_counter() - started
    archived = {item.url for item in iter_archive(archive_dir) if isinstance(item, RawPage)}
    lost = len(set(urls) - (returned & archived))
    return elapsed, len(returned), lost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per answer")
    parser.add_argument("--error-rate", type=float, default=0.10)
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("fork")
    ports_queue: Queue = context.Queue()
    stop = context.Event()
    server = context.Process(
        target=serve,
        args=(args.latency, args.error_rate, args.hosts, ports_queue, stop),
        daemon=True,
    )
    server.start()
    ports = ports_queue.get(timeout=30)
    home = Path(tempfile.mkdtemp(prefix="ingest-bench-fetch-"))
    try:
        print(
            f"{args.pages} pages on {args.hosts} local hosts, {args.latency * 1000:.0f} ms per "
            f"answer, {args.error_rate:.0%} transient errors (503 / 500 / truncated body)"
        )
        base_urls = urls_for(ports, args.pages, "plain")
        base_time, base_ok = plain_loop(base_urls)
        base_rate = base_ok / base_time
        print(f"plain sequential httpx loop : {base_rate:8.1f} pages/s  ({base_ok} ok)")

        ours_urls = urls_for(ports, args.pages, "ingest")
        ours_time, ours_ok, lost = fetcher_run(ours_urls, home, args.hosts)
        ours_rate = ours_ok / ours_time
        print(
            f"ingest Fetcher.fetch_many  : {ours_rate:8.1f} pages/s  ({ours_ok} ok, archived "
            f"to WARC with fsync, robots.txt, 4 per host)"
        )
        print(f"speed-up vs baseline        : {ours_rate / base_rate:8.2f}x")
        ceiling_time, ceiling_ok = threaded_ceiling(
            urls_for(ports, args.pages, "ceiling"), 4 * args.hosts
        )
        ceiling_rate = ceiling_ok / ceiling_time
        print(
            f"reference: bare httpx, {4 * args.hosts} threads, no retries: "
            f"{ceiling_rate:.1f} pages/s ({ceiling_ok} ok, {args.pages - ceiling_ok} lost); "
            f"Fetcher reaches {ours_rate / ceiling_rate:.0%} of it"
        )
        print(f"lost pages                  : {lost:8d}")
        return 0 if lost == 0 else 1
    finally:
        stop.set()
        server.join(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
