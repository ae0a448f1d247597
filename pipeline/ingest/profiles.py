"""Vendor layouts as data: ``config/profiles/*.yml`` loaded, detected and applied.

A profile describes one export layout: how a file is recognised (a header signature and,
optionally, a file-name pattern), which column holds which canonical field, how values
are translated (grades such as "Two", windows such as "BOY" or "Fall 2021-2022"), how a
wide file (one block of columns per window) becomes long, which columns are PII, and the
measures it carries. A new layout is a new YAML file; this module has no vendor names in
it. See ``config/profiles/README.md`` for the keys.

:func:`apply_profile` turns the text of one file into canonical *records*: one per fact
(screening, probe, enrolment or roster line), each with ``source_file`` and ``source_row``
(spreadsheet numbering: the header is row 1) and, where a value could not be read, the
raw text in ``_raw_<field>`` so the quality stage can quarantine it with its value.
Candidate facts that the profile declares out of scope (a subject Tierwise does not
screen, a subtest the vendor marks "Discontinue") become *skipped* records with a reason:
nothing is dropped without a line in the ledger.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from pipeline import fast
from pipeline.config import WINDOW_ORDER, DistrictConfig, read_yaml_mapping
from pipeline.contract import CANONICAL, STUDENTS
from pipeline.errors import ConfigError, TierwiseError

DEFAULT_PROFILES_DIR = Path("config") / "profiles"
TABLES = tuple(CANONICAL)
ROSTER_FIELDS = STUDENTS.columns
MEASURE_VALUE_FIELDS = ("score", "percentile", "vendor_level", "date")

GRADE_WORDS = {
    "PK": -1,
    "PRE-K": -1,
    "PREK": -1,
    "PRE-KINDERGARTEN": -1,
    "PREKINDERGARTEN": -1,
    "K": 0,
    "KG": 0,
    "KINDERGARTEN": 0,
    "ONE": 1,
    "TWO": 2,
    "THREE": 3,
    "FOUR": 4,
    "FIVE": 5,
    "SIX": 6,
    "SEVEN": 7,
    "EIGHT": 8,
    "NINE": 9,
    "TEN": 10,
    "ELEVEN": 11,
    "TWELVE": 12,
}
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}
# Every profile understands these window labels; a profile's own `values.window` adds more.
DEFAULT_WINDOW_VALUES = {
    "fall": "fall",
    "winter": "winter",
    "spring": "spring",
    "boy": "fall",
    "moy": "winter",
    "eoy": "spring",
    "fall*": "fall",
    "winter*": "winter",
    "spring*": "spring",
    "autumn*": "fall",
}
SUBJECT_WORDS = {"behaviour": "behavior", "ela": "reading", "mathematics": "math"}


class ProfileError(ConfigError):
    """A profile file is unreadable or invalid (names the file and the key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """Where a canonical field's value comes from, and how it is translated.

    A bare string in YAML is shorthand for ``{column: ...}``. In wide layouts a column
    name may contain ``{window}``, replaced by each block's label ("Fall", "Winter" ...).
    """

    column: str | None = None
    value: Any = None  # a constant for every row
    pattern: str | None = None  # regular expression; its first group (or match) is kept
    format: str | list[str] | None = None  # date format(s), strptime style
    map: dict[str, Any] = {}  # raw value (or glob such as "Fall*") -> canonical value
    split_name: Literal["first", "last"] | None = None  # "Last, First" or "First Last"
    slug: bool = False  # "North Elementary" -> "north-elementary" (ids from names)
    clip: tuple[float, float] | None = None  # e.g. [1, 99] for a vendor's 0 and 100

    @model_validator(mode="after")
    def _source(self) -> FieldSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of `column` or `value`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(
                    f"pattern {self.pattern!r} is not a regular expression: {err}"
                ) from err
        return self


def _spec(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


class MeasureRule(_Strict):
    """One measure a layout carries: its canonical name and its value columns.

    ``when`` restricts the rule to rows whose columns match glob patterns (e.g.
    ``{Subject: Mathematics}``); a rule with ``skip`` marks matching rows as out of
    scope, with that reason, instead of reading them.
    """

    measure: str | FieldSpec | None = None
    when: dict[str, str | list[str]] = {}
    skip: str | None = None
    subject: Literal["reading", "math", "behavior"] | None = None
    optional: bool = False  # True: an all-empty block is no record (not a missing score)
    score: FieldSpec | None = None
    percentile: FieldSpec | None = None
    vendor_level: FieldSpec | None = None
    date: FieldSpec | None = None

    @field_validator("score", "percentile", "vendor_level", "date", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _spec(value)

    @field_validator("measure", mode="before")
    @classmethod
    def _measure(cls, value: Any) -> Any:
        return value if isinstance(value, str | None) else _spec(value)

    @model_validator(mode="after")
    def _complete(self) -> MeasureRule:
        if self.skip is None and (self.measure is None or self.score is None):
            raise ValueError("a measure rule needs `measure` and `score` (or `skip: reason`)")
        return self


class Detect(_Strict):
    headers: list[str]
    file_pattern: str | None = None

    @field_validator("headers")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one header that identifies the layout")
        return value


class Profile(_Strict):
    """One export layout (one ``config/profiles/*.yml`` file)."""

    name: str
    label: str
    table: Literal["students", "screenings", "interventions", "progress"]
    vendor: str | None = None
    documentation: str | None = None
    detect: Detect
    date_format: str | list[str] = "%Y-%m-%d"
    missing_values: list[str] = []
    skip_values: dict[str, str] = {}  # vendor token -> reason, for a fact with no score
    pii: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    fields: dict[str, FieldSpec]
    wide: dict[Literal["fall", "winter", "spring"], str] | None = None
    measures: list[MeasureRule] = []
    unmatched: Literal["quarantine", "skip"] = "quarantine"
    path: str = ""

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _spec(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _known_fields(self) -> Profile:
        table = CANONICAL[self.table]
        allowed = set(table.columns) | (set(ROSTER_FIELDS) if self.table != "students" else set())
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise ValueError(
                f"fields: {', '.join(unknown)} not a column of the {self.table} table "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if self.table in ("screenings", "progress") and not self.measures:
            missing = [f for f in ("measure", "score") if f not in self.fields]
            if missing:
                raise ValueError(f"fields: map {', '.join(missing)} or list `measures`")
        if "student_id" not in self.fields:
            raise ValueError("fields: student_id must be mapped")
        if self.wide and not self.measures:
            raise ValueError("wide: a wide layout needs `measures` with {window} columns")
        return self

    @property
    def date_formats(self) -> list[str]:
        return [self.date_format] if isinstance(self.date_format, str) else self.date_format

    def feeds_roster(self) -> bool:
        """Whether the layout carries roster columns (so it can add students)."""
        return self.table != "students" and any(
            f in self.fields for f in ("grade", "school_id", "school_name")
        )


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{key}: {error['msg']}"


def load_profile(path: Path | str, config: DistrictConfig | None = None) -> Profile:
    """Load and validate one profile file; measures must exist in ``config``."""
    path = Path(path)
    raw = read_yaml_mapping(path, ProfileError)
    raw.setdefault("name", path.stem)
    raw["path"] = str(path)
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as err:
        lines = "\n  ".join(_describe(e) for e in err.errors())
        raise ProfileError(f"{path}: invalid profile\n  {lines}") from err
    if config is not None:
        for k, rule in enumerate(profile.measures):
            if isinstance(rule.measure, str) and rule.measure not in config.measures:
                raise ProfileError(
                    f"{path}: measures.{k}.measure: {rule.measure!r} is not a measure in "
                    f"district.yml (add it under `measures:` with its valid score range)"
                )
    return profile


def load_profiles(
    directory: Path | str = DEFAULT_PROFILES_DIR, config: DistrictConfig | None = None
) -> dict[str, Profile]:
    """Every ``*.yml`` profile in ``directory``, by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProfileError(f"{directory}: no profiles folder")
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.yml")) + sorted(directory.glob("*.yaml")):
        profile = load_profile(path, config)
        if profile.name in profiles:
            raise ProfileError(
                f"{path}: profile name {profile.name!r} is also used by "
                f"{profiles[profile.name].path}"
            )
        profiles[profile.name] = profile
    if not profiles:
        raise ProfileError(f"{directory}: no *.yml profiles")
    return profiles


# --------------------------------------------------------------------------- detection


def normalise_header(name: object) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


@dataclass(frozen=True)
class Candidate:
    profile: Profile
    missing: tuple[str, ...]

    @property
    def share(self) -> float:
        total = len(self.profile.detect.headers)
        return (total - len(self.missing)) / total


class DetectionError(TierwiseError):
    """No profile, or more than one, fits a file's header."""

    def __init__(self, file: str, message: str, candidates: list[Candidate]):
        self.file, self.candidates = file, candidates
        lines = [f"{file}: {message}"]
        for c in candidates:
            missing = ", ".join(repr(m) for m in c.missing) or "nothing"
            lines.append(f"  - {c.profile.name} ({c.profile.label}): missing {missing}")
        lines.append(
            "  Name the profile with --profile, or add a profile for this layout "
            "to config/profiles/ (see config/profiles/README.md)."
        )
        super().__init__("\n".join(lines))


def candidates_for(headers: list[str], profiles: dict[str, Profile]) -> list[Candidate]:
    """Every profile with the signature columns it misses, best fit first."""
    present = {normalise_header(h) for h in headers}
    found = [
        Candidate(p, tuple(h for h in p.detect.headers if normalise_header(h) not in present))
        for p in profiles.values()
    ]
    return sorted(found, key=lambda c: (len(c.missing) > 0, -c.share, c.profile.name))


def detect_profile(file_name: str, headers: list[str], profiles: dict[str, Profile]) -> Profile:
    """The one profile whose header signature the file has.

    Several fitting profiles are separated by their file-name pattern, then by the most
    specific (longest) signature; a tie is ambiguous. No fit, or a tie, raises
    :class:`DetectionError` naming the closest profiles and the columns each is missing.
    """
    ranked = candidates_for(headers, profiles)
    fits = [c for c in ranked if not c.missing]
    if not fits:
        raise DetectionError(file_name, "unknown layout: no profile fits its header", ranked[:3])
    if len(fits) > 1:
        by_name = [
            c
            for c in fits
            if c.profile.detect.file_pattern
            and fnmatch.fnmatch(file_name.lower(), c.profile.detect.file_pattern.lower())
        ]
        fits = by_name or fits
    if len(fits) > 1:
        longest = max(len(c.profile.detect.headers) for c in fits)
        fits = [c for c in fits if len(c.profile.detect.headers) == longest]
    if len(fits) > 1:
        raise DetectionError(file_name, "ambiguous layout: several profiles fit", fits)
    return fits[0].profile


# --------------------------------------------------------------------------- values


def parse_grade(value: object) -> int | None:
    """'K' -> 0, 'PK' -> -1, 'Two' -> 2, '3' -> 3, '03' -> 3, 'Grade 4' -> 4; else None."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().upper().removeprefix("GRADE").strip()
    if text in GRADE_WORDS:
        return GRADE_WORDS[text]
    text = re.sub(r"(ST|ND|RD|TH)$", "", text)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _lookup(mapping: dict[str, Any]):
    """A case-insensitive lookup with glob patterns ("Fall*") after exact keys."""
    exact = {str(k).strip().casefold(): v for k, v in mapping.items()}
    globs = [(k, v) for k, v in exact.items() if any(ch in k for ch in "*?[")]

    def find(text: str) -> tuple[bool, Any]:
        key = text.strip().casefold()
        if key in exact:
            return True, exact[key]
        for pattern, value in globs:
            if fnmatch.fnmatchcase(key, pattern):
                return True, value
        return False, None

    return find


def normalise_school_year(value: object) -> str | None:
    """'2025-2026', '2025-26', '2025/2026', 'Fall 2025-2026' -> '2025-2026'."""
    if value is None or value is pd.NA:
        return None
    match = re.search(r"(\d{4})\s*[-/–]\s*(\d{2}|\d{4})\b", str(value))
    if not match:
        return None
    first, second = int(match.group(1)), match.group(2)
    second_year = int(second) if len(second) == 4 else (first // 100) * 100 + int(second)
    return f"{first}-{second_year}" if second_year == first + 1 else None


def school_year_of(dates: pd.Series) -> pd.Series:
    """The school year a date falls in: August-December start one, January-July end one."""
    year = dates.dt.year
    first = year.where(dates.dt.month >= 8, year - 1)
    text = first.astype("Int64").astype("str") + "-" + (first + 1).astype("Int64").astype("str")
    return text.where(dates.notna(), None).astype("str")


def window_of(dates: pd.Series, school_years: pd.Series, config: DistrictConfig) -> pd.Series:
    """The configured window a date falls in (None outside every window)."""
    out = pd.Series(None, index=dates.index, dtype="str")
    for year in school_years.dropna().unique():
        in_year = school_years == year
        for window in WINDOW_ORDER:
            if window not in config.windows:
                continue
            try:
                start, end = config.window_dates(str(year), window)
            except ValueError:
                continue
            hit = (
                in_year & (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end)) & out.isna()
            )
            out[hit] = window
    return out


def slugify(value: object) -> str | None:
    if value is None or value is pd.NA:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", str(value).casefold()).strip("-")
    return slug or None


def split_name(value: object, part: str) -> str | None:
    """'Last, First' or 'First Middle Last'; a single word is the first name."""
    if value is None or value is pd.NA:
        return None
    text = " ".join(str(value).split())
    if "," in text:
        last, first = (s.strip() for s in text.split(",", 1))
    elif " " in text:
        first, last = text.rsplit(" ", 1)
    else:
        first, last = text, ""
    chosen = first if part == "first" else last
    return chosen or None


# --------------------------------------------------------------------------- applying

FieldKind = Literal["text", "grade", "number", "integer", "date", "boolean", "window", "year"]


def field_kind(name: str) -> FieldKind:
    if name == "grade":
        return "grade"
    if name == "window":
        return "window"
    if name == "school_year":
        return "year"
    for table in CANONICAL.values():
        kind = table.kind(name)
        if kind != "text":
            return kind  # type: ignore[return-value]
    return "text"


@dataclass
class MappedFile:
    """What one file yields: canonical records, skipped records, derived roster lines."""

    file: str
    profile: Profile
    data_rows: int
    records: pd.DataFrame
    skipped: pd.DataFrame  # source_row, reason
    students: pd.DataFrame | None = None  # roster lines derived from a vendor file
    origins: list[dict[str, str]] = field(default_factory=list)  # field -> source column
    source_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype="int64"))


class LayoutError(TierwiseError):
    """A file does not have a column its profile needs (structural: stops the run)."""

    def __init__(self, file: str, column: str, message: str):
        self.file, self.column = file, column
        super().__init__(f"{file}, column '{column}': {message}")


class _Columns:
    """Case- and space-insensitive access to a file's columns."""

    def __init__(self, frame: pd.DataFrame, file: str):
        self.frame, self.file = frame, file
        self.by_name = {normalise_header(c): c for c in frame.columns}

    def has(self, name: str) -> bool:
        return normalise_header(name) in self.by_name

    def get(self, name: str, required: bool, why: str) -> pd.Series | None:
        key = normalise_header(name)
        if key in self.by_name:
            return self.frame[self.by_name[key]]
        if required:
            raise LayoutError(self.file, name, f"not found ({why})")
        return None

    def actual(self, name: str) -> str:
        return self.by_name.get(normalise_header(name), name)


def _extract(
    spec: FieldSpec,
    columns: _Columns,
    name: str,
    window_label: str | None,
    required: bool,
) -> tuple[pd.Series, str]:
    """The raw text of a field (strings, None for missing) and its source column."""
    if spec.value is not None:
        return fast.constant_text(spec.value, columns.frame.index), "(fixed)"
    column = spec.column.replace("{window}", window_label or "")  # type: ignore[union-attr]
    series = columns.get(column, required, f"the profile reads {name} from it")
    if series is None:
        return fast.constant_text(None, columns.frame.index), column
    text = series
    if spec.pattern is not None:
        series = text = series.astype("str")
        text = text.str.extract(spec.pattern, expand=True).iloc[:, 0].astype("str")
        text = text.where(text.notna() & series.notna(), None)
        # Keep the original text where the pattern did not match, so it can be shown.
        text = text.fillna(series.where(text.isna()))
    return text, columns.actual(column)


def _translate(
    raw: pd.Series,
    name: str,
    spec: FieldSpec,
    profile: Profile,
    config: DistrictConfig,
) -> tuple[pd.Series, pd.Series]:
    """Canonical values from raw text, and the raw text where it could not be read.

    Each distinct text is translated once and the result spread over the rows: exports
    repeat values (a million scores are a few hundred numbers), and a dictionary-encoded
    column hands its distinct values over for free."""
    kind = field_kind(name)
    mapping = {**profile.values.get(name, {}), **spec.map}
    if kind == "window":
        mapping = {**DEFAULT_WINDOW_VALUES, **mapping}
    find = _lookup(mapping) if mapping else None

    def mapped(value, fallback):
        if find is not None:
            hit, out = find(str(value))
            if hit:
                return out
        return fallback(value)

    codes, uniques = fast.distinct_codes(raw)
    index = raw.index
    raw = pd.Series(uniques, dtype="str")  # the distinct texts (none missing)
    if kind == "date":
        own = [spec.format] if isinstance(spec.format, str) else list(spec.format or [])
        # ISO 8601 last: what a spreadsheet's date cells become when read as text.
        values = _parse_dates(raw, [*(own or profile.date_formats), "ISO8601"])
    elif kind == "grade":
        values = fast.on_uniques(raw, lambda v: mapped(v, parse_grade))
        values = pd.array(pd.to_numeric(values, errors="coerce"), dtype="Int64")
        values = pd.Series(values, index=raw.index)
    elif kind in ("number", "integer"):
        text = raw if find is None else fast.on_uniques(raw, lambda v: mapped(v, lambda x: x))
        values = pd.to_numeric(text, errors="coerce")
        if spec.clip is not None:
            values = values.clip(*spec.clip)
        if kind == "integer":
            whole = values.where(values.isna() | (values == np.floor(values)))
            values = pd.Series(pd.array(whole, dtype="Int64"), index=raw.index)
        else:
            values = values.astype("Float64")
    elif kind == "boolean":

        def boolean(v):
            low = str(v).strip().casefold()
            return True if low in TRUE_WORDS else False if low in FALSE_WORDS else None

        values = pd.Series(
            pd.array(fast.on_uniques(raw, lambda v: mapped(v, boolean)), dtype="boolean"),
            index=raw.index,
        )
    elif kind == "window":
        values = fast.on_uniques(raw, lambda v: mapped(v, lambda _: None))
        values = values.where(values.isin(WINDOW_ORDER), None).astype("str")
    elif kind == "year":
        values = fast.on_uniques(raw, lambda v: normalise_school_year(mapped(v, lambda x: x)))
        values = values.astype("str")
    else:
        values = raw
        if spec.split_name is not None:
            values = fast.on_uniques(values, lambda v: split_name(v, spec.split_name))
        if find is not None:
            values = fast.on_uniques(values, lambda v: mapped(v, lambda x: x))
        if spec.slug:
            values = fast.on_uniques(values, slugify)
        if name == "subject":
            values = fast.on_uniques(
                values, lambda v: SUBJECT_WORDS.get(str(v).casefold(), str(v).casefold())
            )
        values = values.astype("str")
    values = pd.Series(values, index=raw.index)
    if kind in ("text", "window", "year"):
        out = fast.categorical_text(codes, values, index)
    else:
        out = pd.Series(values.array.take(codes, allow_fill=True), index=index)
    if kind == "text":
        # Text is never "unreadable"; a name split or a map may leave it empty.
        return out, fast.constant_text(None, index)
    unreadable = raw.notna() & values.isna()
    return out, fast.categorical_text(codes, raw.where(unreadable, None), index)


def _parse_dates(raw: pd.Series, formats: list[str] | None) -> pd.Series | None:
    if not formats:
        return None
    codes, uniques = fast.distinct_codes(raw)
    text = pd.Series(uniques, dtype="str")
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    for fmt in formats:
        todo = parsed.isna()
        if not todo.any():
            break
        if fmt.upper() == "ISO8601":
            attempt = pd.to_datetime(text[todo], errors="coerce", format="ISO8601", utc=True)
            attempt = attempt.dt.tz_localize(None)
        else:
            attempt = pd.to_datetime(text[todo], errors="coerce", format=fmt)
        parsed[todo] = attempt.dt.floor("D").astype("datetime64[s]")
    out = np.concatenate([parsed.to_numpy(), np.array(["NaT"], dtype="datetime64[s]")])
    return pd.Series(out[codes], index=raw.index, dtype="datetime64[s]")


def _row_matches(columns: _Columns, when: dict[str, str | list[str]]) -> pd.Series:
    keep = pd.Series(True, index=columns.frame.index)
    for column, patterns in when.items():
        values = columns.get(column, True, "a measure rule's `when` tests it")
        allowed = [patterns] if isinstance(patterns, str) else patterns
        find = _lookup(dict.fromkeys(allowed, True))
        hit = fast.on_uniques(values, lambda v, find=find: find(str(v))[0])
        keep &= hit.fillna(False).astype(bool)
    return keep


def _skip_token(raw_values: list[pd.Series], tokens: dict[str, str]) -> pd.Series:
    """The reason of the first skip token found in a block's value cells (or None)."""
    if not tokens:
        return pd.Series(None, index=raw_values[0].index, dtype="str")
    find = _lookup(tokens)
    reason = pd.Series(None, index=raw_values[0].index, dtype="str")
    for raw in raw_values:
        found = fast.on_uniques(raw, lambda v: find(str(v))[1])
        reason = reason.fillna(found.astype("str"))
    return reason


def apply_profile(
    frame: pd.DataFrame, profile: Profile, config: DistrictConfig, file: str
) -> MappedFile:
    """Canonical records (plus skipped records and derived roster lines) from one file.

    ``frame`` holds the file's text (missing cells as NA) and ``source_row``. Each
    (row, block, measure rule) whose ``when`` matches is a candidate fact: it is a record
    when it has a value, a skipped record when its score is a vendor skip token (or the
    rule says ``skip``), and nothing when it is empty and the rule is optional (wide
    blocks always are). A row that yields no record at all is a skipped record too, so
    every data row is accounted for.
    """
    columns = _Columns(frame.drop(columns=["source_row"]), file)
    rows = frame["source_row"].to_numpy()
    table = CANONICAL[profile.table]
    none = fast.constant_text(None, frame.index)
    shared: dict[str, tuple[pd.Series, pd.Series, str]] = {}
    for name, spec in profile.fields.items():
        required = name in table.required and name not in ("school_year", "window")
        raw, column = _extract(spec, columns, name, None, required)
        raw = _blank_tokens(raw, [*profile.missing_values, *profile.skip_values])
        values, bad = _translate(raw, name, spec, profile, config)
        shared[name] = (values, bad, column)
    shared_origin = {name: col for name, (_, _, col) in shared.items()}

    if not profile.measures:
        records = _fill_terms(_assemble(shared, rows, file, None, 0), profile, config)
        return MappedFile(
            file,
            profile,
            len(frame),
            records,
            _no_skips(),
            _derived_students(records, profile),
            [shared_origin],
            rows,
        )

    blocks = list(profile.wide.items()) if profile.wide else [(None, None)]
    pieces: list[pd.DataFrame] = []
    skips: list[pd.DataFrame] = []
    origins: list[dict[str, str]] = []
    taken = np.zeros(len(frame), dtype=bool)  # rows claimed by a rule with `when`
    matched = np.zeros(len(frame), dtype=bool)  # rows some reading rule applies to
    for rule in profile.measures:
        match = _row_matches(columns, rule.when).to_numpy() & ~taken
        if rule.when:
            taken |= match
        if rule.skip is not None:
            skips.append(pd.DataFrame({"source_row": rows[match], "reason": rule.skip}))
            continue
        matched |= match
        optional = rule.optional or profile.wide is not None
        for window, label in blocks:
            own: dict[str, tuple[pd.Series, pd.Series, str]] = {}
            value_raws: list[pd.Series] = []
            for name in MEASURE_VALUE_FIELDS:
                spec = getattr(rule, name)
                if spec is None:
                    continue
                raw, column = _extract(spec, columns, name, label, name == "score")
                raw = _blank_tokens(raw, profile.missing_values)
                if name != "date":
                    value_raws.append(raw)
                clean = _blank_tokens(raw, list(profile.skip_values))
                own[name] = (*_translate(clean, name, spec, profile, config), column)
            score_missing = own["score"][0].isna().to_numpy() & own["score"][1].isna().to_numpy()
            token = _skip_token(value_raws, profile.skip_values).to_numpy()
            skip_here = match & score_missing & pd.notna(token)
            if skip_here.any():
                skips.append(
                    pd.DataFrame({"source_row": rows[skip_here], "reason": token[skip_here]})
                )
            has_value = np.logical_or.reduce([r.notna().to_numpy() for r in value_raws])
            keep = match & ~skip_here & (has_value if optional else True)
            if not keep.any():
                continue
            if isinstance(rule.measure, str):
                own["measure"] = (fast.constant_text(rule.measure, frame.index), none, "")
            else:
                mraw, mcol = _extract(rule.measure, columns, "measure", label, True)  # type: ignore[arg-type]
                own["measure"] = (*_translate(mraw, "measure", rule.measure, profile, config), mcol)  # type: ignore[arg-type]
            if rule.subject is not None:
                own["subject"] = (fast.constant_text(rule.subject, frame.index), none, "")
            if window is not None:
                block = fast.constant_text(window, frame.index)
                own["window"] = (block, none, f"{label} block")
            merged = {**shared, **own}
            origins.append({name: col for name, (_, _, col) in merged.items()})
            pieces.append(_assemble(merged, rows, file, keep, len(origins) - 1))

    has_record = (
        np.isin(rows, np.concatenate([p["source_row"].to_numpy() for p in pieces]))
        if pieces
        else np.zeros(len(rows), dtype=bool)
    )
    skipped_rows = (
        np.isin(rows, np.concatenate([s["source_row"].to_numpy() for s in skips]))
        if skips
        else np.zeros(len(rows), dtype=bool)
    )
    no_rule = ~matched & ~skipped_rows & ~has_record
    if no_rule.any():
        if profile.unmatched == "skip":
            skips.append(
                pd.DataFrame(
                    {"source_row": rows[no_rule], "reason": "no measure rule fits the row"}
                )
            )
        else:
            # A row no rule fits is a record of an unknown measure, quarantined later.
            origins.append(shared_origin)
            stray = _assemble(shared, rows, file, no_rule, len(origins) - 1)
            stray["measure"] = fast.constant_text(None, stray.index)
            stray["_raw_measure"] = _describe_unmatched(columns, profile, no_rule)
            pieces.append(stray)
    empty = matched & ~skipped_rows & ~has_record
    if empty.any():
        skips.append(pd.DataFrame({"source_row": rows[empty], "reason": "no score in this row"}))
    if pieces:
        records = pd.concat(pieces, ignore_index=True)
    else:
        records = _assemble(shared, rows, file, np.zeros(len(rows), dtype=bool), 0)
        records["measure"] = pd.Series([], dtype="str")
        records["score"] = pd.Series([], dtype="Float64")
    records = _fill_terms(records, profile, config)
    if "subject" not in profile.fields:
        by_measure = {m: spec.subject for m, spec in config.measures.items()}
        subject = records["measure"].map(by_measure).astype("str")
        records["subject"] = (
            fast.fill_text(records["subject"], subject) if "subject" in records else subject
        )
    skipped = pd.concat(skips, ignore_index=True) if skips else _no_skips()
    skipped = skipped.sort_values("source_row", kind="stable").reset_index(drop=True)
    students = _derived_students(records, profile)
    return MappedFile(file, profile, len(frame), records, skipped, students, origins, rows)


def _no_skips() -> pd.DataFrame:
    return pd.DataFrame(
        {"source_row": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype="str")}
    )


def _describe_unmatched(columns: _Columns, profile: Profile, unclaimed: np.ndarray) -> pd.Series:
    tested = sorted({c for rule in profile.measures for c in rule.when})
    parts = [columns.get(c, True, "a measure rule tests it").astype("str") for c in tested]
    text = parts[0].radd(f"{tested[0]}=") if parts else pd.Series("", index=columns.frame.index)
    for name, part in zip(tested[1:], parts[1:], strict=True):
        text = text + f", {name}=" + part.fillna("")
    return text[unclaimed].reset_index(drop=True).astype("str")


def _blank_tokens(raw: pd.Series, tokens: list[str]) -> pd.Series:
    if not tokens:
        return raw
    folded = {str(t).strip().casefold() for t in tokens}
    hit = fast.on_uniques(raw, lambda v: str(v).strip().casefold() in folded).fillna(False)
    return raw.where(~hit.astype(bool), None)


def _assemble(
    fields: dict[str, tuple[pd.Series, pd.Series, str]],
    rows: np.ndarray,
    file: str,
    keep: np.ndarray | None,
    origin: int,
) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    for name, (values, bad, _) in fields.items():
        chosen = values if keep is None else values[keep]
        data[name] = pd.Series(chosen).reset_index(drop=True)
        if bad.notna().any():
            data[f"_raw_{name}"] = (bad if keep is None else bad[keep]).reset_index(drop=True)
    out = pd.DataFrame(data)
    chosen_rows = rows if keep is None else rows[keep]
    out["source_file"] = fast.constant_text(file, out.index)
    out["source_row"] = chosen_rows
    out["_origin"] = np.int32(origin)
    return out


def _fill_terms(records: pd.DataFrame, profile: Profile, config: DistrictConfig) -> pd.DataFrame:
    """School year and window from the date when the layout has no column for them."""
    if profile.table != "screenings" or records.empty or "date" not in records:
        return records
    if "school_year" not in records:
        records["school_year"] = school_year_of(records["date"])
    elif records["school_year"].isna().any():
        records["school_year"] = fast.fill_text(
            records["school_year"], school_year_of(records["date"])
        )
    if "window" not in records:
        records["window"] = window_of(records["date"], records["school_year"], config)
        outside = records["window"].isna() & records["date"].notna()
        if outside.any():
            raw = records.get("_raw_window", pd.Series(None, index=records.index, dtype="str"))
            note = "date " + records["date"].dt.strftime("%Y-%m-%d") + " is in no window"
            records["_raw_window"] = fast.fill_text(raw, note.where(outside)).astype("str")
    return records


def _derived_students(records: pd.DataFrame, profile: Profile) -> pd.DataFrame | None:
    """One roster line per student in a vendor file: the latest row by date wins."""
    if not profile.feeds_roster() or records.empty:
        return None
    if "grade" not in records or (records["grade"].isna().all() and "_raw_grade" not in records):
        return None  # the export has no grade column: it cannot add students
    cols = [c for c in ROSTER_FIELDS if c in records]
    raws = [c for c in records if c.startswith("_raw_") and c[5:] in cols]
    lineage = ["source_file", "source_row", "_origin"]
    order = records.sort_values(["date", "source_row"] if "date" in records else ["source_row"])
    out = order[[*cols, *raws, *lineage]].drop_duplicates("student_id", keep="last")
    out = out[out["student_id"].notna()].sort_values("source_row").reset_index(drop=True)
    if "school_id" not in out and "school_name" in out:
        out["school_id"] = fast.on_uniques(out["school_name"], slugify).astype("str")
    if "school_name" not in out and "school_id" in out:
        out["school_name"] = out["school_id"]
    return out


def profile_summary(profile: Profile) -> str:
    kind = "wide (one block per window)" if profile.wide else "long"
    measures = sorted({r.measure for r in profile.measures if isinstance(r.measure, str)})
    return (
        f"{profile.name}: {profile.label} -> {profile.table} ({kind}"
        + (f"; measures: {', '.join(measures)}" if measures else "")
        + ")"
    )
