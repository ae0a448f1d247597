"""How many groups of which size each interventionist runs: one school's integer programme.

Students of one cell (subject x tier x focus) and grade are interchangeable for the
constraints, so the programme counts instead of naming: ``y[b, j, k]`` groups of size
``k`` in grade band ``b`` run by interventionist ``j``, and ``s[b, g, j]`` students of
grade ``g`` in them. Its rows:

- per (cell, band, j): the students in the groups are the sum of the group sizes;
- per (cell, grade): students served at most once, at most the grade's count;
- per interventionist: at most ``group_capacity`` groups and ``max_students`` students.

The objectives are solved one after another by HiGHS (``scipy.optimize.milp``), each
optimum fixed as a row before the next (lexicographic):

1. serve as many Tier 3 students as possible, then as many students as possible;
2. fewest groups, then fewest undersized groups (below the tier's minimum, only when a
   cell is too small and ``grouping.undersized`` is ``group``);
3. balanced sizes (least sum of squared sizes).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from pipeline.config import Grouping
from pipeline.groups.staff import Staff

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


def grade_bands(grades: list[int], width: int) -> list[tuple[int, ...]]:
    """Maximal sets of present grades that may share a group (span at most ``width``)."""
    return list(bands(tuple(sorted(set(grades))), width))


@cache
def bands(present: tuple[int, ...], width: int) -> tuple[tuple[int, ...], ...]:
    """:func:`grade_bands` of sorted distinct grades, remembered."""
    found = {tuple(g for g in present if start <= g <= start + width) for start in present}
    return tuple(sorted(b for b in found if not any(set(b) < set(other) for other in found)))


@dataclass
class Solution:
    """Counts chosen by the integer programme for one school."""

    groups: dict[tuple, dict[int, int]]  # (cell, band, staff) -> {size: number of groups}
    students: dict[tuple, int]  # (cell, band, grade, staff) -> students


class _Rows:
    """Constraint rows of the integer programme, kept as index and value lists."""

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


@dataclass
class _Model:
    """One school's programme: each variable's upper bound and meaning, and the rows."""

    upper: list[float] = field(default_factory=list)
    groups: dict[tuple, int] = field(default_factory=dict)  # (cell, band, staff, size) -> y
    students: dict[tuple, int] = field(default_factory=dict)  # (cell, band, grade, staff) -> s
    tier3: list[int] = field(default_factory=list)  # the s of Tier 3 cells
    undersized: list[int] = field(default_factory=list)  # the y below the tier's minimum
    rows: _Rows = field(default_factory=_Rows)

    def variable(self, upper: float) -> int:
        self.upper.append(upper)
        return len(self.upper) - 1


def solve_counts(
    cells: dict[tuple, dict[int, int]], staff: list[Staff], grouping: Grouping
) -> Solution:
    """The lexicographic programme of the module docstring for one school, whose ``cells``
    map (subject, tier, focus) to {grade: students}.

    A module-level function of its arguments only, so a process pool can run it and where
    it runs cannot change its result.
    """
    model = _build(cells, staff, grouping)
    if not model.students:
        return Solution({}, {})
    n_students = sum(n for by_grade in cells.values() for n in by_grade.values())
    x = _solve_stages(model, n_students, grouping.time_limit_seconds)
    groups: dict[tuple, dict[int, int]] = {}
    for (cell, band, j, k), i in model.groups.items():
        if x[i] > 0:
            groups.setdefault((cell, band, j), {})[k] = int(x[i])
    students = {key: int(x[i]) for key, i in model.students.items() if x[i] > 0}
    return Solution(groups, students)


def _build(cells: dict[tuple, dict[int, int]], staff: list[Staff], grouping: Grouping) -> _Model:
    """The variables of every group an interventionist could run, then the limit rows."""
    model = _Model()
    for cell in sorted(cells):
        subject, tier, _focus = cell
        size = grouping.sizes[tier]
        smallest = 1 if grouping.undersized == "group" else size.min
        by_grade = cells[cell]
        for band in bands(tuple(sorted(by_grade)), grouping.grade_band):
            band_n = sum(by_grade[g] for g in band)
            if band_n < smallest:
                continue  # no group size fits: no variables, no row
            sizes = range(smallest, min(size.max, band_n) + 1)
            for j, person in enumerate(staff):
                if subject in person.subjects and person.group_capacity > 0:
                    _add_groups(model, cell, band, j, by_grade, sizes, size.min)
    if model.students:
        _add_limits(model, cells, staff)
    return model


def _add_groups(
    model: _Model,
    cell: tuple,
    band: tuple[int, ...],
    j: int,
    by_grade: dict[int, int],
    sizes: range,
    minimum: int,
) -> None:
    """``y`` per size and ``s`` per grade of the groups ``j`` could run in ``band`` of
    ``cell``, and their row: the students in the groups are the sum of the sizes."""
    band_n = sum(by_grade[g] for g in band)
    cols: list[int] = []
    vals: list[float] = []
    for k in sizes:
        i = model.variable(float(band_n // k))
        model.groups[(cell, band, j, k)] = i
        cols.append(i)
        vals.append(float(k))
        if k < minimum:
            model.undersized.append(i)
    for g in band:
        i = model.variable(float(by_grade[g]))
        model.students[(cell, band, g, j)] = i
        cols.append(i)
        vals.append(-1.0)
        if cell[1] == 3:
            model.tier3.append(i)
    model.rows.add(cols, vals, 0.0, 0.0)


def _add_limits(model: _Model, cells: dict[tuple, dict[int, int]], staff: list[Staff]) -> None:
    """Rows: a grade's students are served at most once; each person within capacity."""
    of_grade: dict[tuple, list[int]] = {}
    students_of: dict[int, list[int]] = {}
    groups_of: dict[int, list[int]] = {}
    for (cell, _band, g, j), i in model.students.items():
        of_grade.setdefault((cell, g), []).append(i)
        students_of.setdefault(j, []).append(i)
    for (_cell, _band, j, _k), i in model.groups.items():
        groups_of.setdefault(j, []).append(i)
    for cell in sorted(cells):
        for g, n in sorted(cells[cell].items()):
            members = of_grade.get((cell, g))
            if members:
                model.rows.add(members, [1.0] * len(members), 0.0, float(n))
    for j, person in enumerate(staff):
        if j in groups_of:
            groups, students = groups_of[j], students_of[j]
            model.rows.add(groups, [1.0] * len(groups), 0.0, float(person.group_capacity))
            model.rows.add(students, [1.0] * len(students), 0.0, float(person.max_students))


def _solve_stages(model: _Model, n_students: int, time_limit: float) -> np.ndarray:
    """The three stages, each optimum fixed as a row before the next; the last's solution.

    Only the last stage's solution is used; the earlier stages only fix their optimal
    values. So the first two objectives (most Tier 3 served, then most served) are one
    solve of the exactly equivalent weighted objective, and likewise fewest groups, then
    fewest undersized: a Tier 3 student outweighs every other student served, a group every
    possible undersized group (there are at most N of either). The last stage sees the
    same rows, in the same order, as when each stage is solved on its own.
    """
    served, tier3 = list(model.students.values()), model.tier3
    weight = float(n_students + 1)
    fewer = dict.fromkeys(model.groups.values(), weight)
    for i in model.undersized:
        fewer[i] += 1.0
    # 1. most Tier 3 students served, then most students served (one weighted solve)
    cols, vals = served + tier3, [-1.0] * len(served) + [-weight] * len(tier3)
    x = _solve(model, cols, vals, time_limit, _value_only("served", n_students))
    if tier3:
        _fix(model, x, tier3, [1.0] * len(tier3))
    _fix(model, x, served, [1.0] * len(served))
    # 2. fewest groups, then fewest undersized
    cols, vals = list(fewer), list(fewer.values())
    x = _solve(model, cols, vals, time_limit, _value_only("groups", n_students))
    _fix(model, x, cols, vals)
    # 3. balanced sizes: this stage's solution is the one used
    squares = [float(k * k) for (_cell, _band, _j, k) in model.groups]
    return _solve(model, list(model.groups.values()), squares, time_limit, {})


def _value_only(stage: str, n_students: int) -> dict:
    """Options for a stage whose optimal value, not solution, is passed on: any exact
    optimum will do, so tune for speed."""
    options = dict(_VALUE_ONLY_OPTIONS[stage])
    if stage == "groups" and n_students >= PRESOLVE_GROUPS_BELOW:
        options["presolve"] = False
    return options


def _fix(model: _Model, x: np.ndarray, cols: list[int], vals: list[float]) -> None:
    """A row holding the objective ``vals . x[cols]`` at the optimum just found."""
    best = float(np.dot(x[cols], vals))
    model.rows.add(cols, vals, best, best)


def _solve(
    model: _Model, cols: list[int], vals: list[float], time_limit: float, tuning: dict
) -> np.ndarray:
    """Minimise ``vals . x[cols]`` over the model's rows to proven optimality; rounded x."""
    n_var = len(model.upper)
    c = np.zeros(n_var)
    np.add.at(c, np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=float))
    options = {"time_limit": time_limit, "mip_rel_gap": 0.0, "presolve": True, **tuning}
    result = _milp(
        c,
        constraints=model.rows.constraint(n_var),
        integrality=np.ones(n_var),
        bounds=Bounds(np.zeros(n_var), np.array(model.upper)),
        options=options,
    )
    if result.x is None:
        raise RuntimeError(f"grouping: the solver found no solution ({result.message})")
    return np.round(result.x)


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
