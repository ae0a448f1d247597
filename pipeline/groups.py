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

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from pipeline.config import DistrictConfig, Grouping
from pipeline.schema import STAFF
from pipeline.tiers import DIAGNOSTIC, FOCUS_LABELS, InputRowError

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


class StaffError(InputRowError):
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
    present = sorted(set(grades))
    bands = {tuple(g for g in present if start <= g <= start + width) for start in present}
    return sorted(b for b in bands if not any(set(b) < set(other) for other in bands))


@dataclass
class Solution:
    """Counts chosen by the integer program for one school."""

    groups: dict[tuple, dict[int, int]]  # (cell, band, staff) -> {size: number of groups}
    students: dict[tuple, int]  # (cell, band, grade, staff) -> students


def _solve_counts(
    cells: dict[tuple, dict[int, int]],
    staff: list[Staff],
    grouping: Grouping,
    time_limit: float,
) -> Solution:
    """The lexicographic integer program of the module docstring, for one school."""
    var_lo: list[float] = []
    var_hi: list[float] = []
    y_index: dict[tuple, int] = {}
    s_index: dict[tuple, int] = {}
    rows: list[tuple[dict[int, float], float, float]] = []  # ({var: coef}, lo, hi)

    def new_var(hi: float) -> int:
        var_lo.append(0.0)
        var_hi.append(hi)
        return len(var_lo) - 1

    for cell in sorted(cells):
        subject, tier, _focus = cell
        size = grouping.sizes[tier]
        smallest = 1 if grouping.undersized == "group" else size.min
        by_grade = cells[cell]
        for band in grade_bands(list(by_grade), grouping.grade_band):
            band_n = sum(by_grade[g] for g in band)
            for j, person in enumerate(staff):
                if subject not in person.subjects or person.group_capacity == 0:
                    continue
                link: dict[int, float] = {}
                for k in range(smallest, size.max + 1):
                    if k > band_n:
                        break
                    idx = new_var(band_n // k)
                    y_index[(cell, band, j, k)] = idx
                    link[idx] = float(k)
                if not link:
                    continue
                for g in band:
                    idx = new_var(by_grade[g])
                    s_index[(cell, band, g, j)] = idx
                    link[idx] = -1.0
                rows.append((link, 0.0, 0.0))  # students in the groups = their sizes
    if not s_index:
        return Solution({}, {})
    for cell in sorted(cells):
        for g, n in sorted(cells[cell].items()):
            coefs = {i: 1.0 for (c, _b, gg, _j), i in s_index.items() if c == cell and gg == g}
            if coefs:
                rows.append((coefs, 0.0, float(n)))
    for j, person in enumerate(staff):
        groups = {i: 1.0 for (_c, _b, jj, _k), i in y_index.items() if jj == j}
        students = {i: 1.0 for (_c, _b, _g, jj), i in s_index.items() if jj == j}
        if groups:
            rows.append((groups, 0.0, float(person.group_capacity)))
            rows.append((students, 0.0, float(person.max_students)))

    n_var = len(var_lo)
    served3 = {i: 1.0 for (c, _b, _g, _j), i in s_index.items() if c[1] == 3}
    served = dict.fromkeys(s_index.values(), 1.0)
    n_groups = dict.fromkeys(y_index.values(), 1.0)
    undersized = {i: 1.0 for (c, _b, _j, k), i in y_index.items() if k < grouping.sizes[c[1]].min}
    squares = {i: float(k * k) for (_c, _b, _j, k), i in y_index.items()}
    # Fewest groups, then fewest undersized, folded into one exact integer objective: a
    # group outweighs every possible undersized group (there are at most N of them).
    n_students = sum(n for by_grade in cells.values() for n in by_grade.values())
    weight = float(n_students + 1)
    second = {i: weight * v for i, v in n_groups.items()}
    for i, v in undersized.items():
        second[i] = second.get(i, 0.0) + v
    objectives = [  # (coefficients, sense): sense -1 maximizes
        (served3, -1.0),
        (served, -1.0),
        (second, 1.0),
        (squares, 1.0),
    ]
    bounds = Bounds(np.array(var_lo), np.array(var_hi))
    integrality = np.ones(n_var)
    x = None
    for coefs, sense in objectives:
        if not coefs:
            continue
        c = np.zeros(n_var)
        for i, v in coefs.items():
            c[i] = sense * v
        constraint = _constraint(rows, n_var)
        result = milp(
            c,
            constraints=constraint,
            integrality=integrality,
            bounds=bounds,
            options={"time_limit": time_limit, "mip_rel_gap": 0.0, "presolve": True},
        )
        if result.x is None:
            raise RuntimeError(f"grouping: the solver found no solution ({result.message})")
        x = np.round(result.x)
        best = float(sum(v * x[i] for i, v in coefs.items()))
        rows.append((coefs, best, best))  # keep this optimum while improving the next
    assert x is not None
    groups: dict[tuple, dict[int, int]] = {}
    for (cell, band, j, k), i in y_index.items():
        if x[i] > 0:
            groups.setdefault((cell, band, j), {})[k] = int(x[i])
    students = {key: int(x[i]) for key, i in s_index.items() if x[i] > 0}
    return Solution(groups, students)


def _constraint(rows: list[tuple[dict[int, float], float, float]], n_var: int) -> LinearConstraint:
    r, cidx, data = [], [], []
    for k, (coefs, _lo, _hi) in enumerate(rows):
        for i, v in coefs.items():
            r.append(k)
            cidx.append(i)
            data.append(v)
    matrix = coo_array((data, (r, cidx)), shape=(len(rows), n_var)).tocsr()
    lo = np.array([row[1] for row in rows])
    hi = np.array([row[2] for row in rows])
    return LinearConstraint(matrix, lo, hi)


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


def _group_table(
    school_id: str,
    students: pd.DataFrame,
    solution: Solution,
    staff: list[Staff],
    grouping: Grouping,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Name the students of each counted group; the rest are unserved."""
    records = []
    served_ids: set[str] = set()
    labels = {n: m for n, m in (("reading", "R"), ("math", "M"), ("behavior", "B"))}
    for (subject, tier, focus), cell_rows in students.groupby(
        ["subject", "tier", "focus"], sort=True
    ):
        cell = (subject, tier, focus)
        ordered = cell_rows.sort_values(["grade", "measure_rank", "focus_score", "student_id"])
        queues = {
            int(g): list(rows.itertuples(index=False)) for g, rows in ordered.groupby("grade")
        }
        entries = sorted(k for k in solution.groups if k[0] == cell)
        # Neediest first: each grade's queue hands students to its bands in band order.
        block_no = 0
        for band in sorted({e[1] for e in entries}):
            members_by_staff: dict[int, list] = {}
            sizes: list[tuple[int, int]] = []  # (size, staff index)
            for _cell, b, j in entries:
                if b != band:
                    continue
                for g in band:
                    take = solution.students.get((cell, band, g, j), 0)
                    members_by_staff.setdefault(j, []).extend(queues[g][:take])
                    queues[g] = queues[g][take:]
                for k, count in sorted(solution.groups[(cell, band, j)].items()):
                    sizes.extend([(k, j)] * count)
            pool = sorted(
                (m for ms in members_by_staff.values() for m in ms),
                key=lambda m: (m.measure_rank, m.focus_score, m.grade, m.student_id),
            )
            order = _best_order(
                tuple(float(m.focus_score) for m in pool), tuple(s for s, _ in sizes)
            )
            owners = {k: sorted(j for s, j in sizes if s == k) for k in {s for s, _ in sizes}}
            pos = 0
            for k in order:
                j = owners[k].pop(0)
                block = pool[pos : pos + k]
                pos += k
                block_no += 1
                grades = sorted({int(m.grade) for m in block})
                measures = list(dict.fromkeys(m.focus_measure for m in block))
                score_bits = []
                for measure in measures:
                    vals = [float(m.focus_score) for m in block if m.focus_measure == measure]
                    lo, hi = min(vals), max(vals)
                    span = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
                    score_bits.append(f"{m_label(measure)} {span}")
                scores = [float(m.focus_score) for m in block]
                minimum = grouping.sizes[tier].min
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
                        "student_ids": [str(m.student_id) for m in block],
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
                served_ids.update(f"{m.student_id}|{subject}" for m in block)
    groups = pd.DataFrame(records, columns=GROUP_COLUMNS)
    return groups, students[
        ~(students["student_id"].astype(str) + "|" + students["subject"]).isin(served_ids)
    ]


def m_label(measure: str) -> str:
    """Short measure names for score ranges ("dibels8_nwf_cls" -> "NWF-CLS")."""
    return _SHORT.get(measure, measure)


_SHORT: dict[str, str] = {}


def _grades_text(grades: list[int]) -> str:
    word = {-1: "PK", 0: "K"}
    names = [word.get(g, str(g)) for g in grades]
    return names[0] if len(names) == 1 else f"{names[0]}-{names[-1]}"


def _assign_slots(groups: pd.DataFrame, staff: list[Staff]) -> pd.DataFrame:
    """Give each group a free slot of its interventionist, avoiding a student's other groups.

    Greedy in group-id order. A clash that cannot be avoided is written into ``note``,
    never hidden.
    """
    if groups.empty:
        return groups
    slots = {p.name: list(p.slots) for p in staff}
    taken: dict[str, set[str]] = {}
    student_slots: dict[str, set[str]] = {}
    slot_col, notes = [], []
    for row in groups.sort_values("group_id").itertuples(index=False):
        mine = slots.get(row.interventionist, [])
        if not mine:
            slot_col.append("")
            notes.append(row.note)
            continue
        used = taken.setdefault(row.interventionist, set())
        free = [s for s in mine if s not in used]
        clear = [
            s
            for s in free
            if not any(s in student_slots.get(sid, set()) for sid in row.student_ids)
        ]
        slot = (clear or free or [""])[0]
        note = row.note
        if slot and not clear:
            note = (
                note + " " if note else ""
            ) + f"Slot clash: a member has another group at {slot}."
        used.add(slot)
        for sid in row.student_ids:
            student_slots.setdefault(sid, set()).add(slot)
        slot_col.append(slot)
        notes.append(note)
    ordered = groups.sort_values("group_id").assign(slot=slot_col, note=notes)
    return ordered.sort_index()


def _unserved_reasons(
    unserved: pd.DataFrame,
    groups: pd.DataFrame,
    cells: dict[tuple, dict[int, int]],
    staff: list[Staff],
    grouping: Grouping,
) -> pd.DataFrame:
    if unserved.empty:
        return pd.DataFrame(columns=UNSERVED_COLUMNS)
    load_groups = groups.groupby("interventionist").size().to_dict() if len(groups) else {}
    load_students = groups.groupby("interventionist")["size"].sum().to_dict() if len(groups) else {}
    reasons = []
    for row in unserved.itertuples(index=False):
        people = [p for p in staff if row.subject in p.subjects and p.group_capacity > 0]
        size = grouping.sizes[int(row.tier)]
        band = [
            b
            for b in grade_bands(
                list(cells[(row.subject, row.tier, row.focus)]), grouping.grade_band
            )
            if row.grade in b
        ]
        pool = max(sum(cells[(row.subject, row.tier, row.focus)][g] for g in b) for b in band)
        if not people:
            reasons.append(f"No interventionist at this school teaches {row.subject}")
        elif (grouping.undersized == "unserved" and pool < size.min) or any(
            load_groups.get(p.name, 0) < p.group_capacity
            and load_students.get(p.name, 0) + size.min <= p.max_students
            for p in people
        ):
            reasons.append(
                f"No valid group: {pool} Tier {row.tier} student(s) in this grade band need "
                f"{FOCUS_LABELS.get(row.focus, row.focus).lower()}, and a group needs "
                f"{size.min}-{size.max}"
            )
        else:
            full = ", ".join(
                f"{p.name} {load_groups.get(p.name, 0)}/{p.group_capacity} groups, "
                f"{load_students.get(p.name, 0)}/{p.max_students} students"
                for p in people
            )
            reasons.append(f"Interventionist capacity is used up ({full})")
    out = unserved.assign(reason=reasons)
    return out[UNSERVED_COLUMNS].reset_index(drop=True)


def group_school(
    candidates: pd.DataFrame, staff: list[Staff], grouping: Grouping, measure_order: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups and unserved students of one school (``candidates``: its Tier 2/3 rows)."""
    school_id = str(candidates["school_id"].iloc[0])
    rows = candidates.assign(
        tier=candidates["tier"].astype(int),
        grade=candidates["grade"].astype(int),
        measure_rank=candidates["focus_measure"].map(measure_order).fillna(len(measure_order)),
    )
    cells: dict[tuple, dict[int, int]] = {}
    for (subject, tier, focus, grade), n in (
        rows.groupby(["subject", "tier", "focus", "grade"]).size().items()
    ):
        cells.setdefault((subject, int(tier), focus), {})[int(grade)] = int(n)
    solution = _solve_counts(cells, staff, grouping, grouping.time_limit_seconds)
    groups, left = _group_table(school_id, rows, solution, staff, grouping)
    groups = _assign_slots(groups, staff)
    unserved = _unserved_reasons(left, groups, cells, staff, grouping)
    return groups, unserved


def form_groups(
    tiers: pd.DataFrame, config: DistrictConfig, staff: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups (``groups.parquet``) and the unserved list (``unserved.parquet``) for a term.

    ``tiers`` is :func:`pipeline.tiers.assign_tiers`'s output; ``staff`` the validated
    ``staff.csv`` (:func:`validate_staff`) or ``None`` for ``grouping.default_staff``.
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
    # Sort by value so the row order of the input cannot matter.
    need = need.sort_values(["school_id", "subject", "student_id"]).reset_index(drop=True)
    people = staff_for_schools(staff, sorted(need["school_id"].unique()), config)
    order = {n: k for k, n in enumerate(config.measures)}
    all_groups, all_unserved = [], []
    for school_id, rows in need.groupby("school_id", sort=True):
        mine = [p for p in people if p.school_id == school_id]
        groups, unserved = group_school(rows, mine, config.grouping, order)
        all_groups.append(groups)
        all_unserved.append(unserved)
    groups = (
        pd.concat(all_groups, ignore_index=True)
        if all_groups
        else pd.DataFrame(columns=GROUP_COLUMNS)
    )
    unserved = (
        pd.concat(all_unserved, ignore_index=True)
        if all_unserved
        else pd.DataFrame(columns=UNSERVED_COLUMNS)
    )
    return groups.reset_index(drop=True), unserved.reset_index(drop=True)
