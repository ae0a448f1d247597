"""The canonical tables (the data contract of DESIGN.md): names, columns and types.

Ids are strings (leading zeros matter); grades are integers (PK = -1, K = 0); dates are
ISO dates. ``source_file`` and ``source_row`` travel with every fact so any number in a
report can be traced to the input line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    ids: tuple[str, ...] = ("student_id",)
    dates: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def kind(self, column: str) -> str:
        """How a column is typed: 'date', 'integer', 'number', 'boolean' or 'text'."""
        for kind, names in (
            ("date", self.dates),
            ("integer", self.integers),
            ("number", self.numbers),
            ("boolean", self.booleans),
        ):
            if column in names:
                return kind
        return "text"


STUDENTS = Table(
    "students",
    required=("student_id", "school_id", "school_name", "grade", "first_name", "last_name"),
    optional=(
        "gender",
        "race_ethnicity",
        "ell",
        "iep",
        "section_504",
        "econ_disadvantaged",
        "homeroom",
    ),
    ids=("student_id", "school_id"),
    integers=("grade",),
    booleans=("ell", "iep", "section_504", "econ_disadvantaged"),
)
SCREENINGS = Table(
    "screenings",
    required=("student_id", "school_year", "window", "date", "measure", "subject", "score"),
    optional=("percentile", "vendor_level"),
    dates=("date",),
    numbers=("score", "percentile"),
)
INTERVENTIONS = Table(
    "interventions",
    required=("student_id", "program", "subject", "start_date"),
    optional=(
        "group_id",
        "interventionist",
        "tier",
        "end_date",
        "sessions_planned",
        "sessions_attended",
        "minutes_per_session",
    ),
    dates=("start_date", "end_date"),
    integers=("tier", "sessions_planned", "sessions_attended", "minutes_per_session"),
)
PROGRESS = Table(
    "progress",
    required=("student_id", "date", "measure", "score"),
    dates=("date",),
    numbers=("score",),
)

CANONICAL: dict[str, Table] = {t.name: t for t in (STUDENTS, SCREENINGS, INTERVENTIONS, PROGRESS)}

# Hand-made inputs in data/raw/, read and validated by the process stage (not ingest):
# the interventionists and their capacity (pipeline.groups.form.validate_staff), and the
# team's documented tier overrides (pipeline.rules.tiers.validate_overrides).
STAFF = Table(
    "staff",
    required=("school_id", "interventionist", "subjects"),
    optional=("max_groups", "max_students", "slots"),
    ids=("school_id",),
    integers=("max_groups", "max_students"),
)
OVERRIDES = Table(
    "overrides",
    required=("student_id", "subject", "tier", "reason", "decided_by", "date"),
    dates=("date",),
    integers=("tier",),
)
HAND_MADE: dict[str, Table] = {t.name: t for t in (STAFF, OVERRIDES)}
LINEAGE = ("source_file", "source_row")
PII_COLUMNS = ("first_name", "last_name")
