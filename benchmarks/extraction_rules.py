"""On how many different sites each residual string rule of ingest.extract fires.

A removal rule must be justified by at least two different sites (README, Extraction). This
runs trafilatura (both modes) and the table-layout fallback on scrapinghub, the development
part of trafilatura_dev (never the held-out part), the fixtures and the samples, and prints per
rule the sites where it matches a line, and how often that line was debris (not in the gold
text / a must-not snippet) or body text (in the gold / a must-have snippet).

    .venv/bin/python benchmarks/extraction_rules.py [--max-sites N]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

import ingest.extract as ie  # noqa: E402
from benchmarks import extraction  # noqa: E402  (the data loaders)
from ingest.encoding import decode_html  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "extraction"
SAMPLES = ROOT / "samples"

# rule -> site -> [debris, body, neither]
Fires = defaultdict[str, defaultdict[str, list[int]]]


def candidate_lines(raw: bytes, url: str) -> list[str]:
    """Every line the residual rules may see: trafilatura's, both modes, and the fallback's."""
    tree = ie._parse(decode_html(raw, {}))
    lines: list[str] = []
    for precise in (True, False):
        document = trafilatura.bare_extraction(
            tree, url=url, favor_precision=precise, include_comments=False, include_tables=True
        )
        lines += ie._paragraphs(document.body) if document is not None else []
    block = ie._densest_block(tree)
    return lines + (ie._block_lines(block) if block is not None else [])


def rules_matching(line: str) -> list[str]:
    norm = ie.normalize_line(line)
    found = [f"label: {norm}"] if norm in ie._WIDGET_LINES else []
    found += [f"link-list heading: {norm}"] if norm in ie._LINK_LIST_HEADERS else []
    found += [f"pattern: {p.pattern}" for p in ie._FOOTER_PATTERNS if p.search(line)]
    if ie._SECTION_HEADERS.match(line):
        found.append(f"section heading: {ie._SECTION_HEADERS.pattern}")
    return found


def count(
    fires: Fires, site: str, lines: list[str], debris: Callable[[str], bool], body: Callable
) -> None:
    for raw in lines:
        line = " ".join(raw.split())
        for rule in rules_matching(line):
            fires[rule][site][0 if debris(line) else 1 if body(line) else 2] += 1


def collect() -> Fires:
    fires: Fires = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for _key, url, raw, gold in extraction.load_pages():
        text = " ".join(gold.split())
        count(fires, urlsplit(url).hostname or url, candidate_lines(raw, url),
              lambda line, t=text: line not in t, lambda line, t=text: line in t)  # fmt: skip
    for page in extraction.load_dev_pages():
        if page.held_out:
            continue
        count(fires, urlsplit(page.url).hostname or page.url, candidate_lines(page.raw, page.url),
              lambda line, p=page: any(s in line for s in p.without),
              lambda line, p=page: any(s in line for s in p.with_))  # fmt: skip
    for gold in json.loads((FIXTURES / "gold.json").read_text(encoding="utf-8"))["pages"]:
        lines = candidate_lines((FIXTURES / gold["file"]).read_bytes(), gold["url"])
        count(fires, f"fixture:{gold['file']}", lines,
              lambda line, g=gold: any(b in line for b in g["boilerplate"]),
              lambda line, g=gold: any(s in line for s in g["sentences"]))  # fmt: skip
    for path in sorted((SAMPLES / "gold").glob("*.json")):
        gold = json.loads(path.read_text(encoding="utf-8"))
        sentences = [s for paragraph in gold["paragraphs"] for s, _ in paragraph["sentences"]]
        lines = candidate_lines((SAMPLES / gold["file"]).read_bytes(), f"file:///{gold['file']}")
        count(fires, f"sample:{gold['file']}", lines,
              lambda line, g=gold: any(b in line for b in g.get("boilerplate", [])),
              lambda line, s=sentences: any(x in line for x in s))  # fmt: skip
    return fires


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-sites", type=int, default=1, help="list rules on at most N sites")
    args = parser.parse_args()
    fires = collect()
    rules = (
        [f"label: {x}" for x in sorted(ie._WIDGET_LINES)]
        + [f"link-list heading: {x}" for x in sorted(ie._LINK_LIST_HEADERS)]
        + [f"pattern: {p.pattern}" for p in ie._FOOTER_PATTERNS]
        + [f"section heading: {ie._SECTION_HEADERS.pattern}"]
    )
    print(f"{'sites':>5} {'debris':>6} {'body':>5} rule  (sites)")
    for rule in rules:
        sites = fires.get(rule, {})
        debris_sites = [s for s, (debris, _b, _n) in sites.items() if debris]
        if len(debris_sites) > args.max_sites:
            continue
        debris = sum(v[0] for v in sites.values())
        body = sum(v[1] for v in sites.values())
        print(f"{len(debris_sites):5d} {debris:6d} {body:5d} {rule[:80]}  {' '.join(debris_sites)}")


if __name__ == "__main__":
    main()
