"""Offline sentence splitting for translation.

argostranslate's splitters (MiniSBD, stanza, spaCy) all download something at first use and
split Korean and Chinese badly. We use ``sentencex`` (rule-based, compiled, no model files) and
repair its few misses with rules that need no data either:

- a segment that starts with a lowercase letter continues the previous one (Russian "т. е.",
  German "bzw." before a lowercase word, "3 p.m. today"...);
- a Japanese segment that starts with a quoting particle after a closing bracket
  (「…。」と言った) continues the previous one;
- line breaks are hard boundaries;
- overlong segments (lists, tables, text without punctuation) are cut at the last comma or
  space before ``max_chars`` so the model never sees inputs far beyond its training lengths.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sentencex import segment

CJK_LANGUAGES = frozenset({"zh", "zt", "ja", "ko", "th", "lo", "km", "my"})
_JA_CONTINUATION = ("と", "って", "という", "とか", "など")
_CLOSERS = ("」", "』", "）", ")", "”", '"')
_OPENERS = "\"'“‘«„(「『（[—–- "
_SOFT_BREAKS = re.compile(r"[,;:，、；：]\s*|\s+")


def _starts_lowercase(text: str) -> bool:
    stripped = text.lstrip(_OPENERS)
    return bool(stripped) and stripped[0].islower()


def _cut(text: str, max_chars: int) -> list[str]:
    """Split ``text`` into pieces of at most ``max_chars``, preferring commas, then spaces."""
    pieces = []
    while len(text) > max_chars:
        window = text[:max_chars]
        cut = 0
        for match in _SOFT_BREAKS.finditer(window):
            if match.end() >= max_chars // 3:  # avoid slivers at the start
                cut = match.end()
        if cut == 0:
            cut = max_chars  # no break at all (e.g. unspaced CJK): a hard cut
        head, text = text[:cut].strip(), text[cut:].strip()
        if head:
            pieces.append(head)
    if text.strip():
        pieces.append(text.strip())
    return pieces


class SentenceSplitter:
    """Splits paragraphs into sentences for a language, without any network or model file."""

    def __init__(self, max_chars: int = 400, max_chars_cjk: int = 200) -> None:
        self.max_chars = max_chars
        self.max_chars_cjk = max_chars_cjk

    def split(self, language: str, text: str) -> list[str]:
        """Sentences of ``text`` (stripped, non-empty); joining them with spaces loses nothing
        but whitespace."""
        language = language.split("-")[0].split("_")[0].lower() or "en"
        limit = self.max_chars_cjk if language in CJK_LANGUAGES else self.max_chars
        sentences: list[str] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            merged: list[str] = []
            for raw in segment(language, line):
                part = raw.strip()
                if not part:
                    continue
                if merged and self._continues(language, merged[-1], part):
                    merged[-1] = f"{merged[-1]} {part}" if language != "ja" else merged[-1] + part
                else:
                    merged.append(part)
            for sentence in merged:
                sentences.extend(_cut(sentence, limit) if len(sentence) > limit else [sentence])
        return sentences

    @staticmethod
    def _continues(language: str, previous: str, part: str) -> bool:
        if _starts_lowercase(part):
            return True
        return (
            language == "ja" and previous.endswith(_CLOSERS) and part.startswith(_JA_CONTINUATION)
        )

    def for_language(self, language: str) -> ArgosSentencizer:
        """An object argostranslate accepts as ``translation.sentencizer``."""
        return ArgosSentencizer(self, language)


class ArgosSentencizer:
    """Adapter for argostranslate: ``PackageTranslation.sentencizer = ArgosSentencizer(...)``.

    Replacing argos' sentencizer this way stops it from downloading MiniSBD/stanza models.
    """

    def __init__(self, splitter: SentenceSplitter, language: str) -> None:
        self._split: Callable[[str, str], list[str]] = splitter.split
        self.language = language

    def split_sentences(self, text: str) -> list[str]:
        return self._split(self.language, text)

    def __str__(self) -> str:
        return f"ingest sentencex splitter ({self.language})"
