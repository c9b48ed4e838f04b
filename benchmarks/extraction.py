"""Extraction quality and speed on the scrapinghub article-extraction benchmark (181 pages).

Compares ``ingest.extract`` with trafilatura default and trafilatura ``favor_precision`` in one
run, with the benchmark's own metric: 4-token shingles, per-page tp/fp/fn normalised, precision
and recall averaged over pages; each Han/Kana/Hangul character counts as one token.

    .venv/bin/python benchmarks/extraction.py [--limit N] [--show-worst N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "extraction" / "scrapinghub"  # see tests/data/README.md

_CJK = r"\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+")


def tokens(text: str) -> list[str]:
    """Word tokens; every CJK character is a token of its own."""
    out: list[str] = []
    for m in re.finditer(r"\w+", text or ""):
        out.extend(_TOKEN.findall(m.group(0)))
    return out


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    toks = tokens(text)
    return Counter(
        tuple(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1)) if toks[i : i + n]
    )


def match(true: str, pred: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of one page, as in the benchmark's evaluate.py."""
    t, p = shingles(true), shingles(pred)
    tp = fp = fn = 0.0
    for key in set(t) | set(p):
        tp += min(t[key], p[key])
        fp += max(0, p[key] - t[key])
        fn += max(0, t[key] - p[key])
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def score(results: list[tuple[float, float, float]]) -> dict[str, float]:
    """Precision, recall and F1 over pages (pages with nothing to compare are skipped)."""
    precision = statistics.mean([_precision(*r) for r in results if r[0] + r[1] > 0] or [0.0])
    recall = statistics.mean([_recall(*r) for r in results if r[0] + r[2] > 0] or [0.0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def load_pages(limit: int | None = None) -> list[tuple[str, str, bytes, str]]:
    """(id, url, raw html bytes, gold article body) for each benchmark page."""
    gold = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(gold)[:limit]:
        raw = gzip.decompress((DATA / "html" / f"{key}.html.gz").read_bytes())
        pages.append((key, gold[key].get("url", ""), raw, gold[key].get("articleBody", "")))
    return pages


def ours(url: str, raw: bytes) -> str:
    from ingest.extract import ExtractionError, extract
    from ingest.models import RawPage

    try:
        doc = extract(RawPage(url=url or "file:///page.html", source="benchmark", body=raw))
    except ExtractionError:
        return ""
    return "\n".join(doc.paragraphs)


def trafilatura_default(url: str, raw: bytes) -> str:
    import trafilatura

    return trafilatura.extract(raw.decode("utf-8", errors="replace"), url=url) or ""


def trafilatura_precision(url: str, raw: bytes) -> str:
    import trafilatura

    html = raw.decode("utf-8", errors="replace")
    return trafilatura.extract(html, url=url, favor_precision=True) or ""


SYSTEMS = {
    "trafilatura default": trafilatura_default,
    "trafilatura favor_precision": trafilatura_precision,
    "ingest.extract": ours,
}


def run_all(pages, systems, rounds: int = 1):
    """Run every system on every page, interleaved page by page so that load from other
    processes on the machine hits all systems alike; per system keep the best round's time."""
    names = list(systems)
    outputs: dict[str, list[str]] = {name: [] for name in names}
    times = {name: [float("inf")] * len(pages) for name in names}
    for i, (_key, url, raw, _gold) in enumerate(pages):
        for r in range(rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order:
                start = time.perf_counter()
                out = systems[name](url, raw)
                times[name][i] = min(times[name][i], time.perf_counter() - start)
                if r == 0:
                    outputs[name].append(out)
    return outputs, {name: sum(t) for name, t in times.items()}


def evaluate(pages, rounds: int = 1) -> dict[str, dict[str, float]]:
    """Scores and speed of every system; also the per-page results and outputs of ours."""
    for system in SYSTEMS.values():  # warm up imports and caches outside the timing
        system(pages[0][1], pages[0][2])
    outputs, elapsed = run_all(pages, SYSTEMS, rounds)
    report: dict[str, dict] = {}
    for name in SYSTEMS:
        results = [match(p[3], out) for p, out in zip(pages, outputs[name], strict=True)]
        report[name] = {
            **score(results),
            "pages_per_s": len(pages) / elapsed[name],
            "results": results,
            "outputs": outputs[name],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument("--show-worst", type=int, default=0, help="list the N worst pages of ours")
    parser.add_argument("--rounds", type=int, default=1, help="timing rounds per page (best kept)")
    args = parser.parse_args()
    if not (DATA / "ground-truth.json").is_file():
        parser.exit(1, f"benchmark data missing: {DATA / 'ground-truth.json'}\n")
    pages = load_pages(args.limit)
    report = evaluate(pages, args.rounds)
    base_speed = report["trafilatura default"]["pages_per_s"]
    print(f"scrapinghub: {len(pages)} pages")
    print(f"{'system':<30} {'P':>6} {'R':>6} {'F1':>6} {'pages/s':>8} {'speed vs default':>17}")
    for name, row in report.items():
        print(
            f"{name:<30} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} "
            f"{row['pages_per_s']:8.1f} {row['pages_per_s'] / base_speed:16.2f}x"
        )
    if args.show_worst:
        ours_row = report["ingest.extract"]
        results = ours_row["results"]
        order = sorted(range(len(pages)), key=lambda i: results[i][0])
        for i in order[: args.show_worst]:
            tp, fp, fn = results[i]
            print(f"{pages[i][0][:12]} tp={tp:.2f} fp={fp:.2f} fn={fn:.2f} {pages[i][1]}")


if __name__ == "__main__":
    main()
