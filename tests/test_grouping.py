"""Story grouping is fooled neither by bad translations nor by site templates (issue 15).

A corpus of real text through the real pipeline (demo translation packages, real store on
SQLite and PostgreSQL): one story in English, German and Korean (the samples, which the demo
packages translate well) must be grouped; German and Korean pages the demo packages cannot
translate (their English reads like the samples) must not join it; two different reviews of one
site sharing its promo lines must stay apart, while one review at two addresses of the site is
grouped; a French and a German story copied on two sites are grouped by their original text.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from conftest import DATA, SAMPLES

from ingest import dedup
from ingest.config import load_settings
from ingest.grouping import doubted_translations, grouping_text, original_features
from ingest.models import Document, RawPage
from ingest.pipeline import Pipeline
from ingest.store import Store

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

SENTENCES = DATA / "langid" / "sentences"

# One English-language cycling site: the promo, the letters box and the imprint are on every page.
CHROME = [
    "Get Wheelhouse Cycling Monthly delivered through your letterbox every month: 12 issues for "
    "£11.99 from Harbour Media Group, with free access to the Wheelhouse Cycling Monthly app.",
    "Tell us what YOU think: write to Wheelhouse Cycling Monthly on Facebook, Instagram or "
    "YouTube, or email the Wheelhouse editor John Milbank.",
    "Wheelhouse Cycling Monthly, Harbour Media Group, 27 Quay Street, Bristol BS1 4DJ. "
    "Registered in England and Wales No. 04211378.",
]
REVIEWS = {
    "touring-bike": (
        "Ridgeback Voyager touring bike review",
        [
            "The Ridgeback Voyager is a steel touring bike built around Shimano Deore gears and "
            "TRP Spyre disc brakes, and at £1,299 it undercuts most rivals.",
            "We loaded it with Ortlieb panniers and rode it from Bath to the Cotswolds over a "
            "long weekend: it stayed calm at speed and never shimmied on the descents.",
            "The Schwalbe Marathon tyres are heavy but shrugged off gravel and glass, and the "
            "Brooks saddle took about 300 kilometres to break in.",
            "Verdict: a comfortable, honest tourer that would happily cross Europe.",
        ],
    ),
    "workshop-manual": (
        "Haynes road bike workshop manual review",
        [
            "The new Haynes manual for road bikes covers everything from bottom brackets to "
            "hydraulic brakes across 240 pages of step-by-step photographs.",
            "Author Mel Allwood explains Campagnolo and SRAM groupsets as clearly as Shimano "
            "ones, and the chapter on wheel truing is the best we have read.",
            "Tubeless tyres and electronic shifting get only a few pages each, which already "
            "feels dated next to online videos.",
            "Verdict: at £24.99 still a useful book to keep on the workshop bench.",
        ],
    ),
}


def page(
    url: str, title: str, paragraphs: list[str], *, lang: str = "en", canonical: str = ""
) -> RawPage:
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    markup = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">{link}'
        f"<title>{html.escape(title)}</title></head><body><article>"
        f"<h1>{html.escape(title)}</h1>{body}</article></body></html>"
    )
    return RawPage(url=url, source="test", body=markup.encode("utf-8"))


def sample(url: str, name: str) -> RawPage:
    return RawPage(url=url, source="test", body=(SAMPLES / name).read_bytes())


def sentences(language: str, start: int, count: int = 8) -> list[str]:
    """Consecutive sentences of the language-identification data: real text, one "story"."""
    lines = (SENTENCES / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    picked = [line for line in lines if len(line) > 40][start : start + count]
    assert len(picked) == count, f"{SENTENCES / language}.txt is too short"
    return picked


def review(url: str, key: str) -> RawPage:
    title, text = REVIEWS[key]
    return page(url, title, text + CHROME)


def corpus() -> dict[str, RawPage]:
    german_copy = sentences("de", 40)
    french_copy = sentences("fr", 20)
    pages = {
        # one story, three languages (the samples: the demo packages translate them well)
        "blinken-en": sample("https://gulftribune.example/blinken", "english-article.html"),
        "blinken-de": sample("https://tagesbote.example/blinken", "german-article.html"),
        "blinken-ko": sample("https://hanbit.example/blinken", "korean-article.html"),
        # pages the demo packages cannot translate: their English is sample-like nonsense
        "ko-1": page("https://entertain.example/1", "엔터 미디어", sentences("ko", 0), lang="ko"),
        "ko-2": page("https://entertain.example/2", "엔터 미디어", sentences("ko", 10), lang="ko"),
        "de-1": page(
            "https://klinik.example/epa", "Die Patientenakte", sentences("de", 0), lang="de"
        ),
        "de-2": page(
            "https://verein.example/turnier", "Das Turnier", sentences("de", 10), lang="de"
        ),
        # one untranslatable German story copied on two sites: grouped by its German text
        "de-copy-1": page("https://zeitung-a.example/x", "Die Lage", german_copy, lang="de"),
        "de-copy-2": page("https://zeitung-b.example/y", "Die Lage", german_copy, lang="de"),
        # French has no package at all: two stories on one site, one story on two sites
        "fr-1": page("https://journal.example/1", "Le club", sentences("fr", 0), lang="fr"),
        "fr-2": page("https://journal.example/2", "La flotte", sentences("fr", 10), lang="fr"),
        "fr-copy-1": page("https://journal.example/3", "Le laser", french_copy, lang="fr"),
        "fr-copy-2": page("https://quotidien.example/laser", "Le laser", french_copy, lang="fr"),
        # two reviews of one site sharing its template; one of them also at a print address
        "review-1": review("https://wheelhouse.example/touring-bike", "touring-bike"),
        "review-2": review("https://wheelhouse.example/workshop-manual", "workshop-manual"),
        "review-1-print": review("https://wheelhouse.example/print/touring-bike", "touring-bike"),
    }
    return pages


EXPECTED_GROUPS = [
    {"blinken-en", "blinken-de", "blinken-ko"},
    {"de-copy-1", "de-copy-2"},
    {"fr-copy-1", "fr-copy-2"},
    {"review-1", "review-1-print"},
]


@pytest.fixture
def grouped(demo_home: Path, store_url: str) -> tuple[Store, dict[str, str]]:
    """The corpus stored through the real pipeline; returns the store and name -> URL."""
    pages = corpus()
    store = Store(store_url)
    pipeline = Pipeline(load_settings(), store=store)
    outcomes = pipeline.process(list(pages.values()))
    assert not [o for o in outcomes if o.status == "failed"], outcomes
    return store, {name: raw.url for name, raw in pages.items()}


def test_no_false_merge_and_true_pairs_still_group(grouped):
    store, urls = grouped
    names = {url: name for name, url in urls.items()}
    groups = [{names[url] for url in group} for group in store.near_duplicate_groups()]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, EXPECTED_GROUPS))


def test_the_corpus_would_fool_grouping_on_all_english(grouped):
    """The corpus really holds the traps: on all its English, the hallucinated pages look like
    the Blinken story and the two reviews look like one story."""
    store, urls = grouped

    def all_english(name: str) -> set[str]:
        stored = store.get_document(urls[name])
        assert stored is not None
        lines = [stored["title_english"] or ""]
        lines += [p["english"] for p in stored["paragraphs"] if p["english"]]
        return dedup.features("\n".join(lines))

    blinken = all_english("blinken-en")
    fooled = [n for n in ("ko-1", "ko-2", "de-1", "de-2") if dedup.similar(all_english(n), blinken)]
    assert fooled, "no hallucinated page resembles the Blinken story: the test proves nothing"
    assert dedup.similar(all_english("review-1"), all_english("review-2"))


def document(paragraphs: list[str], english: list[str | None], **fields: object) -> Document:
    values: dict[str, object] = dict(
        url="https://example.org/a",
        source="test",
        body=b"x",
        paragraphs=paragraphs,
        title=paragraphs[0],
        extractor="ex",
        language="de",
        language_confidence=0.99,
        paragraph_languages=["de"] * len(paragraphs),
        detector="det",
        english=english,
        title_english=english[0],
        translation_status="translated",
        status="ok",
    )
    values.update(fields)
    return Document(**values)  # type: ignore[arg-type]


def seed_lines() -> tuple[list[str], list[str]]:
    """The English seed page and the English of the Korean one: one story, real text."""
    english, korean_english = (
        [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        for p in sorted(DATA.glob("seeds/*.txt"))
    )
    return english, korean_english


def test_grouping_text_keeps_only_trusted_body_english_outside_the_template():
    from ingest.extract import normalize_line

    english, korean_english = seed_lines()
    good, bad = english[:16], korean_english[:4]
    originals = sentences("de", 0, 20)
    doc = document(
        originals,
        good + bad,
        low_confidence=[False] * 16 + [True] * 4,
        paragraph_confidence=[0.99] * 16 + [0.5] * 4,
    )
    assert grouping_text(doc).features == dedup.features("\n".join(good))
    without_second = grouping_text(doc, frozenset({normalize_line(originals[1])}))
    assert without_second.features == dedup.features("\n".join([good[0], *good[2:]]))
    comments = doc.model_copy(update={"paragraph_kinds": ["body"] * 14 + ["comment"] * 6})
    assert grouping_text(comments).features == dedup.features("\n".join(good[:14]))


def test_english_repeated_for_different_originals_is_doubted():
    """A package reciting its training sentences renders different paragraphs identically,
    sometimes with a confidence above the threshold."""
    english, _ = seed_lines()
    originals = sentences("ko", 0, 6)
    recited = english[5]
    doc = document(
        originals,
        [*english[:4], recited, recited],
        language="ko",
        paragraph_languages=["ko"] * 6,
        low_confidence=[False] * 6,
        paragraph_confidence=[0.99] * 6,
    )
    assert doubted_translations(doc) == {4, 5}
    same_original = doc.model_copy(update={"paragraphs": [*originals[:5], originals[4]]})
    assert doubted_translations(same_original) == set()  # one sentence twice: both fine


def test_a_document_the_model_mostly_doubts_is_not_trusted_at_all():
    english, _ = seed_lines()
    originals = sentences("de", 0, 10)
    low = [True] * 6 + [False] * 4
    doc = document(originals, english[:10], low_confidence=low, paragraph_confidence=[0.9] * 10)
    share = sum(len(o) for o, flag in zip(originals, low, strict=True) if flag)
    assert share / sum(map(len, originals)) > 0.5
    assert doubted_translations(doc) == set(range(10))
    features = grouping_text(doc).features
    assert features and all(f.startswith("de:") for f in features)


def test_untrusted_foreign_text_is_grouped_by_its_original_in_its_language():
    originals = sentences("de", 40)
    doc = document(
        originals,
        ["Blinken met Yang Jiechi in Anchorage."] * len(originals),
        low_confidence=[True] * len(originals),
        title_low_confidence=True,
    )
    features = grouping_text(doc).features
    assert features and all(f.startswith("de:") for f in features)
    assert "anchorage" not in {f.split(":", 1)[1] for f in features}


def test_original_features_skip_sentence_openers_and_keep_caseless_words():
    assert original_features("Die Bundesregierung tagte in Berlin. Sie lud 12 Gäste ein.") == {
        "bundesregierung",
        "berlin",
        "12",
        "gäste",
    }
    assert {"서울시는", "발표했다"} <= original_features("서울시는 오늘 발표했다")


def test_the_seed_pages_still_group_as_one_story(store_url):
    """Documents stored without confidence (empty lists: unknown) are grouped as before."""
    store = Store(store_url)
    for url, lines in zip(
        ("https://en.example/a", "https://ko.example/b"), seed_lines(), strict=True
    ):
        store.save_document(
            document(
                sentences("ko", 0, len(lines)),
                lines,
                url=url,
                language="ko",
                paragraph_languages=["ko"] * len(lines),
            )
        )
    assert store.near_duplicate_groups() == [["https://en.example/a", "https://ko.example/b"]]


def test_saved_pages_of_one_site_are_compared_without_their_shared_lines(home, tmp_path):
    """Local files (no site of their own) belong to the site their canonical URL names, as
    the scrapinghub pages of issue 15 do."""
    pages = []
    for key in REVIEWS:
        title, text = REVIEWS[key]
        canonical = f"https://www.wheelhouse.example/{key}/"
        raw = page("x", title, text + CHROME, canonical=canonical)
        path = tmp_path / f"{key}.html"
        path.write_bytes(raw.body)
        pages.append(RawPage(url=path.as_uri(), source=str(path), body=raw.body))
    pipeline = Pipeline(load_settings())
    outcomes = pipeline.process(pages)
    store = pipeline.store
    assert {o.status for o in outcomes} == {"ok"}
    assert store.near_duplicate_groups() == []
    stored = [store.get_document(p.url) for p in pages]
    assert all(d is not None and d["site"] is None for d in stored)  # no template learning


def test_the_learned_template_of_its_site_never_feeds_a_stored_document(store_url):
    """A page extracted before its site's template was learned still carries the template:
    the store groups it without those lines."""
    from sqlalchemy import select

    from ingest.extract import normalize_line
    from ingest.store import near_duplicates

    store = Store(store_url)
    store.add_site_boilerplate("wheelhouse.example", [normalize_line(line) for line in CHROME])
    title, text = REVIEWS["touring-bike"]
    paragraphs = [title, *text, *CHROME]
    store.save_document(
        document(
            paragraphs,
            list(paragraphs),
            url="https://wheelhouse.example/touring-bike",
            language="en",
            paragraph_languages=["en"] * len(paragraphs),
            translation_status="english",
        )
    )
    with store.engine.connect() as conn:
        stored = set(conn.execute(select(near_duplicates.c.features)).scalar_one().split())
    assert stored == dedup.features("\n".join([title, *text]))
    assert "wheelhouse" in dedup.features("\n".join(CHROME))
