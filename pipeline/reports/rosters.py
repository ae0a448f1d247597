"""The printable pages that sit beside the specialist report, as the data their
templates fill in: one roster per group (``groups.html``), one page per student the team
discusses (``students.html``), and the tables a school downloads (CSV and XLSX).

Views are pure: a school's tables in, plain dicts and DataFrames out; the render stage
(:mod:`pipeline.render.pages`) reads the tables and writes the files. These pages name
students: they stay with the school's staff.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.reports import monitoring
from pipeline.reports.data import GroupingData, MonitoringData, SchoolData
from pipeline.reports.specialist import short_reason, support_list
from pipeline.reports.words import SUBJECT_TITLES
from pipeline.rules.labels import TIER_LABELS, focus_label, grade_label

NO_GOAL_YET = "set from the first three probes"


@dataclass
class PrintableData:
    """What the printable pages of one school read: the specialist report's tables and
    the school's screening history and intervention log."""

    school: SchoolData
    grouping: GroupingData
    monitoring: MonitoringData
    screenings: pd.DataFrame  # every window of the school year, this school's students
    interventions: pd.DataFrame
    fall_tiers: pd.DataFrame | None = None

    @property
    def config(self) -> DistrictConfig:
        return self.school.config  # type: ignore[return-value]


# --- the adapter to the monitoring views (PM owns what a chart and a decision say) -------


def progress_charts(data: PrintableData) -> monitoring.ProgressCharts:
    """The school's monitored series (student x measure) as the monitoring section's
    inline SVG charts: ``charts.chart(key)`` for each ``key in charts``."""
    return monitoring.ProgressCharts(data.monitoring.phases, data.monitoring.points, data.config)


def decision_sentence(row, config: DistrictConfig) -> str:
    """The current decision on one monitored series in a sentence, named by its measure."""
    return f"{config.measure_name(row.measure)}: {monitoring.decision_sentence(row, config)}"


def history_sentence(history: pd.DataFrame | None) -> str:
    """The decisions at the data meetings of one series, oldest first."""
    text = monitoring.history_sentence(history)
    return f"At the data meetings: {text}." if text else ""


# --- small shared pieces -------------------------------------------------------------


def _names(students: pd.DataFrame) -> dict[str, str]:
    return dict(
        zip(
            students["student_id"],
            students["last_name"] + ", " + students["first_name"],
            strict=True,
        )
    )


def _focus(value: object) -> str:
    return focus_label(value)


def _score_text(measure: str, score: object, percentile: object, config: DistrictConfig) -> str:
    if pd.isna(score):
        return ""
    text = f"{config.measure_name(measure)} {score:g}"
    return text if pd.isna(percentile) else f"{text} (PR {percentile:g})"


def goal_text(decision, config: DistrictConfig) -> str:
    """A member's goal: the goal score and date of their monitored series."""
    if decision is None or pd.isna(decision.goal):
        return NO_GOAL_YET
    when = "" if pd.isna(decision.goal_date) else f" by {decision.goal_date:%b %d}"
    return f"{config.measure_name(decision.measure)} {decision.goal:.0f}{when}"


def _decisions_by_student_subject(monitoring_data: MonitoringData) -> dict:
    d = monitoring_data.decisions
    if d.empty:
        return {}
    return {(r.student_id, r.subject): r for r in d.itertuples(index=False)}


def progress_measure(group, members_decisions: list, config: DistrictConfig) -> str:
    """The measure a group's progress is checked with: the one its monitored members are
    probed on, else the district's progress measure for the group's subject and skill."""
    used = [d.measure for d in members_decisions if d is not None]
    if used:
        return config.measure_name(max(set(used), key=used.count))
    candidates = [
        (m.skill != group.focus, name)
        for name, m in config.measures.items()
        if m.subject == group.subject and m.progress_monitoring
    ]
    return config.measure_name(min(candidates)[1]) if candidates else "to be chosen by the team"


# --- groups.html -----------------------------------------------------------------------


def _member_row(r, group, current: dict, decisions: dict, config: DistrictConfig) -> dict:
    """One member of a group: who, the scores that placed them, focus, program, goal."""
    return {
        "name": f"{r.last_name}, {r.first_name}",
        "grade": grade_label(r.grade),
        "homeroom": "" if pd.isna(r.homeroom) else r.homeroom,
        "tier": int(r.tier),
        "score": _score_text(r.measure, r.score, r.percentile, config),
        "focus_score": ""
        if pd.isna(r.focus_measure)
        else _score_text(r.focus_measure, r.focus_score, float("nan"), config),
        "focus": _focus(r.focus),
        "program": current.get((r.student_id, group.subject), ""),
        "goal": goal_text(decisions.get((r.student_id, group.subject)), config),
    }


def _current_programs(interventions: pd.DataFrame) -> dict:
    """(student, subject) -> the program of the student's latest enrolment."""
    if interventions.empty:
        return {}
    latest = interventions.sort_values("start_date").drop_duplicates(
        ["student_id", "subject"], keep="last"
    )
    return dict(
        zip(
            zip(latest["student_id"], latest["subject"], strict=True),
            latest["program"],
            strict=True,
        )
    )


def group_pages(data: PrintableData) -> list[dict]:
    """One roster per group, by subject and grade, Tier 3 first: the group's facts and
    its members with the scores that placed them, their focus, program and goal."""
    g = data.grouping.groups
    if g.empty:
        return []
    g = g.sort_values(
        ["subject", "grade_min", "tier", "focus", "group_id"],
        ascending=[True, True, False, True, True],
    )
    decisions = _decisions_by_student_subject(data.monitoring)
    current = _current_programs(data.interventions)
    people = data.school.students[["student_id", "first_name", "last_name", "homeroom"]]
    rows = data.school.tiers.merge(people, on="student_id").sort_values(["last_name", "first_name"])
    placed = {(r.student_id, r.subject): r for r in fast.itertuples(rows)}
    pages = []
    for group in g.itertuples(index=False):
        found = [
            placed[(i, group.subject)] for i in group.student_ids if (i, group.subject) in placed
        ]
        found.sort(key=lambda r: (r.last_name, r.first_name))
        member_decisions = [decisions.get((i, group.subject)) for i in group.student_ids]
        program = getattr(group, "program", "") or "to be chosen by the team"
        pages.append(
            {
                "id": group.group_id,
                "title": f"{SUBJECT_TITLES.get(group.subject, group.subject)}, "
                f"{TIER_LABELS[int(group.tier)]}: {_focus(group.focus)}, grade {group.grades}",
                "facts": [
                    ("Interventionist", group.interventionist),
                    ("Slot", group.slot),
                    ("Program", program),
                    ("Progress measure", progress_measure(group, member_decisions, data.config)),
                    ("Scores", group.score_range),
                    ("Status", getattr(group, "status", "") or "recommended"),
                ],
                "note": group.note or "",
                "members": [_member_row(r, group, current, decisions, data.config) for r in found],
            }
        )
    return pages


# --- downloads -------------------------------------------------------------------------


def support_download(school: SchoolData) -> pd.DataFrame:
    """The support list as a school downloads it: one row per student x subject."""
    table = support_list(school)
    homerooms = dict(zip(school.students["student_id"], school.students["homeroom"], strict=True))
    return table.assign(
        Homeroom=table["ID"].map(homerooms), Short=table["Reason"].map(short_reason)
    )


def groups_download(grouping: GroupingData, school: SchoolData) -> pd.DataFrame:
    """One row per group member: the group's facts and the member."""
    g = grouping.groups
    if g.empty:
        return pd.DataFrame(columns=["Group", "Subject", "Tier", "Focus", "Student", "ID"])
    names = _names(school.students)
    rows = g.explode("student_ids")
    return pd.DataFrame(
        {
            "Group": rows["group_id"],
            "Subject": rows["subject"].map(SUBJECT_TITLES),
            "Tier": rows["tier"].astype(int),
            "Focus": rows["focus"].map(_focus),
            "Grades": rows["grades"],
            "Interventionist": rows["interventionist"],
            "Slot": rows["slot"],
            "Student": rows["student_ids"].map(lambda i: names.get(i, i)),
            "ID": rows["student_ids"],
        }
    )


def unserved_download(grouping: GroupingData, school: SchoolData) -> pd.DataFrame:
    from pipeline.reports.specialist import unserved_table

    if grouping.unserved.empty:
        return pd.DataFrame(
            columns=["Student", "ID", "Grade", "Subject", "Tier", "Focus", "Why not placed"]
        )
    return unserved_table(grouping, school)
