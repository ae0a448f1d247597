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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups (``groups.parquet``) and the unserved list (``unserved.parquet``) for a term.

    ``tiers`` is :func:`pipeline.rules.tiers.assign_tiers`'s output (its
    :data:`GROUP_INPUTS` columns); ``staff`` the validated ``staff.csv``
    (:func:`~pipeline.groups.staff.validate_staff`) or ``None`` for
    ``grouping.default_staff``. ``executor`` (e.g. a ``ProcessPoolExecutor``) solves the
    schools' programmes while this process names the groups; ``None``: solve here. A
    school's solve depends on nothing but its own counts and staff, so the result does
    not depend on where it runs.
    """
    need = _needing_support(tiers)
    if need.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS), pd.DataFrame(columns=UNSERVED_COLUMNS)
    # Sort by value so the row order of the input cannot matter.
    need = need.sort_values(["school_id", "subject", "student_id"]).reset_index(drop=True)
    people = staff_for_schools(staff, sorted(need["school_id"].unique()), config)
    staff_of: dict[str, list[Staff]] = {}
    for person in people:
        staff_of.setdefault(person.school_id, []).append(person)
    table = Candidates(need, {n: k for k, n in enumerate(config.measures)})
    return _group_schools(table, staff_of, config, executor)


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
    config: DistrictConfig,
    executor: Executor | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count each school's groups (in ``executor``), name their members here, in turn."""
    schools = list(table.by_school())
    mine = [staff_of.get(school_id, []) for school_id, _, _ in schools]
    solutions = _solutions([cells for _, cells, _ in schools], mine, config.grouping, executor)
    runs = len(table.starts)
    taken = np.zeros(runs, dtype=np.int64)
    reasons = np.empty(runs, dtype=object)
    records: list[dict] = []
    school_without_groups = False
    for (school_id, cells, index), people, solution in zip(schools, mine, solutions, strict=True):
        named, took = name_groups(school_id, table, index, solution, people, config)
        assign_slots(named, people)
        records.extend(named)
        school_without_groups |= not named
        for run, n in took.items():
            taken[run] = n
        for key, reason in unserved_reasons(cells, named, people, config.grouping).items():
            reasons[index[key]] = reason
    groups = pd.DataFrame(records, columns=GROUP_COLUMNS)
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
