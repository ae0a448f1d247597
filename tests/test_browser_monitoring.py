"""Headless Chromium on the specialist report's progress charts: where the intervention log
starts a new intervention for a monitored student, the chart draws a phase line between
the last probe before the new start and the first probe on or after it."""

from __future__ import annotations

import pandas as pd
import pytest

from .test_browser import ARGS, CHROMIUM, TERM, browser  # noqa: F401

pytestmark = pytest.mark.browser


def changed_student(run) -> tuple[str, pd.Timestamp, pd.DataFrame]:
    """A school-001 student whose log has two reading interventions, the second start, and
    that student's reading probes (read from the processed canonical tables)."""
    folder = run / "processed" / TERM
    log = pd.read_parquet(folder / "interventions.parquet")
    students = pd.read_parquet(folder / "students.parquet")
    probes = pd.read_parquet(folder / "progress.parquet")
    school = set(students.loc[students["school_id"] == "001", "student_id"])
    reading = log[(log["subject"] == "reading") & log["student_id"].isin(school)]
    twice = reading.groupby("student_id")["start_date"].nunique()
    candidates = sorted(twice[twice == 2].index)
    assert candidates, "the synthetic district changes some students' intervention"
    student = candidates[0]
    second = reading.loc[reading["student_id"] == student, "start_date"].max()
    mine = probes[(probes["student_id"] == student) & probes["measure"].str.startswith("dibels8")]
    return student, pd.Timestamp(second), mine.sort_values("date")


def test_a_changed_intervention_shows_as_a_phase_line(browser, rendered_district):  # noqa: F811
    student, second, probes = changed_student(rendered_district)
    page_path = rendered_district / "reports" / TERM / "schools/001/specialist.html"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    chart = page.locator(f'svg.tw-pm-chart[data-student="{student}"]').first
    assert chart.count() == 1
    line = chart.locator(".tw-phase-line")
    assert line.count() == 1
    x = float(line.get_attribute("x1"))
    dots = [float(c.get_attribute("cx")) for c in chart.locator("circle").all()]
    before = int((probes["date"] < second).sum())
    assert len(dots) == len(probes)
    assert dots[before - 1] < x <= dots[before]
    assert "Phase 2" in line.inner_html()
    context.close()
