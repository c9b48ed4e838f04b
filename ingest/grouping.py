"""What a document is grouped by: its trusted English, without site chrome or reader comments.

Near-duplicate grouping (``ingest.dedup``) compares the names and numbers of two documents, so
anything that is not the story itself must stay out of it, or it merges unrelated stories:

- English the model itself doubts (``Translated.low_confidence``), English repeated for
  different originals, and all the English of a document the model mostly doubts: a package
  that does not know a text writes fluent English from the sentences it was trained on, names
  and all (see ``doubted_translations``);
- the learned template of the page's site (``ingest.extract.learn_site_boilerplate``): pages
  stored before the template was learned still carry it;
- reader comments (``Extracted.paragraph_kinds``, when the extractor marks them);
- lines that two pages of one site share (a subscription promo, a ticket box, a byline with a
  phone number): the store compares two pages of one site without them, see
  ``ingest.dedup.compared_features``. Each line therefore keeps a key and its own features.

A foreign document whose trusted English is too short to compare is grouped by its original
text instead, with features namespaced by its language (``de:patientenakte``): it can then only
join documents in the same language that are grouped the same way, never a translated story.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from ingest import dedup
from ingest.models import COMMENT, UNDETERMINED, Document, language_neutral, web_site_of
from ingest.translate.confidence import LOW_CONFIDENCE_SHARE

_TOKEN = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?。！？:;])\s+|\n")


@dataclass(frozen=True)
class GroupingLine:
    """One paragraph (or the title) as grouping sees it."""

    key: str  # digest of the normalised original line: two pages share a line when keys agree
    chars: int  # length of the original line (how much of the page it is)
    features: frozenset[str]


@dataclass(frozen=True)
class GroupingText:
    """The lines of a document that grouping may use, and the site they come from."""

    site: str | None  # pages of one site are compared without the lines they share
    lines: tuple[GroupingLine, ...]

    @property
    def features(self) -> set[str]:
        out: set[str] = set()
        for line in self.lines:
            out |= line.features
        return out


def line_key(original: str) -> str:
    """Key of a line compared across pages: the same words, whatever the case, spacing and
    numbers ("12 issues for £11.99" on one page, "12 issues for £12.99" on the next)."""
    text = _DIGITS.sub("0", " ".join(original.lower().split()))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def grouping_site(url: str, final_url: str | None, canonical_url: str | None) -> str | None:
    """The web site of a page; for a local file, the site its canonical URL names (a saved
    page still says where it comes from)."""
    site = web_site_of(final_url or url)
    if site is None and canonical_url:
        site = web_site_of(canonical_url)
    return site


def grouping_text(
    document: Document, site_template: Collection[str] = (), *, target: str = "en"
) -> GroupingText:
    """The trusted lines of ``document``: original English and model translations not doubted
    (``doubted_translations``), minus its site's learned template (normalised lines) and reader
    comments.

    When these carry too few names and numbers to compare (``dedup.MIN_FEATURES``) and the
    document is not in ``target``, its original lines are used instead, namespaced by language.
    """
    from ingest.extract import normalize_line

    doubted = doubted_translations(document, target)
    kept: list[tuple[str, str | None]] = []  # (original, trusted English or None)
    for i, original in enumerate(document.paragraphs):
        if document.kind_of(i) == COMMENT:
            continue
        if site_template and normalize_line(original) in site_template:
            continue
        kept.append((original, None if i in doubted else document.english[i]))
    title_english = document.title_english
    if document.title_low_confidence or (
        document.title_language != target
        and doubted
        and len(doubted) == len(_model_translated(document, target))
    ):
        title_english = None  # the model failed the whole text: its title is no better
    title = document.title or title_english
    site = grouping_site(document.url, document.final_url, document.canonical_url)

    trusted = _lines(
        ([(title, title_english)] if title and title_english else [])
        + [(original, english) for original, english in kept if english],
        dedup.features,
    )
    language = document.language
    if (
        len(trusted.features) >= dedup.MIN_FEATURES
        or language in (target, UNDETERMINED)
        or not language
    ):
        return GroupingText(site, trusted.lines)

    def in_language(text: str) -> set[str]:
        return {f"{language}:{token}" for token in original_features(text)}

    originals = ([title] if document.title else []) + [original for original, _ in kept]
    return GroupingText(site, _lines([(o, o) for o in originals], in_language).lines)


def doubted_translations(document: Document, target: str = "en") -> set[int]:
    """Positions of the model translations grouping must not trust.

    - marked low-confidence by the translator;
    - the same English as another paragraph with a different original: a real translation
      never renders two different paragraphs identically, a package reciting what it was
      trained on does (its confidence can still pass the threshold);
    - every model translation of a document whose doubted paragraphs hold more than
      ``LOW_CONFIDENCE_SHARE`` of its translated text: the package is out of its depth there,
      and the rest of its English is no safer.
    """
    from ingest.extract import normalize_line

    translated = _model_translated(document, target)
    low = document.low_confidence
    doubted = {i for i in translated if low and low[i]}
    originals_of: dict[str, set[str]] = {}
    for i in translated:
        english = normalize_line(document.english[i] or "")
        originals_of.setdefault(english, set()).add(normalize_line(document.paragraphs[i]))
    for i in translated:
        if len(originals_of[normalize_line(document.english[i] or "")]) > 1:
            doubted.add(i)
    total = sum(len(document.paragraphs[i]) for i in translated)
    if total and sum(len(document.paragraphs[i]) for i in doubted) / total > LOW_CONFIDENCE_SHARE:
        return set(translated)
    return doubted


def _model_translated(document: Document, target: str) -> list[int]:
    """Positions of paragraphs whose English a model wrote (not originally in ``target``)."""
    return [
        i
        for i, (text, language, english) in enumerate(
            zip(document.paragraphs, document.paragraph_languages, document.english, strict=True)
        )
        if english is not None and language != target and not language_neutral(text, language)
    ]


def original_features(text: str) -> set[str]:
    """Features of a text in its own language, without its stop words: capitalised words not
    opening a sentence (names; in German every noun) and numbers for cased scripts, and every
    word of two characters or more in scripts without case (Korean, Chinese, Arabic …), where
    a name cannot be told by its capital letter."""
    out: set[str] = set()
    for sentence in _SENTENCE_BREAK.split(text):
        for position, token in enumerate(_TOKEN.findall(sentence)):
            caseless = token.lower() == token.upper()
            if token.isdigit() or (caseless and len(token) >= 2):
                out.add(token)
            elif not caseless and position > 0 and token[0].isupper() and len(token) >= 2:
                out.add(token.lower())
    return out


def _lines(pairs: Iterable[tuple[str, str]], features: Callable[[str], set[str]]) -> GroupingText:
    """Lines from (original, text to take features from); a line repeated on the page once."""
    merged: dict[str, GroupingLine] = {}
    for original, text in pairs:
        key = line_key(original)
        line = GroupingLine(key, len(original), frozenset(features(text)))
        if key in merged:
            previous = merged[key]
            line = GroupingLine(key, previous.chars + line.chars, previous.features | line.features)
        merged[key] = line
    return GroupingText(None, tuple(merged.values()))
