"""Applying a profile: the text of one file in, canonical records out.

:func:`apply_profile` turns a file's text into canonical *records*: one per fact
(screening, probe, enrolment or roster line), each with ``source_file`` and ``source_row``
(spreadsheet numbering: the header is row 1) and, where a value could not be read, the
raw text in ``_raw_<field>`` so the quality stage can quarantine it with its value.
Candidate facts that the profile declares out of scope (a subject Tierwise does not
screen, a subtest the vendor marks "Discontinue") become *skipped* records with a reason:
nothing is dropped without a line in the ledger.

The steps: the columns a field reads (case- and space-insensitive), the fields every
record of a row shares, then per measure rule (rows its ``when`` matches) and per block
of columns (one per window in a wide layout) the value fields, skip tokens and the rule's
measure, subject and window; then every row left without a record is accounted for; then
school year and window from the date where the layout has no column for them, and the
roster lines a vendor file adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.contract import CANONICAL
from pipeline.errors import InputError
from pipeline.ingest.dates import WindowSpans
from pipeline.ingest.profiles import (
    ROSTER_FIELDS,
    FieldSpec,
    MeasureRule,
    Profile,
    normalise_header,
)
from pipeline.ingest.sniff import Layout
from pipeline.ingest.values import (
    DEFAULT_WINDOW_VALUES,
    LAST_DATE_FORMAT,
    FieldKind,
    Reading,
    blank_tokens,
    field_kind,
    lookup,
    read_values,
    school_year_of,
    skip_reason,
    slugify,
    window_of,
)

MEASURE_VALUE_FIELDS = ("score", "percentile", "vendor_level", "date")


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
    # rows that are no rows of the header's columns (source_row, value, reason)
    rejected: pd.DataFrame | None = None
    layout: Layout | None = None  # how the file's text was laid out (delimiter, encoding)


class Field(NamedTuple):
    """One canonical field of a file, per row."""

    values: pd.Series  # the canonical values
    bad: pd.Series  # the raw text where it could not be read (NA elsewhere)
    column: str  # the source column ("(fixed)" for a constant, "" when the rule says it)


Fields = dict[str, Field]


# --------------------------------------------------------------------------- columns


class _Columns:
    """Case- and space-insensitive access to a file's columns; a column the profile
    needs and the file lacks stops the run (:class:`InputError` naming the column)."""

    def __init__(self, frame: pd.DataFrame, path: Path | str, windows: WindowSpans | None = None):
        self.frame, self.path = frame, path
        self.windows = windows  # the configured windows, for dates with two readings
        self.by_name = {normalise_header(c): c for c in frame.columns}

    def get(self, name: str, required: bool) -> pd.Series | None:
        key = normalise_header(name)
        if key in self.by_name:
            return self.frame[self.by_name[key]]
        if required:
            raise InputError(self.path, "not found (the profile reads it)", column=name)
        return None

    def actual(self, name: str) -> str:
        return self.by_name.get(normalise_header(name), name)


def _extract(
    spec: FieldSpec, columns: _Columns, window_label: str | None, required: bool
) -> tuple[pd.Series, str]:
    """The raw text of a field (strings, None for missing) and its source column."""
    if spec.value is not None:
        return fast.constant_text(spec.value, columns.frame.index), "(fixed)"
    column = spec.column.replace("{window}", window_label or "")  # type: ignore[union-attr]
    series = columns.get(column, required)
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


def _reading(
    name: str, kind: FieldKind, spec: FieldSpec, profile: Profile, windows: WindowSpans | None
) -> Reading:
    """How the field's values are read: the profile's value map and the field's options."""
    mapping = {**profile.values.get(name, {}), **spec.map}
    if kind == "window":
        mapping = {**DEFAULT_WINDOW_VALUES, **mapping}
    own = [spec.format] if isinstance(spec.format, str) else list(spec.format or [])
    formats = [*(own or profile.date_formats), LAST_DATE_FORMAT]
    find = lookup(mapping) if mapping else None
    decimal = profile.decimal
    return Reading(name, find, formats, spec.split_name, spec.slug, spec.clip, decimal, windows)


def _field(
    raw: pd.Series, name: str, spec: FieldSpec, profile: Profile, column: str, columns: _Columns
) -> Field:
    kind = field_kind(name)
    how = _reading(name, kind, spec, profile, columns.windows)
    return Field(*read_values(raw, kind, how), column)


def _constant(value: str, index: pd.Index, column: str) -> Field:
    return Field(fast.constant_text(value, index), fast.constant_text(None, index), column)


def _origin(fields: Fields) -> dict[str, str]:
    return {name: f.column for name, f in fields.items()}


# --------------------------------------------------------------------------- applying


def apply_profile(
    frame: pd.DataFrame, profile: Profile, config: DistrictConfig, path: Path | str
) -> MappedFile:
    """Canonical records (plus skipped records and derived roster lines) from one file.

    ``frame`` holds the file's text (missing cells as NA) and ``source_row``; ``path`` is
    the file (errors name it; records carry its name as ``source_file``). Each (row,
    block, measure rule) whose ``when`` matches is a candidate fact: it is a record when
    it has a value, a skipped record when its score is a vendor skip token (or the rule
    says ``skip``), and nothing when it is empty and the rule is optional (wide blocks
    always are). A row that yields no record at all is a skipped record too, so every
    data row is accounted for.
    """
    file = Path(path).name
    columns = _Columns(frame.drop(columns=["source_row"]), path, WindowSpans.of(config))
    rows = frame["source_row"].to_numpy()
    shared = _shared_fields(columns, profile)
    if not profile.measures:
        records = _fill_terms(_assemble(shared, rows, file, None, 0), profile, config)
        students = derived_students(records, profile)
        return MappedFile(
            file, profile, len(frame), records, _no_skips(), students, [_origin(shared)], rows
        )
    facts = _Facts(rows, file)
    matched = _apply_measure_rules(facts, columns, shared, profile)
    _account_for_rows(facts, matched, columns, shared, profile)
    records = _measure_records(facts, shared, profile, config)
    students = derived_students(records, profile)
    return MappedFile(
        file, profile, len(frame), records, facts.skipped(), students, facts.origins, rows
    )


def _shared_fields(columns: _Columns, profile: Profile) -> Fields:
    """The fields every record of a row shares (the profile's ``fields``)."""
    table = CANONICAL[profile.table]
    shared: Fields = {}
    for name, spec in profile.fields.items():
        required = name in table.required and name not in ("school_year", "window")
        raw, column = _extract(spec, columns, None, required)
        raw = blank_tokens(raw, [*profile.missing_values, *profile.skip_values])
        shared[name] = _field(raw, name, spec, profile, column, columns)
    return shared


@dataclass
class _Facts:
    """What the measure rules make of a file's rows: records, skipped rows, and for each
    group of records the source column of each field (``_origin`` numbers them)."""

    rows: np.ndarray
    file: str
    records: list[pd.DataFrame] = field(default_factory=list)
    skips: list[pd.DataFrame] = field(default_factory=list)
    origins: list[dict[str, str]] = field(default_factory=list)

    def add(self, fields: Fields, keep: np.ndarray) -> pd.DataFrame:
        self.origins.append(_origin(fields))
        piece = _assemble(fields, self.rows, self.file, keep, len(self.origins) - 1)
        self.records.append(piece)
        return piece

    def skip(self, where: np.ndarray, reason: str | np.ndarray) -> None:
        self.skips.append(pd.DataFrame({"source_row": self.rows[where], "reason": reason}))

    def skipped(self) -> pd.DataFrame:
        skipped = pd.concat(self.skips, ignore_index=True) if self.skips else _no_skips()
        return skipped.sort_values("source_row", kind="stable").reset_index(drop=True)


def _apply_measure_rules(
    facts: _Facts, columns: _Columns, shared: Fields, profile: Profile
) -> np.ndarray:
    """Every measure rule on the rows its ``when`` matches (a row claimed by a rule with
    ``when``, and ``claim`` true, is not offered to later rules); returns the rows some
    reading rule applies to."""
    blocks = list(profile.wide.items()) if profile.wide else [(None, None)]
    taken = np.zeros(len(facts.rows), dtype=bool)
    matched = np.zeros(len(facts.rows), dtype=bool)
    for rule in profile.measures:
        match = _row_matches(columns, rule.when).to_numpy() & ~taken
        if rule.when and rule.claim:
            taken |= match
        if rule.skip is not None:
            facts.skip(match, rule.skip)
            continue
        matched |= match
        for window, label in blocks:
            _apply_block(facts, rule, window, label, match, columns, shared, profile)
    return matched


def _row_matches(columns: _Columns, when: dict[str, str | list[str]]) -> pd.Series:
    keep = pd.Series(True, index=columns.frame.index)
    for column, patterns in when.items():
        values = columns.get(column, True)
        allowed = [patterns] if isinstance(patterns, str) else patterns
        find = lookup(dict.fromkeys(allowed, True))
        hit = fast.on_uniques(values, lambda v, find=find: find(str(v))[0])
        keep &= hit.fillna(False).astype(bool)
    return keep


def _apply_block(
    facts: _Facts,
    rule: MeasureRule,
    window: str | None,
    label: str | None,
    match: np.ndarray,
    columns: _Columns,
    shared: Fields,
    profile: Profile,
) -> None:
    """One rule in one block of columns: a record per matched row with a value, a
    skipped record where the score is a skip token."""
    own, value_cells = _value_fields(rule, label, columns, profile)
    score = own["score"]
    score_missing = score.values.isna().to_numpy() & score.bad.isna().to_numpy()
    token = skip_reason(value_cells, profile.skip_values).to_numpy()
    skip_here = match & score_missing & pd.notna(token)
    if skip_here.any():
        facts.skip(skip_here, token[skip_here])
    has_value = np.logical_or.reduce([r.notna().to_numpy() for r in value_cells])
    optional = rule.optional or profile.wide is not None
    keep = match & ~skip_here & (has_value if optional else True)
    if keep.any():
        own.update(_rule_fields(rule, window, label, columns, profile))
        facts.add({**shared, **own}, keep)


def _value_fields(
    rule: MeasureRule, label: str | None, columns: _Columns, profile: Profile
) -> tuple[Fields, list[pd.Series]]:
    """A rule's value fields in one block, and the raw text of its value cells (score,
    percentile, level: where a skip token, or any value at all, is looked for)."""
    own: Fields = {}
    value_cells: list[pd.Series] = []
    for name in MEASURE_VALUE_FIELDS:
        spec = getattr(rule, name)
        if spec is None:
            continue
        raw, column = _extract(spec, columns, label, name == "score")
        raw = blank_tokens(raw, profile.missing_values)
        if name != "date":
            value_cells.append(raw)
        clean = blank_tokens(raw, list(profile.skip_values))
        own[name] = _field(clean, name, spec, profile, column, columns)
    return own, value_cells


def _rule_fields(
    rule: MeasureRule, window: str | None, label: str | None, columns: _Columns, profile: Profile
) -> Fields:
    """The measure (a name, or a column), subject and window a rule gives its records."""
    index = columns.frame.index
    out: Fields = {}
    if isinstance(rule.measure, str):
        out["measure"] = _constant(rule.measure, index, "")
    else:
        raw, column = _extract(rule.measure, columns, label, True)  # type: ignore[arg-type]
        out["measure"] = _field(raw, "measure", rule.measure, profile, column, columns)  # type: ignore[arg-type]
    if rule.subject is not None:
        out["subject"] = _constant(rule.subject, index, "")
    if window is not None:
        out["window"] = _constant(window, index, f"{label} block")
    return out


def _account_for_rows(
    facts: _Facts, matched: np.ndarray, columns: _Columns, shared: Fields, profile: Profile
) -> None:
    """A row no rule reads becomes a record of an unknown measure (quarantined later) or,
    with ``unmatched: skip``, a skipped record; a row a rule reads without any value
    becomes a skipped record ("no score in this row")."""
    rows = facts.rows
    has_record = _among(rows, facts.records)
    skipped_rows = _among(rows, facts.skips)
    no_rule = ~matched & ~skipped_rows & ~has_record
    if no_rule.any():
        if profile.unmatched == "skip":
            facts.skip(no_rule, "no measure rule fits the row")
        else:
            stray = facts.add(shared, no_rule)
            stray["measure"] = fast.constant_text(None, stray.index)
            stray["_raw_measure"] = _describe_unmatched(columns, profile, no_rule)
    empty = matched & ~skipped_rows & ~has_record
    if empty.any():
        facts.skip(empty, "no score in this row")


def _among(rows: np.ndarray, frames: list[pd.DataFrame]) -> np.ndarray:
    """Which rows some frame's ``source_row`` names."""
    if not frames:
        return np.zeros(len(rows), dtype=bool)
    return np.isin(rows, np.concatenate([f["source_row"].to_numpy() for f in frames]))


def _describe_unmatched(columns: _Columns, profile: Profile, unclaimed: np.ndarray) -> pd.Series:
    """What the rules test, as the row has it ("Subject=Science, Test=Fall")."""
    tested = sorted({c for rule in profile.measures for c in rule.when})
    parts = [columns.get(c, True).astype("str") for c in tested]
    text = parts[0].radd(f"{tested[0]}=") if parts else pd.Series("", index=columns.frame.index)
    for name, part in zip(tested[1:], parts[1:], strict=True):
        text = text + f", {name}=" + part.fillna("")
    return text[unclaimed].reset_index(drop=True).astype("str")


def _measure_records(
    facts: _Facts, shared: Fields, profile: Profile, config: DistrictConfig
) -> pd.DataFrame:
    """The records of every rule and block, with terms and (from the measure) subjects."""
    if facts.records:
        records = pd.concat(facts.records, ignore_index=True)
    else:
        nothing = np.zeros(len(facts.rows), dtype=bool)
        records = _assemble(shared, facts.rows, facts.file, nothing, 0)
        records["measure"] = pd.Series([], dtype="str")
        records["score"] = pd.Series([], dtype="Float64")
    records = _fill_terms(records, profile, config)
    if "subject" not in profile.fields:
        by_measure = {m: spec.subject for m, spec in config.measures.items()}
        subject = records["measure"].map(by_measure).astype("str")
        records["subject"] = (
            fast.fill_text(records["subject"], subject) if "subject" in records else subject
        )
    return records


def _no_skips() -> pd.DataFrame:
    return pd.DataFrame(
        {"source_row": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype="str")}
    )


def _assemble(
    fields: Fields, rows: np.ndarray, file: str, keep: np.ndarray | None, origin: int
) -> pd.DataFrame:
    """The records of the rows in ``keep`` (all when None): a column per field, a
    ``_raw_<field>`` column where some value could not be read, and the lineage."""
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


# --------------------------------------------------------------------------- terms, roster


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


def derived_students(records: pd.DataFrame, profile: Profile) -> pd.DataFrame | None:
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
