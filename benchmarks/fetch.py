"""Fetch throughput: ingest's Fetcher vs bare httpx at the same politeness, same local servers.

Serves N pages from local HTTP servers on 127.0.0.1 (one port per "host"; politeness is per
host:port; the servers run in a child process so they do not share our GIL), each answer
delayed a few milliseconds like a real network; 10% of the pages fail transiently on their
first request (503, 500, or a body cut short).

The headline compares like with like: the Fetcher (robots.txt, retries with backoff, WARC
archive with fsync, decoding) vs bare concurrent httpx threads that keep exactly the same
politeness (``--per-host-concurrency`` requests in flight per host, ``--per-host-delay``
seconds between request starts on a host) and retry a failed page at once, with nothing else:
the ceiling for the Fetcher; target Fetcher/ceiling >= 0.7. A plain sequential httpx loop is
still printed for reference (not like for like: it has no concurrency). Lost pages (never
returned, or missing from the WARC archive) must be 0.

    .venv/bin/python benchmarks/fetch.py [--pages 2000] [--hosts 4] [--latency 0.01]
                                         [--per-host-concurrency 4] [--per-host-delay 0.005]
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


class HostPace:
    """Politeness for one host, as the Fetcher keeps it: at most ``concurrency`` requests in
    flight and ``delay`` seconds between request starts."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self.slots = threading.Semaphore(max(1, concurrency))
        self.delay = delay
        self.lock = threading.Lock()
        self.next_start = 0.0

    def wait_turn(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.delay
        if start > now:
            time.sleep(start - now)


def polite_ceiling(
    urls: list[str], concurrency: int, delay: float, tries: int = 5
) -> tuple[float, int]:
    """Bare concurrent httpx at the Fetcher's politeness: per-host slots and delay, immediate
    retries; no robots.txt, backoff, archive or decoding."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    hosts = {urlsplit(url).netloc for url in urls}
    paces = {host: HostPace(concurrency, delay) for host in hosts}
    threads = concurrency * len(hosts)
    limits = httpx.Limits(max_connections=threads * 2, max_keepalive_connections=threads * 2)
    started = time.perf_counter()
    with httpx.Client(timeout=10.0, trust_env=False, limits=limits) as client:

        def get(url: str) -> bool:
            pace = paces[urlsplit(url).netloc]
            for _ in range(tries):
                with pace.slots:
                    pace.wait_turn()
                    try:
                        if client.get(url).status_code == 200:
                            return True
                    except httpx.HTTPError:
                        pass
            return False

        with ThreadPoolExecutor(threads) as pool:
            ok = sum(pool.map(get, urls))
    return time.perf_counter() - started, ok


def fetcher_run(
    urls: list[str], home: Path, hosts: int, concurrency: int, delay: float
) -> tuple[float, int, int]:
    settings = Settings(
        home=home,
        allow_loopback=True,
        per_host_delay=delay,
        per_host_concurrency=concurrency,
        fetch_workers=concurrency * hosts,
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
    parser.add_argument("--per-host-concurrency", type=int, default=4)
    parser.add_argument("--per-host-delay", type=float, default=0.005, help="seconds")
    args = parser.parse_args(argv)
    concurrency, delay = args.per_host_concurrency, args.per_host_delay

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
            f"answer, {args.error_rate:.0%} transient errors (503 / 500 / truncated body); "
            f"politeness on both sides: {concurrency} per host, {delay * 1000:g} ms between starts"
        )
        # The two concurrent sides alternate in two halves each (fresh URLs every time), so a
        # change in machine load hits both alike.
        times = {"ceiling": 0.0, "fetcher": 0.0}
        ok = {"ceiling": 0, "fetcher": 0}
        lost = 0
        half = args.pages // 2
        for part in range(2):
            count = half if part == 0 else args.pages - half
            seconds, done = polite_ceiling(
                urls_for(ports, count, f"ceiling{part}"), concurrency, delay
            )
            times["ceiling"] += seconds
            ok["ceiling"] += done
            seconds, done, missing = fetcher_run(
                urls_for(ports, count, f"ingest{part}"),
                home / str(part),
                args.hosts,
                concurrency,
                delay,
            )
            times["fetcher"] += seconds
            ok["fetcher"] += done
            lost += missing
        ceiling_rate = ok["ceiling"] / times["ceiling"]
        ours_rate = ok["fetcher"] / times["fetcher"]
        print(
            f"bare httpx, same politeness : {ceiling_rate:8.1f} pages/s  ({ok['ceiling']} ok, "
            "immediate retries, nothing archived)"
        )
        print(
            f"ingest Fetcher.fetch_many   : {ours_rate:8.1f} pages/s  ({ok['fetcher']} ok, "
            "archived to WARC with fsync, robots.txt, backoff)"
        )
        base_time, base_ok = plain_loop(urls_for(ports, min(args.pages, 500), "plain"))
        base_rate = base_ok / base_time
        print(f"plain sequential httpx loop : {base_rate:8.1f} pages/s  ({base_ok} ok)")
        print(f"lost pages                  : {lost:8d}")
        from benchmarks.results import report

        results = [
            report(
                "fetch.fetcher_vs_polite_httpx",
                ours_rate / ceiling_rate,
                unit="x",
                target=">=0.7",
                note=f"same politeness ({concurrency}/host, {delay * 1000:g} ms); "
                f"{args.pages} pages, {args.hosts} hosts",
            ),
            report("fetch.fetcher_pages_per_s", ours_rate, unit="pages/s"),
            report(
                "fetch.fetcher_vs_sequential_httpx",
                ours_rate / base_rate,
                unit="x",
                note="reference only: the loop has no concurrency",
            ),
            report("fetch.lost_pages", lost, target="<=0"),
        ]
        return 0 if all(r.passed is not False for r in results) else 1
    finally:
        stop.set()
        server.join(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
