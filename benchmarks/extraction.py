"""Extraction quality and speed on two sets, against trafilatura in the same run.

- scrapinghub (181 pages, the set the first rules were written on): the benchmark's own metric,
  4-token shingles, per-page tp/fp/fn normalised, precision and recall averaged over pages; each
  Han/Kana/Hangul character counts as one token.
- trafilatura_dev (578 pages of trafilatura's evaluation set, many languages): snippet scoring as
  trafilatura's evaluation does it, micro P/R/F1 over all snippets. A fixed ~30 % of its pages
  (by a hash of the URL, :func:`held_out`) is never used to develop rules and is reported apart;
  every page is also grouped by the language of its gold snippets (``ingest.language``).

``ingest.extract`` is compared with trafilatura default and ``favor_precision`` (both given the
raw bytes, so each decodes as it would in use). Pages are interleaved so machine load hits all
systems alike; speed is pages/s summed over both sets.

    .venv/bin/python benchmarks/extraction.py [--set scrapinghub|dev|all] [--limit N]
        [--show-worst N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "extraction" / "scrapinghub"  # see tests/data/README.md
DEV_DATA = ROOT / "tests" / "data" / "extraction" / "trafilatura_dev"
HELD_OUT_SHARE = 0.3  # of trafilatura_dev, by URL hash: never looked at while writing rules

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
    """(id, url, raw html bytes, gold article body) for each scrapinghub page."""
    gold = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(gold)[:limit]:
        raw = gzip.decompress((DATA / "html" / f"{key}.html.gz").read_bytes())
        pages.append((key, gold[key].get("url", ""), raw, gold[key].get("articleBody", "")))
    return pages


@dataclass(frozen=True)
class DevPage:
    """A trafilatura_dev page: snippets its main text must contain and must not contain."""

    url: str
    raw: bytes
    with_: tuple[str, ...]
    without: tuple[str, ...]

    @property
    def held_out(self) -> bool:
        return held_out(self.url)


def held_out(url: str) -> bool:
    """Whether a trafilatura_dev page is in the fixed held-out part (~30 %, by URL hash)."""
    digest = hashlib.sha256(url.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < HELD_OUT_SHARE * 2**32


def load_dev_pages(limit: int | None = None) -> list[DevPage]:
    """Every trafilatura_dev page, sorted by URL."""
    evaldata = json.loads((DEV_DATA / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url in sorted(evaldata)[:limit]:
        entry = evaldata[url]
        raw = gzip.decompress((DEV_DATA / "html" / entry["file"]).read_bytes())
        pages.append(DevPage(url, raw, tuple(entry["with"]), tuple(entry["without"])))
    return pages


def snippet_counts(page: DevPage, text: str) -> tuple[int, int, int, int]:
    """(tp, fn, fp, tn) of one page, as trafilatura's evaluation counts them."""
    tp = sum(1 for s in page.with_ if s in text)
    fp = sum(1 for s in page.without if s in text)
    return tp, len(page.with_) - tp, fp, len(page.without) - fp


def snippet_score(counts: list[tuple[int, int, int, int]]) -> dict[str, float]:
    """Micro precision, recall and F1 over all snippets of the pages."""
    tp, fn, fp, _tn = (sum(c[i] for c in counts) for i in range(4))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# The language groups reported: the rest goes to "other".
GROUPS = ("de", "en", "fr", "es", "it", "pt", "ru", "cjk")


def language_group(page: DevPage) -> str:
    """Group of a page by the language of its gold snippets."""
    return text_language_group(" ".join(page.with_ + page.without))


def text_language_group(text: str) -> str:
    """Language group of a gold text (ingest.language, py3langid restricted to the languages
    below, so the answer does not depend on the configured languages)."""
    from ingest.language import get_detector

    guess = get_detector(_ALL_LANGUAGES, backend="py3langid").detect(text)
    language = "cjk" if guess.language in ("zh", "ja", "ko") else guess.language
    return language if language in GROUPS else "other"


_ALL_LANGUAGES = [
    "de",
    "en",
    "fr",
    "es",
    "it",
    "pt",
    "nl",
    "ru",
    "pl",
    "cs",
    "sv",
    "da",
    "no",
    "fi",
    "tr",
    "el",
    "hu",
    "ro",
    "bg",
    "uk",
    "zh",
    "ja",
    "ko",
    "ar",
    "he",
    "id",
    "vi",
]


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

    return trafilatura.extract(raw, url=url) or ""


def trafilatura_precision(url: str, raw: bytes) -> str:
    import trafilatura

    return trafilatura.extract(raw, url=url, favor_precision=True) or ""


SYSTEMS = {
    "trafilatura default": trafilatura_default,
    "trafilatura favor_precision": trafilatura_precision,
    "ingest.extract": ours,
}
OURS = "ingest.extract"


def run_all(inputs: list[tuple[str, bytes]], systems, rounds: int = 1):
    """Run every system on every (url, raw) input, interleaved page by page so that load from
    other processes on the machine hits all systems alike; per system keep the best round's
    time per page. Returns the outputs and the seconds per system."""
    names = list(systems)
    outputs: dict[str, list[str]] = {name: [] for name in names}
    times = {name: [float("inf")] * len(inputs) for name in names}
    for i, (url, raw) in enumerate(inputs):
        for r in range(rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order:
                start = time.perf_counter()
                out = systems[name](url, raw)
                times[name][i] = min(times[name][i], time.perf_counter() - start)
                if r == 0:
                    outputs[name].append(out)
    return outputs, {name: sum(t) for name, t in times.items()}


def evaluate(pages, rounds: int = 1) -> dict[str, dict]:
    """Scores and speed of every system on scrapinghub pages; also per-page results and
    outputs (the eval gate and --show-worst use them)."""
    for system in SYSTEMS.values():  # warm up imports and caches outside the timing
        system(pages[0][1], pages[0][2])
    outputs, elapsed = run_all([(p[1], p[2]) for p in pages], SYSTEMS, rounds)
    groups = [text_language_group(p[3]) for p in pages]
    report: dict[str, dict] = {}
    for name in SYSTEMS:
        results = [match(p[3], out) for p, out in zip(pages, outputs[name], strict=True)]
        by_group: dict[str, list] = {}
        for group, r in zip(groups, results, strict=True):
            by_group.setdefault(group, []).append(r)
        report[name] = {
            **score(results),
            "groups": {g: {**score(rs), "pages": len(rs)} for g, rs in sorted(by_group.items())},
            "pages_per_s": len(pages) / elapsed[name],
            "seconds": elapsed[name],
            "results": results,
            "outputs": outputs[name],
        }
    return report


def evaluate_dev(pages: list[DevPage], rounds: int = 1) -> dict[str, dict]:
    """Snippet scores of every system on trafilatura_dev pages: all pages, the development
    part, the held-out part, and per language group; speed as in :func:`evaluate`."""
    for system in SYSTEMS.values():
        system(pages[0].url, pages[0].raw)
    outputs, elapsed = run_all([(p.url, p.raw) for p in pages], SYSTEMS, rounds)
    groups = [language_group(p) for p in pages]
    report: dict[str, dict] = {}
    for name in SYSTEMS:
        counts = [snippet_counts(p, out) for p, out in zip(pages, outputs[name], strict=True)]

        def part(keep, counts=counts) -> dict[str, float]:
            chosen = [c for c, p, g in zip(counts, pages, groups, strict=True) if keep(p, g)]
            return {**snippet_score(chosen), "pages": len(chosen)}

        report[name] = {
            **snippet_score(counts),
            "dev": part(lambda p, g: not p.held_out),
            "held_out": part(lambda p, g: p.held_out),
            "groups": {
                group: part(lambda p, g, group=group: g == group)
                for group in (*GROUPS, "other")
                if group in groups
            },
            "pages_per_s": len(pages) / elapsed[name],
            "seconds": elapsed[name],
            "counts": counts,
            "outputs": outputs[name],
        }
    return report


def result(name: str, value: float, *, unit: str = "", target: str = "", note: str = "") -> None:
    """One machine-readable ``RESULT`` line (benchmarks/results.py; `make bench` collects them)."""
    from benchmarks.results import report

    report(name, value, unit=unit, target=target, note=note)


def _table(title: str, rows: dict[str, dict], speed_base: float | None = None) -> None:
    print(title)
    print(f"  {'system':<30} {'P':>6} {'R':>6} {'F1':>6}" + (" pages/s" if speed_base else ""))
    for name, row in rows.items():
        line = f"  {name:<30} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f}"
        if speed_base:
            line += f" {row['pages_per_s']:7.1f}"
        print(line)


def _groups_table(report: dict[str, dict]) -> None:
    print("  F1 by language group (of the gold text, ingest.language):")
    print(f"    {'group':<7} {'pages':>5} " + " ".join(f"{n[-16:]:>16}" for n in SYSTEMS))
    for group, row in report[OURS]["groups"].items():
        f1s = " ".join(f"{report[n]['groups'][group]['f1']:16.3f}" for n in SYSTEMS)
        print(f"    {group:<7} {row['pages']:5d} {f1s}")


def _results(prefix: str, rows: dict[str, dict], *, with_f1: bool = False) -> None:
    """RESULT lines: ours P/R (and F1 unless reported apart with a target), each trafilatura
    mode's F1."""
    result(f"{prefix}_precision", rows[OURS]["precision"])
    result(f"{prefix}_recall", rows[OURS]["recall"])
    if with_f1:
        result(f"{prefix}_f1", rows[OURS]["f1"])
    result(f"{prefix}_f1_trafilatura_default", rows["trafilatura default"]["f1"])
    result(f"{prefix}_f1_trafilatura_precision", rows["trafilatura favor_precision"]["f1"])


def _best_trafilatura(rows: dict[str, dict], key=lambda row: row["f1"]) -> float:
    return max(key(row) for name, row in rows.items() if name != OURS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=("all", "scrapinghub", "dev"), default="all")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages per set")
    parser.add_argument("--show-worst", type=int, default=0, help="list the N worst pages of ours")
    parser.add_argument("--rounds", type=int, default=1, help="timing rounds per page (best kept)")
    args = parser.parse_args()
    seconds = {name: 0.0 for name in SYSTEMS}
    pages_done = 0
    if args.set in ("all", "scrapinghub"):
        if not (DATA / "ground-truth.json").is_file():
            parser.exit(1, f"benchmark data missing: {DATA / 'ground-truth.json'}\n")
        pages = load_pages(args.limit)
        report = evaluate(pages, args.rounds)
        _table(f"scrapinghub: {len(pages)} pages (shingle metric)", report, speed_base=1)
        for name in SYSTEMS:
            seconds[name] += report[name]["seconds"]
        pages_done += len(pages)
        _groups_table(report)
        _results("extraction.scrapinghub", report)
        result("extraction.scrapinghub_f1", report[OURS]["f1"], target=">=0.970")
        for group, row in report[OURS]["groups"].items():
            result(
                f"extraction.scrapinghub_group_{group}_f1", row["f1"], note=f"{row['pages']} pages"
            )
        if args.show_worst:
            results = report[OURS]["results"]
            for i in sorted(range(len(pages)), key=lambda i: results[i][0])[: args.show_worst]:
                tp, fp, fn = results[i]
                print(f"  {pages[i][0][:12]} tp={tp:.2f} fp={fp:.2f} fn={fn:.2f} {pages[i][1]}")
    if args.set in ("all", "dev"):
        if not (DEV_DATA / "evaldata.json").is_file():
            parser.exit(1, f"benchmark data missing: {DEV_DATA / 'evaldata.json'}\n")
        dev_pages = load_dev_pages(args.limit)
        report = evaluate_dev(dev_pages, args.rounds)
        for name in SYSTEMS:
            seconds[name] += report[name]["seconds"]
        pages_done += len(dev_pages)
        _table(f"trafilatura_dev: {len(dev_pages)} pages (snippets, micro)", report)
        for part in ("dev", "held_out"):
            rows = {name: report[name][part] for name in SYSTEMS}
            _table(f"  {part} part: {rows[OURS]['pages']} pages", rows)
        groups = report[OURS]["groups"]
        _groups_table(report)
        best = _best_trafilatura(report)
        _results("extraction.dev", report)
        result("extraction.dev_f1", report[OURS]["f1"], target=f">={best + 0.015:.3f}")
        for part in ("dev", "held_out"):
            rows = {name: report[name][part] for name in SYSTEMS}
            _results(f"extraction.dev_{part}", rows, with_f1=True)
        for group, row in groups.items():
            result(f"extraction.dev_group_{group}_f1", row["f1"], note=f"{row['pages']} pages")
        if args.show_worst:
            counts = report[OURS]["counts"]
            dev_only = [i for i, p in enumerate(dev_pages) if not p.held_out]  # never held-out
            worst = sorted(dev_only, key=lambda i: -(counts[i][1] + counts[i][2]))
            for i in worst[: args.show_worst]:
                tp, fn, fp, _tn = counts[i]
                print(f"  tp={tp} fn={fn} fp={fp} {dev_pages[i].url}")
    speeds = {name: pages_done / seconds[name] for name in SYSTEMS}
    print(f"speed over {pages_done} pages: " + ", ".join(f"{n} {v:.1f}" for n, v in speeds.items()))
    result(
        "extraction.speed_vs_trafilatura_default",
        speeds[OURS] / speeds["trafilatura default"],
        unit="x",
        target=">=0.75",
    )
    result(
        "extraction.speed_vs_trafilatura_precision",
        speeds[OURS] / speeds["trafilatura favor_precision"],
        unit="x",
    )


if __name__ == "__main__":
    main()
