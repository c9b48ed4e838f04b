"""The shipped DEMO argos packages (tests/fixtures/argos) reproduce every gold sentence.

No retraining here: the committed .argosmodel files are loaded as they are and run through
plain ctranslate2 + sentencepiece (and once through argostranslate itself, in a subprocess).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "argos"
GOLD = ROOT / "samples" / "gold"
MAX_BYTES = 5_000_000  # "a few MB max each"
NO_SPACE = {"zh", "ja"}


def gold_by_language() -> dict[str, dict[str, list]]:
    """Per source language: sentence pairs, paragraphs (text, sentences, english) and titles."""
    out: dict[str, dict[str, list]] = {}
    for path in sorted(GOLD.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for para in doc["paragraphs"]:
            lang = para["language"]
            pairs = [(s, e) for s, e in para["sentences"] if e is not None]
            if lang == "en" or not pairs:
                continue
            entry = out.setdefault(lang, {"pairs": [], "paragraphs": [], "titles": []})
            entry["pairs"] += pairs
            text = ("" if lang in NO_SPACE else " ").join(s for s, _ in pairs)
            entry["paragraphs"].append((text, [s for s, _ in pairs], [e for _, e in pairs]))
        title = doc.get("title") or {}
        if doc["language"] != "en" and title.get("english"):
            entry = out.setdefault(doc["language"], {"pairs": [], "paragraphs": [], "titles": []})
            entry["pairs"].append((title["original"], title["english"]))
            entry["titles"].append((title["original"], title["english"]))
    return out


GOLD_LANGS = gold_by_language()


def package_path(lang: str) -> Path:
    return FIXTURES / f"translate-{lang}_en-demo.argosmodel"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each shipped package unzipped once; maps language to its package folder."""
    base = tmp_path_factory.mktemp("demo-packages")
    folders = {}
    for lang in GOLD_LANGS:
        with zipfile.ZipFile(package_path(lang)) as zf:
            top = zf.namelist()[0].split("/")[0]
            zf.extractall(base)
        folders[lang] = base / top
    return folders


def test_gold_has_languages_to_translate() -> None:
    assert {"ko", "de"} <= set(GOLD_LANGS), GOLD_LANGS.keys()


@pytest.mark.parametrize("lang", sorted(GOLD_LANGS))
def test_package_structure_and_demo_labels(lang: str) -> None:
    path = package_path(lang)
    assert path.exists(), f"missing {path}: run tests/fixtures/argos/build_demo_packages.py"
    assert path.stat().st_size < MAX_BYTES
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        tops = {n.split("/")[0] for n in names}
        assert len(tops) == 1, tops
        top = tops.pop()
        for needed in (
            "metadata.json",
            "sentencepiece.model",
            "model/model.bin",
            "model/config.json",
        ):
            assert f"{top}/{needed}" in names, needed
        meta = json.loads(zf.read(f"{top}/metadata.json"))
        readme = zf.read(f"{top}/README.md").decode()
    assert meta["from_code"] == lang and meta["to_code"] == "en"
    assert meta["code"] == f"translate-{lang}_en"
    assert meta["package_version"].endswith("-demo")
    assert meta["argos_version"] == "1.9.0"
    assert "DEMO" in meta["name"] and "DEMO" in meta["description"].upper()
    assert "DEMO" in readme


@pytest.mark.parametrize("lang", sorted(GOLD_LANGS))
def test_every_gold_pair_reproduced_by_ctranslate2(lang: str, extracted: dict[str, Path]) -> None:
    import ctranslate2
    import sentencepiece as spm

    folder = extracted[lang]
    sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    translator = ctranslate2.Translator(str(folder / "model"), intra_threads=1)
    pairs = GOLD_LANGS[lang]["pairs"]
    batch = [sp.encode(src, out_type=str) for src, _ in pairs]
    for beam in (1, 4):
        results = translator.translate_batch(batch, beam_size=beam, max_batch_size=32)
        got = [sp.decode(r.hypotheses[0]) for r in results]
        wrong = [(src, want, g) for (src, want), g in zip(pairs, got, strict=True) if g != want]
        assert not wrong, f"beam {beam}: {wrong}"


@pytest.mark.parametrize("lang", sorted(GOLD_LANGS))
def test_gold_paragraphs_split_by_sentencex_as_at_run_time(lang: str) -> None:
    from sentencex import segment

    for text, sentences, _ in GOLD_LANGS[lang]["paragraphs"]:
        assert [s.strip() for s in segment(lang, text) if s.strip()] == sentences


def test_unknown_input_still_translates_without_error(extracted: dict[str, Path]) -> None:
    """The demo model knows only the samples, but other input must not crash the engine."""
    import ctranslate2
    import sentencepiece as spm

    folder = extracted["ko"]
    sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    translator = ctranslate2.Translator(str(folder / "model"), intra_threads=1)
    tokens = sp.encode("전혀 다른 문장입니다 😀 xyz.", out_type=str)
    result = translator.translate_batch([tokens], beam_size=1, max_decoding_length=64)[0]
    assert isinstance(sp.decode(result.hypotheses[0]), str)


ARGOS_SNIPPET = r"""
import json, sys
from pathlib import Path
import argostranslate.package, argostranslate.translate
from sentencex import segment

job = json.loads(sys.stdin.read())
for path in job["zips"]:
    argostranslate.package.install_from_path(Path(path))

class Sentencex:
    def __init__(self, lang):
        self.lang = lang
    def split_sentences(self, text):
        return [s.strip() for s in segment(self.lang, text) if s.strip()]

out = {}
for lang, texts in job["texts"].items():
    translation = argostranslate.translate.get_translation_from_codes(lang, "en")
    translation.underlying.sentencizer = Sentencex(lang)
    out[lang] = [translation.translate(t) for t in texts]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_argostranslate_translates_gold_paragraphs(tmp_path: Path) -> None:
    """argos' own translate() (beam 4, its batching and decoding) gives the gold English."""
    texts, wants = {}, {}
    for lang, entry in GOLD_LANGS.items():
        texts[lang] = [p[0] for p in entry["paragraphs"]] + [t for t, _ in entry["titles"]]
        wants[lang] = [" ".join(p[2]) for p in entry["paragraphs"]] + [
            e for _, e in entry["titles"]
        ]
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "ARGOS_TRANSLATE_PACKAGE_DIR": str(tmp_path / "packages"),
        "ARGOS_DEVICE_TYPE": "cpu",
    }
    job = {"zips": [str(package_path(lang)) for lang in GOLD_LANGS], "texts": texts}
    proc = subprocess.run(
        [sys.executable, "-c", ARGOS_SNIPPET],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for lang in GOLD_LANGS:
        want = [w.replace("_", " ") for w in wants[lang]]  # argos turns "_" into " "
        assert got[lang] == want, lang


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "build_demo_packages", FIXTURES / "build_demo_packages.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_build_script_reads_the_same_pairs() -> None:
    script = _load_script()
    loaded = script.load_gold(GOLD, with_generic=False)
    assert set(loaded) == set(GOLD_LANGS)
    for lang, entry in GOLD_LANGS.items():
        assert sorted(set(loaded[lang].pairs)) == sorted(set(entry["pairs"]))


def test_build_script_rejects_gold_that_sentencex_splits_differently(tmp_path: Path) -> None:
    script = _load_script()
    bad = {
        "file": "bad.html",
        "language": "de",
        "title": {"original": "Titel", "english": "Title"},
        "paragraphs": [
            {"language": "de", "sentences": [["Erster Satz. Zweiter Satz.", "One. Two."]]}
        ],
        "boilerplate": [],
    }
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(script.GoldError, match="bad.json paragraph 0"):
        script.load_gold(tmp_path)
