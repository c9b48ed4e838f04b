"""Translation confidence: calibrated on the demo packages, carried to documents, statuses and
the store (including stores created before confidences existed)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
from pathlib import Path

import pytest
from conftest import DEMO_PACKAGES, require
from sqlalchemy import create_engine, inspect, text

from ingest.models import Detected
from ingest.store import Store
from ingest.store.memory import sentence_hash
from ingest.translate import TranslationEngine, install_package_file, list_installed
from ingest.translate.confidence import (
    DEFAULT_MIN_CONFIDENCE,
    combine,
    sentence_confidence,
    threshold_for,
)
from ingest.translate.documents import DocumentTranslator
from ingest.translate.packages import PackageError, read_package

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("calibration", ROOT / "benchmarks/confidence.py")
assert _spec is not None and _spec.loader is not None
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

# Columns added by this change: a store created before it lacks them.
NEW_COLUMNS = {
    "documents": ("title_confidence", "title_low_confidence"),
    "paragraphs": ("confidence", "low_confidence"),
    "translation_memory": ("confidence",),
}


@pytest.fixture(scope="module")
def demo_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(DEMO_PACKAGES, "tests/fixtures/argos/*.argosmodel missing")
    folder = tmp_path_factory.mktemp("demo-packages")
    for package in DEMO_PACKAGES:
        install_package_file(package, folder)
    return folder


def demo_threshold(folder: Path) -> float:
    """The threshold the demo packages declare (metadata.json ``min_confidence``)."""
    [threshold] = {p.min_confidence for p in list_installed([folder])}
    assert threshold is not None
    return threshold


def test_the_threshold_in_force_for_a_package(demo_packages: Path, tmp_path: Path) -> None:
    """The setting beats the package's measured threshold, which beats the fallback."""
    assert demo_threshold(demo_packages) == 0.98  # measured: benchmarks/confidence.py
    assert threshold_for(0.98, None) == 0.98
    assert threshold_for(0.98, 0.3) == 0.3 and threshold_for(None, 0.0) == 0.0
    assert threshold_for(None, None) == DEFAULT_MIN_CONFIDENCE
    # a package's metadata must hold a number from 0 to 1 there
    [package] = [p for p in list_installed([demo_packages]) if p.from_code == "de"]
    broken = tmp_path / package.path.name
    shutil.copytree(package.path, broken)
    metadata = json.loads((broken / "metadata.json").read_text(encoding="utf-8"))
    for bad in ("high", 1.5, True):
        metadata["min_confidence"] = bad
        (broken / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        with pytest.raises(PackageError, match="min_confidence must be a number from 0 to 1"):
            read_package(broken)
    del metadata["min_confidence"]  # packages without a calibration (real argos ones)
    (broken / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    assert read_package(broken).min_confidence is None


def test_sentence_confidence_undoes_the_length_penalty() -> None:
    # CTranslate2 divides the summed log-probability by length ** length_penalty
    summed, length = -2.0, 8
    for penalty in (0.0, 0.2, 1.0):
        score = summed / length**penalty
        assert sentence_confidence(score, length, penalty) == pytest.approx(2.718281828 ** (-0.25))
    # weighted geometric mean over the sentences whose confidence is known
    assert combine([(0.9, 10), (None, 50), (0.5, 10)]) == pytest.approx((0.9 * 0.5) ** 0.5)
    assert combine([(None, 3)]) is None


@pytest.mark.parametrize("language", calibration.LANGUAGES)
def test_known_sentences_score_above_every_unseen_one(demo_packages: Path, language: str) -> None:
    """The demo models learned the samples' sentences only: each of those must score above
    every one of the 500 langid sentences of the same language they never saw."""
    known = calibration.confidences(demo_packages, language, calibration.known_sentences(language))
    unseen = calibration.confidences(
        demo_packages, language, calibration.unseen_sentences(language)
    )
    assert len(known) >= 8 and len(unseen) >= 450
    assert min(known) > max(unseen)
    assert calibration.roc_auc(known, unseen) == 1.0
    # the packages' threshold keeps every known sentence and marks most unseen ones
    assert min(known) >= demo_threshold(demo_packages) > statistics.median(unseen)


def test_auc_over_both_languages(demo_packages: Path) -> None:
    known: list[float] = []
    unseen: list[float] = []
    for language in calibration.LANGUAGES:
        known += calibration.confidences(
            demo_packages, language, calibration.known_sentences(language)
        )
        unseen += calibration.confidences(
            demo_packages, language, calibration.unseen_sentences(language, limit=100)
        )
    assert calibration.roc_auc(known, unseen) >= 0.95


def detected(paragraphs: list[str], languages: list[str], title: str | None = None) -> Detected:
    return Detected(
        url="https://news.example/a",
        source="test",
        body=b"<html></html>",
        paragraphs=paragraphs,
        title=title,
        extractor="ex-1",
        language=languages[0],
        language_confidence=0.99,
        paragraph_languages=languages,
        title_language=languages[0] if title else None,
        detector="det-1",
    )


_LOW_KOREAN: list[str] = []


def unseen_korean(packages: Path, count: int) -> list[str]:
    """Unseen Korean sentences the demo model scores below the default threshold (most of
    them, see the calibration tests; long ones can come out as a fluent memorised sentence
    scored above it), so the status tests below do not depend on which ones those are."""
    if not _LOW_KOREAN:
        sentences = calibration.unseen_sentences("ko", limit=40)
        scores = calibration.confidences(packages, "ko", sentences)
        _LOW_KOREAN.extend(s for s, c in zip(sentences, scores, strict=True) if c < 0.95)
    assert len(_LOW_KOREAN) >= count
    return _LOW_KOREAN[:count]


def test_statuses_follow_the_confidence(demo_packages: Path) -> None:
    translator = DocumentTranslator(TranslationEngine([demo_packages]), "en")
    known = calibration.known_sentences("ko")
    docs = translator.translate(
        {
            0: detected(known[:3] + ["An English paragraph."], ["ko", "ko", "ko", "en"], known[0]),
            1: detected(
                unseen_korean(demo_packages, 4) + [known[0]],
                ["ko"] * 5,
                unseen_korean(demo_packages, 5)[4],
            ),
            # mostly unseen Korean, plus a Japanese paragraph no package translates
            2: detected(
                unseen_korean(demo_packages, 3) + ["これは日本語です。"], ["ko", "ko", "ko", "ja"]
            ),
            3: detected(["Only English here."], ["en"]),
        }
    )
    good, bad, mixed, english = docs[0], docs[1], docs[2], docs[3]
    assert good.status == "ok" and good.translation_status == "translated"
    assert good.low_confidence == [False] * 4 and good.title_low_confidence is False
    assert all(
        c is not None and c >= demo_threshold(demo_packages) for c in good.paragraph_confidence[:3]
    )
    assert good.paragraph_confidence[3] is None  # English original: no model involved
    assert good.title_confidence is not None and good.title_confidence >= demo_threshold(
        demo_packages
    )

    assert bad.status == "low-confidence"
    assert bad.low_confidence[:4] == [True] * 4 and bad.low_confidence[4] is False
    assert bad.title_low_confidence is True
    assert bad.translation_status.startswith("low-confidence: 4 of 5 foreign paragraphs")
    assert all(e for e in bad.english)  # nothing dropped: the English stays, flagged

    # low confidence comes first, what is missing is still said
    assert mixed.status == "low-confidence"
    assert "partial: no ja→en package" in mixed.translation_status
    assert mixed.paragraph_confidence[3] is None and mixed.low_confidence[3] is False

    assert english.status == "ok" and english.paragraph_confidence == [None]

    # the threshold in force decides
    lenient = DocumentTranslator(TranslationEngine([demo_packages]), "en", min_confidence=0.0)
    again = lenient.translate({1: detected(unseen_korean(demo_packages, 4), ["ko"] * 4)})[1]
    assert again.status == "ok" and not any(again.low_confidence)


def test_confidence_round_trips_through_the_store(store_url: str, demo_packages: Path) -> None:
    store = Store(store_url)
    translator = DocumentTranslator(TranslationEngine([demo_packages]), "en")
    paragraphs = [
        *unseen_korean(demo_packages, 2),
        calibration.known_sentences("ko")[0],
        "Plain English.",
    ]
    document = translator.translate({0: detected(paragraphs, ["ko", "ko", "ko", "en"], "제목")})[0]
    store.save_document(document)
    stored = store.get_document(document.url)
    assert stored is not None and stored["status"] == "low-confidence"
    assert stored["reason"].startswith("low-confidence:")
    assert [p["confidence"] for p in stored["paragraphs"]] == pytest.approx(
        document.paragraph_confidence
    )
    assert [p["low_confidence"] for p in stored["paragraphs"]] == [True, True, False, None]
    assert stored["title_confidence"] == pytest.approx(document.title_confidence)
    assert [d["url"] for d in store.iter_documents(status="low-confidence")] == [document.url]


def make_old_store(url: str) -> None:
    """A store as the version before confidences created it: the new columns dropped, and a
    document and a remembered sentence written the old way."""
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        for table, columns in NEW_COLUMNS.items():
            for column in columns:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(
            text(
                "INSERT INTO documents (url, source, status, paragraph_count, translated_count,"
                " memory_hits, model_sentences, processed_at) VALUES"
                " ('https://old.example/', 'old', 'ok', 1, 1, 0, 0, '2025-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO paragraphs (document_id, position, language, original, english)"
                " SELECT id, 0, 'ko', '옛 문단.', 'An old paragraph.' FROM documents"
            )
        )
        conn.execute(
            text(
                "INSERT INTO translation_memory (package, source_hash, source, target, created_at)"
                " VALUES ('p@1', :hash, '옛 문장.', 'An old sentence.', '2025-01-01 00:00:00')"
            ),
            {"hash": sentence_hash("옛 문장.")},
        )
    engine.dispose()


def test_an_older_store_gains_the_new_columns(store_url: str) -> None:
    make_old_store(store_url)
    store = Store(store_url)  # a writable open adds what is missing
    columns = {
        table: {row["name"] for row in inspect(store.engine).get_columns(table)}
        for table in NEW_COLUMNS
    }
    for table, wanted in NEW_COLUMNS.items():
        assert set(wanted) <= columns[table]
    old = store.get_document("https://old.example/")
    assert old is not None and old["paragraphs"][0]["confidence"] is None  # unknown, not low
    remembered = store.translation_memory().lookup("p@1", ["옛 문장."])
    assert remembered["옛 문장."].english == "An old sentence."
    assert remembered["옛 문장."].confidence is None
    Store(store_url).close()  # opening again finds nothing to add


def test_an_older_store_reads_without_being_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_old_store(url)
    store = Store(url, read_only=True)
    assert "paragraphs.confidence" in store.absent_columns
    [old] = list(store.iter_documents())
    assert old["paragraphs"][0]["english"] == "An old paragraph."
    assert old["paragraphs"][0]["confidence"] is None and old["title_confidence"] is None


def test_a_run_reports_exports_and_shows_low_confidence(
    demo_home: Path, demo_packages: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: Korean the demo package never saw comes out as sample-like English;
    the run summary, ``export --status low-confidence`` and ``show`` say how little to trust it,
    while the sample page it was trained on stays ``ok``."""
    import io

    from typer.testing import CliRunner

    from ingest.cli.main import app, load_commands
    from ingest.config import load_settings
    from ingest.models import RawPage
    from ingest.pipeline import Pipeline
    from ingest.report import summary_markdown
    from ingest.store import export_jsonl, export_parquet

    body = "".join(f"<p>{p}</p>" for p in unseen_korean(demo_packages, 4))
    unseen = RawPage(
        url="https://entermedia.example/news/1",
        source="t",
        body=f"<html><head><title>연예</title></head><body><article>{body}</article></body></html>"
        "".encode(),
    )
    sample = ROOT / "samples" / "korean-article.html"
    known = RawPage(url=sample.as_uri(), source=str(sample), body=sample.read_bytes())
    pipeline = Pipeline(load_settings())
    outcomes = {o.url: o for o in pipeline.process([unseen, known])}
    assert outcomes[known.url].status == "ok"
    low = outcomes[unseen.url]
    assert low.status == "low-confidence" and "confidence below 0.98" in (low.reason or "")
    summary = summary_markdown([o.as_dict() for o in outcomes.values()])
    assert "| low-confidence | 1 |" in summary and "**low-confidence**" in summary

    out = io.StringIO()
    assert export_jsonl(pipeline.store, out, status="low-confidence") == 1
    exported = json.loads(out.getvalue())
    assert exported["url"] == unseen.url and exported["text_english"]  # nothing dropped
    assert all(p["low_confidence"] for p in exported["paragraphs"])
    assert all(0 < p["confidence"] < 0.98 for p in exported["paragraphs"])
    parquet = demo_home / "low.parquet"
    assert export_parquet(pipeline.store, parquet, status="low-confidence") == 1
    [row] = __import__("pyarrow.parquet").parquet.read_table(parquet).to_pylist()
    assert [p["confidence"] for p in row["paragraphs"]] == pytest.approx(
        [p["confidence"] for p in exported["paragraphs"]]
    )
    assert row["status"] == "low-confidence" and row["title_confidence"] is not None

    monkeypatch.setenv("COLUMNS", "300")
    load_commands()
    shown = CliRunner().invoke(app, ["show", unseen.url])
    assert shown.exit_code == 0, shown.output
    assert "conf." in shown.output and shown.output.count(" low") >= 4
    assert "low-confidence" in shown.output
