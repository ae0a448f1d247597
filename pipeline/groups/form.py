"""Intervention groups: who meets with whom, and with which interventionist.

Per school, the Tier 2 and Tier 3 students of ``tiers`` are grouped so that every group
has one subject, one tier, one skill focus, grades within the configured band (same
grade by default) and a size within its tier's range (Tier 2: 3-5, Tier 3: 1-3), and so
that no interventionist runs more groups or sees more students than their capacity.

The optimizer is an integer program solved exactly by HiGHS (``scipy.optimize.milp``).
Students of one cell (subject x tier x focus) and grade are interchangeable for the
constraints, so the program counts instead of naming: ``y[b, j, k]`` groups of size
``k`` in grade band ``b`` run by interventionist ``j``, and ``s[b, g, j]`` students of
grade ``g`` in them. The objectives are solved one after another, each optimum fixed
before the next (lexicographic):

1. serve as many Tier 3 students as possible, then as many students as possible;
2. fewest groups;
3. fewest undersized groups (below the tier's minimum, only when a cell is too small
   and ``grouping.undersized`` is ``group``);
4. balanced sizes (least sum of squared sizes).

Then, within each cell and grade, the students are named: the neediest (lowest focus
score) are served first, and the served are cut into groups of the chosen sizes in
score order, the order of sizes chosen to give the least total score range (for one
measure, contiguous blocks of the sorted scores are optimal). Everything is sorted by
value before it reaches the solver, so the same students give the same groups whatever
the row order. Students who cannot be placed are returned as unserved, with the reason.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from pipeline.config import DistrictConfig, Grouping
from pipeline.contract import STAFF
from pipeline.errors import InputError
from pipeline.rules.tiers import DIAGNOSTIC, FOCUS_LABELS

STAFF_COLUMNS = STAFF.required
STAFF_OPTIONAL = STAFF.optional
GROUP_COLUMNS = [
    "group_id",
    "school_id",
    "subject",
    "tier",
    "focus",
    "grades",
    "grade_min",
    "grade_max",
    "size",
    "student_ids",
    "score_measure",
    "score_min",
    "score_max",
    "score_range",
    "interventionist",
    "slot",
    "undersized",
    "note",
]
UNSERVED_COLUMNS = ["student_id", "school_id", "subject", "grade", "tier", "focus", "reason"]


class StaffError(InputError):
    """``staff.csv`` holds a row that cannot be used; the message names row and value."""


@dataclass(frozen=True)
class Staff:
    """One interventionist at one school and their capacity."""

    school_id: str
    name: str
    subjects: tuple[str, ...]
    max_groups: int
    max_students: int
    slots: tuple[str, ...] = ()

    @property
    def group_capacity(self) -> int:
        return min(self.max_groups, len(self.slots)) if self.slots else self.max_groups


def _split(text: object) -> tuple[str, ...]:
    if text is None or pd.isna(text):
        return ()
    parts = str(text).replace(",", ";").replace("|", ";").split(";")
    return tuple(p.strip() for p in parts if p.strip())


def validate_staff(frame: pd.DataFrame, file: str, config: DistrictConfig) -> pd.DataFrame:
    """Type ``staff.csv`` (read as text); raise :class:`StaffError` naming row and value.

    Columns: school_id, interventionist, subjects ("reading;math"), and optional
    max_groups, max_students (blank: ``grouping`` defaults) and slots ("Mon 9:00;Tue 9:00").
    """
    missing = [c for c in STAFF_COLUMNS if c not in frame.columns]
    if missing:
        raise StaffError(file, f"missing column(s) {', '.join(missing)}")
    out = frame.copy()
    for column in STAFF_OPTIONAL:
        if column not in out.columns:
            out[column] = pd.NA
    for column in (*STAFF_COLUMNS, *STAFF_OPTIONAL):
        out[column] = out[column].astype("string").str.strip()

    def fail(bad: pd.Series, column: str, why: str) -> None:
        if bad.any():
            first = int(bad.to_numpy().argmax())
            raise StaffError(file, why, column, first + 2, out[column].iloc[first])

    for column in ("school_id", "interventionist"):
        fail(out[column].isna() | out[column].eq(""), column, "is blank (required)")
    subjects = [_split(text) for text in out["subjects"]]
    fail(
        pd.Series(
            [not s or any(x not in ("reading", "math", "behavior") for x in s) for s in subjects],
            index=out.index,
        ),
        "subjects",
        "must list subjects from reading, math, behavior (separated by ';')",
    )
    g = config.grouping
    for column, default in (("max_groups", g.max_groups), ("max_students", g.max_students)):
        number = pd.to_numeric(out[column], errors="coerce")
        blank = out[column].isna() | out[column].eq("")
        fail(
            ~blank & (number.isna() | number.lt(0) | (number % 1).ne(0)),
            column,
            "is not a whole number of 0 or more",
        )
        out[column] = number.where(~blank, default).astype(int)
    fail(
        out.duplicated(["school_id", "interventionist"]),
        "interventionist",
        "is listed twice for the same school",
    )
    return out.assign(
        subjects=[";".join(s) for s in subjects],
        slots=[";".join(_split(text)) for text in out["slots"]],
    )


def staff_for_schools(
    staff: pd.DataFrame | None, school_ids: list[str], config: DistrictConfig
) -> list[Staff]:
    """Interventionists per school: the validated ``staff.csv`` rows, or ``default_staff``."""
    g = config.grouping
    if staff is None:
        return [
            Staff(
                school_id=str(school),
                name=d.interventionist,
                subjects=tuple(d.subjects),
                max_groups=g.max_groups if d.max_groups is None else d.max_groups,
                max_students=g.max_students if d.max_students is None else d.max_students,
                slots=tuple(d.slots),
            )
            for school in sorted(school_ids)
            for d in g.default_staff
        ]
    return [
        Staff(
            school_id=str(r.school_id),
            name=str(r.interventionist),
            subjects=_split(r.subjects),
            max_groups=int(r.max_groups),
            max_students=int(r.max_students),
            slots=_split(r.slots),
        )
        for r in staff.sort_values(["school_id", "interventionist"]).itertuples(index=False)
    ]


def grade_bands(grades: list[int], width: int) -> list[tuple[int, ...]]:
    """Maximal sets of present grades that may share a group (span at most ``width``)."""
    return list(_bands(tuple(sorted(set(grades))), width))


@cache
def _bands(present: tuple[int, ...], width: int) -> tuple[tuple[int, ...], ...]:
    bands = {tuple(g for g in present if start <= g <= start + width) for start in present}
    return tuple(sorted(b for b in bands if not any(set(b) < set(other) for other in bands)))


@dataclass
class Solution:
    """Counts chosen by the integer program for one school."""

    groups: dict[tuple, dict[int, int]]  # (cell, band, staff) -> {size: number of groups}
    students: dict[tuple, int]  # (cell, band, grade, staff) -> students


class _Rows:
    """Constraint rows of the integer program, kept as index and value lists."""

    def __init__(self) -> None:
        self.cols: list[list[int]] = []
        self.vals: list[list[float]] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], vals: list[float], lo: float, hi: float) -> None:
        self.cols.append(cols)
        self.vals.append(vals)
        self.lo.append(lo)
        self.hi.append(hi)

    def constraint(self, n_var: int) -> LinearConstraint:
        lengths = [len(c) for c in self.cols]
        r = np.repeat(np.arange(len(self.cols)), lengths)
        cidx = np.fromiter((i for c in self.cols for i in c), dtype=np.int64, count=sum(lengths))
        data = np.fromiter((v for vs in self.vals for v in vs), dtype=float, count=sum(lengths))
        matrix = coo_array((data, (r, cidx)), shape=(len(self.cols), n_var)).tocsr()
        return LinearConstraint(matrix, np.array(self.lo), np.array(self.hi))


# Solver settings for the stages whose optimal value, not solution, is used: measured
# fastest on schools of 500 and 2,500 students (without presolve the second stage is
# faster on the large ones but slower on the small). The feasibility-jump heuristic is
# a HiGHS option that scipy passes on verbatim (with a warning, silenced here).
_VALUE_ONLY_OPTIONS: dict[str, dict] = {
    "served": {"mip_heuristic_run_feasibility_jump": False},
    "groups": {"mip_heuristic_run_feasibility_jump": False},
}
_HIGHS_ONLY = {"mip_heuristic_run_feasibility_jump"}
# From this many students needing support in a school, the "groups" stage solves faster
# without presolve (measured: 100 schools of about 310 such students, 5.3 s with presolve
# against 12.4 s without; 397 schools of about 1,600, 11.6 s against 8.6 s). Its optimal
# value is the same either way, and it is all that stage passes on.
PRESOLVE_GROUPS_BELOW = 1000


def _milp(c: np.ndarray, options: dict, **kwargs):
    """``scipy.optimize.milp``, passing the HiGHS-only options where HiGHS has them."""
    if _HIGHS_ONLY.isdisjoint(options):
        return milp(c, options=options, **kwargs)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
            return milp(c, options=dict(options), **kwargs)
    except AttributeError:  # a HiGHS without the option: solve without it
        plain = {k: v for k, v in options.items() if k not in _HIGHS_ONLY}
        return milp(c, options=plain, **kwargs)


def _solve_counts(
    cells: dict[tuple, dict[int, int]],
    staff: list[Staff],
    grouping: Grouping,
    time_limit: float,
) -> Solution:
    """The lexicographic integer program of the module docstring, for one school.

    Only the last stage's solution is used; the earlier stages only fix their optimal
    values. So the first two (most Tier 3 served, then most served) are one solve of
    the exactly equivalent weighted objective, and the last stage sees the same model
    (rows, order, coefficients) as when each stage was solved on its own.
    """
    var_hi: list[float] = []
    y_index: dict[tuple, int] = {}
    s_index: dict[tuple, int] = {}
    rows = _Rows()
    s_by_cell_grade: dict[tuple, list[int]] = {}
    y_by_staff: dict[int, list[int]] = {}
    s_by_staff: dict[int, list[int]] = {}
    served3: list[int] = []
    undersized: list[int] = []
    squares: list[float] = []

    for cell in sorted(cells):
        subject, tier, _focus = cell
        size = grouping.sizes[tier]
        smallest = 1 if grouping.undersized == "group" else size.min
        by_grade = cells[cell]
        for band in _bands(tuple(sorted(by_grade)), grouping.grade_band):
            band_n = sum(by_grade[g] for g in band)
            if band_n < smallest:
                continue  # no group size fits: no variables, no row
            for j, person in enumerate(staff):
                if subject not in person.subjects or person.group_capacity == 0:
                    continue
                link_cols: list[int] = []
                link_vals: list[float] = []
                for k in range(smallest, min(size.max, band_n) + 1):
                    idx = len(var_hi)
                    var_hi.append(float(band_n // k))
                    y_index[(cell, band, j, k)] = idx
                    link_cols.append(idx)
                    link_vals.append(float(k))
                    y_by_staff.setdefault(j, []).append(idx)
                    squares.append(float(k * k))
                    if k < size.min:
                        undersized.append(idx)
                for g in band:
                    idx = len(var_hi)
                    var_hi.append(float(by_grade[g]))
                    s_index[(cell, band, g, j)] = idx
                    link_cols.append(idx)
                    link_vals.append(-1.0)
                    s_by_cell_grade.setdefault((cell, g), []).append(idx)
                    s_by_staff.setdefault(j, []).append(idx)
                    if tier == 3:
                        served3.append(idx)
                rows.add(link_cols, link_vals, 0.0, 0.0)  # students in the groups = sizes
    if not s_index:
        return Solution({}, {})
    for cell in sorted(cells):
        for g, n in sorted(cells[cell].items()):
            members = s_by_cell_grade.get((cell, g))
            if members:
                rows.add(members, [1.0] * len(members), 0.0, float(n))
    for j, person in enumerate(staff):
        if j in y_by_staff:
            rows.add(y_by_staff[j], [1.0] * len(y_by_staff[j]), 0.0, float(person.group_capacity))
            rows.add(s_by_staff[j], [1.0] * len(s_by_staff[j]), 0.0, float(person.max_students))

    n_var = len(var_hi)
    served = list(s_index.values())
    y_vars = list(y_index.values())
    # Fewest groups, then fewest undersized, folded into one exact integer objective: a
    # group outweighs every possible undersized group (there are at most N of them).
    # Likewise a Tier 3 student outweighs every other student served.
    n_students = sum(n for by_grade in cells.values() for n in by_grade.values())
    weight = float(n_students + 1)
    second = dict.fromkeys(y_vars, weight)
    for i in undersized:
        second[i] += 1.0
    bounds = Bounds(np.zeros(n_var), np.array(var_hi))
    integrality = np.ones(n_var)

    def solve(cols: list[int], vals: list[float], value_only: str = "") -> np.ndarray:
        c = np.zeros(n_var)
        np.add.at(c, np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=float))
        options = {"time_limit": time_limit, "mip_rel_gap": 0.0, "presolve": True}
        if value_only:  # any exact optimum will do: tune for speed
            options.update(_VALUE_ONLY_OPTIONS[value_only])
            if value_only == "groups" and n_students >= PRESOLVE_GROUPS_BELOW:
                options["presolve"] = False
        result = _milp(
            c,
            constraints=rows.constraint(n_var),
            integrality=integrality,
            bounds=bounds,
            options=options,
        )
        if result.x is None:
            raise RuntimeError(f"grouping: the solver found no solution ({result.message})")
        return np.round(result.x)

    # 1. most Tier 3 students served, then most students served (one weighted solve)
    x = solve(served + served3, [-1.0] * len(served) + [-weight] * len(served3), "served")
    if served3:
        best = float(x[served3].sum())
        rows.add(served3, [1.0] * len(served3), best, best)
    best = float(x[served].sum())
    rows.add(served, [1.0] * len(served), best, best)
    # 2. fewest groups, then fewest undersized
    second_cols, second_vals = list(second), list(second.values())
    x = solve(second_cols, second_vals, "groups")
    best = float(np.dot(x[second_cols], second_vals))
    rows.add(second_cols, second_vals, best, best)
    # 3. balanced sizes: this stage's solution is the one used
    x = solve(y_vars, squares)
    groups: dict[tuple, dict[int, int]] = {}
    for (cell, band, j, k), i in y_index.items():
        if x[i] > 0:
            groups.setdefault((cell, band, j), {})[k] = int(x[i])
    students = {key: int(x[i]) for key, i in s_index.items() if x[i] > 0}
    return Solution(groups, students)


def _best_order(scores: tuple[float, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Order of group sizes that cuts sorted ``scores`` into blocks of least total range."""
    counts = tuple(sorted(set(sizes)))
    start_state = tuple(sizes.count(k) for k in counts)

    @cache
    def best(pos: int, state: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        if pos == len(scores) or not any(state):
            return 0.0, ()
        options = []
        for idx, k in enumerate(counts):
            if state[idx]:
                block = scores[pos : pos + k]
                rest = state[:idx] + (state[idx] - 1,) + state[idx + 1 :]
                cost, order = best(pos + k, rest)
                options.append((cost + (max(block) - min(block)), (k, *order)))
        return min(options)

    return best(0, start_state)[1]


def m_label(measure: str) -> str:
    """Short measure names for score ranges ("dibels8_nwf_cls" -> "NWF-CLS")."""
    return _SHORT.get(measure, measure)


_SHORT: dict[str, str] = {}


def _grades_text(grades: list[int]) -> str:
    word = {-1: "PK", 0: "K"}
    names = [word.get(g, str(g)) for g in grades]
    return names[0] if len(names) == 1 else f"{names[0]}-{names[-1]}"


def _assign_slots(records: list[dict], staff: list[Staff]) -> None:
    """Give each group a free slot of its interventionist, avoiding a student's other groups.

    Greedy in group-id order (``records`` are one school's groups, updated in place). A
    clash that cannot be avoided is written into ``note``, never hidden.
    """
    slots = {p.name: list(p.slots) for p in staff}
    taken: dict[str, set[str]] = {}
    student_slots: dict[str, set[str]] = {}
    for row in sorted(records, key=lambda r: r["group_id"]):
        mine = slots.get(row["interventionist"], [])
        if not mine:
            continue
        used = taken.setdefault(row["interventionist"], set())
        free = [s for s in mine if s not in used]
        busy = set().union(*(student_slots.get(sid, ()) for sid in row["student_ids"]))
        clear = [s for s in free if s not in busy]
        slot = (clear or free or [""])[0]
        if slot and not clear:
            note = row["note"]
            row["note"] = (
                note + " " if note else ""
            ) + f"Slot clash: a member has another group at {slot}."
        used.add(slot)
        for sid in row["student_ids"]:
            student_slots.setdefault(sid, set()).add(slot)
        row["slot"] = slot


class _Candidates:
    """The Tier 2/3 rows of every school, sorted once for naming the groups' members.

    Sorted by school, subject, tier, focus, grade, then neediest first (measure rank,
    focus score, student id): each (school, cell, grade) run is the queue from which
    the served are taken front first.
    """

    def __init__(self, need: pd.DataFrame, measure_order: dict[str, int]) -> None:
        self.need = need
        school, self.schools = pd.factorize(need["school_id"], sort=True)
        subject, subjects = pd.factorize(need["subject"], sort=True)
        focus, foci = pd.factorize(need["focus"], sort=True)
        student, _ = pd.factorize(need["student_id"], sort=True)
        self.tier = need["tier"].astype(int).to_numpy()
        self.grade = need["grade"].astype(int).to_numpy()
        rank = need["focus_measure"].map(measure_order).fillna(len(measure_order))
        score = need["focus_score"].to_numpy(dtype=float)
        order = np.lexsort(
            (
                student,
                score,
                rank.to_numpy(dtype=float),
                self.grade,
                focus,
                self.tier,
                subject,
                school,
            )
        )
        self.order = order
        keys = (school[order], subject[order], self.tier[order], focus[order], self.grade[order])
        change = np.zeros(len(order), dtype=bool)
        change[0] = True
        for key in keys:
            change[1:] |= key[1:] != key[:-1]
        self.starts = np.flatnonzero(change)
        self.counts = np.diff(np.append(self.starts, len(order)))
        # Run-level keys as Python values, and the sorted rows' values for naming.
        first = order[self.starts]
        self.run_school = school[first].tolist()
        self.run_subject = subjects.to_numpy(dtype=object)[subject[first]].tolist()
        self.run_tier = self.tier[first].tolist()
        self.run_focus = foci.to_numpy(dtype=object)[focus[first]].tolist()
        self.run_grade = self.grade[first].tolist()
        self.rank = rank.to_numpy(dtype=float)[order]
        self.score = score[order]
        self.sorted_grade = self.grade[order]
        self.student_id = need["student_id"].to_numpy(dtype=object)[order]
        self.measure = need["focus_measure"].to_numpy(dtype=object)[order]
        self.school = school
        # need is sorted by school, subject, student: a student's rows in one subject
        # (only if the input repeats them) are adjacent.
        same = (school[1:] == school[:-1]) & (subject[1:] == subject[:-1])
        self.repeated = same & (student[1:] == student[:-1])

    def unserved(self, taken: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
        """The rows not taken from their queue's front (``taken`` per run), with reasons."""
        n = len(self.order)
        run_of = np.repeat(np.arange(len(self.starts)), self.counts)
        served = np.empty(n, dtype=bool)
        served[self.order] = np.arange(n) - self.starts[run_of] < taken[run_of]
        if self.repeated.any():  # placed once in a subject is served in it
            first = np.flatnonzero(np.append(True, ~self.repeated))
            served = np.repeat(np.maximum.reduceat(served, first), np.diff(np.append(first, n)))
        reason = np.empty(n, dtype=object)
        reason[self.order] = reasons[run_of]
        left = ~served
        need = self.need
        frame = pd.DataFrame(
            {
                "student_id": need["student_id"],
                "school_id": need["school_id"],
                "subject": need["subject"],
                "grade": self.grade,
                "tier": self.tier,
                "focus": need["focus"],
            }
        )
        out = frame[left].assign(reason=reason[left])
        if (np.bincount(self.school[left], minlength=len(self.schools)) == 0).any():
            # as concatenating the empty table of a school with no one unserved would
            out = pd.concat([out, pd.DataFrame(columns=UNSERVED_COLUMNS)], ignore_index=True)
        return out

    def by_school(self):
        """Per school, in school-id order: (school_id, cells, {(cell, grade): run})."""
        runs = len(self.starts)
        begin = 0
        while begin < runs:
            school = self.run_school[begin]
            end = begin
            cells: dict[tuple, dict[int, int]] = {}
            index: dict[tuple, int] = {}
            while end < runs and self.run_school[end] == school:
                cell = (self.run_subject[end], self.run_tier[end], self.run_focus[end])
                grade = self.run_grade[end]
                cells.setdefault(cell, {})[grade] = int(self.counts[end])
                index[(cell, grade)] = end
                end += 1
            yield str(self.schools[school]), cells, index
            begin = end

    def members(self, positions: list[int]) -> list[tuple]:
        """(measure_rank, focus_score, grade, student_id, focus_measure) of sorted rows."""
        at = np.asarray(positions, dtype=np.int64)
        return list(
            zip(
                self.rank[at].tolist(),
                self.score[at].tolist(),
                self.sorted_grade[at].tolist(),
                self.student_id[at].tolist(),
                self.measure[at].tolist(),
                strict=True,
            )
        )


def _name_groups(
    school_id: str,
    table: _Candidates,
    index: dict[tuple, int],
    solution: Solution,
    staff: list[Staff],
    grouping: Grouping,
) -> tuple[list[dict], dict[int, int]]:
    """Name the students of each counted group: the records, and students taken per run."""
    records: list[dict] = []
    taken: dict[int, int] = {}  # run -> students taken from its front
    labels = {"reading": "R", "math": "M", "behavior": "B"}
    by_cell: dict[tuple, list[tuple]] = {}
    for entry in sorted(solution.groups):
        by_cell.setdefault(entry[0], []).append(entry)
    for cell, entries in by_cell.items():
        subject, tier, focus = cell
        minimum = grouping.sizes[tier].min
        # Neediest first: each grade's queue hands students to its bands in band order.
        block_no = 0
        for band in sorted({e[1] for e in entries}):
            positions: list[int] = []
            sizes: list[tuple[int, int]] = []  # (size, staff index)
            for _cell, b, j in entries:
                if b != band:
                    continue
                for g in band:
                    run = index[(cell, g)]
                    done = taken.get(run, 0)
                    take = min(
                        solution.students.get((cell, band, g, j), 0), table.counts[run] - done
                    )
                    start = int(table.starts[run]) + done
                    positions.extend(range(start, start + take))
                    taken[run] = done + take
                for k, count in sorted(solution.groups[(cell, band, j)].items()):
                    sizes.extend([(k, j)] * count)
            pool = sorted(table.members(positions), key=lambda m: m[:4])
            order = _best_order(tuple(m[1] for m in pool), tuple(s for s, _ in sizes))
            owners = {k: sorted(j for s, j in sizes if s == k) for k in {s for s, _ in sizes}}
            pos = 0
            for k in order:
                j = owners[k].pop(0)
                block = pool[pos : pos + k]
                pos += k
                block_no += 1
                grades = sorted({m[2] for m in block})
                measures = list(dict.fromkeys(m[4] for m in block))
                score_bits = []
                for measure in measures:
                    vals = [m[1] for m in block if m[4] == measure]
                    lo, hi = min(vals), max(vals)
                    span = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
                    score_bits.append(f"{m_label(measure)} {span}")
                scores = [m[1] for m in block]
                records.append(
                    {
                        "group_id": f"{school_id}-{labels[subject]}{tier}-{focus}-"
                        f"g{'-'.join(map(str, dict.fromkeys([grades[0], grades[-1]])))}"
                        f"-{block_no}",
                        "school_id": school_id,
                        "subject": subject,
                        "tier": int(tier),
                        "focus": focus,
                        "grades": _grades_text(grades),
                        "grade_min": grades[0],
                        "grade_max": grades[-1],
                        "size": k,
                        "student_ids": [str(m[3]) for m in block],
                        "score_measure": ", ".join(str(m) for m in measures),
                        "score_min": min(scores),
                        "score_max": max(scores),
                        "score_range": "; ".join(score_bits),
                        "interventionist": staff[j].name,
                        "slot": "",
                        "undersized": k < minimum,
                        "note": " ".join(
                            text
                            for text, applies in (
                                (
                                    f"Below the Tier {tier} minimum of {minimum}: no other "
                                    "student shares this tier, focus and grade band.",
                                    k < minimum,
                                ),
                                (
                                    "Skill not known from the screening: start with a diagnostic.",
                                    focus == DIAGNOSTIC,
                                ),
                            )
                            if applies
                        ),
                    }
                )
    return records, taken


def _unserved_reasons(
    cells: dict[tuple, dict[int, int]],
    records: list[dict],
    staff: list[Staff],
    grouping: Grouping,
) -> dict[tuple, str]:
    """Why the unserved of each (cell, grade) of one school could not be placed."""
    load_groups: dict[str, int] = {}
    load_students: dict[str, int] = {}
    for r in records:
        load_groups[r["interventionist"]] = load_groups.get(r["interventionist"], 0) + 1
        load_students[r["interventionist"]] = load_students.get(r["interventionist"], 0) + r["size"]
    people_of: dict[str, list[Staff]] = {}
    room: dict[tuple, bool] = {}  # (subject, tier) -> someone could take another group
    reasons: dict[tuple, str] = {}
    for cell, by_grade in cells.items():
        subject, tier, focus = cell
        if subject not in people_of:
            people_of[subject] = [
                p for p in staff if subject in p.subjects and p.group_capacity > 0
            ]
        people = people_of[subject]
        size = grouping.sizes[tier]
        if (subject, tier) not in room:
            room[(subject, tier)] = any(
                load_groups.get(p.name, 0) < p.group_capacity
                and load_students.get(p.name, 0) + size.min <= p.max_students
                for p in people
            )
        bands = _bands(tuple(sorted(by_grade)), grouping.grade_band)
        for grade in by_grade:
            pool = max(sum(by_grade[g] for g in b) for b in bands if grade in b)
            if not people:
                reason = f"No interventionist at this school teaches {subject}"
            elif (grouping.undersized == "unserved" and pool < size.min) or room[(subject, tier)]:
                reason = (
                    f"No valid group: {pool} Tier {tier} student(s) in this grade band need "
                    f"{FOCUS_LABELS.get(focus, focus).lower()}, and a group needs "
                    f"{size.min}-{size.max}"
                )
            else:
                full = ", ".join(
                    f"{p.name} {load_groups.get(p.name, 0)}/{p.group_capacity} groups, "
                    f"{load_students.get(p.name, 0)}/{p.max_students} students"
                    for p in people
                )
                reason = f"Interventionist capacity is used up ({full})"
            reasons[(cell, grade)] = reason
    return reasons


# Schools per worker process below which starting the pool costs more than it saves
# (a worker takes 1-3 s to start; a state-scale school about 0.1 s to solve).
SCHOOLS_PER_WORKER = 32


def _worker_count(workers: int | None, schools: int) -> int:
    if multiprocessing.current_process().daemon:
        return 1  # a daemonic pool worker may not start processes of its own
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        workers = min(cores or 1, schools // SCHOOLS_PER_WORKER)
    return max(1, min(workers, schools))


def worker_context(preload: list[str]):
    """The multiprocessing context for worker pools: forkserver where there is one (its
    server imports ``preload`` once, never the caller's script, the default), else spawn.

    A process has one forkserver, set up by the first pool started: every caller passes
    the modules of all its pools' workers."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


def _start_pool(count: int) -> ProcessPoolExecutor | None:
    """``count`` worker processes, started in the background while the caller goes on."""
    if count <= 1:
        return None
    pool = ProcessPoolExecutor(count, mp_context=worker_context([__name__]))
    # A worker starts on a submit, which waits for it: submit from a thread.
    threading.Thread(target=lambda: [pool.submit(int) for _ in range(count)], daemon=True).start()
    return pool


def _solve_batch(tasks: list[tuple], grouping: Grouping) -> list[Solution]:
    return [
        _solve_counts(cells, staff, grouping, grouping.time_limit_seconds) for cells, staff in tasks
    ]


def _solutions(
    tasks: list[tuple], grouping: Grouping, pool: ProcessPoolExecutor | None, workers: int
) -> Iterator[Solution]:
    """Each school's solution, in school order, from the worker processes if there are.

    A school's solve depends on nothing but its own counts and staff, so where it runs
    cannot change its result.
    """
    if pool is None:
        for task in tasks:
            yield from _solve_batch([task], grouping)
        return
    size = max(1, -(-len(tasks) // (4 * workers)))
    batches = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    done = 0
    try:
        for solved in pool.map(_solve_batch, batches, itertools.repeat(grouping)):
            yield from solved
            done += len(solved)
    except BrokenProcessPool:
        # A worker died or could not start (e.g. the caller's script, which workers
        # import, has no ``if __name__ == "__main__":``): solve the rest here.
        for task in tasks[done:]:
            yield from _solve_batch([task], grouping)


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


def form_groups(
    tiers: pd.DataFrame,
    config: DistrictConfig,
    staff: pd.DataFrame | None = None,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups (``groups.parquet``) and the unserved list (``unserved.parquet``) for a term.

    ``tiers`` is :func:`pipeline.rules.tiers.assign_tiers`'s output; ``staff`` the validated
    ``staff.csv`` (:func:`validate_staff`) or ``None`` for ``grouping.default_staff``.
    ``workers``: processes solving schools at once (``None``: one per core when there
    are enough schools to repay starting them; 1: none). The result does not depend on it.
    """
    _SHORT.update({n: m.name_in_text for n, m in config.measures.items()})
    need = tiers[tiers["tier"].isin([2, 3])].copy()
    need["focus"] = need["focus"].fillna("needs_diagnostic").astype(str)
    need["focus_measure"] = need["focus_measure"].fillna(need["measure"]).astype(str)
    need["focus_score"] = need["focus_score"].astype(float).fillna(need["score"].astype(float))
    need["focus_score"] = need["focus_score"].fillna(0.0)
    need["student_id"] = need["student_id"].astype(str)
    need["school_id"] = need["school_id"].astype(str)
    need = need[
        [
            "student_id",
            "school_id",
            "subject",
            "grade",
            "tier",
            "focus",
            "focus_measure",
            "focus_score",
        ]
    ]
    if need.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS), pd.DataFrame(columns=UNSERVED_COLUMNS)
    count = _worker_count(workers, need["school_id"].nunique())
    pool = _start_pool(count)
    try:
        return _form_groups(need, config, staff, pool, count)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _form_groups(
    need: pd.DataFrame,
    config: DistrictConfig,
    staff: pd.DataFrame | None,
    pool: ProcessPoolExecutor | None,
    workers: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`form_groups` once the Tier 2/3 rows are typed (``need``)."""
    # Sort by value so the row order of the input cannot matter.
    need = need.sort_values(["school_id", "subject", "student_id"]).reset_index(drop=True)
    people = staff_for_schools(staff, sorted(need["school_id"].unique()), config)
    staff_of: dict[str, list[Staff]] = {}
    for person in people:
        staff_of.setdefault(person.school_id, []).append(person)
    grouping = config.grouping
    table = _Candidates(need, {n: k for k, n in enumerate(config.measures)})
    schools = list(table.by_school())
    tasks = [(cells, staff_of.get(school_id, [])) for school_id, cells, _ in schools]
    runs = len(table.starts)
    taken = np.zeros(runs, dtype=np.int64)
    reasons = np.empty(runs, dtype=object)
    records: list[dict] = []
    school_without_groups = False
    for (school_id, cells, index), (_, mine), solution in zip(
        schools, tasks, _solutions(tasks, grouping, pool, workers), strict=True
    ):
        named, took = _name_groups(school_id, table, index, solution, mine, grouping)
        _assign_slots(named, mine)
        records.extend(named)
        school_without_groups |= not named
        for run, n in took.items():
            taken[run] = n
        for key, reason in _unserved_reasons(cells, named, mine, grouping).items():
            reasons[index[key]] = reason
    groups = pd.DataFrame(records, columns=GROUP_COLUMNS)
    if school_without_groups:  # as concatenating that school's empty table would
        groups = pd.concat([groups, pd.DataFrame(columns=GROUP_COLUMNS)], ignore_index=True)
    unserved = table.unserved(taken, reasons)
    return groups.reset_index(drop=True), unserved.reset_index(drop=True)
