"""Intervention groups: who meets with whom, and with which interventionist.

Per school, the Tier 2 and Tier 3 students of ``tiers`` are grouped so that every group
has one subject, one tier, one skill focus, grades within the configured band (same
grade by default) and a size within its tier's range (Tier 2: 3-5, Tier 3: 1-3), and so
that no interventionist runs more groups or sees more students than their capacity.

Three steps, one module each: :mod:`~pipeline.groups.staff` reads who can run groups;
:mod:`~pipeline.groups.model` counts, per school, how many groups of which size each
interventionist runs (an integer programme solved exactly, lexicographically: most
served, fewest groups, fewest undersized, balanced sizes); :mod:`~pipeline.groups.members`
names the students of each counted group, neediest first, in blocks of least score
range, and says why the rest are unserved. Everything is sorted by value before it
reaches the solver, so the same students give the same groups whatever the row order.

Running groups come first (:mod:`~pipeline.groups.running`): students enrolled in the term
keep their program and group unless their progress decision says change, their groups
(``status`` "continuing") take their interventionist's capacity and slots, and only what
is left is given to new groups (``status`` "new") of the students still to be placed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import Executor

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig, Grouping
from pipeline.groups.members import (
    GROUP_COLUMNS,
    UNSERVED_COLUMNS,
    Candidates,
    assign_slots,
    name_groups,
    unserved_reasons,
)
from pipeline.groups.model import Solution, solve_counts
from pipeline.groups.running import (
    ENROLLED_COLUMNS,
    capacity_left,
    continuing_groups,
    over_capacity,
)
from pipeline.groups.staff import Staff, staff_for_schools
from pipeline.rules.labels import DIAGNOSTIC

# The columns of the tier table that :func:`form_groups` reads.
GROUP_INPUTS = [
    "student_id",
    "school_id",
    "subject",
    "grade",
    "tier",
    "measure",
    "score",
    "focus",
    "focus_measure",
    "focus_score",
]
# Schools sent to a worker process at once: a school solves in 0.01-0.5 s, and a task
# costs about a millisecond to send and return.
SCHOOLS_PER_TASK = 8


def form_groups(
    tiers: pd.DataFrame,
    config: DistrictConfig,
    staff: pd.DataFrame | None = None,
    executor: Executor | None = None,
    enrolled: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups (``groups.parquet``) and the unserved list (``unserved.parquet``) for a term.

    ``tiers`` is :func:`pipeline.rules.tiers.assign_tiers`'s output (its
    :data:`GROUP_INPUTS` columns); ``staff`` the validated ``staff.csv``
    (:func:`~pipeline.groups.staff.validate_staff`) or ``None`` for
    ``grouping.default_staff``; ``enrolled`` the students enrolled in the term
    (:func:`~pipeline.groups.running.current_enrolments`) or ``None`` for no one.
    ``executor`` (e.g. a ``ProcessPoolExecutor``) solves the schools' programmes while
    this process names the groups; ``None``: solve here. A school's solve depends on
    nothing but its own counts and staff, so the result does not depend on where it runs.
    """
    enrolled = pd.DataFrame(columns=ENROLLED_COLUMNS) if enrolled is None else enrolled
    keep = enrolled[~enrolled["change"].astype(bool)]
    need = _without(_needing_support(tiers), keep)
    schools = sorted(set(need["school_id"]) | set(keep["school_id"].astype(str)))
    if not schools:
        return pd.DataFrame(columns=GROUP_COLUMNS), pd.DataFrame(columns=UNSERVED_COLUMNS)
    # Sort by value so the row order of the input cannot matter.
    need = need.sort_values(["school_id", "subject", "student_id"]).reset_index(drop=True)
    staff_of: dict[str, list[Staff]] = {school: [] for school in schools}
    for person in staff_for_schools(staff, schools, config):
        staff_of.setdefault(person.school_id, []).append(person)
    running = _running_groups(enrolled, tiers, staff_of, config)
    if need.empty:
        records = [r for school in sorted(running) for r in running[school][0]]
        groups = pd.DataFrame(records, columns=GROUP_COLUMNS)
        return groups, pd.DataFrame(columns=UNSERVED_COLUMNS)
    table = Candidates(need, {n: k for k, n in enumerate(config.measures)})
    groups, unserved = _group_schools(table, staff_of, running, config, executor)
    return groups, _with_decisions(unserved, enrolled)


def _without(need: pd.DataFrame, keep: pd.DataFrame) -> pd.DataFrame:
    """``need`` less the students who keep their running group in the subject."""
    kept = pd.MultiIndex.from_arrays([keep["student_id"].astype(str), keep["subject"].astype(str)])
    mine = pd.MultiIndex.from_arrays([need["student_id"], need["subject"].astype(str)])
    return need[~mine.isin(kept)]


def _running_groups(
    enrolled: pd.DataFrame,
    tiers: pd.DataFrame,
    staff_of: dict[str, list[Staff]],
    config: DistrictConfig,
) -> dict[str, tuple[list[dict], dict[str, set[str]]]]:
    """Per school: its continuing groups (slots given, overloads noted) and the slots their
    members now hold."""
    running = {}
    records = continuing_groups(enrolled, tiers, staff_of, config, config.measure_name)
    for school, mine in sorted(records.items()):
        people = staff_of.get(school, [])
        held = assign_slots(mine, people)
        over_capacity(mine, people)
        running[school] = (mine, held)
    return running


def _with_decisions(unserved: pd.DataFrame, enrolled: pd.DataFrame) -> pd.DataFrame:
    """The reason of an unserved student whose progress decision says change starts so."""
    changed = enrolled[enrolled["change"].astype(bool)]
    if changed.empty or unserved.empty:
        return unserved
    was = dict(
        zip(
            zip(changed["student_id"].astype(str), changed["subject"], strict=True),
            changed["program"].astype(str),
            strict=True,
        )
    )
    program = [
        was.get(key) for key in zip(unserved["student_id"], unserved["subject"], strict=True)
    ]
    prefix = [f"Progress decision says change (was in {p}). " if p else "" for p in program]
    return unserved.assign(reason=[a + b for a, b in zip(prefix, unserved["reason"], strict=True)])


def _needing_support(tiers: pd.DataFrame) -> pd.DataFrame:
    """The Tier 2/3 rows, typed; no focus: a diagnostic, on the tier's own measure."""
    need = tiers[tiers["tier"].isin([2, 3])].copy()
    need["focus"] = need["focus"].fillna(DIAGNOSTIC).astype(str)
    need["focus_measure"] = need["focus_measure"].fillna(need["measure"]).astype(str)
    need["focus_score"] = need["focus_score"].astype(float).fillna(need["score"].astype(float))
    need["focus_score"] = need["focus_score"].fillna(0.0)
    need["student_id"] = need["student_id"].astype(str)
    need["school_id"] = need["school_id"].astype(str)
    columns = ["student_id", "school_id", "subject", "grade", "tier", "focus"]
    return need[[*columns, "focus_measure", "focus_score"]]


def _group_schools(
    table: Candidates,
    staff_of: dict[str, list[Staff]],
    running: dict[str, tuple[list[dict], dict[str, set[str]]]],
    config: DistrictConfig,
    executor: Executor | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count each school's new groups (in ``executor``) with the capacity its running
    groups leave, name their members here, in turn."""
    schools = list(table.by_school())
    nothing: tuple[list[dict], dict[str, set[str]]] = ([], {})
    mine = [
        capacity_left(staff_of.get(school_id, []), running.get(school_id, nothing)[0])
        for school_id, _, _ in schools
    ]
    solutions = _solutions([cells for _, cells, _ in schools], mine, config.grouping, executor)
    runs = len(table.starts)
    taken = np.zeros(runs, dtype=np.int64)
    reasons = np.empty(runs, dtype=object)
    records: list[dict] = []
    school_without_groups = False
    for (school_id, cells, index), people, solution in zip(schools, mine, solutions, strict=True):
        continuing, held = running.get(school_id, nothing)
        named, took = name_groups(school_id, table, index, solution, people, config)
        assign_slots(named, people, {sid: set(s) for sid, s in held.items()})
        records.extend(continuing + named)
        school_without_groups |= not (continuing or named)
        for run, n in took.items():
            taken[run] = n
        everyone = staff_of.get(school_id, [])
        load = continuing + named
        for key, reason in unserved_reasons(cells, load, everyone, config.grouping).items():
            reasons[index[key]] = reason
    # Schools whose only groups are running ones (no one left to place).
    placed = {school_id for school_id, _, _ in schools}
    records.extend(
        r for school in sorted(running) if school not in placed for r in running[school][0]
    )
    groups = pd.DataFrame(records, columns=GROUP_COLUMNS)
    groups = groups.sort_values("school_id", kind="stable")
    if school_without_groups:  # as concatenating that school's empty table would
        groups = pd.concat([groups, pd.DataFrame(columns=GROUP_COLUMNS)], ignore_index=True)
    unserved = table.unserved(taken, reasons)
    return groups.reset_index(drop=True), unserved.reset_index(drop=True)


def _solutions(
    cells: list[dict[tuple, dict[int, int]]],
    staff: list[list[Staff]],
    grouping: Grouping,
    executor: Executor | None,
) -> Iterator[Solution]:
    """Each school's solution, in school order, as they are found."""
    if executor is None:
        return map(solve_counts, cells, staff, itertools.repeat(grouping))
    return executor.map(
        solve_counts, cells, staff, itertools.repeat(grouping), chunksize=SCHOOLS_PER_TASK
    )
