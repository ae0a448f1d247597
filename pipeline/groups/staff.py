"""The interventionists of each school and their capacity (``staff.csv`` or the config's
``grouping.default_staff``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.contract import STAFF
from pipeline.errors import InputError

STAFF_COLUMNS = STAFF.required
STAFF_OPTIONAL = STAFF.optional
SUBJECTS = ("reading", "math", "behavior")


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
        """Groups this person can run: ``max_groups``, and one per named slot if any."""
        return min(self.max_groups, len(self.slots)) if self.slots else self.max_groups


def _split(text: object) -> tuple[str, ...]:
    """The items of a staff.csv list cell ("reading; math", "a,b", "a|b"); blank: none."""
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
    unknown = [not s or any(x not in SUBJECTS for x in s) for s in subjects]
    fail(
        pd.Series(unknown, index=out.index),
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


# ``staff_capacity.parquet``: each interventionist's capacity and the groups given them.
CAPACITY_COLUMNS = [
    "school_id",
    "interventionist",
    "subjects",
    "group_capacity",
    "max_students",
    "groups",
    "continuing_groups",
    "students",
    "source",
]


def capacity_table(people: list[Staff], groups: pd.DataFrame, source: str) -> pd.DataFrame:
    """Per interventionist (``people``): their capacity, and the groups and students
    ``groups`` gives them (``continuing_groups``: of those, running ones); ``source`` says
    where the capacity comes from ("staff.csv" or "grouping.default_staff")."""
    running = groups["status"].eq("continuing") if "status" in groups else False
    load = (
        groups.assign(continuing=running, school_id=groups["school_id"].astype(str))
        .groupby(["school_id", "interventionist"])
        .agg(
            groups=("size", "size"),
            continuing_groups=("continuing", "sum"),
            students=("size", "sum"),
        )
    )
    rows = [
        {
            "school_id": p.school_id,
            "interventionist": p.name,
            "subjects": ";".join(p.subjects),
            "group_capacity": p.group_capacity,
            "max_students": p.max_students,
            "source": source,
        }
        for p in people
    ]
    table = pd.DataFrame(rows, columns=[c for c in CAPACITY_COLUMNS if c not in load.columns])
    table = table.merge(load.reset_index(), on=["school_id", "interventionist"], how="left")
    counts = ["groups", "continuing_groups", "students"]
    table[counts] = table[counts].fillna(0).astype(int)
    return table[CAPACITY_COLUMNS]
