"""Reprocessing throughput and memory on a synthetic 10,000-document WARC.

Synthesises a WARC (gzip per record) from the sample pages (English, German, Korean, English
with a Korean caption; each copy made unique by a reference tag and a varied paragraph order),
installs the demo German→English translation package (one translation model), then in one
process:

1. first pass: every record extracted, detected, translated, stored;
2. second pass over the unchanged archive: every document skipped as unchanged — the baseline
   of the ratio is the first pass of this same run (floor: ≥ 20× faster);
3. forced pass (``force=True``): everything redone, translation memory answers every sentence.

Peak RSS is sampled during each pass (and the process maximum read at the end) to show memory
stays flat whatever the archive size (floor: < 1.5 GB with the translation model loaded).

    .venv/bin/python benchmarks/reprocess.py [--docs 10000] [--batch-size 32] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = sorted((ROOT / "samples").glob("*.html"))
DEMO_PACKAGES = sorted((ROOT / "tests" / "fixtures" / "argos").glob("*.argosmodel"))
_PARAGRAPH = re.compile(r"<p>(?:(?!</p>).)*</p>", re.S)


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def variant(html: str, i: int, rng: random.Random) -> bytes:
    """A unique copy: a reference meta tag, and two body paragraphs swapped half of the time."""
    html = html.replace("<head>", f'<head>\n<meta name="ref" content="story-{i}">', 1)
    paragraphs = _PARAGRAPH.findall(html)
    if len(paragraphs) >= 3 and rng.random() < 0.5:
        a, b = rng.sample(range(len(paragraphs)), 2)
        first, second = paragraphs[a], paragraphs[b]
        html = html.replace(first, "\0A\0", 1).replace(second, first, 1).replace("\0A\0", second)
    return html.encode("utf-8")


def synthesise(folder: Path, docs: int) -> Path:
    from ingest.archive import WarcArchive
    from ingest.models import RawPage

    templates = [p.read_text(encoding="utf-8") for p in SAMPLES]
    rng = random.Random(8)
    with WarcArchive(folder, fsync=False, max_file_bytes=1 << 40) as archive:
        for i in range(docs):
            archive.write_page(
                RawPage(
                    url=f"https://news.example/{SAMPLES[i % len(SAMPLES)].stem}/{i}",
                    source="benchmark",
                    body=variant(templates[i % len(templates)], i, rng),
                    http_status=200,
                    headers={"content-type": "text/html; charset=utf-8"},
                )
            )
    (path,) = archive.files
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="ingest-bench-reprocess-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    if home.exists():
        shutil.rmtree(home)
    from ingest.config import load_settings
    from ingest.reprocess import ReprocessStats, reprocess
    from ingest.store import Store
    from ingest.translate import install_package_file

    started = time.perf_counter()
    warc = synthesise(work / "warc", args.docs)
    size_mb = warc.stat().st_size / 1e6
    print(
        f"synthesised {args.docs} documents: {warc.name}, {size_mb:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )
    for package in DEMO_PACKAGES:
        install_package_file(package, home / "packages")
    print(f"translation packages: {', '.join(p.name for p in DEMO_PACKAGES) or 'none'}")
    settings = load_settings(home=home, batch_size=args.batch_size)
    store = Store(settings.resolved_store_url())
    print(f"baseline RSS before the first pass: {rss_mb():.0f} MB")

    samples: list[tuple[str, int, float]] = []

    def run(label: str, *, force: bool = False) -> ReprocessStats:
        last = [0.0]

        def on_progress(stats: ReprocessStats) -> None:
            now = time.perf_counter()
            if now - last[0] > 2 or stats.bytes_done == stats.bytes_total:
                last[0] = now
                samples.append((label, stats.records, rss_mb()))
                done = stats.bytes_done / max(1, stats.bytes_total)
                print(
                    f"\r  {label}: {stats.records} docs, {stats.documents_per_second:.1f} docs/s, "
                    f"{done:.0%}, RSS {samples[-1][2]:.0f} MB   ",
                    end="",
                    flush=True,
                )

        report = reprocess([warc], settings, force=force, store=store, on_progress=on_progress)
        print()
        return report.stats

    first = run("first pass")
    second = run("unchanged pass")
    forced = run("forced pass", force=True)

    def rss_during(label: str) -> tuple[float, float, float]:
        values = [mb for name, _, mb in samples if name == label]
        if not values:
            return 0.0, 0.0, 0.0
        return values[len(values) // 10], values[len(values) // 2], max(values)

    print()
    print(f"{'pass':<16}{'docs':>7}{'docs/s':>10}{'vs first':>10}  statuses")
    for label, stats in [("first", first), ("unchanged", second), ("forced", forced)]:
        ratio = stats.documents_per_second / max(first.documents_per_second, 1e-9)
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(stats.statuses.items()))
        print(
            f"{label:<16}{stats.records:>7}{stats.documents_per_second:>10.1f}"
            f"{ratio:>9.1f}×  {statuses}"
        )
    print(
        f"translation: first pass {first.model_sentences} sentence(s) by the model, "
        f"{first.memory_hits} from memory; forced pass {forced.model_sentences} by the model, "
        f"{forced.memory_hits} from memory"
    )
    for label in ("first pass", "unchanged pass", "forced pass"):
        at10, at50, top = rss_during(label)
        print(f"RSS {label:<15} at 10%: {at10:6.0f} MB  at 50%: {at50:6.0f} MB  max: {top:6.0f} MB")
    peak = peak_rss_mb()
    ratio = second.documents_per_second / max(first.documents_per_second, 1e-9)
    print(f"peak RSS of the process: {peak:.0f} MB")
    print(
        f"store: {store.count_documents()} documents, {len(store.near_duplicate_groups())} groups"
    )
    from benchmarks.results import report

    results = [
        report(
            "reprocess.unchanged_vs_first",
            ratio,
            unit="x",
            target=">=20",
            note=f"second pass over an unchanged {args.docs}-document WARC vs the first pass",
        ),
        report("reprocess.first_docs_per_s", first.documents_per_second, unit="docs/s"),
        report(
            "reprocess.forced_model_sentences",
            forced.model_sentences,
            target="<=0",
            note="a forced pass: the translation memory answers every sentence",
        ),
        report("reprocess.peak_rss_mb", peak, unit="MB", target="<1536"),
    ]
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.passed is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
