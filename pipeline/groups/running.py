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
    school_id: str,
    enrolled: pd.DataFrame,
    tiers: pd.DataFrame,
    staff: list[Staff],
    config: DistrictConfig,
    name: Callable[[str], str],
) -> list[dict]:
    """The school's running groups with their members who keep them (``change`` false):
    records of :data:`~pipeline.groups.members.GROUP_COLUMNS` plus ``status`` and
    ``program``; a group all of whose members change is not listed."""
    mine = enrolled[enrolled["school_id"] == school_id]
    if mine.empty:
        return []
    current = tiers.set_index(["student_id", "subject"])
    people = {p.name: p for p in staff}
    records = []
    for (subject, group_id), group in mine.groupby(["subject", "group_id"], sort=True):
        keep = group[~group["change"]].sort_values("student_id")
        if keep.empty:
            continue
        rows = current.reindex(list(zip(keep["student_id"], keep["subject"], strict=True)))
        record = _continuing_record(school_id, subject, group_id, keep, group, rows, config, name)
        if record["interventionist"] and record["interventionist"] not in people:
            record["note"] = _join(
                record["note"],
                f"{record['interventionist']} is not in staff.csv: their capacity is not known.",
            )
        records.append(record)
    return records


def _continuing_record(
    school_id: str,
    subject: str,
    group_id: str,
    keep: pd.DataFrame,
    group: pd.DataFrame,
    rows: pd.DataFrame,
    config: DistrictConfig,
    name: Callable[[str], str],
) -> dict:
    """One continuing group's row: its members who stay (``keep``, of the log's ``group``),
    grades, their current tier rows' (``rows``) scores, who runs it, and a note."""
    grades = sorted(int(g) for g in keep["grade"])
    tier = _most_common(keep["tier"].dropna().astype(int)) or _most_common(
        rows["tier"].dropna().astype(int)
    )
    tier = int(tier or 2)
    measure = rows["focus_measure"].fillna(rows["measure"])
    score = rows["focus_score"].astype(float).fillna(rows["score"].astype(float))
    scored = pd.DataFrame({"measure": measure.to_numpy(), "score": score.to_numpy()}).dropna()
    measures = list(dict.fromkeys(scored["measure"]))
    minimum = config.grouping.sizes[tier].min if tier in config.grouping.sizes else 1
    changed = int(group["change"].sum())
    on_track = int(rows["tier"].eq(1).sum())
    note = f"Running since {keep['start_date'].min():%Y-%m-%d} ({_most_common(keep['program'])})."
    if changed:
        note += f" {changed} member(s) left: their progress decision says change."
    if on_track:
        note += f" {on_track} member(s) now in Tier 1 on this screening: consider exit."
    return {
        "group_id": str(group_id),
        "school_id": school_id,
        "subject": subject,
        "tier": tier,
        "focus": _most_common(rows["focus"].dropna()) or "",
        "grades": grade_span(sorted(set(grades))),
        "grade_min": grades[0],
        "grade_max": grades[-1],
        "size": len(keep),
        "student_ids": keep["student_id"].astype(str).tolist(),
        "score_measure": ", ".join(map(str, measures)),
        "score_min": float(scored["score"].min()) if len(scored) else float("nan"),
        "score_max": float(scored["score"].max()) if len(scored) else float("nan"),
        "score_range": "; ".join(
            _span(name(m), scored.loc[scored["measure"] == m, "score"]) for m in measures
        ),
        "interventionist": _most_common(keep["interventionist"]) or "",
        "slot": "",
        "undersized": len(keep) < minimum,
        "note": note,
        "status": "continuing",
        "program": str(_most_common(keep["program"])),
    }


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


def _most_common(values: pd.Series):
    """The most frequent value (the smallest of ties), or None for none."""
    counts = values.value_counts()
    if counts.empty:
        return None
    return sorted(counts[counts == counts.max()].index)[0]


def _span(label: str, scores: pd.Series) -> str:
    lo, hi = float(scores.min()), float(scores.max())
    return f"{label} {lo:g}" if lo == hi else f"{label} {lo:g}-{hi:g}"


def _join(note: str, more: str) -> str:
    return f"{note} {more}" if note else more
