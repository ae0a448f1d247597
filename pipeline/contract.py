"""The canonical tables (the data contract of DESIGN.md): names, columns and types.

Ids are strings (leading zeros matter); grades are integers (PK = -1, K = 0); dates are
ISO dates. ``source_file`` and ``source_row`` travel with every fact so any number in a
report can be traced to the input line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
        "goal",  # a team-set goal score for the intervention (progress.goal_source: team)
    ),
    dates=("start_date", "end_date"),
    integers=("tier", "sessions_planned", "sessions_attended", "minutes_per_session"),
    numbers=("goal",),
)
PROGRESS = Table(
    "progress",
    required=("student_id", "date", "measure", "score"),
    dates=("date",),
    numbers=("score",),
)

CANONICAL: dict[str, Table] = {t.name: t for t in (STUDENTS, SCREENINGS, INTERVENTIONS, PROGRESS)}

# Hand-made inputs in data/raw/, read and validated by the process stage (not ingest):
# the interventionists and their capacity (pipeline.groups.staff.validate_staff), and the
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


class QuarantineRule(StrEnum):
    """Why a row is in ``quarantine.csv`` (its ``rule`` column): one id per data-quality
    rule. The expectation suites name them in ``meta.rule``; ingest hands unreadable
    values over as ``_raw_<field>`` text and rows no measure rule fits as a missing
    measure, so those too end here under the rules below."""

    STUDENT_ID_MISSING = "student_id_missing"
    STUDENT_NOT_IN_ROSTER = "student_not_in_roster"
    DUPLICATE_SCREENING = "duplicate_screening"
    DUPLICATE_STUDENT = "duplicate_student"
    SCORE_OUT_OF_RANGE = "score_out_of_range"
    SCORE_MISSING = "score_missing"
    PERCENTILE_OUT_OF_RANGE = "percentile_out_of_range"
    PERCENTILE_UNREADABLE = "percentile_unreadable"
    DATE_OUTSIDE_WINDOW = "date_outside_window"
    DATE_UNREADABLE = "date_unreadable"
    WINDOW_UNKNOWN = "window_unknown"
    SCHOOL_YEAR_UNREADABLE = "school_year_unreadable"
    MEASURE_UNKNOWN = "measure_unknown"
    MEASURE_MISSING = "measure_missing"
    GRADE_UNREADABLE = "grade_unreadable"
    GRADE_OUT_OF_RANGE = "grade_out_of_range"
    SCHOOL_MISSING = "school_missing"
    PROGRAM_MISSING = "program_missing"
    START_DATE_UNREADABLE = "start_date_unreadable"
    END_BEFORE_START = "end_before_start"
    ATTENDED_ABOVE_PLANNED = "attended_above_planned"
    VALUE_UNREADABLE = "value_unreadable"
    RAGGED_ROW = "ragged_row"


# What each rule means, for the data-quality summary's "Top reasons".
RULE_HELP: dict[QuarantineRule, str] = {
    QuarantineRule.STUDENT_ID_MISSING: "The row has no student id.",
    QuarantineRule.STUDENT_NOT_IN_ROSTER: "The student id is not on the roster (students.csv "
    "or a vendor file with grade and school). Often a typo or a student who left.",
    QuarantineRule.DUPLICATE_SCREENING: "The same student has the same measure twice in one "
    "window; the latest by date is kept.",
    QuarantineRule.DUPLICATE_STUDENT: "The roster lists the student id twice; the first line "
    "is kept.",
    QuarantineRule.SCORE_OUT_OF_RANGE: "The score is outside the measure's valid range in "
    "district.yml.",
    QuarantineRule.SCORE_MISSING: "The score is empty or not a number.",
    QuarantineRule.PERCENTILE_OUT_OF_RANGE: "National percentiles run from 1 to 99.",
    QuarantineRule.PERCENTILE_UNREADABLE: "The percentile is not a number.",
    QuarantineRule.DATE_OUTSIDE_WINDOW: "The test date is outside the window's dates in "
    "district.yml.",
    QuarantineRule.DATE_UNREADABLE: "The date could not be read.",
    QuarantineRule.WINDOW_UNKNOWN: "The window is not fall, winter or spring (or the date is "
    "in no window).",
    QuarantineRule.SCHOOL_YEAR_UNREADABLE: "The school year is not like 2025-2026.",
    QuarantineRule.MEASURE_UNKNOWN: "The measure is not configured in district.yml.",
    QuarantineRule.MEASURE_MISSING: "No measure rule of the profile fits the row.",
    QuarantineRule.GRADE_UNREADABLE: "The grade could not be read (K, PK, 0-12, 'Two' ...).",
    QuarantineRule.GRADE_OUT_OF_RANGE: "The grade is outside the configured grades.",
    QuarantineRule.SCHOOL_MISSING: "The student has no school id.",
    QuarantineRule.PROGRAM_MISSING: "The enrolment names no program.",
    QuarantineRule.START_DATE_UNREADABLE: "The start date could not be read.",
    QuarantineRule.END_BEFORE_START: "The intervention ends before it starts.",
    QuarantineRule.ATTENDED_ABOVE_PLANNED: "More sessions attended than planned.",
    QuarantineRule.VALUE_UNREADABLE: "An optional value could not be read.",
    QuarantineRule.RAGGED_ROW: "The row has more fields than the header (an unquoted "
    "delimiter inside a value, or a line pasted from another file).",
}

# Rules ingest applies while reading a file, before any expectation suite runs.
READ_RULES = frozenset({QuarantineRule.RAGGED_ROW})

# What to do about each rule, for the data-quality summary beside RULE_HELP.
RULE_FIX: dict[QuarantineRule, str] = {
    QuarantineRule.STUDENT_ID_MISSING: "Fill in the student id in the export, or remove the row.",
    QuarantineRule.STUDENT_NOT_IN_ROSTER: "Add the student to students.csv, or correct the id. "
    "Where the reason names a roster id with other leading zeros, format the id column as "
    "text before saving from Excel, or set quality.match_ids_ignoring_leading_zeros: true.",
    QuarantineRule.DUPLICATE_SCREENING: "Nothing, if the latest score is the right one; "
    "otherwise delete the wrong row from the export.",
    QuarantineRule.DUPLICATE_STUDENT: "Keep one line per student in the roster.",
    QuarantineRule.SCORE_OUT_OF_RANGE: "Correct the score, or widen the measure's min/max in "
    "config/district.yml if the range is wrong.",
    QuarantineRule.SCORE_MISSING: "Fill in the score, or use the vendor's skip token (e.g. "
    "'Discontinue') listed in the profile's skip_values.",
    QuarantineRule.PERCENTILE_OUT_OF_RANGE: "Correct the percentile (1-99; 99+ and <1 are "
    "read as 99 and 1).",
    QuarantineRule.PERCENTILE_UNREADABLE: "Write the percentile as a number (1-99), or "
    "leave it empty.",
    QuarantineRule.DATE_OUTSIDE_WINDOW: "Correct the date, or the window's dates under "
    "windows: in config/district.yml.",
    QuarantineRule.DATE_UNREADABLE: "Re-export with dates as YYYY-MM-DD, or set date_format "
    "in the profile (e.g. '%m/%d/%Y'). A date with two readings names both in its reason.",
    QuarantineRule.WINDOW_UNKNOWN: "Write the window as fall, winter or spring (or map the "
    "vendor's label under values.window in the profile), or correct the date.",
    QuarantineRule.SCHOOL_YEAR_UNREADABLE: "Write the school year as 2025-2026.",
    QuarantineRule.MEASURE_UNKNOWN: "Add the measure under measures: in "
    "config/district.yml, or correct its name in the export.",
    QuarantineRule.MEASURE_MISSING: "Add a measure rule for these rows to the profile, or "
    "set unmatched: skip there if they are out of scope.",
    QuarantineRule.GRADE_UNREADABLE: "Write the grade as K, PK or a number, or map the "
    "export's label under values.grade in the profile.",
    QuarantineRule.GRADE_OUT_OF_RANGE: "Correct the grade, or widen grades: in "
    "config/district.yml.",
    QuarantineRule.SCHOOL_MISSING: "Fill in the school id in the roster.",
    QuarantineRule.PROGRAM_MISSING: "Fill in the program name in the intervention log.",
    QuarantineRule.START_DATE_UNREADABLE: "Re-export with dates as YYYY-MM-DD, or set "
    "date_format in the profile.",
    QuarantineRule.END_BEFORE_START: "Correct the start or end date in the intervention log.",
    QuarantineRule.ATTENDED_ABOVE_PLANNED: "Correct the sessions planned or attended.",
    QuarantineRule.VALUE_UNREADABLE: "Correct the value named in the reason, or leave it empty.",
    QuarantineRule.RAGGED_ROW: "Open the file at that row: quote the value holding the "
    "delimiter (or re-export the file), and run again.",
}
