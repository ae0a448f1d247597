"""Headless Chromium opens the reports over file://: no console errors, no request
outside file://, readable with JavaScript off; screenshots land in the test's tmp dir.

Playwright cannot download its own browser here, so it drives the Debian ``chromium``
package (``.ci/run`` installs it). Without it these tests skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TERM = Path("2025-2026/spring")
PAGES = {
    "index": "index.html",
    "specialist": "schools/001/specialist.html",
    "principal": "schools/001/principal.html",
    "district": "district.html",
}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium); browser tests skip")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str, shot: Path, javascript: bool = True) -> dict:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    page = context.new_page()
    seen: dict = {"errors": [], "requests": []}
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(url, wait_until="load")
    page.screenshot(path=str(shot))
    page.screenshot(path=str(shot.with_name(shot.stem + "-full.png")), full_page=True)
    seen["text"] = page.inner_text("body")
    seen["title"] = page.title()
    context.close()
    return seen


@pytest.mark.parametrize("name", list(PAGES))
def test_report_opens_without_errors_or_outside_requests(
    browser, rendered_district, name, tmp_path
):
    path = (rendered_district / "reports" / TERM / PAGES[name]).resolve()
    seen = open_page(browser, path.as_uri(), tmp_path / f"{name}.png")
    assert seen["errors"] == [], seen["errors"]
    outside = [u for u in seen["requests"] if not u.startswith(("file://", "data:"))]
    assert outside == [], outside
    assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    assert seen["title"]


def test_root_index_opens_and_lists_the_term(browser, rendered_district, tmp_path):
    path = (rendered_district / "reports/index.html").resolve()
    seen = open_page(browser, path.as_uri(), tmp_path / "root.png")
    assert seen["errors"] == []
    assert "2025-2026" in seen["text"] and "Spring" in seen["text"]


def test_principal_report_reads_the_same_with_javascript_off(browser, rendered_district, tmp_path):
    path = (rendered_district / "reports" / TERM / PAGES["principal"]).resolve()
    seen = open_page(browser, path.as_uri(), tmp_path / "principal-nojs.png", javascript=False)
    text = seen["text"]
    for heading in ("Key findings", "Who needs support, by grade", "Staffing"):
        assert heading in text
    assert "need support" in text
