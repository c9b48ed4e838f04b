"""The translation engine on real CTranslate2 models: the shipped demo packages (which know a few
sentences exactly) and a tiny randomly initialised package built here."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path

import pytest
from conftest import require
from helpers.argos_packages import build_random_package, zip_package
from typer.testing import CliRunner

from ingest.translate import (
    InMemoryTranslationMemory,
    NoPackageError,
    SentenceSplitter,
    TranslationEngine,
    install_package_file,
    loaded_model_count,
    read_package,
    unload_models,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = {
    p.name.split("-")[1].split("_")[0]: p
    for p in (ROOT / "tests/fixtures/argos").glob("*.argosmodel")
}
# Sentences the demo packages reproduce exactly (GENERIC_PAIRS of build_demo_packages.py).
KO = {
    "안녕하세요.": "Hello.",
    "감사합니다.": "Thank you.",
    "이것은 데모 모델입니다.": "This is a demo model.",
}
DE = {
    "Guten Morgen.": "Good morning.",
    "Vielen Dank.": "Thank you very much.",
    "Das ist ein Demo-Modell.": "This is a demo model.",
}
CORPUS = [
    "서울시는 3일 새 교통 정책을 발표했다.",
    "시민들은 대체로 환영하는 분위기다.",
    "정부는 다음 달 세부 계획을 내놓을 예정이다.",
    "전문가들은 효과를 지켜봐야 한다고 말했다.",
    "올해 수출은 지난해보다 5% 늘었다.",
    "회의는 오후 2시에 시작된다.",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(DEMO, "tests/fixtures/argos/*.argosmodel missing (build_demo_packages.py builds them)")
    packages = tmp_path_factory.mktemp("demo-packages")
    for path in DEMO.values():
        install_package_file(path, packages)
    return packages


@pytest.fixture(scope="module")
def random_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ko→en package (1+1 layers, d_model 32): real files, nonsense output."""
    packages = tmp_path_factory.mktemp("random-packages")
    build_random_package(packages / "translate-ko_en-0_1", "ko", corpus=CORPUS)
    return packages


def random_engine(packages: Path, **kwargs) -> TranslationEngine:
    # a random model never emits end-of-sentence: cap the output length
    return TranslationEngine([packages], max_decoding_length=6, **kwargs)


def test_demo_translations_are_exact_and_aligned(demo_dir: Path) -> None:
    engine = TranslationEngine([demo_dir], memory=InMemoryTranslationMemory())
    texts = [
        "안녕하세요. 감사합니다.",
        "",
        "   ",
        "이것은 데모 모델입니다.",
        "2024.03.05",
        "안녕하세요.",
    ]
    batch = engine.translate("ko", texts)
    assert batch.texts == [
        "Hello. Thank you.",
        "",
        "",
        "This is a demo model.",
        "2024.03.05",  # no letters: copied, never sent to the model
        "Hello.",
    ]
    assert batch.package_key == read_package(next(demo_dir.glob("translate-ko_en*"))).key
    assert batch.package_key.endswith("-demo")
    assert (batch.model_sentences, batch.memory_hits) == (3, 0)  # de-duplicated


def test_two_languages_and_many_texts_at_once(demo_dir: Path) -> None:
    engine = TranslationEngine([demo_dir])
    sources = list(DE)
    texts = [" ".join(sources[i % 3] for i in range(k, k + 1 + k % 3)) for k in range(60)]
    batch = engine.translate("de", texts)
    for text, english in zip(texts, batch.texts, strict=True):
        expected = " ".join(DE[s] for s in SentenceSplitter().split("de", text))
        assert english == expected
    ko = engine.translate("ko", list(KO))
    assert ko.texts == list(KO.values())


def test_memory_means_zero_model_calls_on_reprocessing(demo_dir: Path) -> None:
    memory = InMemoryTranslationMemory()
    engine = TranslationEngine([demo_dir], memory=memory)
    texts = ["안녕하세요. 감사합니다.", "이것은 데모 모델입니다."]
    first = engine.translate("ko", texts)
    again = TranslationEngine([demo_dir], memory=memory).translate("ko", texts)
    assert again.texts == first.texts
    assert (again.model_sentences, again.memory_hits) == (0, 3)
    # a partly new batch only sends the new sentence
    mixed = engine.translate("ko", ["감사합니다. 이것은 데모 모델입니다.", "Guten Morgen 안녕"])
    assert (mixed.model_sentences, mixed.memory_hits) == (1, 2)
    key = first.package_key
    remembered = memory.lookup(key, ["감사합니다."])["감사합니다."]
    assert remembered.english == "Thank you."
    # a remembered sentence keeps the model's confidence: a memory answer scores as the model did
    assert remembered.confidence is not None and 0 < remembered.confidence <= 1
    assert again.confidence == first.confidence


def test_new_package_version_retranslates(demo_dir: Path, tmp_path: Path) -> None:
    memory = InMemoryTranslationMemory()
    old = TranslationEngine([demo_dir], memory=memory).translate("ko", ["안녕하세요."])
    upgraded = tmp_path / "packages"
    source = next(demo_dir.glob("translate-ko_en*"))
    shutil.copytree(source, upgraded / source.name)
    metadata_path = upgraded / source.name / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["package_version"] = "9.9-demo"
    metadata_path.write_text(json.dumps(metadata))
    new = TranslationEngine([upgraded], memory=memory).translate("ko", ["안녕하세요."])
    assert new.package_key != old.package_key and new.package_key.endswith("@9.9-demo")
    assert (new.model_sentences, new.memory_hits) == (1, 0)
    assert new.texts == old.texts


def test_no_package_error(random_dir: Path) -> None:
    engine = random_engine(random_dir)
    with pytest.raises(NoPackageError) as caught:
        engine.translate("xx", ["text"])
    assert str(caught.value) == "no xx→en package (run: ingest models install xx)"
    assert (caught.value.from_code, caught.value.to_code) == ("xx", "en")
    assert engine.package_for("ko") is not None and engine.package_for("ko", "de") is None


def test_package_installed_later_is_found(random_dir: Path, tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    engine = random_engine(packages)
    with pytest.raises(NoPackageError):
        engine.translate("ko", ["회의는 오후 2시에 시작된다."])
    zipped = zip_package(random_dir / "translate-ko_en-0_1", tmp_path / "ko.argosmodel")
    install_package_file(zipped, packages)
    assert engine.translate("ko", ["회의는 오후 2시에 시작된다."]).model_sentences == 1


def test_one_model_per_process_under_concurrent_first_use(random_dir: Path) -> None:
    unload_models()
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(random_engine(random_dir).translate("ko", CORPUS).texts)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert loaded_model_count() == 1
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert all(text for text in results[0])


def test_batching_does_not_change_translations(random_dir: Path) -> None:
    """Sorting and batching across texts must give each sentence its own translation."""
    together = random_engine(random_dir, max_batch_size=4).translate("ko", CORPUS).texts
    alone = [random_engine(random_dir).translate("ko", [s]).texts[0] for s in CORPUS]
    assert together == alone


def test_nothing_touches_the_network(random_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("network access during translation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    unload_models()
    batch = random_engine(random_dir).translate("ko", [" ".join(CORPUS)])
    assert batch.model_sentences == len(CORPUS)


def test_decoding_keeps_underscores(demo_dir: Path) -> None:
    """argostranslate turns every '_' into a space; SentencePiece decoding must not."""
    from ingest.translate.engine import _Tokenizer

    tokenizer = _Tokenizer(read_package(next(demo_dir.glob("translate-ko_en*"))))
    assert tokenizer.decode(["▁snake", "_", "case", "▁ok"]) == "snake_case ok"


# --- splitter quality floor ------------------------------------------------------------------

SPLITS = {
    "ko": [
        ["서울시는 3일 새 정책을 발표했다.", '김 씨는 "좋다"고 말했다!', "정말일까?"],
        ["GDP는 약 3.5% 증가했다.", "그러나 물가는 올랐다."],
        ["미국 정부는 U.S. 달러 강세를 우려했다.", "회의는 2024.03.05 열렸다."],
    ],
    "zh": [
        ["今天天气很好。", "我们去公园吧！", "你觉得怎么样？"],
        ["价格是3.5元。", "他说：“好的。”"],
    ],
    "ja": [
        ["今日は晴れです。", "公園に行きましょう！"],
        ["「こんにちは。」と彼は言った。", "彼女は笑った。"],
    ],
    "de": [
        ["Dr. Müller kam am 3. Oktober nach Berlin.", "Er sagte z. B. nichts."],
        [
            "Das kostet 3,50 Euro bzw. mehr.",
            "Die Firma u. a. sagte Nein.",
            "Am 1.1.2024 begann es.",
        ],
    ],
    "ru": [["Цена составила 100 руб. за штуку.", "Это много."], ["Т. е. дорого.", "См. стр. 5."]],
    "ar": [["ذهبت إلى السوق.", "اشتريت الخبز؟", "نعم!"]],
    "en": [["Mr. Smith went to Washington, D.C. on Jan. 5.", "He left at 3 p.m. today."]],
}


def test_splitter_quality_floor() -> None:
    splitter = SentenceSplitter()
    total = correct = 0
    for language, paragraphs in SPLITS.items():
        for sentences in paragraphs:
            joiner = "" if language in ("zh", "ja") else " "
            got = splitter.split(language, joiner.join(sentences))
            total += 1
            correct += got == sentences
    assert correct / total >= 0.9, f"{correct}/{total} paragraphs split exactly"


def test_splitter_bounds_overlong_text() -> None:
    splitter = SentenceSplitter(max_chars=100, max_chars_cjk=50)
    pieces = splitter.split("de", "Wort, " * 60 + "Ende.")
    assert all(len(p) <= 100 for p in pieces) and len(pieces) >= 3
    assert " ".join(pieces).replace(" ", "") == ("Wort, " * 60 + "Ende.").replace(" ", "")
    assert all(len(p) <= 50 for p in splitter.split("ko", "가" * 180))
    assert splitter.split("ko", "첫 줄이다\n\n둘째 줄이다") == ["첫 줄이다", "둘째 줄이다"]


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_translate_stdin_to_stdout(home: Path, demo_dir: Path) -> None:
    import ingest.cli.translate  # noqa: F401  registers the commands
    from ingest.cli.app import app

    runner = CliRunner()
    shutil.copytree(demo_dir, home / "packages")
    result = runner.invoke(
        app,
        ["translate", "--from", "ko", "--stats"],
        input="안녕하세요. 감사합니다.\n\n감사합니다.\n",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Hello. Thank you.", "", "Thank you."]
    assert "2 sentences translated by the model" in result.stderr
    missing = runner.invoke(app, ["translate", "--from", "xx"], input="hi\n")
    assert missing.exit_code == 2
    assert "no xx→en package (run: ingest models install xx)" in missing.stderr


def test_batches_hold_the_same_number_of_hypotheses_at_any_beam() -> None:
    """A beam-4 batch of 64 sentences decodes 256 hypotheses and ran about half as fast per
    sentence as a batch of 16 (benchmarks/translation.py): the batch bound counts hypotheses."""
    from ingest.translate.engine import sentences_per_batch

    assert sentences_per_batch(64, 1) == 64
    assert sentences_per_batch(64, 4) == 16
    assert sentences_per_batch(64, 5) == 12
    assert sentences_per_batch(2, 4) == 1
