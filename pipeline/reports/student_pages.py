"""One printed page per student the team discusses (``students.html``): every student in
Tier 2 or 3 in a subject, and every monitored student. The page a team brings to a
problem-solving meeting: screening history across the windows, tier and reason, groups
and programs with dates, the progress charts, the decisions, and room for notes.
"""

from __future__ import annotations

import pandas as pd

from pipeline import fast
from pipeline.config import WINDOW_ORDER
from pipeline.reports.rosters import (
    PrintableData,
    _focus,
    decision_sentence,
    history_sentence,
    progress_charts,
)
from pipeline.reports.specialist import short_reason
from pipeline.reports.words import SUBJECT_TITLES
from pipeline.rules.labels import TIER_LABELS, grade_label


def students_to_discuss(data: PrintableData) -> pd.DataFrame:
    """The students with a page: Tier 2/3 in any subject or monitored; by grade,
    homeroom and name, the order a team meets in."""
    tiers = data.school.tiers
    ids = set(tiers.loc[tiers["tier"].fillna(1) >= 2, "student_id"])
    if not data.monitoring.decisions.empty:
        ids |= set(data.monitoring.decisions["student_id"])
    s = data.school.students
    return s[s["student_id"].isin(ids)].sort_values(
        ["grade", "homeroom", "last_name", "first_name"], na_position="last"
    )


# The fields of each table that a student's page reads.
TIER_FIELDS = ["student_id", "subject", "tier", "reason", "focus", "focus_reason"]
FALL_FIELDS = ["student_id", "subject", "tier"]
PROGRAM_FIELDS = [
    "student_id", "subject", "program", "group_id", "interventionist", "start_date",
    "end_date", "sessions_planned", "sessions_attended",
]  # fmt: skip


def _by_student(frame: pd.DataFrame, fields: list[str] | None = None) -> dict[str, list]:
    """A table's rows (only ``fields`` when given) as named tuples, per student (one pass,
    no per-student filter)."""
    rows: dict[str, list] = {}
    if fields is not None and len(frame):
        frame = frame[fields]
    for row in fast.itertuples(frame):
        rows.setdefault(row.student_id, []).append(row)
    return rows


def screening_cells(screenings: pd.DataFrame) -> pd.DataFrame:
    """Each screening score as a page shows it, "score (PR p)", one per measure x window."""
    if screenings.empty:
        return pd.DataFrame(columns=["student_id", "subject", "measure", "window", "text"])
    text = screenings["score"].map("{:g}".format)
    text = text.where(
        screenings["percentile"].isna(),
        text + " (PR " + screenings["percentile"].map("{:g}".format, na_action="ignore") + ")",
    )
    cells = screenings.assign(text=text).sort_values("date")
    return cells.drop_duplicates(["student_id", "subject", "measure", "window"], keep="last")[
        ["student_id", "subject", "measure", "window", "text"]
    ]


def screening_history(cells: list, windows: list[str], config) -> dict:
    """Measure x window for one student, the windows in school-year order."""
    table: dict[tuple[str, str], dict[str, str]] = {}
    for c in cells:
        table.setdefault((c.subject, c.measure), {})[c.window] = c.text
    rows = [
        [SUBJECT_TITLES.get(subject, subject), config.measure_name(measure)]
        + [texts.get(w, "") for w in windows]
        for (subject, measure), texts in sorted(table.items())
    ]
    return {"windows": [w.capitalize() for w in windows], "rows": rows}


def _tier_rows(tiers: list, fall: list) -> list[dict]:
    fall_tier = {r.subject: r.tier for r in fall}
    return [
        {
            "subject": SUBJECT_TITLES.get(r.subject, r.subject),
            "tier": TIER_LABELS.get(int(r.tier), "") if pd.notna(r.tier) else "not screened",
            "fall": ""
            if pd.isna(fall_tier.get(r.subject))
            else f"Tier {int(fall_tier[r.subject])}",
            "short": short_reason(r.reason),
            "reason": "" if pd.isna(r.reason) else str(r.reason),
            "focus": _focus(r.focus),
            "focus_reason": "" if pd.isna(r.focus_reason) else str(r.focus_reason),
        }
        for r in sorted(tiers, key=lambda r: r.subject)
    ]


def _program_rows(interventions: list) -> list[dict]:
    def day(v) -> str:
        return "" if pd.isna(v) else f"{v:%Y-%m-%d}"

    return [
        {
            "subject": SUBJECT_TITLES.get(r.subject, r.subject),
            "program": r.program,
            "group": r.group_id if pd.notna(r.group_id) else "",
            "interventionist": r.interventionist if pd.notna(r.interventionist) else "",
            "dates": f"{day(r.start_date)} to {day(r.end_date) or 'now'}",
            "sessions": ""
            if pd.isna(r.sessions_planned)
            else f"{r.sessions_attended} of {r.sessions_planned}",
        }
        for r in sorted(interventions, key=lambda r: r.start_date)
    ]


def _planned_groups(groups: pd.DataFrame) -> dict[str, list[str]]:
    """Student -> the recommended groups they are placed in, as sentences."""
    planned: dict[str, list[str]] = {}
    if groups.empty:
        return planned
    for g in groups.itertuples(index=False):
        text = (
            f"{SUBJECT_TITLES.get(g.subject, g.subject)}: group {g.group_id} with "
            f"{g.interventionist}, {g.slot}"
        )
        for student_id in g.student_ids:
            planned.setdefault(student_id, []).append(text)
    return planned


def student_pages(data: PrintableData) -> list[dict]:
    """One page per student to discuss, with everything the team meeting needs."""
    config = data.config
    cells = screening_cells(data.screenings)
    windows = [w for w in WINDOW_ORDER if w in set(cells["window"].unique())]
    history, tiers = _by_student(cells), _by_student(data.school.tiers, TIER_FIELDS)
    fall = {} if data.fall_tiers is None else _by_student(data.fall_tiers, FALL_FIELDS)
    programs = _by_student(data.interventions, PROGRAM_FIELDS)
    decisions = _by_student(data.monitoring.decisions)
    charts, history_of = progress_charts(data), _by_series(data.monitoring.history)
    planned = _planned_groups(data.grouping.groups)
    pages = []
    for s in students_to_discuss(data).itertuples(index=False):
        series = [(r, (r.student_id, r.measure)) for r in decisions.get(s.student_id, [])]
        pages.append(
            {
                "name": f"{s.last_name}, {s.first_name}",
                "id": s.student_id,
                "grade": grade_label(s.grade),
                "homeroom": "" if pd.isna(s.homeroom) else s.homeroom,
                "history": screening_history(history.get(s.student_id, []), windows, config),
                "tiers": _tier_rows(tiers.get(s.student_id, []), fall.get(s.student_id, [])),
                "programs": _program_rows(programs.get(s.student_id, [])),
                "planned": planned.get(s.student_id, []),
                "charts": [charts.chart(key) for _, key in series if key in charts],
                "decisions": [_decision_text(r, history_of.get(key), config) for r, key in series],
            }
        )
    return pages


def _decision_text(row, history: pd.DataFrame | None, config) -> str:
    """A series' current decision and its decisions at the data meetings, in sentences."""
    return " ".join(filter(None, [decision_sentence(row, config), history_sentence(history)]))


def _by_series(frame: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """A table's rows per (student, measure) series."""
    if frame is None or frame.empty:
        return {}
    return dict(tuple(frame.groupby(["student_id", "measure"], sort=False)))
