"""Running groups: who is enrolled now, who keeps their group, and the capacity left.

DESIGN.md, "Groups": students already in a program keep it unless their progress decision
says change, and running groups use interventionist capacity first. A student is enrolled
in a subject when an intervention log row of that subject is active in the term (started
by the window's last day, not ended before its first); their latest such row is their
current program and group. Their decision is the one of their current (latest) phase
of monitoring in the subject (``progress_decisions``); a student whose decision says
change goes back to the pool of students to be grouped anew.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.groups.members import score_span
from pipeline.groups.staff import Staff
from pipeline.rules.labels import grade_span

# One row per student x subject enrolled in the term (:func:`current_enrolments`).
ENROLLED_COLUMNS = [
    "student_id",
    "school_id",
    "grade",
    "subject",
    "program",
    "group_id",
    "interventionist",
    "tier",
    "start_date",
    "change",
]
# The decision values that say the intervention should change (``progress_decisions``).
CHANGE_DECISIONS = ("change_intervention", "change")
# Columns that order a student's monitoring phases, latest last, where the table has them
# (the first one present names the phase), then the data meetings within a phase.
PHASE_ORDER = ("phase", "phase_number", "phase_start")
MEETING_ORDER = ("as_of", "meeting_date", "decision_date", "last_date")


def change_flags(decisions: pd.DataFrame | None, config: DistrictConfig) -> pd.DataFrame:
    """Per student x subject, whether the current phase's decision says change (``change``).

    The current phase is the latest by :data:`PHASE_ORDER`, and in it each measure's
    decision of the latest data meeting (:data:`MEETING_ORDER`); several measures
    monitored: change when any of them says so. No table, or no ``decision`` column: no one.
    """
    empty = pd.DataFrame({"student_id": [], "subject": [], "change": []})
    if decisions is None or decisions.empty or "decision" not in decisions:
        return empty.astype({"student_id": str, "subject": str, "change": bool})
    rows = decisions.copy()
    if "subject" not in rows:
        subject_of = {name: m.subject for name, m in config.measures.items()}
        rows["subject"] = rows.get("measure", pd.Series(index=rows.index)).map(subject_of)
    rows = rows.dropna(subset=["subject"]).assign(student_id=lambda d: d["student_id"].astype(str))
    keys = ["student_id", "subject"]
    rows = rows.assign(change=rows["decision"].isin(CHANGE_DECISIONS))
    rows = _latest(rows, keys, [c for c in PHASE_ORDER if c in rows][:1])
    if "measure" in rows:  # the latest data meeting's decision of each measure
        rows = _latest(rows, [*keys, "measure"], [c for c in MEETING_ORDER if c in rows][:1])
    # Rows left tied (the same phase and meeting) count together: any change is change.
    return rows.groupby(keys, as_index=False)["change"].any()


def _latest(rows: pd.DataFrame, keys: list[str], order: list[str]) -> pd.DataFrame:
    """The rows holding the greatest value of ``order`` (one column, or none: all rows)
    within each ``keys`` group; a group with no value keeps all its rows."""
    if not order:
        return rows
    latest = rows.groupby(keys)[order[0]].transform("max")
    return rows[rows[order[0]].eq(latest) | latest.isna()]


def current_enrolments(
    interventions: pd.DataFrame | None,
    students: pd.DataFrame,
    decisions: pd.DataFrame | None,
    config: DistrictConfig,
    window: tuple[dt.date, dt.date],
) -> pd.DataFrame:
    """Students enrolled in the term (``window``: its first and last day), one row per
    student x subject (:data:`ENROLLED_COLUMNS`), with their school and grade from
    ``students`` and ``change`` from their progress decision (:func:`change_flags`)."""
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=ENROLLED_COLUMNS)
    first, last = (pd.Timestamp(d) for d in window)
    log = interventions.copy()
    for column in ("group_id", "interventionist", "tier", "end_date"):
        if column not in log:
            log[column] = pd.NA
    start = pd.to_datetime(log["start_date"], errors="coerce")
    end = pd.to_datetime(log["end_date"], errors="coerce")
    active = start.le(last) & (end.isna() | end.ge(first))
    log = log[active].assign(
        start_date=start[active], student_id=lambda d: d["student_id"].astype(str)
    )
    # The latest start is the current program; a tie goes by value, not by row order.
    ties = ["program", "group_id", "interventionist"]
    log[ties] = log[ties].astype("string")
    log = log.sort_values(["student_id", "subject", "start_date", *ties], na_position="first")
    log = log.drop_duplicates(["student_id", "subject"], keep="last")
    roster = students[["student_id", "school_id", "grade"]].astype({"student_id": str})
    log = log.merge(roster.astype({"school_id": str}), on="student_id", how="inner")
    log = log.merge(change_flags(decisions, config), on=["student_id", "subject"], how="left")
    log["change"] = log["change"].fillna(False).astype(bool)
    # A log without group ids: one running group per program and interventionist.
    fallback = (
        log["program"].astype(str) + " (" + log["interventionist"].fillna("").astype(str) + ")"
    )
    log["group_id"] = log["group_id"].astype("string").fillna(fallback).astype(str)
    log["interventionist"] = log["interventionist"].astype("string").fillna("").astype(str)
    return log[ENROLLED_COLUMNS].reset_index(drop=True)


def continuing_groups(
    enrolled: pd.DataFrame,
    tiers: pd.DataFrame,
    staff_of: dict[str, list[Staff]],
    config: DistrictConfig,
    name: Callable[[str], str],
) -> dict[str, list[dict]]:
    """Per school, its running groups with their members who keep them (``change``
    false), ordered by subject and group id: records of
    :data:`~pipeline.groups.members.GROUP_COLUMNS` plus ``status`` and ``program``; a group
    all of whose members change is not listed. A member's current tier row is their row of
    ``tiers`` (one per student x subject) in the group's school; ``staff_of`` names each
    school's interventionists (a group run by someone else gets a note)."""
    keys = ["school_id", "subject", "group_id"]
    keep, changed = _staying_members(enrolled, tiers, keys)
    scored = keep.assign(
        measure=keep["focus_measure"].fillna(keep["measure"]),
        score=keep["focus_score"].astype(float).fillna(keep["score"].astype(float)),
    ).dropna(subset=["measure", "score"])
    summary = _group_summary(keep, keys, config)
    spans = _score_spans(scored, keys, name)
    staff_names = {school: {p.name for p in people} for school, people in staff_of.items()}
    leaving = changed.to_dict()  # group key -> members who leave it
    records: dict[str, list[dict]] = {}
    for key, row in zip(summary.index, summary.itertuples(index=False), strict=True):
        school_id, subject, group_id = key
        measures, ranges, low, high = spans.get(key, ([], [], float("nan"), float("nan")))
        records.setdefault(school_id, []).append(
            {
                "group_id": str(group_id),
                "school_id": school_id,
                "subject": subject,
                "tier": row.tier,
                "focus": row.focus,
                "grades": grade_span(row.grades),
                "grade_min": row.grades[0],
                "grade_max": row.grades[-1],
                "size": row.size,
                "student_ids": list(row.student_ids),
                "score_measure": ", ".join(map(str, measures)),
                "score_min": low,
                "score_max": high,
                "score_range": "; ".join(ranges),
                "interventionist": row.interventionist,
                "slot": "",
                "undersized": row.size < row.minimum,
                "note": _running_note(row, int(leaving[key]), staff_names.get(school_id, set())),
                "status": "continuing",
                "program": str(row.program),
            }
        )
    return records


def _staying_members(
    enrolled: pd.DataFrame, tiers: pd.DataFrame, keys: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """The enrolled students who keep their group (ordered by group and student), each with
    their current tier row of ``tiers`` in the group's school (``tier_now``, ``focus``,
    scores), and per group (``keys``) how many members leave it (their decision: change)."""
    enrolled = enrolled.assign(school_id=enrolled["school_id"].astype(str))
    changed = enrolled.groupby(keys)["change"].sum()
    keep = enrolled[~enrolled["change"].astype(bool)].sort_values([*keys, "student_id"])
    current = tiers.assign(
        student_id=tiers["student_id"].astype(str), school_id=tiers["school_id"].astype(str)
    ).drop_duplicates(["student_id", "subject"])
    now = ["tier", "focus", "measure", "score", "focus_measure", "focus_score"]
    keep = keep.merge(
        current[["student_id", "subject", "school_id", *now]].rename(columns={"tier": "tier_now"}),
        on=["student_id", "subject", "school_id"],
        how="left",
    )
    return keep, changed


def _running_note(row, changed: int, staff_names: set[str]) -> str:
    """A running group's note: since when and in which program, who left, who is now in
    Tier 1, and an interventionist ``staff.csv`` does not list."""
    note = f"Running since {row.start:%Y-%m-%d} ({row.program})."
    if changed:
        note += f" {changed} member(s) left: their progress decision says change."
    if row.on_track:
        note += f" {row.on_track} member(s) now in Tier 1 on this screening: consider exit."
    if row.interventionist and row.interventionist not in staff_names:
        note += f" {row.interventionist} is not in staff.csv: their capacity is not known."
    return note


def _group_summary(keep: pd.DataFrame, keys: list[str], config: DistrictConfig) -> pd.DataFrame:
    """Per running group (``keys``), from its staying members (``keep``, each with their
    current tier row): the tier (the members' logged tier most common, else their current
    one, else 2) and its smallest size, focus, grades, size, members, on-track count,
    start, program and interventionist."""
    groups = keep.groupby(keys, sort=True)
    logged = _most_common(keep.assign(t=pd.to_numeric(keep["tier"], errors="coerce")), keys, "t")
    screened = _most_common(keep.assign(t=keep["tier_now"].astype(float)), keys, "t")
    tier = logged.reindex(groups.size().index).fillna(screened).fillna(2).astype(int)
    grades = keep[[*keys, "grade"]].astype({"grade": int}).drop_duplicates()
    grades = grades.sort_values([*keys, "grade"]).groupby(keys)["grade"].agg(list)
    sizes = config.grouping.sizes
    return pd.DataFrame(
        {
            "tier": tier,
            "minimum": tier.map(lambda t: sizes[t].min if t in sizes else 1),
            "focus": _most_common(keep, keys, "focus")
            .reindex(tier.index)
            .astype(object)
            .fillna(""),
            "grades": grades,
            "size": groups.size(),
            "student_ids": groups["student_id"].agg(list),
            "on_track": keep["tier_now"].eq(1).groupby([keep[k] for k in keys]).sum(),
            "start": groups["start_date"].min(),
            "program": _most_common(keep, keys, "program").reindex(tier.index),
            "interventionist": _most_common(keep, keys, "interventionist")
            .reindex(tier.index)
            .fillna(""),
        }
    )


def _score_spans(
    scored: pd.DataFrame, keys: list[str], name: Callable[[str], str]
) -> dict[tuple, tuple[list, list[str], float, float]]:
    """Per group: its score measures in the members' order, each one's span ("ORF 31-48"),
    and the lowest and highest score."""
    spans: dict[tuple, tuple[list, list[str], float, float]] = {}
    per_measure = scored.groupby([*keys, "measure"], sort=False)["score"].agg(["min", "max"])
    for (*key, measure), low, high in zip(
        per_measure.index, per_measure["min"], per_measure["max"], strict=True
    ):
        measures, ranges, lowest, highest = spans.get(tuple(key), ([], [], low, high))
        ranges.append(score_span(name(measure), low, high))
        spans[tuple(key)] = (
            [*measures, measure],
            ranges,
            float(min(lowest, low)),
            float(max(highest, high)),
        )
    return spans


def capacity_left(staff: list[Staff], records: list[dict]) -> list[Staff]:
    """Each person's capacity after the running groups in ``records`` (their slots taken
    first): what new groups may use, never below zero."""
    left = []
    for person in staff:
        mine = [r for r in records if r["interventionist"] == person.name]
        used = {r["slot"] for r in mine if r["slot"]}
        left.append(
            dataclasses.replace(
                person,
                max_groups=max(0, person.group_capacity - len(mine)),
                max_students=max(0, person.max_students - sum(r["size"] for r in mine)),
                slots=tuple(s for s in person.slots if s not in used),
            )
        )
    return left


def over_capacity(records: list[dict], staff: list[Staff]) -> None:
    """Note, on the running groups of a person they already overload, by how much."""
    for person in staff:
        mine = [r for r in records if r["interventionist"] == person.name]
        students = sum(r["size"] for r in mine)
        if len(mine) > person.group_capacity or students > person.max_students:
            for r in mine:
                r["note"] = _join(
                    r["note"],
                    f"{person.name}'s running groups exceed their capacity ({len(mine)}/"
                    f"{person.group_capacity} groups, {students}/{person.max_students} "
                    "students): no new group is given to them.",
                )


def _most_common(rows: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per ``keys`` group, the most frequent value of ``column`` (the smallest of ties);
    groups with no value are missing."""
    counts = rows.groupby([*keys, column], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values([*keys, "n", column], ascending=[*[True] * len(keys), False, True])
    return counts.drop_duplicates(keys).set_index(keys)[column]


def _join(note: str, more: str) -> str:
    return f"{note} {more}" if note else more
