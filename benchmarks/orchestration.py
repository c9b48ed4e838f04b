"""Prefect overhead: N sample-like documents through the `ingest` flow (real Prefect server,
batched tasks) vs the same library pipeline called directly, in one run.

    .venv/bin/python benchmarks/orchestration.py [--documents 1000] [--repeat 1]

Documents are the pages of samples/ with a unique paragraph each (so none is "unchanged"),
written to a temp folder. Each run gets a fresh store; both sides include building the
pipeline (models, store). The server's start is not counted (a deployment runs against a
long-running server). Prints seconds, docs/s and the overhead ratio; the target is ≤ 10 %.
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
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

    _pipeline.cache_clear()  # build the pipeline inside the timed run, like the direct side
    started = time.perf_counter()
    rows = ingest_flow(inputs=[str(folder)], home=str(home), batch_size=batch_size)
    return time.perf_counter() - started, len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: INGEST_BATCH_SIZE")
    parser.add_argument("--repeat", type=int, default=1, help="alternating direct/flow pairs")
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
    try:
        direct, flow = [], []
        for round_ in range(args.repeat):
            for name, runner, times in (("direct", run_direct, direct), ("flow", run_flow, flow)):
                home = tmp / f"{name}-{round_}"
                install_demo_packages(home)
                seconds, count = runner(folder, home, args.batch_size)
                assert count == args.documents, (name, count)
                times.append(seconds)
                print(
                    f"{name:>6} round {round_ + 1}: {seconds:7.2f} s  "
                    f"{count / seconds:6.1f} docs/s",
                    flush=True,
                )
    finally:
        server.stop()
    best_direct, best_flow = min(direct), min(flow)
    overhead = best_flow / best_direct - 1
    batches = -(-args.documents // args.batch_size)
    print(
        f"\n{args.documents} documents, {batches} batches of {args.batch_size} "
        f"(2 tasks each) on a real Prefect server"
    )
    print(f"direct pipeline : {best_direct:7.2f} s  (baseline 1.00x)")
    print(f"ingest flow     : {best_flow:7.2f} s  ({best_flow / best_direct:.3f}x)")
    verdict = "OK" if overhead <= TARGET else "ABOVE TARGET"
    print(f"Prefect overhead: {overhead * 100:+.1f} % (target ≤ {TARGET * 100:.0f} %): {verdict}")
    return 0 if overhead <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
