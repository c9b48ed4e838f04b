"""Batched translation with argos packages on CTranslate2, behind a translation memory.

Why not ``argostranslate.translate``: it translates one paragraph per call with beam 4 in
batches of 32 *tokens* (about one sentence), reloads its splitter, cannot cap the output
length, turns every ``_`` into a space, and downloads sentence splitters at first use. Here all
sentences of all texts given in one call are split offline, de-duplicated, looked up in the
memory, and only the rest go to one shared ``ctranslate2.Translator`` per package and process,
sorted by token length and batched by ``max_batch_size`` hypotheses (sentences x beam).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.translate.confidence import Translation, combine, sentence_confidence
from ingest.translate.memory import TranslationMemory
from ingest.translate.packages import NoPackageError, PackageInfo, list_installed
from ingest.translate.splitter import SentenceSplitter

if TYPE_CHECKING:
    from ingest.config import Settings

# Greedy decoding (beam 1) is the default: it is faster than argos' beam 4 because it explores
# fewer hypotheses, which costs some quality (benchmarks/RESULTS.md has the measured ratio);
# beam 2 or 4 are settings away. Greedy levels off from 64 sentences per batch.
DEFAULT_BEAM_SIZE = 1
# Hypotheses decoded together (sentences x beam): a beam-4 batch of 64 sentences holds 256
# hypotheses and ran about half as fast per sentence as batches of 16 (benchmarks/translation.py).
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_DECODING_LENGTH = 256
# Sentences handed to one translate_batch call: bounds memory and lets the translation memory
# receive results as they come, while still giving CTranslate2 many batches to sort.
CHUNK_SENTENCES = 2048


def available_cores() -> int:
    """CPU cores this process may use (respects affinity/cgroup pinning, unlike cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class ModelError(RuntimeError):
    """A package's CTranslate2 model cannot be loaded or run (e.g. a corrupt ``model.bin``).

    ``str()`` is one short line: the package and the first line of CTranslate2's error.
    """

    def __init__(self, package: PackageInfo, error: BaseException) -> None:
        super().__init__(f"model of {package.key} is unusable: {short_error(error)}")
        self.package_key = package.key


def short_error(error: BaseException, limit: int = 160) -> str:
    """The first line of an error message, capped: CTranslate2's can span many lines."""
    lines = str(error).strip().splitlines()
    first = lines[0].strip() if lines else type(error).__name__
    return first if len(first) <= limit else first[: limit - 1] + "…"


def check_model(package: PackageInfo) -> None:
    """Load the package's model on the CPU and translate one short sentence with it.

    Raises ``ModelError`` when that fails, so a broken package is refused when it is
    installed rather than discovered in the middle of a run.
    """
    try:
        import ctranslate2

        translator = ctranslate2.Translator(
            str(package.model_path), device="cpu", inter_threads=1, intra_threads=1
        )
        tokenizer = _Tokenizer(package)
        prefix = [package.target_prefix.split()] if package.target_prefix else None
        translator.translate_batch(
            tokenizer.encode(["Hello."]), target_prefix=prefix, max_decoding_length=8
        )
    except Exception as error:  # whatever CTranslate2 or the tokenizer raise for bad files
        raise ModelError(package, error) from error


@dataclass
class TranslationBatch:
    """Result of ``TranslationEngine.translate``: ``texts[i]`` renders input text ``i``."""

    texts: list[str]
    package_key: str
    memory_hits: int  # unique sentences answered by the translation memory
    model_sentences: int  # unique sentences sent to the model
    # the model's confidence in texts[i] (ingest.translate.confidence); None when no sentence
    # of it was translated by a model with a known confidence (empty, numbers only, old memory)
    confidence: list[float | None] = field(default_factory=list)


class _Tokenizer:
    """SentencePiece (or argos' BPE) encode/decode, decoding without argos' ``_`` bug."""

    def __init__(self, package: PackageInfo) -> None:
        self.path = package.tokenizer_path
        if package.tokenizer == "sentencepiece.model":
            import sentencepiece

            self._sp = sentencepiece.SentencePieceProcessor(model_file=str(self.path))
            self._bpe = None
        else:  # legacy packages: Moses tokenisation + BPE, as argostranslate does
            from argostranslate.tokenizer import BPETokenizer

            self._sp = None
            self._bpe = BPETokenizer(self.path, package.from_code, package.to_code)

    def encode(self, sentences: list[str]) -> list[list[str]]:
        if self._sp is not None:
            return self._sp.encode(sentences, out_type=str)
        assert self._bpe is not None
        return [self._bpe.encode(sentence) for sentence in sentences]

    def decode(self, tokens: list[str]) -> str:
        if self._sp is not None:
            # Pieces missing from the SentencePiece vocabulary come back verbatim: replace their
            # word-boundary mark, but keep "_" (argostranslate replaces both).
            return self._sp.decode_pieces(tokens).replace("\u2581", " ").strip()
        assert self._bpe is not None
        return self._bpe.decode(tokens).strip()


class _LoadedModel:
    def __init__(self, package: PackageInfo, translator: Any) -> None:
        self.translator = translator
        self.tokenizer = _Tokenizer(package)
        self.target_prefix = package.target_prefix.split() if package.target_prefix else []


_models: dict[tuple[Any, ...], _LoadedModel] = {}
_models_lock = threading.Lock()
_load_locks: dict[tuple[Any, ...], threading.Lock] = {}


def _load_model(
    package: PackageInfo, device: str, compute_type: str, intra_threads: int
) -> _LoadedModel:
    """One model per (package files, device, settings) per process, loaded once even when many
    threads ask at the same time (argostranslate loads it once per thread in that case)."""
    model_bin = package.model_path / "model.bin"
    stamp = model_bin.stat().st_mtime_ns if model_bin.exists() else 0
    key = (str(package.model_path.resolve()), stamp, device, compute_type, intra_threads)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is not None:
            return loaded
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        with _models_lock:
            loaded = _models.get(key)
        if loaded is None:
            import ctranslate2

            translator = ctranslate2.Translator(
                str(package.model_path),
                device=device,
                compute_type=compute_type,
                inter_threads=1,
                intra_threads=intra_threads,
            )
            loaded = _LoadedModel(package, translator)
            with _models_lock:
                _models[key] = loaded
        return loaded


def loaded_model_count() -> int:
    """How many CTranslate2 models this process holds (for tests and diagnostics)."""
    with _models_lock:
        return len(_models)


def unload_models() -> None:
    """Drop every cached model (frees their memory once no engine call is running)."""
    with _models_lock:
        _models.clear()
        _load_locks.clear()


def _best_compute_type(device: str) -> str:
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types(device)
    if device == "cpu":
        return "int8" if "int8" in supported else "default"
    for choice in ("int8_float16", "float16", "int8"):
        if choice in supported:
            return choice
    return "default"


def sentences_per_batch(max_batch_size: int, beam_size: int) -> int:
    """Sentences per CTranslate2 batch: ``max_batch_size`` hypotheses shared by the beams, so
    the work per batch stays the same whatever the beam size (at least one sentence)."""
    return max(1, max_batch_size // max(1, beam_size))


def _has_letters(sentence: str) -> bool:
    return any(char.isalpha() for char in sentence)


class TranslationEngine:
    """Translates many texts of one language at once, consulting a translation memory first.

    Thread-safe: engines share one CTranslate2 translator per package in the process.
    """

    def __init__(
        self,
        package_dirs: Sequence[Path],
        *,
        memory: TranslationMemory | None = None,
        beam_size: int = DEFAULT_BEAM_SIZE,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        threads: int | None = None,
        device: str = "cpu",
        compute_type: str | None = None,
        max_decoding_length: int = DEFAULT_MAX_DECODING_LENGTH,
        splitter: SentenceSplitter | None = None,
        translate_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``translate_options`` go to ``translate_batch`` as they are (e.g.
        ``min_decoding_length`` to force output lengths in benchmarks)."""
        self.package_dirs = [Path(d) for d in package_dirs]
        self.memory = memory
        self.beam_size = max(1, beam_size)
        self.max_batch_size = max(1, max_batch_size)
        self.threads = threads if threads and threads > 0 else available_cores()
        self.device = device
        self.compute_type = compute_type
        self.max_decoding_length = max_decoding_length
        self.splitter = splitter or SentenceSplitter()
        self.translate_options = dict(translate_options or {})
        self._packages: list[PackageInfo] | None = None
        self._packages_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, memory: TranslationMemory | None = None
    ) -> TranslationEngine:
        """An engine over the default package folders with the ``INGEST_TRANSLATE_*`` knobs."""
        from ingest.translate.packages import default_package_dirs

        return cls(
            default_package_dirs(settings),
            memory=memory,
            beam_size=getattr(settings, "translate_beam_size", DEFAULT_BEAM_SIZE),
            max_batch_size=getattr(settings, "translate_max_batch_size", DEFAULT_MAX_BATCH_SIZE),
            threads=getattr(settings, "translate_threads", None),
            max_decoding_length=getattr(
                settings, "translate_max_decoding_length", DEFAULT_MAX_DECODING_LENGTH
            ),
        )

    # --- packages ------------------------------------------------------------------------

    def packages(self, refresh: bool = False) -> list[PackageInfo]:
        """Installed packages (cached; ``refresh`` rescans the folders)."""
        with self._packages_lock:
            if self._packages is None or refresh:
                self._packages = list_installed(self.package_dirs)
            return list(self._packages)

    def package_for(self, from_code: str, to_code: str = "en") -> PackageInfo | None:
        """The package for a pair; rescans once on a miss so fresh installs are seen."""
        for refresh in (False, True):
            for package in self.packages(refresh=refresh):
                if (package.from_code, package.to_code) == (from_code, to_code):
                    return package
        return None

    # --- translation ---------------------------------------------------------------------

    def translate(
        self, from_code: str, texts: Sequence[str], to_code: str = "en"
    ) -> TranslationBatch:
        """English (or ``to_code``) for each text, aligned with ``texts``.

        Raises ``NoPackageError`` when no package for the pair is installed.
        """
        package = self.package_for(from_code, to_code)
        if package is None:
            raise NoPackageError(from_code, to_code)
        split = [
            self.splitter.split(from_code, text) if text and text.strip() else [] for text in texts
        ]
        unique = list(dict.fromkeys(sentence for sentences in split for sentence in sentences))
        # sentences without letters are copied: nothing for a model to be (un)sure about
        english: dict[str, Translation] = {
            s: Translation(s, None) for s in unique if not _has_letters(s)
        }
        wanted = [s for s in unique if s not in english]
        hits: dict[str, Translation] = {}
        if self.memory is not None and wanted:
            hits = self.memory.lookup(package.key, wanted)
            english.update(hits)
        todo = [s for s in wanted if s not in hits]
        if todo:
            english.update(self.translate_sentences(package, todo))
        out = [
            " ".join(english[s].english for s in sentences if english[s].english)
            for sentences in split
        ]
        confidence = [
            combine((english[s].confidence, len(english[s].english) or 1) for s in sentences)
            for sentences in split
        ]
        return TranslationBatch(
            texts=out,
            package_key=package.key,
            memory_hits=len(hits),
            model_sentences=len(todo),
            confidence=confidence,
        )

    def translate_sentences(
        self, package: PackageInfo, sentences: Sequence[str]
    ) -> dict[str, Translation]:
        """Model translations of unique ``sentences`` with their confidence (no memory lookup);
        new pairs are remembered chunk by chunk, so an interrupted run keeps what it already
        paid for."""
        try:
            model = _load_model(
                package,
                self.device,
                self.compute_type or _best_compute_type(self.device),
                self.threads,
            )
            sentences = list(sentences)
            tokens = model.tokenizer.encode(sentences)
        except Exception as error:  # a corrupt model or tokenizer file
            raise ModelError(package, error) from error
        order = sorted(range(len(sentences)), key=lambda i: len(tokens[i]))
        options: dict[str, Any] = {
            "max_batch_size": sentences_per_batch(self.max_batch_size, self.beam_size),
            "batch_type": "examples",
            "beam_size": self.beam_size,
            "max_decoding_length": self.max_decoding_length,
            "length_penalty": 0.2,  # argostranslate's value, so beam search ranks alike
            "replace_unknowns": True,
            "return_scores": True,  # the confidence of each sentence (ingest.translate.confidence)
        }
        options.update(self.translate_options)
        result: dict[str, Translation] = {}
        for start in range(0, len(order), CHUNK_SENTENCES):
            chunk = order[start : start + CHUNK_SENTENCES]
            prefix = [list(model.target_prefix) for _ in chunk] if model.target_prefix else None
            try:
                outputs = model.translator.translate_batch(
                    [tokens[i] for i in chunk], target_prefix=prefix, **options
                )
            except Exception as error:  # e.g. model.bin corrupted after it was loaded
                raise ModelError(package, error) from error
            fresh = {}
            for i, output in zip(chunk, outputs, strict=True):
                hypothesis = list(output.hypotheses[0])
                confidence = None
                if output.scores:
                    # the end-of-sentence token is scored too, unless decoding was cut short
                    ended = len(hypothesis) < options["max_decoding_length"]
                    confidence = sentence_confidence(
                        output.scores[0], len(hypothesis) + ended, options["length_penalty"]
                    )
                if model.target_prefix and hypothesis[: len(model.target_prefix)] == (
                    model.target_prefix
                ):
                    hypothesis = hypothesis[len(model.target_prefix) :]
                fresh[sentences[i]] = Translation(model.tokenizer.decode(hypothesis), confidence)
            if self.memory is not None:
                self.memory.remember(package.key, fresh)
            result.update(fresh)
        return result
