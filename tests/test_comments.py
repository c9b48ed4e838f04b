"""Reader comments as an option: real pages with comment sections from six sites, the cleaning
mechanisms, detection, the store (kind column), export, the extractor version and the CLI."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import DATA, require
from sqlalchemy import update
from typer.testing import CliRunner

from ingest.comments import clean_comments, is_timestamp
from ingest.config import load_settings
from ingest.extract import EXTRACTOR_VERSION, Extractor, extract
from ingest.language import detect_extracted, get_detector
from ingest.models import Document, Extracted, RawPage
from ingest.store import Store
from ingest.store.export import export_parquet
from ingest.store.schema import paragraphs as paragraphs_table

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

DEV = DATA / "extraction" / "trafilatura_dev" / "html"
SCRAPINGHUB = DATA / "extraction" / "scrapinghub" / "html"

# (page, site URL, comment text that must be kept, debris of the comment widget that must go)
PAGES = [
    (
        DEV / "hpd.de-Homosexuellenhass.html.gz",
        "https://hpd.de/artikel/sie-wissen-nicht-sie-tun-21664",
        ["Ein vorzüglicher Artikel!", "Fair enough. Vielen Dank für die Klarstellung."],
        ["Permanenter Link", "10 Kommentare", "Kommentar hinzufügen", "Netiquette"],
    ),
    (
        DEV / "d71bfdce9dd246c9a6ee6d08c8b39e4c.html.gz",
        "https://www.monsterdealz.de/user-deals/deals/rewe-produkttest",
        ["Den nehme ich gerne mit, klingt lecker😋.", "Geht wirklich schnell und man Gewinn"],
        ["HansEhrlich", "Zitieren", "17.10.2019", "Caesi"],
    ),
    (
        DEV / "0ac0531f1f0543f4a3f68159e5fd1875.html.gz",
        "https://www.dealdoktor.de/user-deals/deals/jacobs-gold-instant-kaffee",
        ["Kommt wieder mit besseren Konditionen – Edeka ist immer ein wenig teurer."],
        ["MikeNils", "Zitieren", "18.10.2019", "Du musst angemeldet sein"],
    ),
    (
        DEV / "happyface313.com.plantur.html.gz",
        "https://happyface313.com/2018/03/07/im-test-plantur-39",
        ["Plantur kenne ich, aber von diesem braunen Shampoo"],
        ["März 7, 2018", "März 8, 2018"],
    ),
    (
        DEV / "d32ad974a4b04657bb6e4d91852bd52d.html.gz",
        "https://www.tichyseinblick.de/kolumnen/spahns-spitzwege/no-peace-for-our-time",
        ["Komisch, an wen oder was erinnert mich das gerade?"],
        ["Sie müssen angemeldet sein", "Bitte loggen Sie sich ein", "----"],
    ),
    (
        SCRAPINGHUB / "ac3c035520461017a7c5b248d8e39ef063cad4c0c7d7b7ecd68aff8f15099485.html.gz",
        "https://blog.givewell.org/2018/comments-page",
        ["Any update on how the Blattman et al. follow-up paper will affect GiveDirectly"],
        ["Comments are closed.", "Comments"],
    ),
]


def _page(path, url: str) -> RawPage:
    require(path.exists(), f"{path} missing (tests/data/extraction)")
    return RawPage(url=url, source=str(path), body=gzip.decompress(path.read_bytes()))


def _split(doc: Extracted) -> tuple[list[str], list[str]]:
    body = [doc.paragraphs[i] for i in doc.body_indices()]
    comments = [p for i, p in enumerate(doc.paragraphs) if doc.kind_of(i) == "comment"]
    return body, comments


@pytest.mark.parametrize(("path", "url", "kept", "debris"), PAGES, ids=lambda v: str(v)[-30:])
def test_real_pages_keep_clean_comments_after_an_unchanged_body(path, url, kept, debris):
    page = _page(path, url)
    off = extract(page)
    on = extract(page, include_comments=True)
    body, comments = _split(on)
    assert body == off.paragraphs  # the article is the same with the option on or off
    assert off.paragraph_kinds == []  # off: no comments at all
    assert len(comments) >= 5
    assert on.paragraphs[len(body) :] == comments  # comments come after the body
    assert on.paragraph_kinds == ["body"] * len(body) + ["comment"] * len(comments)
    off_text = "\n".join(off.paragraphs)
    comment_text = "\n".join(comments)
    for snippet in kept:
        assert snippet in comment_text, snippet
        assert snippet not in off_text, snippet
    for widget in debris:
        assert not any(line.strip() == widget or widget in line for line in comments), widget
    assert off.extractor == EXTRACTOR_VERSION != on.extractor
    assert on.extractor == f"{EXTRACTOR_VERSION}+comments"


def test_a_page_without_comment_section_is_the_same_with_the_option():
    path = SCRAPINGHUB / "8e3efab59f48fd29a1e1e7aa135880c4251a9f090f94999668cdbaec59d30b5a.html.gz"
    page = _page(path, "https://example.org/article")
    on, off = extract(page, include_comments=True), extract(page)
    assert on.paragraphs == off.paragraphs and on.paragraph_kinds == []


def test_timestamps_in_several_forms():
    for stamp in [
        "17.10.2019, 14:14 Zitieren #",
        "März 7, 2018",
        "March 3, 2013 at 4:05 pm",
        "3 hours ago",
        "vor 2 Tagen",
        "2019년 10월 17일",
        "3시간 전",
        "5分钟前",
        "12. Oktober 2019 um 09:12",
        "Reply 2 days ago",
    ]:
        assert is_timestamp(stamp), stamp
    for text in [
        "Am 17.10.2019 habe ich das Rezept mit meiner Tochter ausprobiert.",
        "Thanks, this worked for me in March 2019 too!",
        "Danke",
    ]:
        assert not is_timestamp(text), text


def test_cleaning_mechanisms_on_a_section():
    lines = [
        "12 Comments",
        "Leave a Reply",
        "anna_88",
        "March 3, 2013 at 4:05 pm",
        "This is the best explanation of the topic I have read so far.",
        "Reply",
        "Pingback: Ten links for Sunday | Some Blog",
        "Tom Miller",
        "4 hours ago",
        "I disagree: the numbers in the second table do not add up.",
        "Reply",
        "Like",
        "Tom Miller says:",
        "The article already says this sentence.",
        "[…] as explained in this post […]",
        "I disagree: the numbers in the second table do not add up.",
        "Comments are closed.",
    ]
    kept = clean_comments(lines, body=["The article already says this sentence."])
    assert kept == [
        "This is the best explanation of the topic I have read so far.",
        "I disagree: the numbers in the second table do not add up.",
    ]


def test_names_others_address_reblogs_and_sections_without_comments():
    lines = [
        "Melanie",
        "Ich habe das Shampoo auch probiert und bin sehr zufrieden damit.",
        "Hallo Melanie! Schön, dass es dir auch gefällt.",
        "Danke",  # a one-word comment nobody addresses stays
        "Reblogged this on Some Blog.",
        "LikenGefällt 1 Person",
    ]
    assert clean_comments(lines) == [
        "Ich habe das Shampoo auch probiert und bin sehr zufrieden damit.",
        "Hallo Melanie! Schön, dass es dir auch gefällt.",
        "Danke",
    ]
    # a social box or a rating found where comments were looked for
    assert clean_comments(["Social Media", "Findet uns auch auf:", "5 von 5 Sternen"]) == []


def test_a_comment_title_above_a_dated_byline_stays():
    lines = [
        "Ein Argument",
        "geschrieben von berg2012 am 21. Jan. 2015, 19:04",
        "Die These überzeugt mich nicht, weil die Nachfrage dabei ganz fehlt.",
    ]
    assert clean_comments(lines) == [lines[0], lines[2]]


def test_comments_are_detected_apart_from_the_document_language():
    german = [
        "Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer "
        "Energien beschlossen, das ab dem kommenden Jahr gelten soll.",
        "Nach Angaben des Ministeriums sollen damit bis zum Jahr 2030 mehr als die Hälfte des "
        "Stroms aus Wind und Sonne kommen.",
    ]
    english = [
        "Great article, but I think the plan is far too slow for what we need right now.",
        "Does anyone know whether this also applies to small rooftop installations at home?",
        "I completely agree with the previous comment about the timeline being unrealistic.",
    ]
    page = Extracted.extend(
        RawPage(url="https://example.de/a", source="x", body=b"<p>x</p>"),
        paragraphs=german + english,
        paragraph_kinds=["body"] * 2 + ["comment"] * 3,
        extractor="test",
    )
    detected = detect_extracted(page, get_detector(["en", "de"]))
    assert detected.language == "de"  # three English comments do not outvote the article
    assert detected.paragraph_languages == ["de", "de", "en", "en", "en"]


def _document(url: str) -> Document:
    return Document(
        url=url,
        source=url,
        body=b"<html>a page</html>",
        paragraphs=["Der Artikel.", "Zweiter Absatz.", "Toller Artikel!"],
        paragraph_kinds=["body", "body", "comment"],
        title="Titel",
        extractor=f"{EXTRACTOR_VERSION}+comments",
        language="de",
        language_confidence=0.9,
        paragraph_languages=["de", "de", "de"],
        detector="test",
        english=["The article.", "Second paragraph.", "Great article!"],
        title_english="Title",
        translation_status="translated",
        status="ok",
    )


def test_store_export_search_and_templates_know_the_kind(store_url, tmp_path):
    store = Store(store_url)
    store.save_document(_document("https://example.de/a"))
    stored = store.get_document("https://example.de/a")
    assert [p["kind"] for p in stored["paragraphs"]] == ["body", "body", "comment"]
    assert store.site_paragraphs("example.de") == [["Der Artikel.", "Zweiter Absatz."]]
    assert store.search("article")  # the article's English is searchable …
    assert not store.search("great")  # … a reader's comment is not the article

    from ingest.store.export import document_to_export

    row = document_to_export(stored)
    assert row["text_english"] == "The article.\nSecond paragraph."
    comment = row["paragraphs"][2]
    assert (comment["original"], comment["english"], comment["kind"]) == (
        "Toller Artikel!",
        "Great article!",
        "comment",
    )
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "docs.parquet"
    export_parquet(store, out)
    kinds = [p["kind"] for p in pq.read_table(out).to_pylist()[0]["paragraphs"]]
    assert kinds == ["body", "body", "comment"]

    # rows stored before the column existed (NULL) read as body
    with store.engine.begin() as conn:
        conn.execute(update(paragraphs_table).values(kind=None))
    stored = store.get_document("https://example.de/a")
    assert [p["kind"] for p in stored["paragraphs"]] == ["body"] * 3


def test_the_option_changes_the_extractor_version_per_site():
    template = {"example.org": frozenset({"footer"})}
    page = RawPage(url="https://example.org/a", source="x", body=b"<p>x</p>")
    local = RawPage(url="file:///tmp/a.html", source="x", body=b"<p>x</p>")
    on, off = Extractor(template, include_comments=True), Extractor(template)
    assert on.version_of(page) != off.version_of(page)
    assert "+comments+site-" in on.version_of(page)
    assert on.version_of(local) == f"{EXTRACTOR_VERSION}+comments"
    assert off.version_of(local) == EXTRACTOR_VERSION


def test_cli_run_with_comments_stores_them_and_a_rerun_without_drops_them(home, tmp_path):
    from ingest.cli.main import app, load_commands

    load_commands()
    folder = tmp_path / "pages"
    folder.mkdir()
    for path, *_ in PAGES[:2]:
        (folder / path.name.removesuffix(".gz")).write_bytes(gzip.decompress(path.read_bytes()))
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(folder), "--comments"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["run", str(folder), "--comments"])
    assert again.output.count("unchanged") >= 2, again.output

    def exported() -> list[dict]:
        result = runner.invoke(app, ["export", "--format", "jsonl"])
        assert result.exit_code == 0
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    documents = exported()
    assert len(documents) == 2
    for document in documents:
        kinds = [p["kind"] for p in document["paragraphs"]]
        assert "comment" in kinds and kinds == sorted(kinds)  # body first, then comments
        assert document["provenance"]["extractor"].endswith("+comments")
        comments = [p["original"] for p in document["paragraphs"] if p["kind"] == "comment"]
        assert not any(c in document["text_original"] for c in comments)
    shown = runner.invoke(app, ["show", str(folder / PAGES[0][0].name.removesuffix(".gz"))])
    assert "comment" in shown.stdout and "reader comments:" in shown.stdout

    # the option switched off: the documents are redone (not "unchanged") and lose comments
    off = runner.invoke(app, ["run", str(folder), "--no-comments"])
    assert off.exit_code == 0 and "unchanged" not in off.output, off.output
    for document in exported():
        assert {p["kind"] for p in document["paragraphs"]} == {"body"}


KOREAN_COMMENTS = """
<div id="comments" class="comments-area">
  <h3 class="comments-title">댓글 2개</h3>
  <ol class="comment-list">
    <li class="comment" id="comment-1">
      <div class="comment-meta"><b class="fn">reader_77</b> <span>2021년 3월 10일</span></div>
      <div class="comment-content"><p>회담은 18일과 19일 이틀에 걸쳐 진행될 예정이다.</p></div>
      <div class="reply"><a class="comment-reply-link" href="#">답글</a></div>
    </li>
    <li class="comment" id="comment-2">
      <div class="comment-meta"><b class="fn">minsu</b> <span>3시간 전</span></div>
      <div class="comment-content">
        <p>바이든 행정부 출범 후 처음으로 열리는 미중 고위급 대면 접촉이다.</p>
      </div>
      <div class="reply"><a class="comment-reply-link" href="#">답글</a></div>
    </li>
  </ol>
</div>
"""


def test_pipeline_translates_comments_like_paragraphs_and_keeps_the_article(demo_home, tmp_path):
    from conftest import SAMPLES, gold_paragraphs, load_gold

    from ingest.inputs import file_uri
    from ingest.pipeline import Pipeline

    html = (SAMPLES / "korean-article.html").read_text(encoding="utf-8")
    page = tmp_path / "korean-with-comments.html"
    page.write_text(html.replace("</article>", "</article>" + KOREAN_COMMENTS), encoding="utf-8")
    raw = RawPage(url=file_uri(page), source=str(page), body=page.read_bytes())
    gold = gold_paragraphs(load_gold()["korean-article.html"])

    pipeline = Pipeline(load_settings(include_comments=True))
    [outcome] = pipeline.process([raw])
    assert outcome.status == "ok", outcome.reason
    stored = pipeline.store.get_document(raw.url)
    body = [(p["language"], p["original"], p["english"]) for p in stored["paragraphs"]]
    assert body[: len(gold)] == gold  # the article as without comments, translated the same
    comments = [p for p in stored["paragraphs"] if p["kind"] == "comment"]
    assert [(p["language"], p["english"]) for p in comments] == [
        ("ko", "The talks are scheduled to take place over two days, on the 18th and 19th."),
        (
            "ko",
            "It is the first high-level face-to-face contact between the United States and "
            "China since the Biden administration took office.",
        ),
    ]
    assert len(stored["paragraphs"]) == len(gold) + 2
    assert stored["language"] == "ko"


def test_reprocess_with_comments_redoes_documents_and_a_plain_rerun_leaves_them(home, tmp_path):
    from ingest.reprocess import reprocess

    archive = tmp_path / "pages.jsonl"
    with archive.open("w", encoding="utf-8") as out:
        for path, url, *_ in PAGES[:2]:
            html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
            out.write(json.dumps({"url": url, "html": html}) + "\n")

    def statuses(**overrides) -> dict[str, int]:
        report = reprocess([archive], load_settings(**overrides))
        return dict(report.stats.statuses)

    plain = statuses()
    assert "unchanged" not in plain and sum(plain.values()) == 2
    assert statuses() == {"unchanged": 2}  # same option: nothing to redo
    with_comments = statuses(include_comments=True)
    assert "unchanged" not in with_comments, with_comments  # the extractor version changed
    store = Store(load_settings().resolved_store_url())
    for _path, url, *_ in PAGES[:2]:
        kinds = {p["kind"] for p in store.get_document(url)["paragraphs"]}
        assert kinds == {"body", "comment"}, url
    assert statuses(include_comments=True) == {"unchanged": 2}


def test_a_store_from_before_the_kind_column_gains_it_and_reads_body(store_url, tmp_path):
    from sqlalchemy import create_engine, inspect, text

    Store(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE paragraphs DROP COLUMN kind"))
    engine.dispose()
    old = _document("https://example.de/old").model_copy(update={"paragraph_kinds": []})
    if store_url.startswith("sqlite"):  # reading an older store never writes it
        reader = Store(store_url, read_only=True)
        assert "paragraphs.kind" in reader.absent_columns
        reader.close()
    store = Store(store_url)  # a writable open adds the column
    assert "kind" in {c["name"] for c in inspect(store.engine).get_columns("paragraphs")}
    store.save_document(old)
    store.save_document(_document("https://example.de/new"))
    kinds = {
        url: [p["kind"] for p in store.get_document(url)["paragraphs"]]
        for url in ("https://example.de/old", "https://example.de/new")
    }
    assert kinds == {
        "https://example.de/old": ["body"] * 3,
        "https://example.de/new": ["body", "body", "comment"],
    }


def test_cli_extract_prints_comments_apart_only_when_asked(tmp_path):
    from ingest.cli.main import app, load_commands

    load_commands()
    path, url, kept, debris = PAGES[0]
    page = tmp_path / "page.html"
    page.write_bytes(gzip.decompress(path.read_bytes()))
    runner = CliRunner()
    plain = json.loads(runner.invoke(app, ["extract", str(page)]).stdout)
    asked = json.loads(runner.invoke(app, ["extract", str(page), "--comments"]).stdout)
    assert "comments" not in plain
    assert asked["paragraphs"] == plain["paragraphs"] and asked["text"] == plain["text"]
    assert all(any(snippet in c for c in asked["comments"]) for snippet in kept)
    assert not any(snippet in asked["text"] for snippet in kept)
