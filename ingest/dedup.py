"""Near-duplicate detection over English text: MinHash signatures, LSH buckets, exact check.

The aim is "the same story from two sources", possibly in two languages (one of them machine
translated). Word shingles do not survive translation, names and numbers do: two translations
of one story share almost no 3-word sequences but most of their people, places, organisations
and figures. So the feature set of a document is its *entity-like tokens* — capitalised words
(stop words excluded) and numbers — from the English title and text.

Measured on the scrapinghub benchmark (181 articles, mostly English; 16,290 pairs of pages):
Jaccard of these sets is < 0.08 for 99 % of pairs, and the handful above 0.2 are mostly the
same story from two sites (a band's tour, one theatre's shows, one hearing), with a few merely
related pairs at 0.20-0.21; the two seed pages (one story from an English and a Korean site)
score 0.25. Hence ``THRESHOLD = 0.22``.

Candidates come from MinHash-LSH (datasketch's legacy MinHash scheme, banded with datasketch's
optimal parameters for a slightly lower threshold, for recall); a candidate joins the group
only if the exact Jaccard of the two sets reaches the threshold, so LSH never adds false
positives. Buckets live in the store (``dedup_bands``), which makes grouping incremental and
shared by every worker.

What feeds the features is decided by ``ingest.grouping`` (trusted English only, no site
template, no comments). Two pages of one site are compared without the lines both carry
(``compared_features``): a promo or ticket box on every page is the site's, not the story's.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Protocol

THRESHOLD = 0.22  # exact Jaccard of feature sets to be "the same story"
LSH_THRESHOLD = 0.12  # bands tuned for this, below THRESHOLD, so few true pairs are missed
NUM_PERM = 128
MIN_FEATURES = 8  # fewer entity tokens than this: too little to compare, never grouped
SEED = 1
MAX_CANDIDATES = 50  # per new document: the stored ones sharing most LSH buckets
NOVELTY = 0.8  # a document this similar to a stored one adds no LSH buckets of its own
# Two pages of one site whose shared lines are at least this share of either page's text are
# copies (one story at two addresses, a teaser and the article): compared on all their lines.
COPY_SHARE = 0.5

_STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself said says say according read more new
    one two three first last next monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    mr mrs ms dr image photo source copyright reserved rights news click share"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_TOKEN = re.compile(r"[^\W_]+")


def features(text: str) -> set[str]:
    """Entity-like tokens of an English text: capitalised non-stop words and numbers, lowercased.

    Plural/possessive ``s`` is dropped so "China's" and "China" agree.
    """
    out: set[str] = set()
    for token in _TOKEN.findall(text):
        first = token[0]
        if not (first.isupper() or token.isdigit()):
            continue
        word = token.lower()
        if len(word) < 2 or word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.isdigit():
            word = word[:-1]
        out.add(word)
    return out


def jaccard(a: set[str], b: set[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def similar(a: set[str], b: set[str], threshold: float = THRESHOLD) -> bool:
    """Same story: enough features on both sides and exact Jaccard at least ``threshold``."""
    return min(len(a), len(b)) >= MIN_FEATURES and jaccard(a, b) >= threshold


class Line(Protocol):
    """A line of a page as grouping keeps it (``ingest.grouping.GroupingLine``)."""

    @property
    def key(self) -> str: ...
    @property
    def chars(self) -> int: ...
    @property
    def features(self) -> frozenset[str]: ...


def compared_features(a: Sequence[Line], b: Sequence[Line]) -> tuple[set[str], set[str]]:
    """The features two pages of one site are compared on: without the lines both carry
    (site chrome), unless those lines are most of either page (``COPY_SHARE``: a copy)."""
    shared = {line.key for line in a} & {line.key for line in b}
    if shared and max(_share(a, shared), _share(b, shared)) < COPY_SHARE:
        a = [line for line in a if line.key not in shared]
        b = [line for line in b if line.key not in shared]
    return _union(a), _union(b)


def _share(lines: Sequence[Line], keys: set[str]) -> float:
    total = sum(line.chars for line in lines)
    return sum(line.chars for line in lines if line.key in keys) / total if total else 0.0


def _union(lines: Iterable[Line]) -> set[str]:
    out: set[str] = set()
    for line in lines:
        out |= line.features
    return out


# (bands, rows per band): datasketch's optimal parameters (equal weights for false positives
# and negatives) for LSH_THRESHOLD and NUM_PERM; tests/test_dedup.py checks they still agree.
BANDS, ROWS = 64, 2

_PRIME = (1 << 61) - 1  # Mersenne prime of the universal hash family (as datasketch)
_MAX_HASH = (1 << 32) - 1


@lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[Any, Any]:
    """The (a, b) parameters of datasketch's MinHash for this size and seed."""
    import numpy as np

    gen = np.random.RandomState(seed)
    pairs = [
        (gen.randint(1, _PRIME, dtype=np.uint64), gen.randint(0, _PRIME, dtype=np.uint64))
        for _ in range(num_perm)
    ]
    a, b = np.array(pairs, dtype=np.uint64).T
    return a, b


def signature(tokens: Iterable[str], num_perm: int = NUM_PERM, seed: int = SEED) -> list[int]:
    """MinHash signature: datasketch's ``scheme="legacy"`` (sha1 → 32 bits, universal hashing).

    Implemented here with numpy because importing datasketch pulls in scipy (about a second
    per worker process); tests/test_dedup.py checks the values equal datasketch's.
    """
    import numpy as np

    hashes = [struct.unpack("<I", hashlib.sha1(t.encode("utf-8")).digest()[:4])[0] for t in tokens]
    if not hashes:
        return [_MAX_HASH] * num_perm
    a, b = _permutations(num_perm, seed)
    values = np.array(hashes, dtype=np.uint64, ndmin=2).T
    permuted = np.bitwise_and((values * a + b) % np.uint64(_PRIME), np.uint64(_MAX_HASH))
    return [int(v) for v in permuted.min(axis=0)]


def band_buckets(tokens: set[str]) -> list[str]:
    """LSH bucket keys of a feature set: one per band, each naming its band (16 hex chars)."""
    bands, rows = BANDS, ROWS
    values = signature(tokens)
    keys = []
    for band in range(bands):
        chunk = values[band * rows : (band + 1) * rows]
        raw = f"{band}:" + ",".join(map(str, chunk))
        keys.append(hashlib.blake2b(raw.encode(), digest_size=8).hexdigest())
    return keys


def group(texts: dict[str, str], threshold: float = THRESHOLD) -> list[set[str]]:
    """Group a small in-memory collection {key: English text} (for tests and ad-hoc use).

    Same rules as the store: LSH candidates, exact check, groups merged transitively.
    """
    feats = {key: features(text) for key, text in texts.items()}
    buckets: dict[str, list[str]] = {}
    parent = {key: key for key in texts}

    def find(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for key, tokens in feats.items():
        if len(tokens) < MIN_FEATURES:
            continue
        for bucket in band_buckets(tokens):
            for other in buckets.setdefault(bucket, []):
                if similar(tokens, feats[other], threshold):
                    parent[find(key)] = find(other)
            buckets[bucket].append(key)
    groups: dict[str, set[str]] = {}
    for key in texts:
        groups.setdefault(find(key), set()).add(key)
    return [members for members in groups.values() if len(members) > 1]
