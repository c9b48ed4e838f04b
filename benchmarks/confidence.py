"""Calibration of translation confidence on the demo packages, and their threshold.

The demo packages (tests/fixtures/argos) know exactly the sentences of samples/gold; the
Korean and German sentences of tests/data/langid are text they never saw. A useful
confidence puts every known sentence above every unseen one. Prints, per language, the
distribution of sentence confidences (min / median / max) of both sets, the ROC AUC
(probability that a known sentence scores above an unseen one) and the threshold halfway
with the best balanced accuracy, and how the threshold the demo packages declare in their
metadata (``min_confidence``, written by tests/fixtures/argos/build_demo_packages.py) fares.

    .venv/bin/python benchmarks/confidence.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LANGUAGES = ("ko", "de")
GOLD = ROOT / "samples" / "gold"
UNSEEN = ROOT / "tests" / "data" / "langid" / "sentences"  # see tests/data/README.md
DEMO = ROOT / "tests" / "fixtures" / "argos"


def known_sentences(language: str, gold: Path = GOLD) -> list[str]:
    """Sentences (and titles) of the samples in ``language``: what the demo models learned."""
    found: list[str] = []
    for path in sorted(gold.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for paragraph in doc.get("paragraphs", []):
            if paragraph["language"] == language:
                found += [source for source, english in paragraph["sentences"] if english]
        title = (doc.get("title") or {}).get("original")
        if doc.get("language") == language and title:
            found.append(title.strip())
    return list(dict.fromkeys(found))


def unseen_sentences(language: str, limit: int | None = None, data: Path = UNSEEN) -> list[str]:
    lines = (data / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    known = set(known_sentences(language))
    sentences = [line.strip() for line in lines if line.strip() and line.strip() not in known]
    return sentences[:limit] if limit else sentences


def roc_auc(positives: list[float], negatives: list[float]) -> float:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney U)."""
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def confidences(packages: Path, language: str, sentences: list[str]) -> list[float]:
    """The engine's confidence in each sentence, translated as one text each (no memory)."""
    from ingest.translate import TranslationEngine

    batch = TranslationEngine([packages]).translate(language, sentences)
    return [c for c in batch.confidence if c is not None]


def install_demo(target: Path) -> Path:
    from ingest.translate import install_package_file

    for package in sorted(DEMO.glob("*.argosmodel")):
        install_package_file(package, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="unseen sentences per language")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        packages = install_demo(Path(folder))
        from ingest.translate import list_installed

        declared = {p.min_confidence for p in list_installed([packages])}
        all_known: list[float] = []
        all_unseen: list[float] = []
        for language in LANGUAGES:
            known = confidences(packages, language, known_sentences(language))
            unseen = confidences(packages, language, unseen_sentences(language, args.limit))
            all_known += known
            all_unseen += unseen
            for name, values in (("known", known), ("unseen", unseen)):
                print(
                    f"{language} {name:6} n={len(values):4} min {min(values):.3f} "
                    f"median {statistics.median(values):.3f} max {max(values):.3f}"
                )
            print(f"{language} ROC AUC {roc_auc(known, unseen):.4f}")
    print(f"all ROC AUC {roc_auc(all_known, all_unseen):.4f}")
    print(f"highest unseen {max(all_unseen):.3f}, lowest known {min(all_known):.3f}")
    threshold = best_threshold(all_known, all_unseen)
    known_low = sum(c < threshold for c in all_known) / len(all_known)
    unseen_high = sum(c >= threshold for c in all_unseen) / len(all_unseen)
    print(
        f"best threshold {threshold:.3f}: known marked low {known_low:.1%}, "
        f"unseen passing {unseen_high:.1%}"
    )
    for default in sorted(t for t in declared if t is not None):
        known_low = sum(c < default for c in all_known) / len(all_known)
        unseen_high = sum(c >= default for c in all_unseen) / len(all_unseen)
        print(
            f"threshold the demo packages declare (metadata.json min_confidence) {default:g}: "
            f"known marked low {known_low:.1%}, unseen passing {unseen_high:.1%}"
        )
    return 0


def best_threshold(known: list[float], unseen: list[float]) -> float:
    """The threshold (on a 0.001 grid, rounded down) with the best balanced accuracy: share
    of known sentences at or above it plus share of unseen ones below it."""

    def balanced(t: float) -> float:
        return sum(c >= t for c in known) / len(known) + sum(c < t for c in unseen) / len(unseen)

    grid = [round(i / 1000, 3) for i in range(1, 1001)]
    return max(grid, key=lambda t: (balanced(t), -t))


if __name__ == "__main__":
    raise SystemExit(main())
