"""Translation confidence: how much the model itself believes its English.

CTranslate2 returns, with ``return_scores=True``, each hypothesis' cumulative log-probability
(normalised by its length, since ``length_penalty`` is set); ``exp`` of the token-weighted mean
over a paragraph's sentences gives a number in (0, 1], higher = more trusted. A model that
meets text far from its training data (another language, tables of numbers, lists of names)
spreads its probability and scores low, even when its output reads fluently.
"""

from __future__ import annotations

# Threshold below which a paragraph counts as low-confidence (measured, see README).
DEFAULT_MIN_CONFIDENCE = 0.5
