"""ingest.extract on real pages: CJK fixtures in legacy encodings, hard cases, site templates,
the CLI, and the lead's sample pages (when their gold exists)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.encoding import decode_html
from ingest.extract import (
    EXTRACTOR_VERSION,
    ExtractionError,
    extract,
    learn_site_boilerplate,
    normalize_line,
    site_key,
)
from ingest.models import Extracted, RawPage

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "extraction"
GOLD = json.loads((FIXTURES / "gold.json").read_text(encoding="utf-8"))["pages"]
SAMPLES = ROOT / "samples"
_CHARSET = re.compile(r"(<meta[^>]*charset=)([\w-]+)([^>]*>)", re.I)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _encode(html: str, codec: str, declared: str) -> bytes:
    """The page in ``codec``, its charset declaration replaced by ``declared`` ('' = none)."""
    if _CHARSET.search(html):
        html = _CHARSET.sub(lambda m: f"{m[1]}{declared}{m[3]}" if declared else "", html)
    elif declared:
        html = html.replace("<head>", f'<head>\n<meta charset="{declared}">', 1)
    return html.encode(codec, errors="xmlcharrefreplace")  # © is not in cp949: &#169;


def _check(doc: Extracted, gold: dict) -> None:
    text = _squash("\n".join(doc.paragraphs))
    missing = [s for s in gold["sentences"] if _squash(s) not in text]
    assert not missing, f"body sentences lost: {missing}"
    left = [b for b in gold["boilerplate"] if (b == "Top" and "Top" in doc.paragraphs)
            or (b != "Top" and b in text)]  # fmt: skip
    assert not left, f"boilerplate kept: {left}"
    assert all(p.strip() == p and p for p in doc.paragraphs)


@pytest.mark.parametrize("gold", GOLD, ids=[g["file"] for g in GOLD])
def test_fixture_pages_utf8(gold: dict) -> None:
    body = (FIXTURES / gold["file"]).read_bytes()
    doc = extract(RawPage(url=gold["url"], source=gold["file"], body=body))
    _check(doc, gold)
    assert _squash(doc.title or "") == _squash(gold["title"])
    assert doc.date == gold["date"]
    assert doc.sitename == gold["sitename"]
    assert doc.extractor == EXTRACTOR_VERSION
    assert doc.body == body  # earlier fields are carried over unchanged


ENCODED = [(g, codec, declared) for g in GOLD for codec, declared in g["encodings"]]


@pytest.mark.parametrize(
    ("gold", "codec", "declared"),
    ENCODED,
    ids=[f"{g['file']}-{c}-as-{d or 'undeclared'}" for g, c, d in ENCODED],
)
def test_fixture_pages_in_legacy_encodings(gold: dict, codec: str, declared: str) -> None:
    html = (FIXTURES / gold["file"]).read_text(encoding="utf-8")
    body = _encode(html, codec, declared)
    doc = extract(RawPage(url=gold["url"], source=gold["file"], body=body))
    _check(doc, gold)
    assert _squash(doc.title or "") == _squash(gold["title"])


def test_gb2312_declared_page_with_gbk_only_characters() -> None:
    """trafilatura #541: a page declared gb2312 uses GBK characters (喆, 镕)."""
    text = "朱镕基和王喆今天在北京出席了会议，讨论了经济发展问题。"
    body = f'<html><head><meta charset="gb2312"></head><body><p>{text}</p></body></html>'
    assert decode_html(body.encode("gbk")).count(text) == 1
    # and with the declaration only in the HTTP header
    plain = f"<html><body><p>{text}</p></body></html>".encode("gbk")
    assert text in decode_html(plain, {"Content-Type": "text/html; charset=GB2312"})


@pytest.mark.parametrize(
    ("text", "codec", "header"),
    [
        ("서울시는 오늘 새로운 정책을 발표했다. 시민들의 반응이 뜨겁다.", "cp949", None),
        ("서울시는 오늘 새로운 정책을 발표했다. 시민들의 반응이 뜨겁다.", "cp949", "utf-8"),
        ("東京都は今日、新しい計画を発表しました。多くの人が参加しました。", "cp932", "euc-kr"),
        ("東京都は今日、新しい計画を発表しました。多くの人が参加しました。", "euc_jp", None),
        ("国家统计局今天发布了最新的经济数据，显示经济稳定增长。", "gb18030", "iso-8859-1"),
        ("Café déjà vu à la crème brûlée, naïve façade.", "cp1252", None),
        ("Ünlü şarkıcı yeni albümünü tanıttı.", "utf-8", "euc-kr"),
    ],
)
def test_decode_html_wrong_or_missing_declarations(
    text: str, codec: str, header: str | None
) -> None:
    body = f"<html><body><p>{text}</p></body></html>".encode(codec)
    headers = {"Content-Type": f"text/html; charset={header}"} if header else None
    assert text in decode_html(body, headers)


def test_decode_html_bom_and_corrupt_utf8() -> None:
    assert "한국어" in decode_html(b"\xef\xbb\xbf<p>" + "한국어".encode() + b"</p>")
    body = ("<p>" + "한국어 문장입니다. " * 20 + "</p>").encode() + b"\xff"
    assert "한국어 문장입니다." in decode_html(body, {"content-type": "text/html; charset=euc-kr"})


# ----------------------------------------------------------------------------- hard cases


def _page(body: bytes, **fields: object) -> RawPage:
    return RawPage(url="https://example.com/a", source="test", body=body, **fields)


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"", {}, "empty page"),
        (b"   \n\t ", {}, "empty page"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), {}, "binary content (image/png)"),
        (b"%PDF-1.7\n" + bytes(200), {}, "binary content (application/pdf)"),
        (bytes(range(256)) * 4, {"Content-Type": "application/octet-stream"}, "binary content"),
        (b"<html><head><title>x</title></head><body></body></html>", {}, "no main text"),
        (b"<html><body><nav><a href='/'>Home</a></nav></body></html>", {}, "no main text"),
    ],
)
def test_pages_without_text_fail_with_a_reason(body: bytes, headers: dict, reason: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract(_page(body, headers=headers))
    assert info.value.reason.startswith(reason)


def test_page_over_the_size_cap_is_refused_at_once() -> None:
    body = b"<html><body><p>" + b"x" * (3 * 1024 * 1024) + b"</p></body></html>"
    start = time.perf_counter()
    with pytest.raises(ExtractionError) as info:
        extract(_page(body), max_bytes=2 * 1024 * 1024)
    assert info.value.reason == "page too large: 3 MB > 2 MB cap"
    assert time.perf_counter() - start < 1.0


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"<p>" + b"a" * (8 * 1024 * 1024))
    with pytest.raises(ExtractionError) as info:
        extract(_page(bomb), max_bytes=1024 * 1024)
    assert "page too large" in info.value.reason


def test_gzipped_body_is_read() -> None:
    html = (FIXTURES / "en_seed.html").read_bytes()
    doc = extract(_page(gzip.compress(html)))
    assert any("Anchorage" in p for p in doc.paragraphs)


def test_deeply_nested_page_keeps_its_text_in_bounded_time() -> None:
    """libxml2 stops at depth 256 and drops the rest: the text after deep nesting survives."""
    sentence = "The council approved the new budget after a long debate on Tuesday evening."
    body = (
        "<html><body>"
        + "<div>" * 20000
        + "<p>Deep inside the page a first paragraph.</p>"
        + "</div>" * 20000
        + f"<p>{sentence} {sentence}</p><p>{sentence}</p></body></html>"
    ).encode()
    start = time.perf_counter()
    doc = extract(_page(body))
    assert time.perf_counter() - start < 20
    assert any(sentence in p for p in doc.paragraphs)


def test_huge_page_is_bounded() -> None:
    para = "<p>" + "A sentence of body text that repeats across the page. " * 20 + "</p>\n"
    body = "<html><body><div>" + para * (12 * 1024 * 1024 // len(para)) + "</div></body></html>"
    start = time.perf_counter()
    doc = extract(_page(body.encode()))
    assert time.perf_counter() - start < 30
    assert doc.paragraphs


# ----------------------------------------------------------------------------- rules


def test_english_page_keeps_its_korean_caption() -> None:
    doc = extract(_page((FIXTURES / "en_seed.html").read_bytes()))
    assert "블링컨 국무장관이 기자회견에서 발언하고 있다." in doc.paragraphs


def test_title_without_site_suffix_when_og_title_missing() -> None:
    body = b"""<html><head><title>Floods close schools in the north | Daily Planet</title>
    <meta property="og:site_name" content="Daily Planet"></head><body><article>
    <p>Heavy rain closed dozens of schools across the northern districts on Monday morning.</p>
    <p>Officials said classes would resume once the water receded and roads were safe.</p>
    </article></body></html>"""
    assert extract(_page(body)).title == "Floods close schools in the north"


def test_canonical_url_is_absolute() -> None:
    body = (
        (FIXTURES / "en_seed.html")
        .read_bytes()
        .replace(b"https://english.alarabiya.net/News", b"/News")
    )
    doc = extract(RawPage(url="https://english.alarabiya.net/x", source="t", body=body))
    assert doc.canonical_url == "https://english.alarabiya.net/News/world/2021/03/10/blinken"


TOPICS = ["harbour redevelopment", "school budget", "tram extension", "river clean-up"]


def _site_page(i: int) -> bytes:
    topic = TOPICS[i]
    story = [
        f"The city council met on Monday to discuss the {topic} plan in detail.",
        f"Residents raised objections about the {topic}, citing noise, traffic and costs.",
        f"A final vote on the {topic} is expected within weeks, the mayor told reporters.",
    ]
    body = "".join(f"<p>{s}</p>" for s in story)
    template = "<p>Harbour Gazette is reader-funded. Become a supporter from just $1.</p>"
    return (f"<html><head><title>Story {i}</title></head><body><article><h1>Story {i}</h1>"
            f"{body}{template}</article></body></html>").encode()  # fmt: skip


def test_site_template_learning_removes_recurring_lines_on_reprocess() -> None:
    pages = [_page(_site_page(i)) for i in range(4)]
    first = [extract(p) for p in pages]
    template = "Harbour Gazette is reader-funded. Become a supporter from just $1."
    assert all(template in d.paragraphs for d in first)  # no generic rule knows this line
    learned = learn_site_boilerplate([d.paragraphs for d in first])
    assert normalize_line(template) in learned
    assert not any(normalize_line(s) in learned for s in first[0].paragraphs if "council" in s)
    again = extract(pages[0], site_boilerplate=learned)
    assert template not in again.paragraphs
    assert again.paragraphs == [p for p in first[0].paragraphs if p != template]


def test_learn_site_boilerplate_thresholds() -> None:
    pages = [["same line", f"unique {i}"] for i in range(2)]
    assert learn_site_boilerplate(pages) == set()  # fewer than min_pages
    pages = [["same line", f"unique {chr(97 + i)}"] for i in range(4)] + [["other"]] * 5
    assert learn_site_boilerplate(pages) == {"other"}  # 5 of 9 pages; "same line" 4 < half
    assert learn_site_boilerplate(pages, min_share=0.4) == {"sameline", "other"}
    assert normalize_line("© 2023  Foo!") == normalize_line("© 2024 foo")


def test_site_key() -> None:
    assert site_key("https://WWW.Example.co.kr:8080/news/1?x=1") == "example.co.kr"
    assert site_key("http://news.example.com/a") == "news.example.com"


# ----------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "extract", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_cli_prints_one_json_object_per_page(tmp_path: Path) -> None:
    gz = tmp_path / "ko.html.gz"
    gz.write_bytes(
        gzip.compress(
            _encode(
                (FIXTURES / "ko_table_news.html").read_text(encoding="utf-8"), "cp949", "euc-kr"
            )
        )
    )
    result = _cli(str(gz), str(FIXTURES / "zh_news.html"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(gz), str(FIXTURES / "zh_news.html")]
    keys = {"path", "url", "title", "author", "date", "sitename", "language", "text", "paragraphs"}
    assert all(set(r) == keys for r in records)
    assert [r["language"] for r in records] == ["ko", "zh"]
    assert records[0]["text"] == "\n".join(records[0]["paragraphs"])
    assert records[0]["url"] == GOLD[0]["url"]


def test_cli_reports_failures_and_exit_code(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    result = _cli(str(empty), "--url", "https://example.com/e")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"path": str(empty), "error": "empty page"}


def test_cli_prints_readable_utf8_whatever_the_locale(tmp_path: Path) -> None:
    import os

    missing = tmp_path / "없는-페이지.html"
    result = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "extract", str(FIXTURES / "zh_news.html"),
         str(missing)],
        capture_output=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},  # a terminal that cannot show it
    )  # fmt: skip
    assert result.returncode == 1, result.stderr.decode(errors="replace")[-2000:]
    page, error = result.stdout.decode("utf-8").splitlines()
    assert "\\u" not in page and "\\u" not in error  # characters, not escapes
    assert json.loads(page)["title"] in page and re.search("[\u4e00-\u9fff]", page)
    assert json.loads(error) == {
        "path": str(missing),
        "error": "unreadable: cannot read: no such file or folder",
    }
    assert "없는-페이지.html" in error


PAGE_WITH_RELATIVE_CANONICAL = b"""<html><head><title>Floods close schools in the north</title>
<link rel="canonical" href="/canonical/floods"></head><body><article>
<p>Heavy rain closed dozens of schools across the northern districts on Monday morning.</p>
<p>Officials said classes would resume once the water receded and roads were safe again.</p>
</article></body></html>"""


def test_cli_url_option_is_the_url_printed_and_the_base_of_extraction(tmp_path: Path) -> None:
    page = tmp_path / "floods.html"
    page.write_bytes(PAGE_WITH_RELATIVE_CANONICAL)
    given = "https://news.example/2021/03/10/floods"
    with_url = _cli(str(page), "--url", given)
    assert with_url.returncode == 0, with_url.stderr
    record = json.loads(with_url.stdout)
    assert record["url"] == given  # not the page's canonical /canonical/floods
    assert record["date"] == "2021-03-10"  # read from the URL: it was the base of extraction
    without = json.loads(_cli(str(page)).stdout)
    assert without["url"] == "/canonical/floods" and without["date"] is None
    two = _cli(str(page), str(page), "--url", given)
    assert two.returncode == 2 and "single page" in two.stderr


# ----------------------------------------------------------------------------- samples/


def _sample_golds() -> list[Path]:
    return sorted((SAMPLES / "gold").glob("*.json")) if (SAMPLES / "gold").is_dir() else []


def test_sample_golds_are_present() -> None:
    """Without them the parametrised test below would collect nothing and pass unnoticed."""
    assert len(_sample_golds()) >= 4, f"samples/gold/*.json missing in {SAMPLES / 'gold'}"


@pytest.mark.parametrize("gold_path", _sample_golds(), ids=lambda p: p.stem)
def test_sample_pages(gold_path: Path) -> None:
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    path = SAMPLES / gold["file"]
    doc = extract(RawPage(url=path.resolve().as_uri(), source=str(path), body=path.read_bytes()))
    text = _squash("\n".join(doc.paragraphs))
    left = [b for b in gold.get("boilerplate", []) if _bp_present(b, doc.paragraphs)]
    assert not left, f"boilerplate kept: {left}"
    for paragraph in gold["paragraphs"]:
        for original, _english in paragraph["sentences"]:
            assert _squash(original) in text, f"lost: {original}"
    title = gold.get("title")
    if isinstance(title, dict):
        title = title.get("original")
    if title:
        assert _squash(doc.title or "") == _squash(title)


def _bp_present(boilerplate: str, paragraphs: list[str]) -> bool:
    """Short labels ("Top", "Close") must not be a paragraph; longer strings must not appear."""
    if len(boilerplate) <= 6:
        return any(p.strip() == boilerplate for p in paragraphs)
    return boilerplate in "\n".join(paragraphs)


def test_the_extractor_records_the_version_of_the_site_template_it_removed() -> None:
    from ingest.extract import Extractor

    story = " ".join(["The council approved the new library budget after a long debate."] * 8)
    footer = "The Harbour Ledger is published every morning by Ledger Media Group in Busan."
    html = f"<html><body><article><p>{story}</p><p>{footer}</p></article></body></html>"
    web = RawPage(url="https://ledger.example/a", source="t", body=html.encode())
    local = RawPage(url="file:///tmp/a.html", source="t", body=html.encode())
    extractor = Extractor({"ledger.example": frozenset({normalize_line(footer)})})
    extracted = extractor.extract(web)
    assert footer not in extracted.paragraphs and story in extracted.paragraphs
    assert extracted.extractor == extractor.version_of(web)
    assert extracted.extractor.startswith(f"{EXTRACTOR_VERSION}+site-")
    plain = extractor.extract(local)  # local files have no site, so no template
    assert footer in plain.paragraphs
    assert plain.extractor == extractor.version_of(local) == EXTRACTOR_VERSION


_BODY_TEXT = "".join(
    f"<p>Paragraph {i} of the article body says something long enough to be text.</p>"
    for i in range(12)
)


@pytest.mark.parametrize(
    "head",
    [
        # a lead in the article header, inside a "site-main" wrapper
        '<div class="article-header"><h1>Title</h1><p class="article-excerpt">{lead}</p></div>',
        # a lead block holding one paragraph
        '<div class="intro"><div class="chapo"><p>{lead}</p></div></div>',
    ],
)
def test_standfirst_in_article_frame_is_found(head: str) -> None:
    """Issue 14: leads in common CMS layouts (seen on several sites of trafilatura_dev)."""
    from ingest.extract import _parse, _standfirst

    lead = "The lead of the article sums up what the reader will find below it."
    html = (
        '<html><body><header class="site-header"><p class="site-description">A magazine about '
        'things and other things</p></header><main class="site-main"><article>'
        + head.format(lead=lead)
        + _BODY_TEXT
        + '</article></main><aside class="sidebar"><p class="summary">Other summary of a '
        "different page in the sidebar</p></aside>"
        + "<div>"
        + "<p>menu entry</p>" * 60
        + "</div></body></html>"
    )
    assert _standfirst(_parse(html)) == lead


@pytest.mark.parametrize(
    "head",
    [
        # TYPO3 news: "teaser-text" names the lead as a whole, it is no teaser list
        '<div class="news-single"><div class="teaser-text"><p>{lead}</p></div></div>',
        # the article's microdata description, in blocks named like furniture
        '<div itemscope itemtype="http://schema.org/Article"><div class="header-wrapper">'
        '<div class="recipe-meta"><div itemprop="description">{lead}</div></div></div></div>',
        # the lead paragraph of a block that also holds the date and the author's link
        '<div class="chapo"><div><p>{lead}</p></div><div class="metas"><span>4.02.2022</span>'
        ' by <a href="/author/bob">Bob Fischer</a></div></div>',
        # the one sentence of a lead block whose other paragraphs are a date and a label
        '<div class="article-intro"><p>21.01.2022</p><p>News</p><p>{lead}</p></div>',
        # a lead with one link in its prose
        '<div class="chapo"><p>{lead} See <a href="/x">the report</a> for more.</p></div>',
    ],
)
def test_standfirst_marked_by_compound_names_microdata_or_with_a_link(head: str) -> None:
    """Issue 14: leads on several sites of trafilatura_dev that the class names alone missed."""
    from ingest.extract import _parse, _standfirst

    lead = "The lead of the article sums up what the reader will find below it."
    html = (
        "<html><body><article>" + head.format(lead=lead) + _BODY_TEXT + "</article></body></html>"
    )
    assert (_standfirst(_parse(html)) or "").startswith(lead)


def test_microdata_description_of_the_author_is_not_a_standfirst() -> None:
    from ingest.extract import _parse, _standfirst

    html = (
        "<html><body><article>"
        + _BODY_TEXT
        + '<div class="post-author-bio" itemprop="description">Jane studied sports science '
        "before she became a coach</div>"
        '<div itemscope itemtype="http://schema.org/Person"><p itemprop="description">Jane '
        "studied sports science before she became a coach</p></div></article></body></html>"
    )
    assert _standfirst(_parse(html)) is None


def test_standfirst_is_not_taken_from_site_furniture_or_a_body_block() -> None:
    from ingest.extract import _parse, _standfirst

    html = (
        '<html><body><header class="site-header"><p class="site-description">A magazine about '
        'things and other things</p></header><div class="author-box"><p class="description">'
        "Writes about gardens and birds since many years now</p></div>"
        '<div class="summary"><p>First of two paragraphs here.</p><p>Second of two.</p></div>'
        "<article>" + _BODY_TEXT + "</article></body></html>"
    )
    assert _standfirst(_parse(html)) is None


def test_photo_credit_is_not_a_standfirst() -> None:
    from ingest.extract import _parse, _with_standfirst

    html = (
        '<html><body><article><p class="subtitle">Image Source: Jane Doe / Agency</p>'
        + _BODY_TEXT
        + "</article></body></html>"
    )
    body = ["Paragraph 0 of the article body says something long enough to be text."]
    assert _with_standfirst(_parse(html), body, ()) == body
    lead = html.replace(
        "Image Source: Jane Doe / Agency", "What the whole article is about, in brief"
    )
    assert _with_standfirst(_parse(lead), body, ())[0].startswith("What the whole")


def _module(name: str, sentences: list[str]) -> str:
    return (
        f'<div class="editorial-module editorial-module--{name}">'
        + "".join(f"<p>{s}</p>" for s in sentences)
        + "</div>"
    )


def test_article_split_in_sibling_modules_is_taken_whole() -> None:
    """Issue 14: page builders split one article into sibling blocks of one kind; trafilatura
    keeps the block it scores best (two sites of trafilatura_dev)."""
    from ingest.extract import _parse, _with_sibling_parts

    words = ["one", "two", "three", "four"]  # digits would compare equal (normalize_line)
    first = [f"The first part of the interview, sentence {w} of it, goes on." for w in words[:3]]
    second = [f"The second part of the interview, sentence {w} of it, goes on." for w in words]
    notice = ["Comments that insult others are deleted by the editors without notice."]
    html = (
        '<html><body><div class="single-wrapper">'
        + _module("text", first)
        + _module("image", notice)
        + _module("text", second)
        + '</div><div class="editorial-module"><p><a href="/a">A teaser for another '
        "article that is a link, as long as a sentence</a></p></div></body></html>"
    )
    assert _with_sibling_parts(_parse(html), second) == first + second
    assert _with_sibling_parts(_parse(html), first[:1]) == first[:1]  # one line: no anchor


def test_standfirst_is_not_taken_from_a_cookie_banner_or_a_script_block() -> None:
    """Issue 14: consent banners ("CookieBoxTextDescription") and blocks holding a script were
    the first line on several sites; a class on <body> ("has-modal") does not count."""
    from ingest.extract import _parse, _standfirst

    lead = "The lead of the article sums up what the reader will find below it."
    banner = (
        '<div class="cookie-box"><p id="CookieBoxTextDescription"><span class="description">'
        "Wir nutzen Cookies auf unserer Website, einige sind essenziell.</span></p></div>"
    )
    script = '<section class="Lead"><script>var view_config = {"a": 2};</script></section>'
    article = f'<article><p class="lead">{lead}</p>{_BODY_TEXT}</article>'
    html = f'<html><body class="has-modal">{banner}{script}{article}</body></html>'
    assert _standfirst(_parse(html)) == lead


def test_lines_only_inside_furniture_named_blocks_are_dropped() -> None:
    """Issue 14: an author box, related posts and a comment section named in camelCase/BEM or
    on a list, which trafilatura's patterns miss; the article's own frame (WordPress puts
    "author-jane" on it) is never furniture."""
    from ingest.extract import _parse, _without_furniture

    bio = "Jane Doe writes about gardens and birds for this magazine since 2010."
    related = "Another story of the site that the reader may also want to read"
    comment = "Great article, thanks a lot for writing it!"
    html = (
        '<html><body><article class="post author-jane">'
        + _BODY_TEXT
        + f'<div class="TestReport__AuthorBox"><p>{bio}</p></div>'
        + f'<ul class="related_post"><li>{related}</li></ul>'
        + f'<div id="kommentarModul"><p>{comment}</p></div></article>'
        + "<div>"
        + "<p>menu entry</p>" * 60
        + "</div></body></html>"
    )
    body = [
        f"Paragraph {i} of the article body says something long enough to be text."
        for i in range(12)
    ]
    assert _without_furniture([*body, bio, related, comment], _parse(html)) == body


def test_trailing_links_and_captions_with_credits_are_dropped() -> None:
    from ingest.extract import clean_paragraphs

    text = "The article's last paragraph, which ends the story for good."
    lines = [
        text,
        "Ab 2025 könnte Apple seine eigenen Akkus verbauen. (Foto: iFixit)",
        "Auch auf example.de",
        "20 Kilo abnehmen: Mit DIESER Strategie klappt's!",
        "Home Gym: So gelingt das perfekte Workout!",
    ]
    links = {normalize_line(line) for line in lines[3:]}
    assert clean_paragraphs(lines, link_texts=links) == [text]
