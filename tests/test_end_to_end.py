"""End to end over samples/: the library pipeline, then the real Prefect flow through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, gold_paragraphs, load_gold
from typer.testing import CliRunner

from ingest.config import load_settings
from ingest.inputs import file_uri, load_targets, resolve_inputs
from ingest.pipeline import Pipeline
from ingest.store import Store

GOLD = load_gold()


def run_pipeline(inputs: list[str], **kwargs) -> tuple[Pipeline, list]:
    settings = load_settings()
    resolution = resolve_inputs(inputs, settings)
    pipeline = Pipeline(settings, **kwargs)
    pages = list(resolution.failures) + load_targets(resolution.targets, settings)
    return pipeline, pipeline.process(pages)


def stored(store: Store, name: str) -> dict:
    document = store.get_document(file_uri(SAMPLES / name))
    assert document is not None, name
    return document


def test_samples_come_out_clean_detected_and_translated(demo_home):
    pipeline, outcomes = run_pipeline([str(SAMPLES)])
    assert {o.status for o in outcomes} == {"ok"}, [(o.url, o.reason) for o in outcomes]
    for name, gold in GOLD.items():
        document = stored(pipeline.store, name)
        assert document["language"] == gold["language"], name
        text = "\n".join(p["original"] for p in document["paragraphs"])
        for debris in gold["boilerplate"]:
            assert debris not in text, (name, debris)
        expected = gold_paragraphs(gold)
        got = [(p["language"], p["original"], p["english"]) for p in document["paragraphs"]]
        assert got == expected, name
        assert document["title"] == gold["title"]["original"]
        if gold["title"]["english"]:
            assert document["title_english"] == gold["title"]["english"]
        assert document["extractor"] and document["detector"]
    korean = stored(pipeline.store, "korean-article.html")
    assert korean["translator"].startswith("translate-ko_en@") and "demo" in korean["translator"]


def test_rerun_changes_nothing_and_makes_no_model_calls(demo_home):
    pipeline, _ = run_pipeline([str(SAMPLES)])
    before = [json.dumps(d, default=str) for d in pipeline.store.iter_documents()]
    _, again = run_pipeline([str(SAMPLES), str(SAMPLES / "feed.xml")])
    assert [o.status for o in again] == ["unchanged"] * len(GOLD)
    after = [
        json.dumps(d, default=str)
        for d in Store(load_settings().resolved_store_url()).iter_documents()
    ]
    assert after == before
    _, forced = run_pipeline([str(SAMPLES)], force=True)
    assert {o.status for o in forced} == {"ok"}
    assert sum(o.model_sentences for o in forced) == 0  # translation memory answered everything
    assert sum(o.memory_hits for o in forced) > 0


def test_without_packages_documents_are_stored_untranslated_with_a_hint(home):
    pipeline, outcomes = run_pipeline([str(SAMPLES)])
    by_name = {Path(o.url).name: o for o in outcomes}
    korean = by_name["korean-article.html"]
    assert korean.status == "untranslated"
    assert "no ko→en package (run: ingest models install ko)" in korean.reason
    assert by_name["english-article.html"].status == "ok"
    document = stored(pipeline.store, "korean-article.html")
    assert document["language"] == "ko"
    assert [p["english"] is None for p in document["paragraphs"]].count(True) == 6
    # installing the package later makes the same documents change on the next run
    from conftest import DEMO_PACKAGES

    from ingest.translate import install_package_file

    assert DEMO_PACKAGES
    for package in DEMO_PACKAGES:
        install_package_file(package, home / "packages")
    _, again = run_pipeline([str(SAMPLES)])
    again_by_name = {Path(o.url).name: o for o in again}
    assert again_by_name["korean-article.html"].status == "ok"
    assert again_by_name["english-article.html"].status == "unchanged"


def make_bad_inputs(folder: Path) -> Path:
    folder.mkdir()
    (folder / "binary.html").write_bytes(bytes(range(256)) * 40)
    (folder / "empty.html").write_bytes(b"")
    (folder / "nav-only.html").write_text(
        "<html><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav></body></html>"
    )
    (folder / "broken.html.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return folder


def test_bad_input_gets_a_failure_row_and_the_batch_goes_on(demo_home, tmp_path):
    bad = make_bad_inputs(tmp_path / "bad")
    pipeline, outcomes = run_pipeline([str(bad), str(SAMPLES / "korean-article.html")])
    by_name = {Path(o.url).name: o for o in outcomes}
    for name in ("binary.html", "empty.html", "nav-only.html", "broken.html.gz"):
        assert by_name[name].status == "failed" and by_name[name].reason, name
        row = pipeline.store.get_document(file_uri(bad / name))
        assert row["status"] == "failed" and row["reason"] == by_name[name].reason
    assert by_name["korean-article.html"].status == "ok"


# -- the real Prefect flow, through the CLI (one ephemeral API for the whole session) ---------


@pytest.mark.prefect
def test_cli_run_flow_export_show(demo_home, tmp_path, monkeypatch):
    from ingest.cli.main import app, load_commands

    monkeypatch.setenv("COLUMNS", "200")  # the summary table must not wrap file names
    load_commands()
    runner = CliRunner()
    samples = tmp_path / "samples"
    shutil.copytree(SAMPLES, samples)
    bad = make_bad_inputs(tmp_path / "bad")

    result = runner.invoke(app, ["run", str(samples), str(bad)])
    assert result.exit_code == 0, result.output
    assert "korean-article.html" in result.output and "ko" in result.output
    assert result.output.count("failed") >= 4

    again = runner.invoke(app, ["run", str(samples)])
    assert again.exit_code == 0, again.output
    assert f"{len(GOLD)} unchanged" in again.output

    only_bad = runner.invoke(app, ["run", str(bad)])
    assert only_bad.exit_code == 1

    out = tmp_path / "export.jsonl"
    exported = runner.invoke(app, ["export", "--format", "jsonl", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(GOLD) + 4
    korean = next(r for r in rows if r["url"].endswith("korean-article.html"))
    gold = GOLD["korean-article.html"]
    assert korean["text_english"].splitlines() == [e for _, _, e in gold_paragraphs(gold)]
    assert korean["language"] == "ko" and korean["status"] == "ok"

    monkeypatch.setenv("COLUMNS", "160")  # long Korean lines must wrap, not be cut
    shown = runner.invoke(app, ["show", str(samples / "korean-article.html")])
    assert shown.exit_code == 0, shown.output
    assert "블링컨" in shown.output and "Blinken" in shown.output

    def hangul(text: str) -> str:
        return "".join(ch for ch in text if "\uac00" <= ch <= "\ud7a3")

    for _, original, _ in gold_paragraphs(gold):  # wide text wraps, no character is cut
        assert hangul(original) in hangul(shown.output)
