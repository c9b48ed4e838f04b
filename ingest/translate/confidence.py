"""Translation confidence: how much the model itself believes its English.

CTranslate2 returns, with ``return_scores=True``, each hypothesis' cumulative log-probability
divided by ``length ** length_penalty`` (length counting the end-of-sentence token). We undo
that division and divide by the length instead: the mean log-probability per output token,
whose ``exp`` is in (0, 1], higher = more trusted. A paragraph's confidence is ``exp`` of the
mean of its sentences' log-confidences, weighted by the length of their English (a long
sentence says more about the paragraph than a one-word one). A model that meets text far from
its training data (another language, tables of numbers, lists of names) spreads its
probability over many tokens and scores low, even when its output reads fluently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

# Threshold below which a translated paragraph is marked low-confidence. Measured with
# benchmarks/confidence.py on the demo packages (README, "Translation confidence"): the
# sentences they know score 0.983-0.989, the unseen ones a median of 0.957 (ko) / 0.904 (de);
# the best balanced accuracy is at 0.983, taken down to 0.98 for a margin against int8
# rounding differences between CPUs. Real packages have not been measured (no network here).
DEFAULT_MIN_CONFIDENCE = 0.98
# A document whose low-confidence paragraphs hold more than this share of its foreign text
# (in characters) gets the status "low-confidence".
LOW_CONFIDENCE_SHARE = 0.5


class Translation(NamedTuple):
    """One translated sentence and the model's confidence in it (None = unknown, e.g.
    remembered before confidences were recorded)."""

    english: str
    confidence: float | None = None


def sentence_confidence(score: float, tokens: int, length_penalty: float) -> float:
    """``exp`` of the mean log-probability per token of a CTranslate2 hypothesis.

    ``score`` is what ``translate_batch(..., return_scores=True)`` returned for it, ``tokens``
    the number of tokens scored (the hypothesis plus its end-of-sentence token)."""
    length = max(1, tokens)
    mean_log_probability = score * length**length_penalty / length
    return min(1.0, math.exp(mean_log_probability))


def combine(parts: Iterable[tuple[float | None, int]]) -> float | None:
    """Confidence of a text from its sentences' ``(confidence, weight)``: exp of the weighted
    mean log-confidence over the sentences whose confidence is known (None if none is)."""
    total = weight_sum = 0.0
    for confidence, weight in parts:
        if confidence is None or weight <= 0:
            continue
        total += weight * math.log(max(confidence, 1e-12))
        weight_sum += weight
    return math.exp(total / weight_sum) if weight_sum else None


def is_low(confidence: float | None, threshold: float) -> bool:
    """Low only when known: an unknown confidence (old memory rows) is not held against it."""
    return confidence is not None and confidence < threshold
