"""Language of paragraphs and documents.

Why not one call on the whole page: pages mix languages (a Korean article quoting English, an
English page with Korean navigation), and translation needs the language of each paragraph. The
document language is a letter-weighted vote over paragraphs; short, unsure strings (titles,
captions) fall back to it when their script allows.

Backends sit behind one small interface (``LanguageDetector``). The default ("auto") was chosen by
measurement on the lingua test set (``benchmarks/language.py``, 19 configured languages; figures
in README.md):

* script rules first: Hangul means Korean, kana Japanese, Thai script Thai, and a script that no
  configured language uses means "und" (unsupported). Cheap and exact.
* short text (< ``LONG_TEXT_LETTERS`` letters): a log-linear combination of lingua (low accuracy
  mode: loads in 0.1 s and ~40 MB, where high accuracy takes ~4 s and ~300 MB), py3langid, and
  word frequencies (wordfreq's lists, read straight from its data files). The n-gram models know
  letters, not words: "nations" looks French to them, but it is a common English word. Words no
  list knows fall back to the n-gram models' view of that word alone. The weights are a
  conditional logit fitted on one half of the benchmark (``benchmarks/language_fit.py``), so the
  confidence is calibrated; the other half measures what the fit never saw.
* long text: py3langid restricted to the configured languages, best measured on sentences and
  fast. Its unrestricted scores (same pass) also tell when a text of 30 letters or more is
  clearly in a language we do not support; that is reported as "und" rather than forced into a
  configured language.

Everything is deterministic (langdetect is seeded) and loads lazily from installed packages only.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import math
import re
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from ingest.models import Detected, Extracted

UND = "und"
# Part of every detector's name, which is stored as provenance: bump it whenever the rules,
# weights or word lists change what is detected, so that stored documents are redone.
# 2: large word lists, fitted short-text weights with back-off, Brahmic script weight.
RULES_VERSION = "2"

# ---------------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class LanguageGuess:
    """One decision: an ISO 639-1 code ("und" when undetermined) and a confidence in 0..1."""

    language: str
    confidence: float


@runtime_checkable
class LanguageDetector(Protocol):
    """What the pipeline needs from a backend; ``name`` is recorded as provenance."""

    name: str

    def detect(self, text: str) -> LanguageGuess: ...

    def detect_many(self, texts: Sequence[str]) -> list[LanguageGuess]: ...


@dataclass(frozen=True)
class DocumentLanguage:
    """Language of a document, of each of its paragraphs (aligned) and of its title."""

    language: str
    confidence: float
    paragraphs: list[LanguageGuess] = field(default_factory=list)
    title: LanguageGuess | None = None


# ---------------------------------------------------------------------------------------------
# Scripts: cheap, exact evidence

# Unicode blocks of the scripts we reason about; a letter outside all of them counts as "other".
_BLOCKS: list[tuple[int, int, str]] = sorted(
    [
        (0x0041, 0x024F, "latin"),
        (0x1E00, 0x1EFF, "latin"),
        (0x0370, 0x03FF, "greek"),
        (0x1F00, 0x1FFF, "greek"),
        (0x0400, 0x052F, "cyrillic"),
        (0x0530, 0x058F, "armenian"),
        (0x0590, 0x05FF, "hebrew"),
        (0x0600, 0x06FF, "arabic"),
        (0x0750, 0x077F, "arabic"),
        (0x08A0, 0x08FF, "arabic"),
        (0xFB50, 0xFDFF, "arabic"),
        (0xFE70, 0xFEFF, "arabic"),
        (0x0900, 0x097F, "devanagari"),
        (0xA8E0, 0xA8FF, "devanagari"),
        (0x0980, 0x09FF, "bengali"),
        (0x0A00, 0x0A7F, "gurmukhi"),
        (0x0A80, 0x0AFF, "gujarati"),
        (0x0B80, 0x0BFF, "tamil"),
        (0x0C00, 0x0C7F, "telugu"),
        (0x0C80, 0x0CFF, "kannada"),
        (0x0D00, 0x0D7F, "malayalam"),
        (0x0D80, 0x0DFF, "sinhala"),
        (0x0E00, 0x0E7F, "thai"),
        (0x0E80, 0x0EFF, "lao"),
        (0x1000, 0x109F, "myanmar"),
        (0x10A0, 0x10FF, "georgian"),
        (0x1100, 0x11FF, "hangul"),
        (0x3130, 0x318F, "hangul"),
        (0xA960, 0xA97F, "hangul"),
        (0xAC00, 0xD7FF, "hangul"),
        (0x1200, 0x137F, "ethiopic"),
        (0x1780, 0x17FF, "khmer"),
        (0x3040, 0x30FF, "kana"),
        (0x31F0, 0x31FF, "kana"),
        (0xFF66, 0xFF9F, "kana"),
        (0x3400, 0x4DBF, "han"),
        (0x4E00, 0x9FFF, "han"),
        (0xF900, 0xFAFF, "han"),
        (0x20000, 0x2FFFF, "han"),
    ]
)
_BLOCK_STARTS = [start for start, _end, _script in _BLOCKS]
_CHAR_SCRIPT: dict[str, str | None] = {}  # memo: character -> script of the letter, or None
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD = re.compile(r"[^\W\d_]+")
_LN10 = math.log(10)
# Natural log of the smallest frequency in wordfreq's "small" lists (1e-6).
SMALL_LIST_CUTOFF_LOG = -6 * _LN10

# Han, Hangul and kana carry about as much as 2-3 Latin letters each (a syllable or a word).
# Brahmic scripts (Devanagari, Thai, ...) write a syllable in ~1.5-2 code points (consonant plus
# vowel sign), Latin in ~2.5-3 letters: each counts 1.5, so the English boilerplate of a Hindi
# or Thai sentence ("Share to Twitter ...") does not outweigh it.
_BRAHMIC = ("devanagari", "bengali", "gurmukhi", "gujarati", "tamil", "telugu", "kannada",
            "malayalam", "sinhala", "thai", "lao", "khmer", "myanmar")  # fmt: skip
_SCRIPT_WEIGHT = {"hangul": 2.5, "kana": 2.0, "han": 2.5} | dict.fromkeys(_BRAHMIC, 1.5)
_CJK = frozenset({"hangul", "kana", "han"})
# Scripts with spaces between words: the word-frequency model applies.
_SPACED = frozenset({"latin", "cyrillic", "greek", "arabic", "devanagari", "hebrew", "armenian"})

# Script of each language we may meet (ISO 639-1); unlisted languages are written in Latin.
LANGUAGE_SCRIPT: dict[str, str] = {
    "ko": "cjk", "ja": "cjk", "zh": "cjk",
    "ru": "cyrillic", "uk": "cyrillic", "bg": "cyrillic", "sr": "cyrillic", "mk": "cyrillic",
    "be": "cyrillic", "kk": "cyrillic", "mn": "cyrillic", "ky": "cyrillic", "tg": "cyrillic",
    "ar": "arabic", "fa": "arabic", "ur": "arabic", "ps": "arabic", "ug": "arabic",
    "hi": "devanagari", "mr": "devanagari", "ne": "devanagari",
    "th": "thai", "el": "greek", "he": "hebrew", "yi": "hebrew", "ka": "georgian",
    "hy": "armenian", "bn": "bengali", "as": "bengali", "pa": "gurmukhi", "gu": "gujarati",
    "ta": "tamil", "te": "telugu", "am": "ethiopic", "km": "khmer", "lo": "lao", "my": "myanmar",
    "si": "sinhala", "kn": "kannada", "ml": "malayalam",
}  # fmt: skip


def language_script(language: str) -> str:
    """Script group a language is written in ("cjk" for Chinese, Japanese and Korean)."""
    return LANGUAGE_SCRIPT.get(language, "latin")


def _char_script(char: str) -> str | None:
    """Script of a non-ASCII letter (or combining mark), None for anything else."""
    script = _CHAR_SCRIPT.get(char, "")
    if script != "":
        return script
    script = None
    if char.isalpha() or unicodedata.category(char).startswith("M"):
        code = ord(char)
        index = bisect_right(_BLOCK_STARTS, code) - 1
        if index >= 0 and code <= _BLOCKS[index][1]:
            script = _BLOCKS[index][2]
        elif char.isalpha():
            script = "other"
    if len(_CHAR_SCRIPT) < 100_000:
        _CHAR_SCRIPT[char] = script
    return script


@dataclass(frozen=True)
class ScriptProfile:
    """Letter counts per script in a text, and its dominant script group."""

    counts: dict[str, int]

    @property
    def letters(self) -> int:
        return sum(self.counts.values())

    @property
    def weights(self) -> dict[str, float]:
        return {s: n * _SCRIPT_WEIGHT.get(s, 1.0) for s, n in self.counts.items()}

    @property
    def groups(self) -> dict[str, float]:
        """Weight per script group ("cjk" merges Han, Hangul and kana)."""
        grouped: dict[str, float] = {}
        for script, weight in self.weights.items():
            key = "cjk" if script in _CJK else script
            grouped[key] = grouped.get(key, 0.0) + weight
        return grouped

    @property
    def group(self) -> str | None:
        """Dominant script group, None for text without letters."""
        grouped = self.groups
        return max(grouped, key=lambda k: grouped[k]) if grouped else None

    @property
    def share(self) -> float:
        """Weight share of the dominant group: 1.0 for single-script text."""
        grouped = self.groups
        total = sum(grouped.values())
        return max(grouped.values()) / total if total else 0.0

    def group_letters(self, group: str) -> int:
        scripts = _CJK if group == "cjk" else {group}
        return sum(n for s, n in self.counts.items() if s in scripts)


def script_profile(text: str) -> ScriptProfile:
    """Count letters per script (one regex pass for ASCII, a memo lookup per other char)."""
    counts: dict[str, int] = {}
    ascii_letters = len(_ASCII_LETTERS.findall(text))
    if ascii_letters:
        counts["latin"] = ascii_letters
    if not text.isascii():
        for char in _NON_ASCII.findall(text):
            script = _char_script(char)
            if script is not None:
                counts[script] = counts.get(script, 0) + 1
    return ScriptProfile(counts=counts)


def _keep_group(text: str, group: str) -> str:
    """The text with letters of other script groups blanked, so a model sees one script."""
    scripts = _CJK if group == "cjk" else {group}
    out = []
    for char in text:
        if char.isascii():
            keep = group == "latin" or not char.isalpha()
        else:
            script = _char_script(char)
            keep = script is None or script in scripts
        out.append(char if keep else " ")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Models (each loads lazily, once)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:  # only when a backend is not installed
        return "missing"


def _normalize_code(code: str) -> str:
    code = code.strip().lower().replace("_", "-")
    return "zh" if code.startswith("zh") else code.split("-")[0]


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    top = max(scores.values())
    exp = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def _add_log(
    total: dict[str, float], scores: dict[str, float], weight: float, known: frozenset[str]
) -> None:
    """Add a model's weighted log-probabilities; a language it does not know gets a neutral
    uniform share instead of a veto."""
    neutral = math.log(1.0 / max(len(total), 1))
    for code in total:
        p = math.log(scores.get(code, 0.0) + 1e-9) if code in known else neutral
        total[code] += weight * p


class _Lingua:
    """lingua restricted to the configured languages it knows; models load lazily per script."""

    def __init__(self, languages: Sequence[str], *, low_accuracy: bool = False) -> None:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = []
        for code in languages:
            try:
                codes.append(IsoCode639_1.from_str(code))
            except ValueError:
                continue
        self.languages = frozenset(c.name.lower() for c in codes)
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes) if len(codes) >= 2 else None
        if builder is not None and low_accuracy:
            builder = builder.with_low_accuracy_mode()
        self._detector = builder.build() if builder is not None else None

    def scores(self, text: str, candidates: frozenset[str]) -> dict[str, float]:
        """Relative confidence of each candidate language (summing to 1 when any is known)."""
        if self._detector is None or not candidates:
            return {}
        out = {}
        for value in self._detector.compute_language_confidence_values(text):
            code = value.language.iso_code_639_1.name.lower()
            if code in candidates and value.value > 0:
                out[code] = value.value
        total = sum(out.values())
        return {k: v / total for k, v in out.items()} if total > 0 else {}


class _Py3langid:
    """py3langid's naive Bayes model: one feature pass gives restricted and unrestricted scores.

    Uses the model's scoring internals (pinned py3langid 0.4) so that the 97-language check for
    unsupported text and the restricted decision share one pass; the table is kept as float32,
    which scores ~2x faster than the shipped float16 for 28 MB more.
    """

    def __init__(self, languages: Sequence[str]) -> None:
        import numpy as np
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._np = np
        model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        model.nb_ptc = model.nb_ptc.astype(np.float32)
        self._model = model
        self.labels = [_normalize_code(c) for c in model.nb_classes]
        self._columns: dict[str, list[int]] = {}
        for index, code in enumerate(self.labels):
            self._columns.setdefault(code, []).append(index)
        self.languages = frozenset(code for code in languages if code in self._columns)

    def scores(self, text: str, candidates: frozenset[str]) -> tuple[dict[str, float], str, float]:
        """Candidate probabilities, and the best language overall with its probability."""
        model = self._model
        encoded = model._encode(text)
        # Tempered by the square root of the length, as py3langid does for its probabilities.
        raw = model._raw_score(encoded) * (1.0 / math.sqrt(len(encoded) or 1))
        top = raw.max()
        best_index = int(raw.argmax())
        best_p = 1.0 / float(self._np.exp(raw - top).sum())
        restricted = {
            code: max(float(raw[i]) for i in self._columns[code])
            for code in candidates
            if code in self._columns
        }
        return _softmax(restricted), self.labels[best_index], best_p


@dataclass(frozen=True)
class _WordList:
    """One language's word list as sorted 64-bit word hashes and their frequencies.

    Hashes instead of a dict of strings: the lists hold ~1.4 M words over the Latin and
    Cyrillic languages, ~160 MB as dicts, ~14 MB as arrays. ``hash()`` of a str is
    salted per process, but a query word is wrongly found only if it collides with a listed
    word in 64 bits (odds ~1e-13 per lookup), so results are the same in every process.
    """

    hashes: Any  # numpy int64, sorted
    centibels: Any  # numpy uint16: frequency as centibels below 1 (0 = every word)
    cutoff_log: float  # natural log of the smallest frequency the list holds


class _WordFrequencies:
    """Word frequencies per language from wordfreq's lists (read without importing wordfreq).

    The "large" lists where wordfreq has one (cut at a frequency of 1e-7: rarer words cost
    load time and no accuracy on the tuning half), else the "small" ones (down to 1e-6).
    Importing wordfreq costs ~1 s (regex, ftfy, langcodes); its data files are plain msgpack:
    one array of buckets, bucket *i* holding the words of frequency 10^(-i/100).
    """

    # Words rarer than 10^(-MAX_CENTIBELS/100) are left out: the rarest buckets are the largest.
    MAX_CENTIBELS = 700

    def __init__(self) -> None:
        spec = util.find_spec("wordfreq")
        locations = list(spec.submodule_search_locations or []) if spec else []
        self._data = Path(locations[0]) / "data" if locations else None
        self._lists: dict[str, _WordList | None] = {}
        self._lock = threading.Lock()

    def word_list(self, language: str) -> _WordList | None:
        """The list of one language (loaded once), or None when wordfreq has none."""
        if language in self._lists:
            return self._lists[language]
        with self._lock:
            if language not in self._lists:
                self._lists[language] = self._load(language)
        return self._lists[language]

    def _load(self, language: str) -> _WordList | None:
        import msgpack
        import numpy as np

        if self._data is None:
            return None
        for size in ("large", "small"):
            path = self._data / f"{size}_{language}.msgpack.gz"
            if path.exists():
                break
        else:
            return None
        with gzip.open(path, "rb") as handle:
            # Streamed, so that the buckets past MAX_CENTIBELS are never decoded.
            unpacker = msgpack.Unpacker(handle, raw=False, max_buffer_size=0)
            count = unpacker.read_array_header() - 1
            unpacker.skip()  # the header: {"format": "cB", "version": 1}
            buckets = [unpacker.unpack() for _ in range(min(count, self.MAX_CENTIBELS))]
        hashes = np.fromiter(map(hash, itertools.chain.from_iterable(buckets)), dtype=np.int64)
        centibels = np.repeat(
            np.arange(len(buckets), dtype=np.uint16), [len(bucket) for bucket in buckets]
        )
        order = np.argsort(hashes)
        return _WordList(hashes[order], centibels[order], -len(buckets) / 100 * _LN10)

    def lookup(self, words: Sequence[str], language: str) -> tuple[float, list[bool], float]:
        """Sum of the log frequencies of the words the language's list holds, which words it
        holds, and the log of the rarest frequency it holds (a language without a list holds
        no word, at the small lists' floor)."""
        table = self.word_list(language)
        if table is None:
            return 0.0, [False] * len(words), SMALL_LIST_CUTOFF_LOG
        if not words:
            return 0.0, [], table.cutoff_log
        import numpy as np

        queries = np.fromiter((hash(word) for word in words), dtype=np.int64, count=len(words))
        index = np.minimum(np.searchsorted(table.hashes, queries), len(table.hashes) - 1)
        found = table.hashes[index] == queries
        known = -float(table.centibels[index[found]].sum()) / 100 * _LN10
        return known, found.tolist(), table.cutoff_log

    def log_likelihood(self, words: Sequence[str], language: str) -> tuple[float, int, float]:
        """Like :meth:`lookup`, with the number of words the list lacks."""
        known, found, cutoff_log = self.lookup(words, language)
        return known, len(words) - sum(found), cutoff_log


T = TypeVar("T")


class _Lazy:
    """Builds each model once per detector, even when threads ask at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}

    def get(self, key: str, build: Callable[[], T]) -> T:
        model = self._models.get(key)
        if model is None:
            with self._lock:
                model = self._models.get(key)
                if model is None:
                    model = build()
                    self._models[key] = model
        return model


# ---------------------------------------------------------------------------------------------
# Detectors


class ScriptDetector:
    """Script rules alone: exact for scripts one configured language owns, "und" otherwise."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(dict.fromkeys(_normalize_code(c) for c in languages))
        self.name = f"scripts-{RULES_VERSION}"
        by_group: dict[str, set[str]] = {}
        for code in self.languages:
            by_group.setdefault(language_script(code), set()).add(code)
        self._by_group = {k: frozenset(v) for k, v in by_group.items()}

    def candidates(self, profile: ScriptProfile, group: str) -> frozenset[str]:
        """Configured languages the dominant script allows, narrowed inside CJK by kana/Hangul."""
        allowed = self._by_group.get(group, frozenset())
        if group == "cjk":
            kana = profile.counts.get("kana", 0)
            hangul = profile.counts.get("hangul", 0)
            if kana or hangul:
                allowed = allowed & {"ja" if kana >= hangul else "ko"}
            else:
                allowed = allowed & {"zh", "ja"}
        return allowed

    def decide(self, text: str) -> tuple[LanguageGuess | None, ScriptProfile, str, frozenset[str]]:
        """A final guess when the script settles it; else None and the candidates left."""
        profile = script_profile(text)
        group = profile.group
        if group is None:
            return LanguageGuess(UND, 0.0), profile, "", frozenset()
        candidates = self.candidates(profile, group)
        share = profile.share
        if not candidates:
            return LanguageGuess(UND, round(share, 4)), profile, group, candidates
        if len(candidates) == 1:
            (only,) = candidates
            # Han-only text when Chinese is not configured stays unsure: it may be Chinese.
            han_only = group == "cjk" and not (
                profile.counts.get("kana") or profile.counts.get("hangul")
            )
            confidence = share * (0.5 if han_only and only != "zh" else 1.0)
            return LanguageGuess(only, round(confidence, 4)), profile, group, candidates
        return None, profile, group, candidates

    def detect(self, text: str) -> LanguageGuess:
        guess, _profile, _group, _candidates = self.decide(text)
        return guess if guess is not None else LanguageGuess(UND, 0.0)

    def detect_many(self, texts: Sequence[str]) -> list[LanguageGuess]:
        return [self.detect(t) for t in texts]


# Texts with at least this many letters (of their dominant script) are "long". Up to 50 the
# word model still helps (tuning half of the benchmark's sentences: 99.78 -> 99.86 %).
LONG_TEXT_LETTERS = 50
# From this many letters, a text py3langid finds clearly in an unconfigured language is "und".
UNSUPPORTED_MIN_LETTERS = 30
# A long text whose best guess over all of py3langid's 97 languages is an unconfigured language
# with at least this probability is reported "und" (unsupported), not forced into a configured one.
UNSUPPORTED_PROBABILITY = 0.95
# Han-only text shorter than this is unsure between Chinese and Japanese (a kanji-only title).
HAN_ONLY_UNSURE_CHARS = 20

# Models and their weights in a log-linear combination, for short and for long text. "words" is
# the word-frequency log-likelihood (only for scripts with spaces between words); a word that a
# language's list lacks adds "floor" times the log of the list's rarest frequency, plus
# "unknown". The short-text weights are a conditional logit fitted (log loss) on the tuning half
# of the benchmark by benchmarks/language_fit.py; they are calibrated as they stand
# (SHORT_TEMPERATURE 1), so the softmax of the combination is the confidence.
AUTO_SHORT: dict[str, float] = {
    "lingua": 0.04, "py3langid": 0.26, "words": 0.86, "floor": 0.46, "unknown": -6.94,
    "lingua_unknown": 0.18, "py3langid_unknown": 0.57,
}  # fmt: skip
AUTO_LONG: dict[str, float] = {"py3langid": 1.0}
SHORT_TEMPERATURE = 1.0
# Models multiplied together without fitted weights are overconfident: their combined log-scores
# are divided by the sum of the model weights times this. With 1.5, Latin-script words given
# 0.7-0.9 were right 92% of the time and those given 0.9-0.99 98% (benchmark, first 150 each).
CONFIDENCE_TEMPERATURE = 1.5
_MODELS = frozenset({"lingua", "py3langid"})  # the text-level models (for the legacy rule)
# Natural log of the smallest frequency in wordfreq's "small" lists (1e-6).


class HybridDetector:
    """Script rules, then a weighted combination of models chosen by text length.

    Default ("auto"): lingua (low accuracy mode: 0.1 s to load, not 4 s) + py3langid + word
    frequencies for short text, py3langid alone for long text. Other backends are this class
    with other models and weights.
    """

    def __init__(
        self,
        languages: Sequence[str],
        *,
        short: dict[str, float] | None = None,
        long: dict[str, float] | None = None,
        low_accuracy: bool = True,
        short_temperature: float | None = None,
    ) -> None:
        self.scripts = ScriptDetector(languages)
        self.languages = self.scripts.languages
        self._configured = frozenset(self.languages)
        self._short = dict(AUTO_SHORT if short is None else short)
        self._long = dict(AUTO_LONG if long is None else long)
        self._low = low_accuracy
        # Divides the short-text combination; None: CONFIDENCE_TEMPERATURE times the sum of
        # the model weights (for weights that were not fitted together).
        if short is None and short_temperature is None:
            short_temperature = SHORT_TEMPERATURE
        self._short_temperature = short_temperature
        self._lazy = _Lazy()
        used = set(self._short) | set(self._long)
        parts = []
        if "lingua" in used:
            mode = "low" if low_accuracy else "high"
            parts.append(f"lingua-{_version('lingua-language-detector')}-{mode}")
        if "py3langid" in used:
            parts.append(f"py3langid-{_version('py3langid')}")
        if "words" in used:
            parts.append(f"wordfreq-{_version('wordfreq')}")
        self.name = "+".join([*parts, f"scripts-{RULES_VERSION}"])

    # Models (loaded on first use) ---------------------------------------------------------
    @property
    def lingua(self) -> _Lingua:
        return self._lazy.get("lingua", lambda: _Lingua(self.languages, low_accuracy=self._low))

    @property
    def langid(self) -> _Py3langid:
        return self._lazy.get("langid", lambda: _Py3langid(self.languages))

    @property
    def words(self) -> _WordFrequencies:
        return self._lazy.get("words", _WordFrequencies)

    def warm_up(self) -> None:
        """Load every model now (e.g. when a worker starts) instead of on the first text."""
        for text in ("Governo anuncia novo programa", "Привет", "東京", "x" * LONG_TEXT_LETTERS):
            self.detect(text)
        for language in self.languages:
            if "words" in self._short:
                self.words.word_list(language)

    # Scoring ------------------------------------------------------------------------------
    def _combined(
        self, text: str, group: str, candidates: frozenset[str], models: dict[str, float]
    ) -> tuple[dict[str, float], str | None, float]:
        """Probabilities over candidates, plus py3langid's best overall language and probability."""
        log_scores: dict[str, float] = dict.fromkeys(candidates, 0.0)
        best_any: str | None = None
        best_any_p = 0.0
        used = 0
        if "py3langid" in models:
            scores, best_any, best_any_p = self.langid.scores(text, candidates)
            if scores:
                used += 1
                _add_log(log_scores, scores, models["py3langid"], self.langid.languages)
        if "lingua" in models:
            scores = self.lingua.scores(text, candidates)
            if scores:
                used += 1
                _add_log(log_scores, scores, models["lingua"], self.lingua.languages)
        if "words" in models and group in _SPACED and used:
            self._add_words(log_scores, text, models)
        if not used:
            return {}, best_any, best_any_p
        temper = self._short_temperature if models is self._short else None
        if temper is None:
            temper = sum(w for m, w in models.items() if m in _MODELS) * CONFIDENCE_TEMPERATURE
        return _softmax({k: v / temper for k, v in log_scores.items()}), best_any, best_any_p

    def _add_words(self, log_scores: dict[str, float], text: str, models: dict[str, float]) -> None:
        """Add each candidate's word-level evidence: ``words`` times the log frequencies of the
        words its list holds; for each word it lacks, ``floor`` times the log of the list's
        rarest frequency plus ``unknown`` (a list cut at 1e-6 lacks more words of its own
        language than one cut at 1e-7: the fitted ``floor`` weighs that depth), plus the
        n-gram models' log-probabilities of that word alone (``lingua_unknown``,
        ``py3langid_unknown``): a back-off to the spelling of the words no list knows."""
        words = [w.lower() for w in _WORD.findall(text)]
        weight = models["words"]
        floor = models.get("floor", weight)
        per_unknown = models.get("unknown", 0.0)
        backoff = {m: models.get(f"{m}_unknown", 0.0) for m in ("lingua", "py3langid")}
        candidates = frozenset(log_scores)
        spelled: dict[str, dict[str, float]] = {}  # word -> candidate -> weighted log-prob.
        for code in log_scores:
            known, found, cutoff_log = self.words.lookup(words, code)
            unknown = [word for word, hit in zip(words, found, strict=True) if not hit]
            score = weight * known + len(unknown) * (floor * cutoff_log + per_unknown)
            if backoff["lingua"] or backoff["py3langid"]:
                for word in unknown:
                    if word not in spelled:
                        spelled[word] = self._spelling(word, candidates, backoff)
                    score += spelled[word][code]
            log_scores[code] += score

    def _spelling(
        self, word: str, candidates: frozenset[str], weights: dict[str, float]
    ) -> dict[str, float]:
        """The n-gram models' weighted log-probabilities of one word, per candidate."""
        total = dict.fromkeys(candidates, 0.0)
        if weights["py3langid"]:
            scores, _best, _p = self.langid.scores(word, candidates)
            _add_log(total, scores, weights["py3langid"], self.langid.languages)
        if weights["lingua"]:
            scores = self.lingua.scores(word, candidates)
            _add_log(total, scores, weights["lingua"], self.lingua.languages)
        return total

    def _unsupported(self, text: str, candidates: frozenset[str], letters: int) -> float:
        """py3langid's probability that a long text is in a language we do not support, else 0."""
        if letters < UNSUPPORTED_MIN_LETTERS or "py3langid" not in self._long:
            return 0.0
        _scores, best_any, best_any_p = self.langid.scores(text, candidates)
        if best_any not in self._configured and best_any_p >= UNSUPPORTED_PROBABILITY:
            return best_any_p
        return 0.0

    def detect(self, text: str) -> LanguageGuess:
        guess, profile, group, candidates = self.scripts.decide(text)
        share = profile.share
        if guess is not None:
            # The script names the only configured candidate (say Arabic script, only "ar"
            # configured); a long text may still be another language of that script (Persian).
            if guess.language == UND or group == "cjk":
                return guess
            letters = profile.group_letters(group)
            focused = _keep_group(text, group) if share < 1.0 else text
            unsupported = self._unsupported(focused, candidates, letters)
            return LanguageGuess(UND, round(unsupported * share, 4)) if unsupported else guess
        focused = _keep_group(text, group) if share < 1.0 else text
        letters = profile.group_letters(group)
        long_text = letters >= LONG_TEXT_LETTERS
        models = self._long if long_text else self._short
        scores, best_any, best_any_p = self._combined(focused, group, candidates, models)
        unsupported = 0.0
        if letters >= UNSUPPORTED_MIN_LETTERS:
            if best_any is None:  # the models used did not include py3langid
                unsupported = self._unsupported(focused, candidates, letters)
            elif best_any not in self._configured and best_any_p >= UNSUPPORTED_PROBABILITY:
                unsupported = best_any_p
        if unsupported:
            return LanguageGuess(UND, round(unsupported * share, 4))
        if not scores:
            return LanguageGuess(UND, 0.0)
        best = max(scores, key=lambda k: scores[k])
        confidence = scores[best] * share
        if group == "cjk" and letters < HAN_ONLY_UNSURE_CHARS:
            confidence = min(confidence, 0.5)  # kanji-only Japanese vs Chinese: let context decide
        return LanguageGuess(best, round(confidence, 4))

    def detect_many(self, texts: Sequence[str]) -> list[LanguageGuess]:
        return [self.detect(t) for t in texts]


class LangdetectDetector:
    """langdetect, seeded (deterministic) and restricted to the configured languages.

    Kept as the baseline the design named; it is the weakest measured (see the benchmark).
    """

    def __init__(self, languages: Sequence[str], seed: int = 0) -> None:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        self.languages = tuple(dict.fromkeys(_normalize_code(c) for c in languages))
        self.name = f"langdetect-{_version('langdetect')}"
        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.seed = seed  # per-factory: no global state is touched
        configured = set(self.languages)
        self._prior = {
            lang: 1.0 for lang in self._factory.langlist if _normalize_code(lang) in configured
        }

    def detect(self, text: str) -> LanguageGuess:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        if self._prior:
            detector.set_prior_map(self._prior)
        detector.append(text)
        try:
            ranked = detector.get_probabilities()
        except LangDetectException:  # no features: digits, symbols, empty
            return LanguageGuess(UND, 0.0)
        if not ranked:
            return LanguageGuess(UND, 0.0)
        code = _normalize_code(ranked[0].lang)
        confidence = round(min(1.0, ranked[0].prob), 4)
        return LanguageGuess(code if code in self.languages else UND, confidence)

    def detect_many(self, texts: Sequence[str]) -> list[LanguageGuess]:
        return [self.detect(t) for t in texts]


_BACKENDS: dict[str, Callable[[Sequence[str]], LanguageDetector]] = {
    "auto": HybridDetector,
    # lingua in high accuracy mode + word frequencies: best on words, 4 s and ~300 MB to load.
    "accurate": lambda langs: HybridDetector(
        langs, short={"lingua": 1.0, "words": 0.5}, low_accuracy=False
    ),
    "lingua": lambda langs: HybridDetector(
        langs, short={"lingua": 1.0}, long={"lingua": 1.0}, low_accuracy=False
    ),
    "lingua-low": lambda langs: HybridDetector(langs, short={"lingua": 1.0}, long={"lingua": 1.0}),
    "py3langid": lambda langs: HybridDetector(langs, short={"py3langid": 1.0}),
    "langdetect": LangdetectDetector,
    "scripts": ScriptDetector,
}
BACKENDS = tuple(_BACKENDS)

_cache: dict[tuple[str, tuple[str, ...]], LanguageDetector] = {}
_cache_lock = threading.Lock()


def get_detector(languages: Sequence[str] | None = None, backend: str = "auto") -> LanguageDetector:
    """The detector for these languages (default: ``Settings().languages``), one per process."""
    if backend not in _BACKENDS:
        raise ValueError(f"unknown language backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if languages is None:
        from ingest.config import load_settings

        languages = load_settings().languages
    key = (backend, tuple(sorted({_normalize_code(c) for c in languages if c.strip()})))
    with _cache_lock:
        detector = _cache.get(key)
        if detector is None:
            detector = _BACKENDS[backend](list(key[1]))
            _cache[key] = detector
    return detector


# ---------------------------------------------------------------------------------------------
# Documents

# A paragraph or title with fewer letters than this is "short".
SHORT_LETTERS = 25
# Below this confidence a short text takes the document language (when its script allows).
SHORT_MIN_CONFIDENCE = 0.9
# Below this confidence any text takes the document language (when its script allows).
MIN_CONFIDENCE = 0.5
# The hint wins when its share of the vote is at least this fraction of the leader's.
HINT_TIE_RATIO = 0.8


def _script_allows(profile: ScriptProfile, language: str) -> bool:
    """Whether text with this script profile could be in ``language`` at all."""
    group = profile.group
    if group is None or language_script(language) != group:
        return False
    if group == "cjk":
        kana, hangul = profile.counts.get("kana", 0), profile.counts.get("hangul", 0)
        if language == "ko":
            return not kana
        return not hangul and (language == "ja" or not kana)
    return True


def _fallback(guess: LanguageGuess, text: str, doc: str, doc_confidence: float) -> LanguageGuess:
    """Replace an unsure guess by the document language when the text's script allows it."""
    if doc == UND or guess.language == doc:
        return guess
    profile = script_profile(text)
    if not _script_allows(profile, doc):
        return guess  # an English quote in a Korean page stays English; digits stay "und"
    threshold = SHORT_MIN_CONFIDENCE if profile.letters < SHORT_LETTERS else MIN_CONFIDENCE
    if guess.confidence >= threshold:
        return guess  # clear evidence, including a clearly unsupported language
    return LanguageGuess(doc, round(doc_confidence, 4))


def detect_document(
    paragraphs: Sequence[str],
    title: str | None = None,
    *,
    detector: LanguageDetector | None = None,
    hint: str | None = None,
) -> DocumentLanguage:
    """Language of each paragraph, of the document (a letter-weighted vote) and of the title.

    ``hint`` (e.g. from a sources file) breaks near-ties and decides when there is no evidence,
    but never overrides clear evidence.
    """
    detector = detector or get_detector()
    texts = list(paragraphs)
    guesses = detector.detect_many(texts)
    votes: dict[str, float] = {}
    for text, guess in zip(texts, guesses, strict=True):
        weight = sum(script_profile(text).weights.values()) * guess.confidence
        if weight > 0:
            votes[guess.language] = votes.get(guess.language, 0.0) + weight
    title_guess = detector.detect(title) if title is not None else None
    if not votes and title and title_guess is not None and title_guess.confidence > 0:
        votes[title_guess.language] = title_guess.confidence

    hint = _normalize_code(hint) if hint else None
    total = sum(votes.values())
    if total <= 0:
        doc, doc_conf = (hint, 0.0) if hint else (UND, 0.0)
    else:
        doc = max(votes, key=lambda k: votes[k])
        if hint and hint != doc and votes.get(hint, 0.0) >= HINT_TIE_RATIO * votes[doc]:
            doc = hint
        doc_conf = votes[doc] / total

    final = [_fallback(g, t, doc, doc_conf) for t, g in zip(texts, guesses, strict=True)]
    if title_guess is not None and title is not None:
        title_guess = _fallback(title_guess, title, doc, doc_conf)
    return DocumentLanguage(
        language=doc, confidence=round(doc_conf, 4), paragraphs=final, title=title_guess
    )


def detector_provenance(detector: LanguageDetector, languages: Sequence[str]) -> str:
    """The detector recorded with a document: its name plus a digest of the languages it may
    choose from, so that changing the configured languages makes stored documents changed."""
    digest = hashlib.sha256(",".join(sorted(languages)).encode()).hexdigest()[:8]
    return f"{detector.name}+languages-{digest}"


def detect_extracted(
    page: Extracted,
    detector: LanguageDetector | None = None,
    *,
    provenance: str | None = None,
) -> Detected:
    """The detect stage of the pipeline and of ``ingest extract``: ``Extracted`` -> ``Detected``
    (document, paragraph and title languages; hint from the sources file).

    ``provenance`` is the detector recorded with the document (default: the detector's name;
    the pipeline passes :func:`detector_provenance`).
    """
    from ingest.models import Detected

    detector = detector or get_detector()
    body = [page.paragraphs[i] for i in page.body_indices()]  # reader comments come after it
    result = detect_document(body, page.title, detector=detector, hint=page.language_hint)
    languages = [g.language for g in result.paragraphs]
    languages += comment_languages(page.paragraphs[len(body) :], result, detector)
    return Detected.extend(
        page,
        language=result.language,
        language_confidence=result.confidence,
        paragraph_languages=languages,
        title_language=result.title.language if result.title is not None else None,
        detector=provenance or detector.name,
    )


def comment_languages(
    comments: Sequence[str], document: DocumentLanguage, detector: LanguageDetector
) -> list[str]:
    """A language for each reader comment, like any paragraph, but no vote in the document's
    language (comments are not the source's text); short unsure comments take the article's
    language when their script allows, as paragraphs do."""
    if not comments:
        return []
    guesses = detector.detect_many(list(comments))
    return [
        _fallback(guess, text, document.language, document.confidence).language
        for text, guess in zip(comments, guesses, strict=True)
    ]


def guess_to_json(text: str, guess: LanguageGuess) -> dict[str, Any]:
    """The CLI's JSON object for one text."""
    return {"text": text, "language": guess.language, "confidence": guess.confidence}


__all__ = [
    "BACKENDS",
    "UND",
    "DocumentLanguage",
    "HybridDetector",
    "LangdetectDetector",
    "LanguageDetector",
    "LanguageGuess",
    "ScriptDetector",
    "ScriptProfile",
    "detect_document",
    "detect_extracted",
    "detector_provenance",
    "get_detector",
    "language_script",
    "script_profile",
]
