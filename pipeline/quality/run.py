"""Data quality: check every canonical table with Great Expectations, set failing rows
aside in the quarantine, and count every record in the ledger.

The run composes one module per job:

* :mod:`~pipeline.quality.suites` - the suite JSON, its parameters, GX's context;
* :mod:`~pipeline.quality.checks` - the check columns (roster, score range, window
  dates, duplicates, unreadable values) GX validates beside the table's own;
* :mod:`~pipeline.quality.distinct` - GX on each table's distinct values, mapped back
  to rows (what makes 18 million screenings cheap);
* :mod:`~pipeline.quality.quarantine` - failing rows, their reason texts, the split
  into accepted and quarantined rows;
* :mod:`~pipeline.quality.ledger` - records = accepted + quarantined + skipped, per file;
* :mod:`~pipeline.quality.pages` - the Data Docs and the summary page.

``pipeline.stages.ingest`` uses :func:`run_quality`, :func:`write_quarantine`,
:func:`check_ceiling`, :func:`write_reports` and :func:`gx` from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.contract import CANONICAL, QuarantineRule
from pipeline.errors import InputError
from pipeline.ingest.mapping import MappedFile
from pipeline.quality.checks import check_frame, column_dtype, match_ids_ignoring_zeros
from pipeline.quality.ledger import build_ledger, check_ceiling
from pipeline.quality.pages import write_reports
from pipeline.quality.quarantine import (
    QUARANTINE_COLUMNS,
    canonical_table,
    drop_check_columns,
    split_table,
    write_quarantine,
)
from pipeline.quality.suites import Validator, gx, load_suite_specs, suite_parameters

__all__ = [
    "QualityResult",
    "check_ceiling",
    "gx",
    "run_quality",
    "write_quarantine",
    "write_reports",
]


@dataclass
class QualityResult:
    """The accepted canonical tables, the quarantine, the ledger and GX's results."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    ledger: pd.DataFrame
    validations: dict[str, object] = field(default_factory=dict)
    validator: object = None  # the run's GX context and suites, for the Data Docs
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was repaired, for the summary page


def concat_records(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat`` that keeps text columns categorical (one set of categories for all
    frames; pandas makes a column mixing categoricals with other categories ``object``)."""
    if len(frames) > 1:
        columns = {
            c for f in frames for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)
        }
        for column in columns:
            present = [f[column] for f in frames if column in f]
            if all(isinstance(p.dtype, pd.CategoricalDtype) for p in present):
                union = pd.Index(
                    pd.unique(
                        np.concatenate(
                            [np.asarray(p.cat.categories, dtype=object) for p in present]
                        )
                    ),
                    dtype="str",
                )
                dtype = pd.CategoricalDtype(union)
                frames = [
                    f.assign(**{column: f[column].cat.set_categories(union)})
                    if column in f
                    else f.assign(
                        **{
                            column: pd.Series(
                                pd.Categorical.from_codes(np.full(len(f), -1), dtype=dtype),
                                index=f.index,
                            )
                        }
                    )
                    for f in frames
                ]
            else:
                frames = [
                    f.assign(**{column: f[column].astype("str")}) if column in f else f
                    for f in frames
                ]
    return pd.concat(frames, ignore_index=True)


def _roster_candidates(
    mapped: list[MappedFile], config: DistrictConfig
) -> tuple[pd.DataFrame, list[dict]]:
    """Roster-file lines plus vendor-derived lines for students no earlier source has."""
    pieces, skipped = [], []
    known: dict[str, str] = {}
    for m in mapped:
        if m.profile.table == "students":
            pieces.append(m.records.assign(_table_file=m.file))
            for sid in m.records["student_id"].dropna().unique():
                known.setdefault(sid, m.file)
    if config.quality.roster_from_vendor_files:
        for m in mapped:
            if m.students is None or m.students.empty:
                continue
            ids = m.students["student_id"]
            seen = pd.Series(fast.isin_text(ids, known), index=ids.index)
            if seen.any():
                where = ids[seen].map(known)
                skipped.append(
                    {
                        "file": m.file,
                        "rows": m.students.loc[seen, "source_row"].to_numpy(),
                        "reasons": ("student already in the roster (" + where + ")").to_numpy(),
                    }
                )
            fresh = m.students[~seen]
            for sid in fresh["student_id"].unique():
                known[sid] = m.file
            pieces.append(fresh.assign(_table_file=m.file))
    frame = concat_records(pieces) if pieces else pd.DataFrame()
    return frame, skipped


def _records_of(mapped: list[MappedFile], table: str, release: bool = False) -> pd.DataFrame:
    """The records of every file of ``table``, in one frame; with ``release``, each file's
    records are then dropped from ``mapped`` (the frame is all that holds them)."""
    frames = [m.records for m in mapped if m.profile.table == table and not m.records.empty]
    if release:
        for m in mapped:
            if m.profile.table == table:
                m.records = m.records.iloc[:0].copy()  # a slice would keep the data
    if not frames:
        spec = CANONICAL[table]
        empty = {c: pd.Series([], dtype=column_dtype(table, c)) for c in spec.columns}
        empty.update(
            source_file=pd.Series([], dtype="str"),
            source_row=pd.Series([], dtype="int64"),
            _origin=pd.Series([], dtype="int32"),
        )
        return pd.DataFrame(empty)
    frame = concat_records(frames)
    frame["_order"] = np.arange(len(frame))
    return frame


@dataclass
class _Run:
    """What every table's check shares: GX, the suite parameters, the files' column
    origins, the configuration; and what the checks so far produced."""

    validator: Validator
    parameters: dict
    origins: dict[str, list[dict[str, str]]]
    config: DistrictConfig
    encoded_text: bool = False  # the tables' text columns kept categorical
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    quarantines: list[pd.DataFrame] = field(default_factory=list)
    validations: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def check(
        self, table: str, records: Callable[[], pd.DataFrame], roster_ids: pd.Index | None
    ) -> None:
        """Validate one table; keep its accepted rows and its quarantine lines. The
        records are built here, so nothing outside holds them (check_frame adds the check
        columns to them in place) and the check columns are freed before the next table."""
        started = time.perf_counter()
        frame = records()
        if roster_ids is not None and self.config.quality.match_ids_ignoring_leading_zeros:
            matched = match_ids_ignoring_zeros(frame, roster_ids)
            if matched:
                self.notes.append(
                    f"{matched} {table} rows named a student id that differs from a roster "
                    "id only in leading zeros, and were read as that roster id "
                    "(quality.match_ids_ignoring_leading_zeros)."
                )
        frame = check_frame(table, frame, self.config, roster_ids)
        validation = self.validator.validate(table, frame, self.parameters)
        accepted, quarantine = split_table(table, frame, validation, self.origins, self.config)
        drop_check_columns(table, frame)
        self.tables[table] = canonical_table(table, frame, accepted, self.encoded_text)
        self.validations[table] = validation
        self.quarantines.append(quarantine)
        self.seconds[table] = time.perf_counter() - started

    def quarantine(self) -> pd.DataFrame:
        """Every table's quarantine lines, by file and row."""
        lines = self.quarantines
        quarantine = pd.concat([q for q in lines if not q.empty] or [lines[0]], ignore_index=True)
        return (
            quarantine.astype({"source_row": "int64"})
            .sort_values(["source_file", "source_row", "table"])
            .reset_index(drop=True)
        )


def _rejected_count(m: MappedFile) -> int:
    return 0 if m.rejected is None else len(m.rejected)


def rejected_lines(m: MappedFile) -> pd.DataFrame:
    """Quarantine lines for the rows read no further than their fields (ragged rows)."""
    rejected = m.rejected
    return pd.DataFrame(
        {
            "source_file": m.file,
            "source_row": rejected["source_row"].astype("int64"),
            "table": m.profile.table,
            "column": "(whole row)",
            "field": "",
            "value": rejected["value"],
            "rule": str(QuarantineRule.RAGGED_ROW),
            "reason": rejected["reason"],
        },
        columns=QUARANTINE_COLUMNS,
    )


def run_quality(
    mapped: list[MappedFile],
    config: DistrictConfig,
    release: bool = False,
    encoded_text: bool = False,
) -> QualityResult:
    """Validate every canonical table; split accepted rows from quarantined ones. With
    ``release``, each file's screening, intervention and probe records are dropped from
    ``mapped`` once their table is built (the ledger keeps their counts): at state scale
    they are gigabytes the caller no longer needs. With ``encoded_text``, the tables'
    text columns read as categoricals stay categorical (``str`` otherwise): the values
    are the same, in a fraction of the memory (a state's screenings: gigabytes)."""
    started = time.perf_counter()
    validator = Validator(load_suite_specs())
    origins = {m.file: m.origins for m in mapped}
    run = _Run(validator, suite_parameters(config), origins, config, encoded_text)
    run.seconds["gx_setup"] = time.perf_counter() - started
    run.notes.extend(
        f"{m.file} was read as {m.layout.describe()}."
        for m in mapped
        if m.layout is not None and (not m.layout.plain or m.layout.encoding == "utf-16")
    )
    record_counts = {m.file: len(m.records) + _rejected_count(m) for m in mapped}
    run.quarantines.extend(rejected_lines(m) for m in mapped if _rejected_count(m))

    roster, derived_skips = _roster_candidates(mapped, config)
    if roster.empty:
        raise InputError(
            "roster",
            "no students: add a roster file (students.csv) or a vendor export with grade "
            "and school columns",
        )
    run.check("students", lambda: roster, None)
    roster_ids = pd.Index(run.tables["students"]["student_id"].unique(), dtype="str")
    for table in ("screenings", "interventions", "progress"):
        run.check(table, lambda table=table: _records_of(mapped, table, release), roster_ids)

    quarantine = run.quarantine()
    ledger = build_ledger(mapped, roster, derived_skips, quarantine, run.tables, record_counts)
    return QualityResult(
        run.tables, quarantine, ledger, run.validations, validator, run.seconds, run.notes
    )
