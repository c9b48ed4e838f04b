"""The Prefect UI, in Debian's chromium driven by Playwright, shows our deployments and schedules,
and a run's document table with every reason visible at 1400 px.

Uses the session's real server with the deployments of tests/test_prefect_server.py. The
screenshots are kept at test-artifacts/prefect-ui-*.png (gitignored). Needs
/usr/bin/chromium (scripts/install-system-deps.sh installs it): missing chromium fails the test;
only INGEST_SKIP_BROWSER=1 skips it, and only outside CI (under CI=true it fails). Never runs
`playwright install`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from conftest import ROOT, require
from test_prefect_server import FEED_SOURCE, Deployed, _teardown, deployed_server

CHROMIUM = "/usr/bin/chromium"
JAPANESE = [
    "気象庁は十日、関東甲信地方が梅雨明けしたとみられると発表した。",
    "東京都心では午前中から気温が上がり、最高気温は三十四度に達する見込みだ。",
    "今後一週間は晴れる日が多く、各地で厳しい暑さが続く見通しだ。",
]
CHINESE = [
    "国家气象中心今天发布消息，预计本周末北方大部地区将迎来入冬以来最强的一次降温过程。",
    "气象专家提醒，各地要提前做好防寒保暖工作，注意交通安全。",
]
SCREENSHOT = ROOT / "test-artifacts" / "prefect-ui-deployments.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def ui_server(request) -> Deployed:
    # checked before the server starts; under CI=true the opt-out fails instead of skipping
    require(os.environ.get("INGEST_SKIP_BROWSER") != "1", "INGEST_SKIP_BROWSER=1: browser test off")
    request.addfinalizer(_teardown)
    return deployed_server()


def test_deployments_page_shows_the_deployments_and_their_schedules(ui_server):
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} missing: run scripts/install-system-deps.sh (or set INGEST_SKIP_BROWSER=1)"
    )
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="ingest-chromium-")
    outside: list[str] = []
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1600, "height": 900},
                timezone_id="UTC",
                locale="en-US",
            )
            try:
                page = context.new_page()
                page.on(
                    "request",
                    lambda r: (
                        outside.append(r.url)
                        if urlparse(r.url).hostname not in ("127.0.0.1", None)
                        and urlparse(r.url).scheme in ("http", "https", "ws", "wss")
                        else None
                    ),
                )
                page.goto(f"{ui_server.server.ui_url}/deployments", timeout=90_000)
                row = page.locator("tr", has_text=FEED_SOURCE).first
                row.wait_for(timeout=90_000)
                # cron "30 4 * * *" (UTC) and interval 2h, as the UI words them
                _wait_for_text(row, re.compile(r"At 04:30 AM every day", re.I))
                # the flow name under the deployment name is filled in by a later request
                _wait_for_text(row, re.compile(r"ingest-sources"))
                korean = page.locator("tr", has_text="test-korean").first
                _wait_for_text(korean, re.compile(r"Every 2 hours", re.I))
                page.locator("tr", has_text="reprocess-archive").first.wait_for(timeout=30_000)
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert SCREENSHOT.stat().st_size > 10_000
    assert outside == [], f"the UI called out of the machine: {outside}"


def _wait_for_text(locator, pattern: re.Pattern[str], timeout: float = 30) -> str:
    """The locator's rendered text once it matches (the UI fills rows in asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = locator.inner_text()
        if pattern.search(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"{pattern.pattern!r} not shown; the row reads: {text!r}")


@contextmanager
def _chromium_page(width: int, height: int = 900) -> Iterator[Any]:
    """A page of a throwaway headless chromium profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="ingest-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
                timezone_id="UTC",
                locale="en-US",
            )
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_run_table_shows_the_reason_without_scrolling_at_1400px(ui_server, tmp_path):
    """`ingest run` against the server; its document table artifact, in the UI 1400 px wide."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run scripts/install-system-deps.sh"
    folder = tmp_path / "pages"
    folder.mkdir()
    long_name = "a-rather-long-file-name-" + "about-the-harbour-plan-" * 5 + "nav.html"
    (folder / long_name).write_text(
        "<html><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav></body></html>"
    )
    shutil.copy(ROOT / "samples" / "english-article.html", folder / "english.html")
    # no ja→en nor zh→en package: untranslated, with the longest reason; a wide file name
    paragraphs = "".join(f"<p>{s}</p>" for s in JAPANESE + CHINESE)
    (folder / ("関東甲信地方が梅雨明けしたとみられると発表した" * 2 + ".html")).write_text(
        f'<html lang="ja"><head><title>梅雨明け</title></head><body><article>{paragraphs}'
        "</article></body></html>",
        encoding="utf-8",
    )
    missing = tmp_path / ("gone-" + "very-long-folder-name-" * 6) / "page.html"
    env = ui_server.server.env(INGEST_HOME=str(tmp_path / "home"))
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "run", str(folder), str(missing)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    found = httpx.post(
        f"{ui_server.api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["ingest-documents"]}}, "sort": "CREATED_DESC"},
        timeout=30,
    ).json()
    artifact = next(a for a in found if long_name in a["data"])
    with _chromium_page(1400) as page:
        page.goto(f"{ui_server.server.ui_url}/artifacts/artifact/{artifact['id']}", timeout=90_000)
        cell = page.locator("td", has_text="no main text").first
        cell.wait_for(timeout=90_000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT.with_name("prefect-ui-run-table.png")), full_page=True)
        assert cell.inner_text().strip() == "no main text"
        # source, status and reason lie inside the table's visible part and the 1400 px window;
        # only the full URL (the last column) may need the table's horizontal scrollbar
        visible_right = page.evaluate(
            "() => Math.min(window.innerWidth,"
            " document.querySelector('.p-table').getBoundingClientRect().right)"
        )
        for text in ("source", "status", "reason"):
            header = page.locator("th", has_text=text).first
            box = header.bounding_box()
            assert box and box["width"] > 40 and box["x"] + box["width"] <= visible_right, box
        reasons = page.locator("tbody tr td:nth-child(3)")
        texts = [text.strip() for text in reasons.all_inner_texts()]
        assert {"no main text", "no such file, folder or URL"} <= set(texts), texts
        assert any(t.startswith("no ja→en package") and "…" in t for t in texts), texts
        for index in range(reasons.count()):
            box = reasons.nth(index).bounding_box()
            assert box and box["x"] + box["width"] <= visible_right, (texts[index], box)
        page_overflow = page.evaluate(
            "() => document.scrollingElement.scrollWidth - window.innerWidth"
        )
        assert page_overflow <= 0, f"the page scrolls sideways by {page_overflow} px"
