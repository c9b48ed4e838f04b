"""Reader comments (``include_comments``) on every page of trafilatura_dev and scrapinghub.

For each page, extracts with the option off and on (same process, alternating) and reports:
pages with a comment section found, comment paragraphs, whether the article's own paragraphs
are identical with the option on (they must be, on every page), the time ratio on/off, and
how many of trafilatura_dev's must-not-contain snippets (page chrome, and on some pages the
comments themselves) land in comment paragraphs.

    .venv/bin/python benchmarks/comments.py [--limit N] [--show N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "extraction"  # see tests/data/README.md


def pages(limit: int | None) -> list[tuple[Path, list[str]]]:
    """(page, must-not-contain snippets) for trafilatura_dev, then scrapinghub (no snippets)."""
    dev = DATA / "trafilatura_dev"
    evaldata = json.loads((dev / "evaldata.json").read_text(encoding="utf-8"))
    found = [
        (dev / "html" / entry["file"], entry.get("without", [])) for entry in evaldata.values()
    ]
    found += [(path, []) for path in sorted((DATA / "scrapinghub" / "html").glob("*.html.gz"))]
    return found[:limit] if limit else found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--show", type=int, default=10, help="must-not snippets to print")
    args = parser.parse_args()

    from ingest.extract import ExtractionError, extract
    from ingest.models import RawPage

    seconds = {"off": 0.0, "on": 0.0}
    with_comments = comment_paragraphs = differing = total = 0
    leaked: list[tuple[str, str]] = []
    for index, (path, without) in enumerate(pages(args.limit)):
        if not path.exists():
            continue
        page = RawPage(
            url=path.resolve().as_uri(), source=str(path), body=gzip.decompress(path.read_bytes())
        )
        results = {}
        for mode in ("off", "on") if index % 2 else ("on", "off"):
            started = time.perf_counter()
            try:
                results[mode] = extract(page, include_comments=mode == "on")
            except ExtractionError:
                results[mode] = None
            seconds[mode] += time.perf_counter() - started
        total += 1
        off, on = results["off"], results["on"]
        if off is None or on is None:
            differing += (off is None) != (on is None)
            continue
        body = [on.paragraphs[i] for i in on.body_indices()]
        comments = on.paragraphs[len(body) :]
        differing += body != off.paragraphs
        if comments:
            with_comments += 1
            comment_paragraphs += len(comments)
            text = "\n".join(comments)
            leaked += [(path.name, s) for s in without if s in text]
    print(
        f"pages: {total}, with comments: {with_comments}, comment paragraphs: {comment_paragraphs}"
    )
    print(f"pages whose article differs with comments on: {differing} (must be 0)")
    print(
        f"time: off {seconds['off']:.1f} s, on {seconds['on']:.1f} s, "
        f"on/off = {seconds['on'] / seconds['off']:.2f}"
    )
    print(f"must-not-contain snippets found in comment paragraphs: {len(leaked)}")
    for name, snippet in leaked[: args.show]:
        print(f"  {name}: {snippet[:90]!r}")


if __name__ == "__main__":
    main()
