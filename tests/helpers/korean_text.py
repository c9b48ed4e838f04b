"""Korean benchmark text: the sentences of tests/data/langid, then unique splices of them.

Shared by benchmarks/translation.py and benchmarks/main_job.py (see tests/data/README.md).
"""

from __future__ import annotations

import random
from pathlib import Path

KOREAN = Path(__file__).resolve().parents[1] / "data" / "langid" / "sentences" / "ko.txt"


def korean_sentences(count: int, seed: int, *, one_per_line: bool = False) -> list[str]:
    """``count`` unique Korean sentences ending with a period: the originals, then splices of
    two of them (the first half of one, the second half of the other), reproducible by ``seed``.

    ``one_per_line`` skips the lines that hold more than one sentence (". " inside), for
    callers that split their paragraphs back into sentences at ". ".
    """
    lines = [line.strip() for line in KOREAN.read_text(encoding="utf-8").splitlines()]
    base = list(
        dict.fromkeys(s for s in lines if s.endswith(".") and not (one_per_line and ". " in s))
    )
    rng = random.Random(seed)
    sentences, seen = list(base), set(base)
    while len(sentences) < count:
        a, b = rng.sample(base, 2)
        wa, wb = a.split(), b.split()
        if len(wa) < 2 or len(wb) < 2:
            continue
        spliced = " ".join(wa[: len(wa) // 2] + wb[len(wb) // 2 :])
        if spliced not in seen:
            seen.add(spliced)
            sentences.append(spliced)
    return sentences[:count]
