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

# The threshold below which a translated paragraph is marked low-confidence belongs to a model:
# a small model that memorised its training text is near-certain of everything it knows, a
# large general one spreads its probability more on good translations too. So a package may
# carry its own measured threshold (metadata.json "min_confidence"; the demo packages do: 0.98,
# measured with benchmarks/confidence.py, README "Translation confidence"), the setting
# INGEST_MIN_CONFIDENCE overrides it for every package, and a package without a calibration
# gets this fallback: a mean per-token probability of one half. It is deliberately lenient
# (it flags only text the model is clearly guessing at) and NOT measured on real argos packages
# (none can be downloaded where ingest is built): measure yours with benchmarks/confidence.py.
DEFAULT_MIN_CONFIDENCE = 0.5
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


def threshold_for(package_threshold: float | None, setting: float | None) -> float:
    """The threshold in force for one package: the setting when given (it applies to every
    package), else the package's own measured one, else the fallback."""
    if setting is not None:
        return setting
    return package_threshold if package_threshold is not None else DEFAULT_MIN_CONFIDENCE


def is_low(confidence: float | None, threshold: float) -> bool:
    """Low only when known: an unknown confidence (old memory rows) is not held against it."""
    return confidence is not None and confidence < threshold
