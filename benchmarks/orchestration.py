"""Prefect overhead: N sample-like documents through the `ingest` flow (real Prefect server,
batched tasks) vs the same library pipeline called directly, in one run.

    .venv/bin/python benchmarks/orchestration.py [--documents 1000] [--repeat 3]

Documents are the pages of samples/ with a unique paragraph each (so none is "unchanged"),
written to a temp folder. Both sides are warmed the same way before anything is timed (one
small untimed run each: imports, translation models, language detector, Prefect client), then
``--repeat`` rounds alternate direct and flow (the side that goes first alternates too, so a
change in machine load hits both alike). Each run gets a fresh store and builds its pipeline
(store, engine) inside the timed part, on both sides. The flow runs in this process with the
flow-run settings of ``ingest run`` (flows.run_settings). The server's start is not counted (a
deployment runs against a long-running server). Prints seconds and docs/s per run and the
overhead of the medians; the target is ≤ 10 %. Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT / "samples"
TARGET = 0.10


def make_documents(folder: Path, count: int) -> None:
    """Sample pages, each with one unique extra paragraph in its article body."""
    pages = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.html"))]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        html = pages[i % len(pages)]
        extra = f"<p>Archive note {i}: this copy was collected for the orchestration benchmark.</p>"
        html, n = re.subn(r"</article>", extra + "</article>", html, count=1)
        if not n:
            html = html.replace("</body>", extra + "</body>", 1)
        (folder / f"doc-{i:05d}.html").write_text(html, encoding="utf-8")


def install_demo_packages(home: Path) -> None:
    packages = sorted((ROOT / "tests" / "fixtures" / "argos").glob("*.argosmodel"))
    if packages:
        from ingest.translate import install_package_file

        for package in packages:
            install_package_file(package, home / "packages")


def run_direct(folder: Path, home: Path, batch_size: int) -> tuple[float, int]:
    from ingest.config import load_settings
    from ingest.inputs import load_targets, resolve_inputs
    from ingest.pipeline import Pipeline

    started = time.perf_counter()
    settings = load_settings(home=home, batch_size=batch_size)
    resolution = resolve_inputs([str(folder)], settings)
    pipeline = Pipeline(settings)
    done = 0
    for start in range(0, len(resolution.targets), batch_size):
        pages = load_targets(resolution.targets[start : start + batch_size], settings)
        done += len(pipeline.process(pages))
    pipeline.store.close()
    return time.perf_counter() - started, done


def run_flow(folder: Path, home: Path, batch_size: int) -> tuple[float, int]:
    from flows.ingest_flow import _pipeline, ingest_flow
    from flows.run_settings import cli_flow_runs

    _pipeline.cache_clear()  # build the pipeline inside the timed run, like the direct side
    started = time.perf_counter()
    with cli_flow_runs():  # the flow-run settings `ingest run` uses
        rows = ingest_flow(inputs=[str(folder)], home=str(home), batch_size=batch_size)
    return time.perf_counter() - started, len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: INGEST_BATCH_SIZE")
    parser.add_argument("--repeat", type=int, default=3, help="alternating direct/flow pairs")
    args = parser.parse_args()
    if args.batch_size is None:
        from ingest.config import Settings

        args.batch_size = Settings().batch_size

    tmp = Path(tempfile.mkdtemp(prefix="ingest-bench-orchestration-"))
    folder = tmp / "docs"
    make_documents(folder, args.documents)

    from flows.deployments import start_server

    print("starting a Prefect server …", flush=True)
    server = start_server(tmp / "prefect-home")
    os.environ["PREFECT_API_URL"] = server.api_url  # before prefect is imported
    os.environ["PREFECT_HOME"] = str(tmp / "client-home")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    runners = {"direct": run_direct, "flow": run_flow}
    times: dict[str, list[float]] = {"direct": [], "flow": []}
    try:
        warm = tmp / "warm-docs"
        make_documents(warm, min(16, args.documents))
        for name, runner in runners.items():  # untimed: both sides load the same things
            home = tmp / f"{name}-warm"
            install_demo_packages(home)
            runner(warm, home, args.batch_size)
        for round_ in range(max(1, args.repeat)):
            order = ["direct", "flow"] if round_ % 2 == 0 else ["flow", "direct"]
            for name in order:
                home = tmp / f"{name}-{round_}"
                install_demo_packages(home)
                seconds, count = runners[name](folder, home, args.batch_size)
                assert count == args.documents, (name, count)
                times[name].append(seconds)
                print(
                    f"{name:>6} round {round_ + 1}: {seconds:7.2f} s  "
                    f"{count / seconds:6.1f} docs/s",
                    flush=True,
                )
    finally:
        server.stop()
    direct, flow = statistics.median(times["direct"]), statistics.median(times["flow"])
    overhead = flow / direct - 1
    batches = -(-args.documents // args.batch_size)
    print(
        f"\n{args.documents} documents, {batches} batches of {args.batch_size} "
        f"(2 tasks each) on a real Prefect server; medians of {len(times['flow'])} rounds"
    )
    print(f"direct pipeline : {direct:7.2f} s  (baseline 1.00x)")
    print(f"ingest flow     : {flow:7.2f} s  ({flow / direct:.3f}x)")
    from benchmarks.results import report

    result = report(
        "orchestration.flow_overhead_pct",
        overhead * 100,
        unit="%",
        target=f"<={TARGET * 100:.0f}",
        note=f"median of {len(times['flow'])} alternating rounds, {args.documents} documents, "
        f"batches of {args.batch_size}",
    )
    report("orchestration.direct_docs_per_s", args.documents / direct, unit="docs/s")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
