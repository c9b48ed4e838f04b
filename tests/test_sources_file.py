"""The sources file: TOML and YAML, and error messages that say where the problem is."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources_file import Source, SourcesFileError, load_sources, parse_interval

TOML = """
[[sources]]
name = "yonhap"
feeds = ["https://www.yna.co.kr/rss/news.xml"]
language = "ko"
schedule = "0 */2 * * *"

[[sources]]
name = "samples"
feed = "../samples/feed.xml"      # singular key, relative local path
urls = ["pages/a.html", "https://example.de/artikel"]
interval = "30m"

[[sources]]
name = "site.sitemaps"
sitemaps = ["https://example.jp/sitemap_index.xml", "https://example.jp/sitemap_index.xml"]
interval = 86400
"""

YAML = """
sources:
  - name: yonhap
    feeds: [https://www.yna.co.kr/rss/news.xml]
    language: ko
    schedule: "0 */2 * * *"
  - name: samples
    feed: ../samples/feed.xml
    urls:
      - pages/a.html
      - https://example.de/artikel
    interval: 30m
  - name: site.sitemaps
    sitemaps:
      - https://example.jp/sitemap_index.xml
    interval: 86400
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "conf"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text"), [("sources.toml", TOML), ("sources.yaml", YAML)])
def test_toml_and_yaml_give_the_same_sources(tmp_path, name, text):
    path = write(tmp_path, name, text)
    sources = load_sources(path)
    assert sources == [
        Source(
            name="yonhap",
            feeds=["https://www.yna.co.kr/rss/news.xml"],
            language="ko",
            schedule="0 */2 * * *",
        ),
        Source(
            name="samples",
            feeds=[str((tmp_path / "samples" / "feed.xml").resolve())],
            urls=[
                str((tmp_path / "conf" / "pages" / "a.html").resolve()),
                "https://example.de/artikel",
            ],
            interval=1800,
        ),
        Source(
            name="site.sitemaps",
            sitemaps=["https://example.jp/sitemap_index.xml"],
            interval=86400,
        ),
    ]


def test_bare_yaml_list(tmp_path):
    path = write(tmp_path, "s.yml", "- name: a\n  urls: https://a.example/\n")
    assert load_sources(path) == [Source(name="a", urls=["https://a.example/"])]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[sources]]\nname = "a"\n', "source 'a': field 'urls': a source needs at least one"),
        ('[[sources]]\nurls = ["https://a/"]\n', "source #1: field 'name': required"),
        ('[[sources]]\nname = "a b"\nurls = ["https://a/"]\n', "field 'name': use letters"),
        (
            '[[sources]]\nname = "a"\nfeeds = "x"\ncolour = 1\n',
            "source 'a': field 'colour': unknown",
        ),
        ('[[sources]]\nname = "a"\nfeeds = [1]\n', "source 'a': field 'feeds': expected a list"),
        (
            '[[sources]]\nname = "a"\nfeeds = ["f"]\nlanguage = "Korean"\n',
            "field 'language': expected an ISO 639 code",
        ),
        (
            '[[sources]]\nname = "a"\nfeeds = ["f"]\nschedule = "61 * * * *"\n',
            "source 'a': field 'schedule': invalid cron expression",
        ),
        (
            '[[sources]]\nname = "a"\nfeeds = ["f"]\nschedule = "every day"\n',
            "field 'schedule': expected 5 cron fields",
        ),
        (
            '[[sources]]\nname = "a"\nfeeds = ["f"]\ninterval = "soon"\n',
            "source 'a': field 'interval': expected seconds",
        ),
        (
            '[[sources]]\nname = "a"\nfeeds = ["f"]\ninterval = 60\nschedule = "* * * * *"\n',
            "field 'interval': give either a schedule",
        ),
        (
            '[[sources]]\nname = "a"\nfeeds = ["f"]\n[[sources]]\nname = "a"\nurls = ["u"]\n',
            "source 'a': duplicate name",
        ),
        (
            '[[sources]]\nname = "a"\nfeed = "f"\nfeeds = ["g"]\n',
            "field 'feeds': given twice",
        ),
        ('name = "a"\n', "unknown top-level key(s) ['name']"),
        ("[[sources]\n", "invalid TOML"),
        ("", "no sources"),
    ],
)
def test_errors_name_the_file_source_and_field(tmp_path, text, message):
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(SourcesFileError) as caught:
        load_sources(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_yaml_syntax_error_and_unknown_format(tmp_path):
    with pytest.raises(SourcesFileError, match="invalid YAML"):
        load_sources(write(tmp_path, "bad.yaml", "sources: [\n  - name: a\n"))
    with pytest.raises(SourcesFileError, match=r"unknown format \(use .toml, .yaml or .yml\)"):
        load_sources(write(tmp_path, "sources.json", "{}"))
    with pytest.raises(SourcesFileError, match="cannot read"):
        load_sources(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3600, 3600), ("3600", 3600), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400)],
)
def test_parse_interval(value, seconds):
    assert parse_interval(value) == seconds


@pytest.mark.parametrize("value", [0, "0s", -5, True, "1w", "", None])
def test_parse_interval_rejects(value):
    with pytest.raises(ValueError):
        parse_interval(value)
