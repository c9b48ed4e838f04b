"""Fit the short-text combination weights of the language detector (``AUTO_SHORT``).

A conditional logit: the score of a candidate language is a weighted sum of lingua's and
py3langid's log-probabilities, the word-frequency log-likelihood and the number of words the
language's word list lacks; the weights minimise the log loss of the right language (so the
softmax of the scores is a calibrated confidence). Only texts the script rules leave open count.

The fit sees only the *tuning half* of tests/data/langid (items whose md5 is even, see
``benchmarks.language.half``): the single words, word pairs and the sentences short enough
for the short-text combination; ``benchmarks/language.py --half report``
measures the other half, which the fit never saw.

    .venv/bin/python benchmarks/language_fit.py [--languages config|16]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.language import DEFAULT_DATA, load  # noqa: E402

FEATURES = ("lingua", "py3langid", "words", "floor", "unknown", "lingua_unknown",
            "py3langid_unknown")  # fmt: skip


def features(detector, text: str) -> tuple[list[str], list[list[float]]] | None:
    """Candidates and one feature row per candidate, or None when the text does not reach the
    short-text combination (the script rules decide, or it is long)."""
    from ingest.language import (
        _SPACED,
        _WORD,
        LONG_TEXT_LETTERS,
        _keep_group,
    )

    guess, profile, group, candidates = detector.scripts.decide(text)
    if guess is not None or group not in _SPACED:
        return None
    if profile.group_letters(group) >= LONG_TEXT_LETTERS:
        return None
    focused = _keep_group(text, group) if profile.share < 1.0 else text
    lingua = detector.lingua.scores(focused, candidates)
    langid, _best, _p = detector.langid.scores(focused, candidates)
    words = [w.lower() for w in _WORD.findall(focused)]
    codes = sorted(candidates)
    spelled = {
        word: (
            detector.lingua.scores(word, candidates),
            detector.langid.scores(word, candidates)[0],
        )
        for word in set(words)
    }
    rows = []
    for code in codes:
        known, found, cutoff_log = detector.words.lookup(words, code)
        unknown = [word for word, hit in zip(words, found, strict=True) if not hit]
        rows.append(
            [
                math.log(lingua.get(code, 0.0) + 1e-9),
                math.log(langid.get(code, 0.0) + 1e-9),
                known,
                len(unknown) * cutoff_log,
                float(len(unknown)),
                sum(math.log(spelled[w][0].get(code, 0.0) + 1e-9) for w in unknown),
                sum(math.log(spelled[w][1].get(code, 0.0) + 1e-9) for w in unknown),
            ]
        )
    return codes, rows


def main() -> None:
    import numpy as np
    from scipy.optimize import minimize  # scipy comes with datasketch (a dependency)

    from ingest.config import load_settings
    from ingest.language import AUTO_SHORT, SHORT_TEMPERATURE, HybridDetector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="config", help="'config' or '16'")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.languages == "16":
        languages = sorted(p.stem for p in (args.data / "sentences").glob("*.txt"))
    else:
        languages = list(load_settings().languages)
    detector = HybridDetector(languages)

    blocks: list[tuple[np.ndarray, int]] = []  # (candidates x features, index of the right one)
    for bucket in load(args.data, part="tune").values():
        for language, texts in bucket.items():
            for text in texts:
                found = features(detector, text)
                if found is None or language not in found[0]:
                    continue
                codes, rows = found
                blocks.append((np.array(rows), codes.index(language)))
    print(f"{len(blocks)} tuning texts left open by the script rules")

    # Padded: texts x candidates x features, with a mask for the candidates that exist.
    width = max(len(m) for m, _ in blocks)
    x = np.zeros((len(blocks), width, len(FEATURES)))
    present = np.zeros((len(blocks), width), dtype=bool)
    right = np.array([r for _, r in blocks])
    for i, (matrix, _r) in enumerate(blocks):
        x[i, : len(matrix)] = matrix
        present[i, : len(matrix)] = True
    rows = np.arange(len(blocks))

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood of the right language, and its gradient."""
        scores = np.where(present, x @ weights, -np.inf)
        top = scores.max(axis=1, keepdims=True)
        exp = np.exp(scores - top)
        total = exp.sum(axis=1, keepdims=True)
        p = exp / total
        value = np.mean(top[:, 0] + np.log(total[:, 0]) - scores[rows, right])
        gradient = np.mean(np.einsum("nc,ncf->nf", p, x) - x[rows, right], axis=0)
        return float(value), gradient

    fitted = minimize(
        loss, np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]), jac=True, method="L-BFGS-B"
    )
    weights = fitted.x
    defaults = {"floor": AUTO_SHORT.get("words", 0.0)}
    current = np.array([AUTO_SHORT.get(n, defaults.get(n, 0.0)) for n in FEATURES])
    current /= SHORT_TEMPERATURE
    for label, w in (("fitted", weights), ("current AUTO_SHORT", current)):
        accuracy = np.mean(np.where(present, x @ w, -np.inf).argmax(axis=1) == right)
        print(f"{label}: log loss {loss(w)[0]:.4f}, accuracy on these texts {100 * accuracy:.2f} %")
    pairs = zip(FEATURES, weights, strict=True)
    print("AUTO_SHORT = {" + ", ".join(f'"{n}": {w:.2f}' for n, w in pairs) + "}")


if __name__ == "__main__":
    main()
