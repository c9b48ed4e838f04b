"""Translation throughput: argostranslate vs our engine vs raw CTranslate2, plus memory.

    .venv/bin/python benchmarks/translation.py [--paragraphs 300] [--rss-sentences 20000]

Model: a randomly initialised Transformer-base the size of real argos packages (6+6 layers,
d_model 512, 8 heads, FFN 2048, 32k vocabulary, int8), written with the same SentencePiece +
CTranslate2 layout as an argos package and cached under the temp folder (never committed).
A random model never emits end-of-sentence, so every mode decodes exactly ``--length`` tokens
per sentence (min = max decoding length): the comparison is between pipelines, not outputs.

Text: ``--paragraphs`` Korean paragraphs of 8 sentences built from the 500 Korean sentences of
tests/data/langid plus unique splices of them (no sentence repeats, so our
de-duplication gains nothing here).

Modes, all in this run, reported as sentences per second and as ratios:
  (a) argostranslate.translate.translate() per paragraph, argos defaults (beam 4, batches of
      32 tokens), with its splitter replaced by ours (its own splitters download models);
  (b) our TranslationEngine, a quarter of all paragraphs per call (greedy, batches of 64);
  (c) raw ctranslate2 translate_batch over the same pre-tokenised sentences, one call per
      quarter, same settings as (b): the ceiling for (b). (b) and (c) alternate quarter by
      quarter so that load from other processes hits both alike;
  (d) (b) again with the translation memory warm (zero model calls).
Targets: (b)/(a) >= 4, (b)/(c) >= 0.9, (d)/(b) >= 20. Then resident memory is sampled after
every call while the engine translates ``--rss-sentences`` sentences: it must stay flat.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # test-only helpers (tests/helpers), not shipped
CACHE = Path(tempfile.gettempdir()) / "ingest-benchmark-models"
KOREAN = REPO / "tests" / "data" / "langid" / "sentences" / "ko.txt"  # tests/data/README.md
BASE = {"layers": 6, "d_model": 512, "heads": 8, "ffn_dim": 2048, "model_vocab_size": 32000}
SENTENCES_PER_PARAGRAPH = 8
ROUNDS = 4  # (b) and (c) alternate over this many slices of the text

# argostranslate reads its settings once at import: point it at our package first.
ARGOS_DIR = CACHE / "argos-packages"
os.environ["ARGOS_PACKAGES_DIR"] = str(ARGOS_DIR)


def rss_mb() -> float:
    """Current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def korean_sentences(count: int, seed: int = 7) -> list[str]:
    """``count`` unique Korean sentences: the originals, then splices of two of them."""
    base = [line.strip() for line in KOREAN.read_text(encoding="utf-8").splitlines()]
    base = [s for s in base if s and s.endswith(".")]
    rng = random.Random(seed)
    sentences = list(dict.fromkeys(base))
    seen = set(sentences)
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


def build_model(corpus: list[str]) -> Path:
    """The benchmark package, built once and cached (about 60 MB)."""
    from helpers.argos_packages import build_random_package

    tag = hashlib.sha256(repr(sorted(BASE.items())).encode()).hexdigest()[:10]
    folder = ARGOS_DIR / f"translate-ko_en-bench-{tag}"
    if not (folder / "model" / "model.bin").exists():
        print(f"building Transformer-base package in {folder} ...", flush=True)
        ARGOS_DIR.mkdir(parents=True, exist_ok=True)
        for other in ARGOS_DIR.iterdir():  # only one ko→en package, so argos picks ours
            if other.is_dir() and other != folder:
                import shutil

                shutil.rmtree(other)
        build_random_package(
            folder, "ko", corpus=corpus, sp_vocab_size=8000, package_version="bench", **BASE
        )
    return folder


def report(label: str, sentences: int, elapsed: float) -> float:
    rate = sentences / elapsed
    print(f"  {label:<58} {sentences:>6} sentences {elapsed:8.1f} s {rate:9.1f} sent/s", flush=True)
    return rate


def timed(label: str, sentences: int, run) -> float:
    start = time.perf_counter()
    run()
    return report(label, sentences, time.perf_counter() - start)


def scores_cost(paragraphs: list[str], length: int, rounds: int = 6) -> bool:
    """Cost of translation confidences: the engine with scores (its default) against the
    same engine with ``return_scores=False``, alternating slice by slice (no memory), so that
    machine load hits both alike. Target: at most 5 % slower."""
    from ingest.translate import TranslationEngine

    force = {"min_decoding_length": length}
    engines = {
        "with": TranslationEngine([ARGOS_DIR], max_decoding_length=length, translate_options=force),
        "without": TranslationEngine(
            [ARGOS_DIR],
            max_decoding_length=length,
            translate_options={**force, "return_scores": False},
        ),
    }
    engines["with"].translate("ko", paragraphs[:1])  # load the model (shared by both)
    times = {"with": 0.0, "without": 0.0}
    per_round = -(-len(paragraphs) // rounds)
    sentences = 0
    for index, start in enumerate(range(0, len(paragraphs), per_round)):
        part = paragraphs[start : start + per_round]
        order = ("with", "without") if index % 2 else ("without", "with")
        for name in order:
            began = time.perf_counter()
            batch = engines[name].translate("ko", part)
            times[name] += time.perf_counter() - began
            assert (batch.confidence[0] is None) == (name == "without")
        sentences += batch.model_sentences
    print("translation confidence (return_scores) cost:")
    report("    ingest engine without scores", sentences, times["without"])
    report("    ingest engine with scores (default)", sentences, times["with"])
    ratio = times["with"] / times["without"]
    print(f"  with / without scores: {ratio:.3f} (target <= 1.05)")
    return ratio <= 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paragraphs", type=int, default=260)
    parser.add_argument(
        "--argos-paragraphs", type=int, default=0, help="paragraphs for (a); 0 = all"
    )
    parser.add_argument("--length", type=int, default=32, help="output tokens per sentence")
    parser.add_argument("--rss-sentences", type=int, default=20000)
    parser.add_argument("--rss-length", type=int, default=8, help="output tokens in RSS run")
    parser.add_argument("--beams", default="", help="extra beam sizes to time, e.g. 2,4")
    args = parser.parse_args()
    if not KOREAN.is_file():
        parser.exit(1, f"benchmark text missing: {KOREAN}\n")

    import ctranslate2
    import sentencepiece

    from ingest.translate import (
        InMemoryTranslationMemory,
        SentenceSplitter,
        TranslationEngine,
        available_cores,
    )

    sentences = korean_sentences(args.paragraphs * SENTENCES_PER_PARAGRAPH)
    paragraphs = [
        " ".join(sentences[i : i + SENTENCES_PER_PARAGRAPH])
        for i in range(0, len(sentences), SENTENCES_PER_PARAGRAPH)
    ]
    package = build_model(sentences)
    splitter = SentenceSplitter()
    split = [s for p in paragraphs for s in splitter.split("ko", p)]
    n = len(split)
    length = args.length
    print(
        f"model: Transformer-base {BASE}, int8, {available_cores()} cores; "
        f"{len(paragraphs)} paragraphs, {n} sentences ({len(set(split))} unique), "
        f"{length} output tokens each"
    )
    force = {"min_decoding_length": length}

    # (c) raw CTranslate2: pre-tokenised, same options as the engine.
    sp = sentencepiece.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    tokens = sp.encode(split, out_type=str)
    raw = ctranslate2.Translator(
        str(package / "model"), compute_type="int8", intra_threads=available_cores()
    )
    raw.translate_batch(tokens[:8], beam_size=1, max_decoding_length=4)  # warm-up

    memory = InMemoryTranslationMemory()
    engine = TranslationEngine(
        [ARGOS_DIR], memory=memory, max_decoding_length=length, translate_options=force
    )
    engine.translate("ko", [split[0]])  # load the model (once per process)
    memory._pairs.clear()

    # (b) and (c) alternate over ROUNDS slices of the text, so a change in machine load during
    # the run (other processes) hits both alike; their times are summed per mode.
    times = {"b": 0.0, "c": 0.0}
    model_sentences = 0
    per_round = -(-len(paragraphs) // ROUNDS)
    for start in range(0, len(paragraphs), per_round):
        part = paragraphs[start : start + per_round]
        part_tokens = sp.encode([s for p in part for s in splitter.split("ko", p)], out_type=str)
        began = time.perf_counter()
        raw.translate_batch(
            part_tokens,
            max_batch_size=64,
            beam_size=1,
            max_decoding_length=length,
            length_penalty=0.2,
            replace_unknowns=True,
            **force,
        )
        times["c"] += time.perf_counter() - began
        began = time.perf_counter()
        result = engine.translate("ko", part)
        times["b"] += time.perf_counter() - began
        model_sentences += result.model_sentences
        assert len(result.texts) == len(part)
    print("throughput:")
    rate_c = report("(c) raw ctranslate2 translate_batch, pre-tokenised", n, times["c"])
    rate_b = report("(b) ingest TranslationEngine", n, times["b"])
    assert model_sentences <= len(set(split))
    batch = None

    def run_warm() -> None:
        nonlocal batch
        batch = engine.translate("ko", paragraphs)

    rate_d = timed("(d) ingest TranslationEngine, translation memory warm", n, run_warm)
    assert batch is not None and batch.model_sentences == 0
    scores_ok = scores_cost(paragraphs, length)

    extra = {}
    for beam in [int(b) for b in args.beams.split(",") if b.strip()]:
        other = TranslationEngine(
            [ARGOS_DIR], beam_size=beam, max_decoding_length=length, translate_options=force
        )
        extra[beam] = timed(
            f"    ingest engine, beam {beam}", n, lambda o=other: o.translate("ko", paragraphs)
        )

    # (a) argostranslate per paragraph with its defaults; its splitter replaced by ours and its
    # translator wrapped only to force the same output length.
    import argostranslate.settings as argos_settings
    import argostranslate.translate as argos

    translation = argos.get_translation_from_codes("ko", "en")
    underlying = translation.underlying
    underlying.sentencizer = splitter.for_language("ko")
    real = ctranslate2.Translator(
        str(package / "model"),
        device=argos_settings.device,
        inter_threads=argos_settings.inter_threads,
        intra_threads=argos_settings.intra_threads,
        compute_type=argos_settings.compute_type,
    )

    class ForcedLength:
        def translate_batch(self, *a, **kw):
            kw.update(min_decoding_length=length, max_decoding_length=length)
            return real.translate_batch(*a, **kw)

    underlying.translator = ForcedLength()
    argos_paragraphs = paragraphs[: args.argos_paragraphs or len(paragraphs)]
    argos_n = sum(len(splitter.split("ko", p)) for p in argos_paragraphs)
    argos.translate(paragraphs[0][:20], "ko", "en")  # warm-up

    def run_argos() -> None:
        for paragraph in argos_paragraphs:
            argos.translate(paragraph, "ko", "en")

    rate_a = timed(
        f"(a) argostranslate translate() per paragraph (beam {argos_settings.beam_size}, "
        f"batch {argos_settings.batch_size} tokens)",
        argos_n,
        run_argos,
    )

    print("ratios:")
    checks = [
        ("(b)/(a) ingest vs argostranslate", rate_b / rate_a, 4.0),
        ("(b)/(c) ingest vs raw ctranslate2", rate_b / rate_c, 0.9),
        ("(d)/(b) warm memory vs cold", rate_d / rate_b, 20.0),
    ]
    for beam, rate in extra.items():
        print(f"  beam {beam} vs beam 1: {rate / rate_b:.2f}")
    ok = scores_ok
    for label, ratio, target in checks:
        passed = ratio >= target
        ok &= passed
        print(f"  {label:<40} {ratio:8.2f}  (target >= {target}) {'ok' if passed else 'MISSED'}")

    # Memory: translate --rss-sentences fresh sentences in calls of one corpus each, no memory
    # (a memory grows by design), and sample RSS after every call.
    if args.rss_sentences:
        print(f"resident memory while translating {args.rss_sentences} sentences:")
        lean = TranslationEngine(
            [ARGOS_DIR],
            max_decoding_length=args.rss_length,
            translate_options={"min_decoding_length": args.rss_length},
        )
        done, samples = 0, []
        while done < args.rss_sentences:
            lean.translate("ko", paragraphs)
            done += n
            samples.append(rss_mb())
            print(f"  after {done:>6} sentences: RSS {samples[-1]:7.1f} MB", flush=True)
        # The allocator's caches make single samples jump by tens of MB either way: compare
        # the mean of the last half of the samples with the first half (first call excluded).
        steady = samples[1:] if len(samples) > 2 else samples
        half = max(1, len(steady) // 2)
        growth = sum(steady[-half:]) / half - sum(steady[:half]) / half
        flat = growth < 50.0
        ok &= flat
        print(
            f"  RSS last half vs first half of the calls: {growth:+.1f} MB "
            f"{'flat' if flat else 'GROWING'}; peak RSS {peak_rss_mb():.0f} MB"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
