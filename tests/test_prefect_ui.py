"""The Prefect UI, in Debian's chromium driven by Playwright, shows our deployments and schedules.

Uses the session's real server with the deployments of tests/test_prefect_server.py. The
screenshot is kept at test-artifacts/prefect-ui-deployments.png (gitignored). Needs
/usr/bin/chromium (scripts/install-system-deps.sh installs it): missing chromium fails the test;
only INGEST_SKIP_BROWSER=1 skips it, and only outside CI (under CI=true it fails). Never runs
`playwright install`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ROOT, require
from test_prefect_server import FEED_SOURCE, Deployed, _teardown, deployed_server

CHROMIUM = "/usr/bin/chromium"
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
