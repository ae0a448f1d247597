"""Interventionists: who works at which school (``staff.csv``) and who runs a group."""

from __future__ import annotations

import pandas as pd

INTERVENTIONISTS = (
    "Ms. Alvarez, Mr. Brooks, Ms. Chen, Mrs. Dube, Mr. Evans, Ms. Farah, Mr. Greene, Ms. Holm, "
    "Mrs. Ibarra, Mr. Jensen, Ms. Kowalski, Mr. Lund"
).split(", ")
# The intervention log uses the first three of a school's staff; staff.csv lists six.
LOGGED_STAFF = 3
STAFF_SUBJECTS = ("reading", "reading", "reading;math", "math", "behavior", "reading;behavior")
STAFF_SLOTS = ("8:00", "8:45", "9:30", "10:15", "11:00", "11:45", "12:30", "1:15", "2:00", "2:45")
# Groups a person runs at most, unless the intervention log already gives them more (then
# as many as the log's groups: a school staffs the groups it runs); from the eleventh group
# on, slots are on other days.
MAX_GROUPS = 10
SLOT_DAYS = ("", "Tue/Thu ", "Fri ")


def _staff_member(school_index: int, k: int) -> str:
    """The k-th interventionist of the school_index-th school (schools overlap by three)."""
    return INTERVENTIONISTS[(school_index * LOGGED_STAFF + k) % len(INTERVENTIONISTS)]


def logged_staff(students: pd.DataFrame) -> dict[str, list[str]]:
    """School id -> the interventionists the intervention log names at that school."""
    return {
        school_id: [_staff_member(s_idx, k) for k in range(LOGGED_STAFF)]
        for s_idx, school_id in enumerate(sorted(students["school_id"].unique()))
    }


def staff_table(students: pd.DataFrame, log: pd.DataFrame | None = None) -> pd.DataFrame:
    """``staff.csv``: six interventionists per school with capacity and time slots.

    The first three are the names the intervention log already uses at that school; each
    can run at least the groups the log (``log``: with ``group_id`` and ``interventionist``)
    gives them.
    """
    running: dict[tuple[str, str], int] = {}
    if log is not None and len(log):
        schools = students[["student_id", "school_id"]]
        counts = log.merge(schools, on="student_id").groupby(["school_id", "interventionist"])
        running = counts["group_id"].nunique().to_dict()
    rows = []
    for s_idx, school_id in enumerate(sorted(students["school_id"].unique())):
        for k, subjects in enumerate(STAFF_SUBJECTS):
            name = _staff_member(s_idx, k)
            groups = max(MAX_GROUPS, running.get((school_id, name), 0))
            rows.append(
                {
                    "school_id": school_id,
                    "interventionist": name,
                    "subjects": subjects,
                    "max_groups": groups,
                    "max_students": 4 * groups,
                    "slots": ";".join(_slots(groups)),
                }
            )
    return pd.DataFrame(rows)


def _slots(groups: int) -> list[str]:
    """``groups`` time slots: the day's times, then the same times on other days."""
    times = [day + time for day in SLOT_DAYS for time in STAFF_SLOTS]
    return times[: max(MAX_GROUPS, min(groups, len(times)))]


def hash_index(text: str, modulo: int) -> int:
    """A stable (not salted, unlike ``hash``) index from a string."""
    return sum(ord(ch) * (k + 1) for k, ch in enumerate(text)) % modulo
