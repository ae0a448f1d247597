"""Who is in each counted group: naming the students, slots, and why the rest are unserved.

Within each cell and grade, the neediest (lowest focus score) are served first, and the
served are cut into groups of the chosen sizes in score order, the order of sizes chosen
to give the least total score range (for one measure, contiguous blocks of the sorted
scores are optimal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig, Grouping
from pipeline.groups.model import Solution, bands
from pipeline.groups.staff import Staff
from pipeline.rules.labels import DIAGNOSTIC, focus_label, grade_span

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
    "status",
    "program",
]
# ``status``: "continuing" (a running group of the intervention log, ``program`` its
# program) or "new" (recommended here, ``program`` blank: the team chooses it).
UNSERVED_COLUMNS = ["student_id", "school_id", "subject", "grade", "tier", "focus", "reason"]
SUBJECT_LETTERS = {"reading": "R", "math": "M", "behavior": "B"}


class Candidates:
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
        rank = rank.to_numpy(dtype=float)
        score = need["focus_score"].to_numpy(dtype=float)
        # np.lexsort sorts by its last key first.
        order = np.lexsort((student, score, rank, self.grade, focus, self.tier, subject, school))
        self.order = order
        keys = (school, subject, self.tier, focus, self.grade)
        self.starts = _run_starts([key[order] for key in keys])
        self.counts = np.diff(np.append(self.starts, len(order)))
        # Run-level keys as Python values, and the sorted rows' values for naming.
        first = order[self.starts]
        self.run_school = school[first].tolist()
        self.run_subject = subjects.to_numpy(dtype=object)[subject[first]].tolist()
        self.run_tier = self.tier[first].tolist()
        self.run_focus = foci.to_numpy(dtype=object)[focus[first]].tolist()
        self.run_grade = self.grade[first].tolist()
        self.rank = rank[order]
        self.score = score[order]
        self.sorted_grade = self.grade[order]
        self.student_id = need["student_id"].to_numpy(dtype=object)[order]
        self.measure = need["focus_measure"].to_numpy(dtype=object)[order]
        self.school = school
        # need is sorted by school, subject, student: a student's rows in one subject
        # (only if the input repeats them) are adjacent.
        same = (school[1:] == school[:-1]) & (subject[1:] == subject[:-1])
        self.repeated = same & (student[1:] == student[:-1])

    def by_school(self) -> Iterator[tuple[str, dict[tuple, dict[int, int]], dict[tuple, int]]]:
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


def _run_starts(sorted_keys: list[np.ndarray]) -> np.ndarray:
    """Positions where any of the sorted key columns changes: the start of each run."""
    change = np.zeros(len(sorted_keys[0]), dtype=bool)
    change[0] = True
    for key in sorted_keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def name_groups(
    school_id: str,
    table: Candidates,
    index: dict[tuple, int],
    solution: Solution,
    staff: list[Staff],
    config: DistrictConfig,
) -> tuple[list[dict], dict[int, int]]:
    """Name the students of each counted group: the records, and students taken per run.

    Per cell, each grade's queue hands its neediest students to the cell's bands in band
    order; a band's served are cut into blocks of the solution's sizes in the order of
    least total score range (:func:`best_order`), numbered within the cell.
    """
    records: list[dict] = []
    taken: dict[int, int] = {}  # run -> students taken from its front
    by_cell: dict[tuple, list[tuple]] = {}
    for entry in sorted(solution.groups):
        by_cell.setdefault(entry[0], []).append(entry)
    for cell, entries in by_cell.items():
        number = 0
        for band in sorted({e[1] for e in entries}):
            pool, sizes = _band_members(table, index, solution, cell, band, entries, taken)
            order = best_order(tuple(m[1] for m in pool), tuple(s for s, _ in sizes))
            owners = {k: sorted(j for s, j in sizes if s == k) for k in {s for s, _ in sizes}}
            pos = 0
            for k in order:
                number += 1
                person = staff[owners[k].pop(0)]
                block = pool[pos : pos + k]
                records.append(_group_record(school_id, cell, k, block, number, person, config))
                pos += k
    return records, taken


def _band_members(
    table: Candidates,
    index: dict[tuple, int],
    solution: Solution,
    cell: tuple,
    band: tuple[int, ...],
    entries: list[tuple],
    taken: dict[int, int],
) -> tuple[list[tuple], list[tuple[int, int]]]:
    """The served of ``band``, taken from the front of each grade's queue (``taken`` is
    updated) and sorted neediest first, and its groups as (size, staff index)."""
    positions: list[int] = []
    sizes: list[tuple[int, int]] = []
    for _cell, b, j in entries:
        if b != band:
            continue
        for g in band:
            run = index[(cell, g)]
            done = taken.get(run, 0)
            take = min(solution.students.get((cell, band, g, j), 0), table.counts[run] - done)
            start = int(table.starts[run]) + done
            positions.extend(range(start, start + take))
            taken[run] = done + take
        for k, count in sorted(solution.groups[(cell, band, j)].items()):
            sizes.extend([(k, j)] * count)
    return sorted(table.members(positions), key=lambda m: m[:4]), sizes


def _group_record(
    school_id: str,
    cell: tuple,
    size: int,
    block: list[tuple],
    number: int,
    person: Staff,
    config: DistrictConfig,
) -> dict:
    """One row of ``groups``: the block's members (see :meth:`Candidates.members`)."""
    subject, tier, focus = cell
    grades = sorted({m[2] for m in block})
    measures = list(dict.fromkeys(m[4] for m in block))
    scores = [m[1] for m in block]
    minimum = config.grouping.sizes[tier].min
    ends = "-".join(map(str, dict.fromkeys([grades[0], grades[-1]])))
    return {
        "group_id": f"{school_id}-{SUBJECT_LETTERS[subject]}{tier}-{focus}-g{ends}-{number}",
        "school_id": school_id,
        "subject": subject,
        "tier": int(tier),
        "focus": focus,
        "grades": grade_span(grades),
        "grade_min": grades[0],
        "grade_max": grades[-1],
        "size": size,
        "student_ids": [str(m[3]) for m in block],
        "score_measure": ", ".join(str(m) for m in measures),
        "score_min": min(scores),
        "score_max": max(scores),
        "score_range": _score_range(block, measures, config.measure_name),
        "interventionist": person.name,
        "slot": "",
        "undersized": size < minimum,
        "note": _group_note(tier, focus, size, minimum),
        "status": "new",
        "program": "",
    }


def _score_range(block: list[tuple], measures: list[str], name: Callable[[str], str]) -> str:
    """Each measure's scores in the block as "NWF-CLS 12-18" (one score: "NWF-CLS 12")."""
    parts = []
    for measure in measures:
        scores = [m[1] for m in block if m[4] == measure]
        if not scores:  # no screening this window (a team override alone): no range
            continue
        parts.append(score_span(name(measure), min(scores), max(scores)))
    return "; ".join(parts)


def score_span(label: str, low: float, high: float) -> str:
    """A measure's scores in a group: "NWF-CLS 12-18" (one score: "NWF-CLS 12")."""
    return f"{label} {low:g}" if low == high else f"{label} {low:g}-{high:g}"


def _group_note(tier: int, focus: str, size: int, minimum: int) -> str:
    """What a specialist should know before the group meets: undersized, skill unknown."""
    notes = []
    if size < minimum:
        notes.append(
            f"Below the Tier {tier} minimum of {minimum}: no other "
            "student shares this tier, focus and grade band."
        )
    if focus == DIAGNOSTIC:
        notes.append("Skill not known from the screening: start with a diagnostic.")
    return " ".join(notes)


def best_order(scores: tuple[float, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Order of group sizes that cuts sorted ``scores`` into blocks of least total range
    (dynamic programming over the position and the sizes left)."""
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


def assign_slots(
    records: list[dict], staff: list[Staff], student_slots: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """Give each group a free slot of its interventionist, avoiding a student's other groups.

    Greedy in group-id order (``records`` are one school's groups, updated in place). A
    clash that cannot be avoided is written into ``note``, never hidden. ``student_slots``:
    the slots students already have (their running groups); returned with these groups'.
    """
    slots = {p.name: list(p.slots) for p in staff}
    taken: dict[str, set[str]] = {}
    student_slots = {} if student_slots is None else student_slots
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
    return student_slots


def unserved_reasons(
    cells: dict[tuple, dict[int, int]],
    records: list[dict],
    staff: list[Staff],
    grouping: Grouping,
) -> dict[tuple, str]:
    """Why the unserved of each (cell, grade) of one school could not be placed."""
    load = _loads(records)
    reasons: dict[tuple, str] = {}
    for cell, by_grade in cells.items():
        subject, tier, focus = cell
        people = [p for p in staff if subject in p.subjects and p.group_capacity > 0]
        size = grouping.sizes[tier]
        room = _has_room(people, load, size.min)
        cell_bands = bands(tuple(sorted(by_grade)), grouping.grade_band)
        for grade in by_grade:
            pool = max(sum(by_grade[g] for g in b) for b in cell_bands if grade in b)
            if not people:
                reason = f"No interventionist at this school teaches {subject}"
            elif (grouping.undersized == "unserved" and pool < size.min) or room:
                reason = (
                    f"No valid group: {pool} Tier {tier} student(s) in this grade band need "
                    f"{focus_label(focus).lower()}, and a group needs "
                    f"{size.min}-{size.max}"
                )
            else:
                reason = f"Interventionist capacity is used up ({_loads_text(people, load)})"
            reasons[(cell, grade)] = reason
    return reasons


def _loads(records: list[dict]) -> dict[str, tuple[int, int]]:
    """Groups and students each interventionist has in ``records``."""
    load: dict[str, tuple[int, int]] = {}
    for r in records:
        groups, students = load.get(r["interventionist"], (0, 0))
        load[r["interventionist"]] = (groups + 1, students + r["size"])
    return load


def _has_room(people: list[Staff], load: dict[str, tuple[int, int]], minimum: int) -> bool:
    """Someone could take another group of ``minimum`` students."""
    return any(
        load.get(p.name, (0, 0))[0] < p.group_capacity
        and load.get(p.name, (0, 0))[1] + minimum <= p.max_students
        for p in people
    )


def _loads_text(people: list[Staff], load: dict[str, tuple[int, int]]) -> str:
    """ "Ms. A 6/6 groups, 28/30 students, ..." """
    return ", ".join(
        f"{p.name} {load.get(p.name, (0, 0))[0]}/{p.group_capacity} groups, "
        f"{load.get(p.name, (0, 0))[1]}/{p.max_students} students"
        for p in people
    )
