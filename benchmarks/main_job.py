"""The main job as a user runs it (`ingest run DIR`, whole process) against the sum of its parts.

    .venv/bin/python benchmarks/main_job.py [--pages 100] [--length 32] [--keep DIR]
    .venv/bin/python benchmarks/main_job.py --pages 1000 --no-parts     # the memory target
    .venv/bin/python benchmarks/main_job.py --serve 0.4 --batch-size 25 --length 16 --no-parts
        # the pages fetched from a local HTTP server, 0.4 s between requests (politeness)

Corpus: ``--pages`` Korean news pages (5 body sentences and a headline each, from the Korean
sentences of tests/data/langid, spliced into new unique sentences past the first 500) in a
news-site template (skip link, menu, "most read" box, share bar, copyright footer).
Model: a randomly initialised Transformer-base argos package (6+6 layers, d_model 512, 32k
vocabulary, int8; tests/helpers), cached under the temp folder and copied into a temporary
INGEST_HOME. A random model never emits end-of-sentence, so both sides cap decoding at
``--length`` tokens (``INGEST_TRANSLATE_MAX_DECODING_LENGTH`` for ingest).

In ``--rounds`` rounds (default 3; the median of each figure is reported, the whole runs and
the parts alternate so that machine load hits both alike), each with a new store:
timed as subprocesses, wall clock, with the peak resident memory of the whole process tree
(the run and any server it starts, polled): a cold ``ingest run DIR`` (new store), the same run
again (every page unchanged), and ``ingest run`` of one new page. The Prefect API is what the
environment says: without ``PREFECT_API_URL`` each run starts its temporary API (included in
its time); with it (a running server), the runs report to that server.
Without ``PREFECT_API_URL`` the benchmark first starts ingest's local server
(``ingest server start``, timed and reported as ``server_start_s``: what the first run of a
session pays once) and the three runs reuse it, as every later run of a user does; the cold run
plus that start is reported beside (``first_run_with_server_start_vs_parts``, no target).

The parts, in one fresh Python process: imports and model load (interpreter start included),
``trafilatura.bare_extraction`` over the pages, py3langid over every paragraph and title, one
raw ``ctranslate2.Translator.translate_batch`` (greedy, batches of 64, length-sorted) over the
same unique sentences ingest sends to its model, and SQLite writes of the documents and their
paragraphs (one transaction per document, WAL, as the store does). Printed: each time, the
ratio whole / parts (target <= 1.3), the unchanged rerun (target <= 2 s) and the one-page run
(target <= 4 s), and ``RESULT name=value`` lines for ``make bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "tests"))  # test-only helpers (tests/helpers), not shipped

from helpers.argos_packages import TRANSFORMER_BASE  # noqa: E402
from helpers.korean_text import KOREAN, korean_sentences  # noqa: E402

from benchmarks.results import report  # noqa: E402

KOREAN_SEED = 16
CACHE = Path(tempfile.gettempdir()) / "ingest-benchmark-models" / "main-job"
BASE = TRANSFORMER_BASE
SENTENCES_PER_PAGE = 5
PARAGRAPHS = ((0, 2), (2, 4), (4, 5))  # body sentences per paragraph

PAGE = """<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8">
<title>{title} - 한빛일보</title>
<meta property="og:title" content="{title}">
<meta name="author" content="김민수 기자">
<meta property="article:published_time" content="2026-03-{day:02d}T09:00:00+09:00">
</head><body>
<a href="#content" class="skip">본문 바로가기</a>
<header><a href="/">한빛일보</a><nav><ul><li><a href="/politics">정치</a></li>
<li><a href="/economy">경제</a></li><li><a href="/society">사회</a></li>
<li><a href="/world">국제</a></li><li><a href="/culture">문화</a></li></ul></nav></header>
<main id="content"><article>
<h1>{title}</h1>
<p class="byline">김민수 기자 입력 2026.03.{day:02d} 09:00</p>
{body}
<div class="share"><a href="#">공유하기</a> <a href="#">페이스북</a> <a href="#">트위터</a></div>
</article></main>
<aside><h3>많이 본 뉴스</h3><ol>{most_read}</ol></aside>
<footer><p>Copyright © 한빛일보. All rights reserved. 무단 전재 및 재배포 금지</p></footer>
</body></html>
"""


@dataclass(frozen=True)
class Corpus:
    folder: Path
    titles: list[str]
    bodies: list[list[str]]  # paragraphs of each page

    def sentences(self) -> list[str]:
        """Every unique sentence ingest sends to its model: titles and body sentences."""
        body = [s for page in self.bodies for p in page for s in split_known(p)]
        return list(dict.fromkeys(self.titles + body))


def split_known(paragraph: str) -> list[str]:
    """Our own paragraphs are sentences joined by a space after their final period."""
    return [s if s.endswith(".") else s + "." for s in paragraph.split(". ") if s]


def headline(sentence: str) -> str:
    """A headline: the first words of a sentence, without its period."""
    words = sentence.rstrip(".").split()
    return " ".join(words[: max(3, min(8, len(words) - 1))])


def write_corpus(folder: Path, pages: int) -> Corpus:
    """``pages`` news pages (page-NNNN.html) plus one spare page for the one-page run."""
    folder.mkdir(parents=True, exist_ok=True)
    total = pages + 1
    pool = korean_sentences(total * (SENTENCES_PER_PAGE + 1), KOREAN_SEED, one_per_line=True)
    titles, bodies = [], []
    for i in range(total):
        chunk = pool[i * (SENTENCES_PER_PAGE + 1) : (i + 1) * (SENTENCES_PER_PAGE + 1)]
        title, body = headline(chunk[0]), chunk[1:]
        paragraphs = [" ".join(body[a:b]) for a, b in PARAGRAPHS]
        most_read = "".join(
            f'<li><a href="/news/{(i + k) % total}">{headline(pool[(i + k) % len(pool)])}</a></li>'
            for k in range(1, 6)
        )
        html = PAGE.format(
            title=title,
            day=1 + i % 28,
            body="\n".join(f"<p>{p}</p>" for p in paragraphs),
            most_read=most_read,
        )
        target = folder / f"page-{i:04d}.html" if i < pages else folder.parent / "one-page.html"
        target.write_text(html, encoding="utf-8")
        titles.append(title)
        bodies.append(paragraphs)
    return Corpus(folder, titles[:pages], bodies[:pages])


def build_package(corpus: Corpus) -> Path:
    """The Transformer-base package, built once per vocabulary and cached (about 60 MB)."""
    from helpers.argos_packages import build_random_package

    training = korean_sentences(2000, KOREAN_SEED, one_per_line=True)
    tag = hashlib.sha256(repr((sorted(BASE.items()), training[:50])).encode()).hexdigest()[:10]
    folder = CACHE / f"translate-ko_en-bench-{tag}"
    if not (folder / "model" / "model.bin").exists():
        print(f"building the Transformer-base package in {folder} …", flush=True)
        build_random_package(
            folder, "ko", corpus=training, sp_vocab_size=8000, package_version="bench", **BASE
        )
    return folder


# ------------------------------------------------------------------------------ whole runs


@dataclass
class Timed:
    seconds: float
    cpu_seconds: float  # user + system of the process and the children it waited for
    peak_mb: float
    returncode: int
    output: str


def children_cpu() -> float:
    """CPU seconds used so far by the children this process waited for (and theirs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, MB (0 once it is gone), from
    /proc (Linux), so the benchmark needs nothing beyond the project's dependencies."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid …": comm may hold spaces and parentheses
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total / 2**20


def run_cli(args: list[str], env: dict[str, str]) -> Timed:
    """``ingest ARGS`` as a user runs it: a new process, timed from spawn to exit, with the
    peak resident memory of its process tree (sampled every 0.1 s)."""
    command = [sys.executable, "-m", "ingest.cli.main", *args]
    peak = [0.0]
    cpu = children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    cpu = children_cpu() - cpu
    return Timed(seconds, cpu, peak[0], process.returncode, output.decode("utf-8", "replace"))


def summary_line(output: str) -> str:
    """The run's last line: counts per status (e.g. "100 ok")."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def serve_folder(folder: Path, env: dict[str, str], delay: float) -> list[str]:
    """Serve ``folder`` on 127.0.0.1 (a thread of this process, for as long as it lives), let
    the runs fetch from it politely (``delay`` s between requests), return the pages' URLs."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env.update(
        INGEST_ALLOW_LOOPBACK="true",
        INGEST_RESPECT_ROBOTS="false",
        INGEST_PER_HOST_DELAY=str(delay),
    )
    base = f"http://127.0.0.1:{server.server_port}"
    return [f"{base}/{page.name}" for page in sorted(folder.glob("*.html"))]


# ------------------------------------------------------------------------------ the parts


def sent_to_model(database: Path) -> list[str]:
    """The sentences ingest's model translated (its translation memory), in stored order."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        return [row[0] for row in db.execute("SELECT source FROM translation_memory")]


def measure_parts(work: Path, package: Path, length: int) -> dict[str, float]:
    """The parts in this (fresh) process; called through ``--parts``. Seconds per part."""
    started = time.perf_counter()
    import ctranslate2
    import py3langid
    import sentencepiece
    import trafilatura

    corpus = json.loads((work / "corpus.json").read_text(encoding="utf-8"))
    sp = sentencepiece.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    cores = len(os.sched_getaffinity(0))
    translator = ctranslate2.Translator(
        str(package / "model"), device="cpu", compute_type="int8", intra_threads=cores
    )
    py3langid.classify("모델을 불러온다")  # loads the language model
    times = {"load": time.perf_counter() - started}

    started = time.perf_counter()
    extracted = []
    for path in sorted(Path(corpus["folder"]).glob("*.html")):
        document = trafilatura.bare_extraction(
            path.read_text(encoding="utf-8"), favor_precision=True, include_tables=True
        )
        extracted.append(
            (document.title or "", [line for line in document.text.split("\n") if line])
        )
    times["extract"] = time.perf_counter() - started

    started = time.perf_counter()
    for title, paragraphs in extracted:
        for text in [title, *paragraphs] if title else paragraphs:
            py3langid.classify(text)
    times["detect"] = time.perf_counter() - started

    started = time.perf_counter()
    sentences = corpus["sentences"]
    tokens = sorted(sp.encode(sentences, out_type=str), key=len)
    results = translator.translate_batch(
        tokens, max_batch_size=64, beam_size=1, max_decoding_length=length
    )
    english = [sp.decode_pieces(r.hypotheses[0]) for r in results]
    times["translate"] = time.perf_counter() - started
    times["output_tokens"] = sum(len(r.hypotheses[0]) for r in results) / max(1, len(results))

    started = time.perf_counter()
    for stale in work.glob("parts.db*"):  # a new database each round, like the cold run's store
        stale.unlink()
    db = sqlite3.connect(work / "parts.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY, url TEXT UNIQUE, title TEXT)")
    db.execute(
        "CREATE TABLE paragraphs (document_id INTEGER, position INTEGER, original TEXT, "
        "english TEXT, PRIMARY KEY (document_id, position))"
    )
    db.execute("CREATE TABLE memory (source TEXT PRIMARY KEY, target TEXT)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO memory VALUES (?, ?)", zip(sentences, english, strict=True))
    db.execute("COMMIT")
    for i, (title, paragraphs) in enumerate(extracted):
        db.execute("BEGIN")
        cursor = db.execute("INSERT INTO documents (url, title) VALUES (?, ?)", (str(i), title))
        db.executemany(
            "INSERT INTO paragraphs VALUES (?, ?, ?, ?)",
            [(cursor.lastrowid, k, p, english[k % len(english)]) for k, p in enumerate(paragraphs)],
        )
        db.execute("COMMIT")
    db.close()
    times["store"] = time.perf_counter() - started
    return times


def run_parts(work: Path, package: Path, length: int) -> tuple[float, dict[str, float]]:
    """The parts in a fresh interpreter (its imports are cold, like the CLI's): (wall, parts);
    ``parts["cpu"]`` is the CPU time of that process."""
    cpu = children_cpu()
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, __file__, "--parts", str(work), "--package", str(package)]
        + ["--length", str(length)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.perf_counter() - started
    parts = json.loads(output.strip().splitlines()[-1])
    parts["cpu"] = children_cpu() - cpu
    # interpreter start and output count with the load, so the parts add up to the wall time
    parts["load"] = wall - sum(parts[k] for k in ("extract", "detect", "translate", "store"))
    return wall, parts


# ------------------------------------------------------------------------------ reporting


def result(name: str, value: float, *, unit: str = "", target: str = "") -> None:
    """A ``RESULT main_job.<name>=<value>`` line for make bench (benchmarks/results.py)."""
    report(f"main_job.{name}", value, unit=unit, target=target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--length", type=int, default=32, help="output tokens per sentence")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--no-parts", action="store_true", help="only the whole runs")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of whole runs and parts; medians reported"
    )
    parser.add_argument(
        "--serve",
        type=float,
        metavar="DELAY",
        help="fetch the pages from a local HTTP server with this per-host delay (seconds) "
        "instead of reading the folder (no parts: fetching has no raw counterpart)",
    )
    parser.add_argument("--batch-size", type=int, help="INGEST_BATCH_SIZE of the runs")
    parser.add_argument("--parts", type=Path, help=argparse.SUPPRESS)  # internal: child mode
    parser.add_argument("--package", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parts:
        print(json.dumps(measure_parts(args.parts, args.package, args.length)))
        return 0
    if not KOREAN.is_file():
        parser.exit(1, f"benchmark text missing: {KOREAN}\n")

    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.exit(2, f"--keep {args.keep}: choose a new or empty folder\n")
    work = args.keep or Path(tempfile.mkdtemp(prefix="ingest-bench-main-job-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return benchmark(work, args)
    finally:
        if (work / "prefect").exists():  # the local server of the runs: leave no process
            env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "PYTHONPATH": str(REPO)}
            run_cli(["server", "stop"], env)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def benchmark(work: Path, args: argparse.Namespace) -> int:
    corpus = write_corpus(work / "pages", args.pages)
    sentences = corpus.sentences()
    package = build_package(corpus)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(":"),
        "INGEST_TRANSLATE_MAX_DECODING_LENGTH": str(args.length),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "COLUMNS": "120",
    }
    prefect = os.environ.get("PREFECT_API_URL")
    if not prefect:
        # a Prefect home of its own, its local server started first (timed apart: the first
        # run of a session pays it once) and reused by every run; main() stops it at the end
        env["PREFECT_HOME"] = str(work / "prefect")
    print(
        f"{args.pages} Korean pages, {len(sentences)} unique sentences (titles included), "
        f"Transformer-base int8, {args.length} output tokens per sentence, "
        f"{len(os.sched_getaffinity(0))} cores, {args.rounds} round(s); Prefect API: "
        f"{'PREFECT_API_URL=' + prefect if prefect else 'local server, started first'}",
        flush=True,
    )
    server_start = 0.0
    if not prefect:
        started = run_cli(["server", "start"], env)
        if started.returncode != 0:
            print(started.output[-3000:])
            return 1
        server_start = started.seconds
        print(f"  ingest server start        {server_start:7.1f} s", flush=True)
    inputs = [str(corpus.folder)]
    if args.serve is not None:
        inputs = serve_folder(corpus.folder, env, args.serve)
        args.no_parts = True
    if args.batch_size:
        env["INGEST_BATCH_SIZE"] = str(args.batch_size)
    rounds: list[dict[str, Timed]] = []
    parts_rounds: list[tuple[float, dict[str, float]]] = []
    for number in range(args.rounds):  # whole runs and parts alternate: load hits both alike
        home = work / f"home-{number}"  # a new store each round: the first run is cold
        shutil.copytree(package, home / "packages" / package.name)
        env["INGEST_HOME"] = str(home)
        runs: dict[str, Timed] = {}
        for label, cli_args in [
            ("cold", ["run", *inputs]),
            ("unchanged", ["run", *inputs]),
            ("one_page", ["run", str(work / "one-page.html")]),
        ]:
            timed = run_cli(cli_args, env)
            runs[label] = timed
            print(
                f"  ingest run, {label:<10} {timed.seconds:7.1f} s (CPU {timed.cpu_seconds:5.1f} s)"
                f"  peak RSS {timed.peak_mb:6.0f} MB"
                f"  exit {timed.returncode}: {summary_line(timed.output)}",
                flush=True,
            )
            if timed.returncode != 0:
                print(timed.output[-3000:])
                return 1
            if label == "cold" and number == 0:  # the raw call translates what ingest sent
                sentences = sent_to_model(home / "ingest.db")
                print(
                    f"  sentences ingest sent to its model: {len(sentences)} "
                    f"({len(corpus.sentences())} in the pages, as the benchmark splits them)"
                )
                (work / "corpus.json").write_text(
                    json.dumps({"folder": str(corpus.folder), "sentences": sentences}),
                    encoding="utf-8",
                )
        rounds.append(runs)
        if not args.no_parts:
            wall, parts = run_parts(work, package, args.length)
            parts_rounds.append((wall, parts))
            print(f"  sum of the parts, in one fresh process {wall:7.1f} s", flush=True)

    def median_run(label: str) -> Timed:
        return sorted((r[label] for r in rounds), key=lambda t: t.seconds)[len(rounds) // 2]

    cold_run = median_run("cold")
    cold = cold_run.seconds
    print(f"medians of {len(rounds)} round(s):")
    result("cold_run_s", cold, unit="s")
    if not prefect:
        result("server_start_s", server_start, unit="s")
    result("unchanged_rerun_s", median_run("unchanged").seconds, unit="s", target="<=2")
    result("one_page_run_s", median_run("one_page").seconds, unit="s", target="<=4")
    peak = max(r["cold"].peak_mb for r in rounds)
    result("peak_rss_mb", peak, unit="MB", target="<=1536")
    if args.no_parts:
        return 0
    wall, parts = sorted(parts_rounds, key=lambda item: item[0])[len(parts_rounds) // 2]
    print("parts, in one fresh process (the median round):")
    for key, label in [
        ("load", "imports + model load (interpreter start included)"),
        ("extract", f"trafilatura over {args.pages} pages"),
        ("detect", "py3langid over every paragraph and title"),
        ("translate", f"raw ctranslate2 translate_batch, {len(sentences)} sentences"),
        ("store", "SQLite writes, one transaction per document"),
    ]:
        print(f"  {label:<58} {parts[key]:7.2f} s")
    print(f"  {'sum of the parts':<58} {wall:7.2f} s (CPU {parts['cpu']:5.1f} s)")
    print(f"  (raw output: {parts['output_tokens']:.1f} tokens per sentence)")
    ratio = cold / wall
    print(
        f"whole cold run / sum of parts (medians): {ratio:.2f}× (target <= 1.3); fixed cost "
        f"{cold - wall:.1f} s; in CPU time {cold_run.cpu_seconds / parts['cpu']:.2f}×"
    )
    result("parts_s", wall, unit="s")
    result("whole_vs_parts", ratio, unit="x", target="<=1.3")
    if not prefect:
        print(
            f"first run of a session, the local server's start included: "
            f"{(server_start + cold) / wall:.2f}× the sum of parts"
        )
        result("first_run_with_server_start_vs_parts", (server_start + cold) / wall, unit="x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
