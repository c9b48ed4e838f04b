"""What a run reports: short source labels, the reasons of documents needing attention, and the
Prefect artifacts (table and markdown) read back from a real flow run through the Prefect client.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from ingest.report import (
    ATTENTION_STATUSES,
    REASON_WIDTH,
    SOURCE_LABEL_WIDTH,
    cell_width,
    local_path,
    markdown_code,
    markdown_text,
    reason_text,
    shorten_middle,
    source_label,
    summary_markdown,
    table_rows,
)


def _row(url: str, status: str = "ok", reason: str | None = None, **more) -> dict:
    row = dict(url=url, source="t", status=status, language="en", title=None, paragraphs=1)
    row.update(translated=0, foreign=0, memory_hits=0, model_sentences=0, reason=reason)
    row.update(more)
    return row


def test_shorten_middle_keeps_both_ends_within_the_width():
    text = "news.example.com/2024/05/17/a-very-long-slug-about-the-harbour-plan"
    short = shorten_middle(text, 30)
    assert len(short) == 30 and short.startswith("news.example.co") and "…" in short
    assert short.endswith("harbour-plan")
    assert shorten_middle("short", 30) == "short"
    assert [len(shorten_middle(text, w)) for w in (0, 1, 2, 3)] == [0, 1, 2, 3]
    wide = "関東甲信地方が梅雨明けしたとみられると発表した.html"  # 2 cells per character
    assert cell_width(wide) == 2 * 23 + 5
    assert (
        shorten_middle(wide, 20) == "関東甲信地…した.html"
        and cell_width("関東甲信地…した.html") == 20
    )


def test_source_labels_are_host_and_path_or_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        source_label("https://news.example.com/world/1?page=2") == "news.example.com/world/1?page=2"
    )
    assert source_label("https://news.example.com/") == "news.example.com"
    long_url = "https://news.example.com/" + "section/" * 20 + "story.html"
    label = source_label(long_url)
    assert len(label) == SOURCE_LABEL_WIDTH and label.endswith("story.html")
    assert source_label(long_url, width=None) == long_url.removeprefix("https://")
    inputs = tmp_path / "elsewhere" / "batch"
    page = (inputs / "sub" / "page.html").as_uri()
    assert source_label(page) == "elsewhere/batch/sub/page.html"  # relative to the cwd
    monkeypatch.chdir("/")
    assert source_label(page, roots=[str(inputs)]) == "batch/sub/page.html"  # to the input
    assert source_label(page, roots=[inputs.as_uri()]) == "batch/sub/page.html"
    assert source_label("warc record 7") == "warc record 7"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)  # inputs that cannot be resolved anchor nothing, and never raise
    odd_roots = [str(loop / "x.html"), "~no-such-user-here/x", "https://example.com/feed"]
    assert source_label(page, roots=odd_roots, width=None) == str(inputs / "sub" / "page.html")


def test_summary_lists_every_reason_or_the_first_n_and_a_count():
    rows = [
        _row("https://a.example/1", "failed", "fetch failed: HTTP 404"),
        _row("https://a.example/2", "ok"),
        _row("https://a.example/3", "partial", "partial: no ja→en package\n(run it)"),
        _row("https://a.example/`x`", "untranslated", "untranslated: <b>*no* ko→en</b> | x"),
    ]
    markdown = summary_markdown(rows, times={"load": 1.5})
    assert "| failed | 1 |" in markdown and "| ok | 1 |" in markdown
    assert "## Needing attention (3)" in markdown
    assert "- **failed** `a.example/1`: fetch failed: HTTP 404" in markdown
    assert "- **partial** `a.example/3`: no ja→en package (run it)" in markdown  # one line
    assert "a.example/2" not in markdown  # ok: nothing to read
    assert "`` a.example/`x` ``" in markdown  # backticks in a label stay inside the code span
    assert "\\<b\\>\\*no\\* ko→en\\</b\\> \\| x" in markdown  # shown, not rendered
    assert "| load | 1.50 |" in markdown
    many = [_row(f"https://a.example/{i}", "failed", f"reason {i}") for i in range(7)]
    short = summary_markdown(many, listed=5)
    assert "reason 4" in short and "reason 5" not in short
    assert "… and 2 more" in short
    assert markdown_code("``") == "``` `` ```"


def test_table_rows_lead_with_label_status_reason_and_end_with_the_url():
    long_reason = "fetch failed: " + "very " * 100 + "slow"
    rows = table_rows([_row("https://a.example/" + "x" * 200, "failed", long_reason)])
    assert list(rows[0]) == [
        "source",
        "status",
        "reason",
        "language",
        "translated",
        "cache_hits",
        "url",
    ]
    assert len(rows[0]["source"]) == SOURCE_LABEL_WIDTH
    assert len(rows[0]["reason"]) == REASON_WIDTH and rows[0]["reason"].endswith("slow")
    assert rows[0]["url"] == "https://a.example/" + "x" * 200


# -- one real flow run: the CLI summary with markup-like names, then the artifacts ----------

KOREAN = [
    "토니 블링컨 미국 국무장관이 한국과 일본 순방을 마친 뒤 귀국길에 중국 고위 당국자들과 만난다.",
    "이번 발표는 블링컨 장관과 로이드 오스틴 국방장관의 한일 방문에 이어 나왔다.",
]
JAPANESE = [
    "気象庁は十日、関東甲信地方が梅雨明けしたとみられると発表した。",
    "東京都心では午前中から気温が上がり、最高気温は三十四度に達する見込みだ。",
    "今後一週間は晴れる日が多く、各地で厳しい暑さが続く見通しだ。",
]


def _page(title: str, paragraphs: list[str], lang: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><article>{body}</article></body></html>"
    )


def _inputs(folder: Path) -> dict[str, str]:
    """Pages of every status, named with rich markup; returns name -> expected status."""
    folder.mkdir(parents=True)
    shutil.copy(SAMPLES / "korean-article.html", folder / "korean [bold]x.html")
    (folder / "mixed [link=file:x].html").write_text(
        _page("한일 순방 [/red]", KOREAN + JAPANESE, "ko"), encoding="utf-8"
    )
    (folder / "japanese.html").write_text(_page("梅雨明け", JAPANESE, "ja"), encoding="utf-8")
    (folder / "nav-only [red].html").write_text(
        "<html><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav></body></html>"
    )
    long_name = "a-rather-long-file-name-" + "about-the-harbour-plan-" * 4 + "end.html"
    shutil.copy(SAMPLES / "english-article.html", folder / long_name)
    return {
        "korean [bold]x.html": "ok",
        "mixed [link=file:x].html": "partial",
        "japanese.html": "untranslated",
        "nav-only [red].html": "failed",
        long_name: "ok",
    }


@pytest.mark.prefect
def test_run_summary_and_artifacts_show_every_reason(demo_home, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from ingest.cli.main import app, load_commands
    from ingest.config import load_settings
    from ingest.store import Store

    monkeypatch.setenv("INGEST_HOME", str(tmp_path / "home[/red]"))  # in the summary's title
    monkeypatch.setenv("INGEST_PACKAGES_DIR", str(demo_home / "packages"))
    monkeypatch.setenv("COLUMNS", "300")
    folder = tmp_path / "in[/red]" / "b[/]"  # "/" makes folders: "in[" / "red]" / "b[" / "]"
    expected = _inputs(folder)
    load_commands()

    result = CliRunner().invoke(app, ["run", str(folder)])
    assert result.exit_code == 0, result.output
    assert "home[/red]/ingest.db" in result.output
    for name in expected:
        if len(name) < 40:  # the long one folds over lines in the summary's source column
            assert name in result.output, name

    store = Store(load_settings().resolved_store_url())
    documents = {local_path(d["url"]).name: d for d in store.iter_documents()}
    assert {name: d["status"] for name, d in documents.items()} == expected
    for name, status in expected.items():
        if status != "ok":
            reason = documents[name]["reason"]
            assert reason and reason_text(documents[name])[:40] in " ".join(
                result.output.split()
            ), name

    with get_client(sync_client=True) as client:

        def latest(key: str):
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
            assert found, key
            return found[0]

        table, summary = latest("ingest-documents"), latest("ingest-summary")
    assert table.flow_run_id == summary.flow_run_id
    markdown = summary.data
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data

    assert f"## Needing attention ({len(expected) - 2})" in markdown
    for name, document in documents.items():
        if document["status"] in ATTENTION_STATUSES:
            assert markdown_text(reason_text(document)) in markdown, (name, markdown)
        else:
            assert markdown_code(name) not in markdown

    assert len(rows) == len(expected)
    assert [list(row)[:3] for row in rows] == [["source", "status", "reason"]] * len(rows)
    assert all(list(row)[-1] == "url" for row in rows)
    by_url = {row["url"]: row for row in rows}
    for document in documents.values():
        row = by_url[document["url"]]
        assert row["status"] == document["status"]
        assert row["reason"] == reason_text(document)  # all short enough to be whole
        assert cell_width(row["source"]) <= SOURCE_LABEL_WIDTH, row["source"]
        for column, cell in row.items():  # the width budget: only the full URL may be longer
            assert column == "url" or cell_width(str(cell)) <= REASON_WIDTH, (column, cell)
    package_hint = "no ja→en package (run: ingest models install ja)"
    assert f"- **partial** `]/mixed [link=file:x].html`: {package_hint}" in markdown
    assert f"- **untranslated** `]/japanese.html`: {package_hint}" in markdown
    assert "- **failed** `]/nav-only [red].html`: no main text" in markdown
    labels = sorted(row["source"] for row in rows)
    assert "]/japanese.html" in labels  # relative to the input folder (named "b[/]")
    assert any("…" in label and label.endswith("end.html") for label in labels)
