"""The specialist report as a team navigates it, and the printable pages, in headless
Chromium over file:// (see test_browser.py for the browser set-up): collapsed, the report
is short and every student needing support is a link or a fold away; it reads the same
with JavaScript off; the filter narrows the support list; printing gives one page per
group and per letter; no console errors, no request outside file://; and axe-core finds
no serious or critical accessibility violation.

axe-core comes from npm (``npm install axe-core``); the tests look for ``axe.min.js`` at
$TIERWISE_AXE, then in ./node_modules (``.ci/run`` installs it there), and skip without it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.test_browser import TERM, browser  # noqa: F401 (the module's browser)

pytestmark = pytest.mark.browser
REPO_ROOT = Path(__file__).resolve().parent.parent
SCHOOL = "001"
MAX_HEIGHT = 9_000  # px at 1280 x 900: ten screens (issue 16)
AXE_PLACES = [
    os.environ.get("TIERWISE_AXE", ""),
    str(REPO_ROOT / "node_modules/axe-core/axe.min.js"),
]


@pytest.fixture
def opened(browser):  # noqa: F811 (the fixture imported above)
    """Open a page (JS on or off) and record console errors and every request."""
    contexts = []

    def open_page(path: Path, javascript: bool = True):
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
        )
        contexts.append(context)
        page = context.new_page()
        page.seen = {"errors": [], "requests": []}
        page.on("console", lambda m: m.type == "error" and page.seen["errors"].append(m.text))
        page.on("pageerror", lambda e: page.seen["errors"].append(str(e)))
        page.on("request", lambda r: page.seen["requests"].append(r.url))
        page.goto(path.resolve().as_uri(), wait_until="load")
        return page

    yield open_page
    for context in contexts:
        context.close()


def term(run: Path) -> Path:
    return run / "reports" / TERM


def school_page(run: Path, name: str) -> Path:
    return term(run) / "schools" / SCHOOL / name


def tables(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / "processed" / TERM / f"{name}.parquet")


def needing_support(run: Path) -> pd.DataFrame:
    tiers = tables(run, "tiers")
    need = tiers[(tiers["school_id"] == SCHOOL) & (tiers["tier"].fillna(1) >= 2)]
    return need.merge(tables(run, "students")[["student_id", "first_name", "last_name"]])


def clean(page) -> None:
    assert page.seen["errors"] == [], page.seen["errors"]
    outside = [u for u in page.seen["requests"] if not u.startswith(("file://", "data:"))]
    assert outside == [], outside


def test_specialist_collapsed_is_short_and_links_every_student(rendered_district, opened):
    page = opened(school_page(rendered_district, "specialist.html"))
    assert page.evaluate("document.documentElement.scrollHeight") <= MAX_HEIGHT
    hrefs = set(
        page.eval_on_selector_all("#support a", "els => els.map(e => e.getAttribute('href'))")
    )
    expected = {
        f"students.html#student-{i}" for i in needing_support(rendered_district)["student_id"]
    }
    assert expected and expected <= hrefs
    # each link lands on that student's page
    students = school_page(rendered_district, "students.html").read_text(encoding="utf-8")
    assert all(f'id="{h.split("#")[1]}"' in students for h in expected)
    clean(page)


def test_specialist_reads_the_same_with_javascript_off(rendered_district, opened):
    script = "document.body.textContent"
    on = opened(school_page(rendered_district, "specialist.html"))
    off = opened(school_page(rendered_district, "specialist.html"), javascript=False)
    text_on, text_off = on.evaluate(script), off.evaluate(script)
    need = needing_support(rendered_district)
    for name in (need["last_name"] + ", " + need["first_name"]).unique():
        assert name in text_off
    rows = "document.querySelectorAll('#support tbody tr').length"
    assert off.evaluate(rows) == on.evaluate(rows) == len(need)
    assert "What needs action this meeting" in text_off and "Contents" in text_off
    assert len(text_off) > 0.9 * len(text_on)


def test_filter_narrows_the_support_list_to_a_typed_name(rendered_district, opened):
    need = needing_support(rendered_district)
    need = need[~need["last_name"].str.contains("<")]
    name = need["last_name"].iloc[0] + ", " + need["first_name"].iloc[0]
    full = need["last_name"] + ", " + need["first_name"]
    page = opened(school_page(rendered_district, "specialist.html"))
    page.fill("#tw-filter-support", name)
    visible = page.eval_on_selector_all(
        "#support tbody tr",
        "rows => rows.filter(r => r.offsetParent !== null).map(r => r.textContent)",
    )
    # every student whose "last, first" contains the typed text (planted names repeat)
    expected = need[full.str.contains(name, regex=False)]
    assert len(visible) == len(expected) > 0
    assert all(name in row for row in visible)
    clean(page)


def pdf_pages(page) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", page.pdf(format="Letter")))


def test_groups_print_one_page_per_group(rendered_district, opened):
    groups = tables(rendered_district, "groups")
    page = opened(school_page(rendered_district, "groups.html"))
    assert pdf_pages(page) == int((groups["school_id"] == SCHOOL).sum())
    clean(page)


@pytest.mark.parametrize("name", ["letters.html", "letters-es.html"])
def test_letters_print_one_page_per_student_needing_support(rendered_district, opened, name):
    page = opened(school_page(rendered_district, name))
    assert pdf_pages(page) == needing_support(rendered_district)["student_id"].nunique()
    clean(page)


def test_student_pages_open_cleanly(rendered_district, opened):
    clean(opened(school_page(rendered_district, "students.html")))


def axe_script() -> str:
    for place in AXE_PLACES:
        if place and Path(place).exists():
            return Path(place).read_text(encoding="utf-8")
    pytest.skip(
        "axe-core not found: run `npm install axe-core` (CI does) or set TIERWISE_AXE to "
        "axe.min.js; the accessibility tests skip"
    )


AXE_PAGES = {
    "index": "index.html",
    "specialist": f"schools/{SCHOOL}/specialist.html",
    "principal": f"schools/{SCHOOL}/principal.html",
    "letters": f"schools/{SCHOOL}/letters.html",
}


@pytest.mark.parametrize("name", list(AXE_PAGES))
def test_no_serious_accessibility_violations(rendered_district, opened, name):
    script = axe_script()
    page = opened(term(rendered_district) / AXE_PAGES[name])
    page.add_script_tag(content=script)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad
