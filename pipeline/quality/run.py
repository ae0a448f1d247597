"""Data quality: Great Expectations checks, the quarantine, the ledger and the reports.

The expectation suites live in ``config/expectations/<table>.json`` (GX Core 1.x suite
JSON). Each row-level expectation carries ``meta.rule`` (the quarantine reason id),
``meta.field`` and ``meta.reason`` (the sentence an analyst reads); suite parameters
(``{"$PARAMETER": "grade_min"}``) come from ``district.yml``. Checks that depend on
configuration or on other tables are first turned into plain columns, so GX validates
one DataFrame per table in one pass (cost linear in rows):

* ``in_roster`` - the student is on the accepted roster;
* ``score_min`` / ``score_max`` - the measure's valid range from ``district.yml``;
* ``window_start`` / ``window_end`` - the window's configured dates in its school year;
* ``superseded_by`` - a later screening of the same student, measure and window exists
  (the latest by date is kept; a tie keeps the row read last);
* ``duplicate_of`` - the roster already has this student_id (the first line is kept).

GX validates each table's *distinct values* rather than every row: the suites hold
row-wise expectations only (a row's result depends on its own value, or value pair, in
the expectation's columns), so the frame GX checks holds each distinct value of a column
(each distinct tuple of columns a pair expectation links) once, and the results are
mapped back to every row holding a failing value, with counts and percentages over all
rows. This is exactly the row-by-row result (``validate(..., distinct=False)``; a test
checks both agree) at the cost of the distinct values: a state's 18 million screenings
hold a few thousand distinct scores. A column a suite only requires to be present (its
one expectation is ``not_be_null``) counts two values, present and missing: the million
distinct student ids would otherwise make GX check a million-row frame.

Rows an expectation lists in its ``unexpected_index_list`` (``result_format=COMPLETE``)
go to the quarantine with file, row, column, value and rule; a row that breaks several
rules is quarantined once, under the first rule in suite order, with the others in
``also_broke``. Per input file the ledger holds records = accepted + quarantined +
skipped (checked here; a mismatch raises), and more than ``quality.quarantine_ceiling``
of a file's records quarantined stops the run.

GX is imported once per run (usage statistics off: no network calls). The Data Docs it
builds are made self-contained afterwards: links to CDNs are dropped and the pages get
the local stylesheet, so they open offline.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import PACKAGE_CONFIG_DIR, DistrictConfig
from pipeline.contract import CANONICAL, LINEAGE
from pipeline.errors import InputError
from pipeline.ingest.mapping import MappedFile

EXPECTATIONS_DIR = PACKAGE_CONFIG_DIR / "expectations"
TABLE_ORDER = ("students", "screenings", "interventions", "progress")
QUARANTINE_COLUMNS = [
    "source_file",
    "source_row",
    "table",
    "column",
    "field",
    "value",
    "rule",
    "reason",
    "also_broke",
    "student_id",
    "measure",
]
LEDGER_COLUMNS = [
    "source_file",
    "profile",
    "table",
    "data_rows",
    "records",
    "accepted",
    "quarantined",
    "skipped",
    "quarantined_by_rule",
    "skipped_by_reason",
]
CHECK_COLUMNS = (
    "in_roster",
    "score_min",
    "score_max",
    "window_start",
    "window_end",
    "superseded_by",
    "duplicate_of",
    "raw_percentile",
    "unreadable",
)

_GX = None


def gx():
    """Great Expectations, imported once per process with usage statistics off."""
    global _GX
    if _GX is None:
        os.environ["GX_ANALYTICS_ENABLED"] = "False"
        import great_expectations

        _GX = great_expectations
    return _GX


@dataclass
class QualityResult:
    """The accepted canonical tables, the quarantine, the ledger and GX's results."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    ledger: pd.DataFrame
    validations: dict[str, object] = field(default_factory=dict)
    validator: object = None  # the run's GX context and suites, for the Data Docs
    seconds: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- suites


def load_suite_specs(directory: Path | str = EXPECTATIONS_DIR) -> dict[str, dict]:
    """The suite JSON of every canonical table."""
    directory = Path(directory)
    specs = {}
    for table in TABLE_ORDER:
        path = directory / f"{table}.json"
        try:
            specs[table] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise InputError(path, "expectation suite not found") from err
        except json.JSONDecodeError as err:
            raise InputError(path, f"not valid JSON: {err}") from err
    return specs


def suite_parameters(config: DistrictConfig) -> dict:
    return {
        "grade_min": config.grades.min,
        "grade_max": config.grades.max,
        "measures": sorted(config.measures),
    }


# Expectations whose per-row result depends only on that row's values in their own
# column(s): validating each distinct value (or value pair) once is exactly equivalent.
ROW_WISE = {
    "expect_column_values_to_not_be_null": ("column",),
    "expect_column_values_to_be_null": ("column",),
    "expect_column_values_to_be_in_set": ("column",),
    "expect_column_values_to_not_be_in_set": ("column",),
    "expect_column_values_to_be_between": ("column",),
    "expect_column_values_to_match_regex": ("column",),
    "expect_column_values_to_not_match_regex": ("column",),
    "expect_column_pair_values_a_to_be_greater_than_b": ("column_A", "column_B"),
    "expect_column_pair_values_to_be_equal": ("column_A", "column_B"),
}
# Expectations on the table's columns and dtypes only (the distinct-value frame has both).
SHAPE_ONLY = {
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_in_type_list",
}


def value_groups(spec: dict) -> list[tuple[str, ...]] | None:
    """The column sets row-wise expectations of a suite read together (columns linked by
    a pair expectation form one set); None when some expectation is not row-wise (or
    has ``mostly``, whose success depends on row counts), so the suite runs on every row."""
    parent: dict[str, str] = {}

    def root(column: str) -> str:
        while parent.setdefault(column, column) != column:
            column = parent[column]
        return column

    for expectation in spec["expectations"]:
        kind, kwargs = expectation["type"], expectation.get("kwargs", {})
        if kind in SHAPE_ONLY:
            continue
        if kind not in ROW_WISE or kwargs.get("mostly", 1) != 1:
            return None
        columns = [kwargs[k] for k in ROW_WISE[kind]]
        for column in columns:
            parent[root(column)] = root(columns[0])
    groups: dict[str, list[str]] = {}
    for column in parent:
        groups.setdefault(root(column), []).append(column)
    return [tuple(g) for g in groups.values()]


def nullness_columns(spec: dict) -> set[str]:
    """Columns a suite only requires to be present (``expect_column_values_to_not_be_null``
    is the one expectation naming them): a row's result there depends on whether its value
    is missing, not on which value it is, and the value GX reports for a failing row is
    the missing value itself. Their two "values" (present, missing) stand for every
    distinct value: a state's million student ids need two rows, not a million."""
    named: dict[str, set[str]] = {}
    for expectation in spec["expectations"]:
        kwargs = expectation.get("kwargs", {})
        for key in ("column", "column_A", "column_B"):
            if key in kwargs:
                named.setdefault(kwargs[key], set()).add(expectation["type"])
    return {c for c, kinds in named.items() if kinds == {"expect_column_values_to_not_be_null"}}


def _nullness_codes(series: pd.Series) -> np.ndarray:
    """A code per row: 0 for the first kind seen of (present, missing), 1 for the other."""
    missing = series.isna().to_numpy()
    if not missing.any() or missing.all():
        return np.zeros(len(series), dtype=np.int8)
    return (missing != missing[0]).view(np.int8)


# Table-length arrays are allocated as few and as small as they can be: at a state's 18
# million screenings each int64 array is 150 MB of fresh memory, which costs more to
# fault in than the arithmetic on it.
# Index arrays are used this many rows at a time (numpy copies an index array as int64).
ROWS_AT_A_TIME = 1 << 20


def _tuple_codes(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """A code 0..k-1 per row for the row's values in ``columns`` (missing is a value),
    as int32."""
    key, span = None, 1
    for column in columns:
        codes, uniques = fast.distinct_codes(frame[column])
        width = len(uniques) + 1
        # Missing (-1) becomes a code of its own, in the smallest dtype that holds it.
        part = codes.astype(np.promote_types(codes.dtype, np.min_scalar_type(len(uniques))))
        part[codes < 0] = len(uniques)
        if key is None:
            key = part
        else:
            if key.dtype != np.int64:
                key = key.astype(np.int64)
            key *= width
            key += part
        span *= width
    if span <= 4 * len(frame) + 1024:
        # Few possible keys: number the ones present in key order (no hashing).
        present = np.zeros(span, dtype=bool)
        for start in range(0, len(key), ROWS_AT_A_TIME):
            present[key[start : start + ROWS_AT_A_TIME]] = True
        return (np.cumsum(present) - 1).astype(np.int32)[key]
    codes, _ = pd.factorize(key)
    return codes.astype(np.int32)


def _any_row_of(codes: np.ndarray, size: int) -> np.ndarray:
    """For each code 0..size-1, a row holding it (the last)."""
    rep = np.empty(size, dtype=np.int64)
    for start in range(0, len(codes), ROWS_AT_A_TIME):
        part = codes[start : start + ROWS_AT_A_TIME]
        rep[part] = np.arange(start, start + len(part), dtype=np.int64)
    return rep


@dataclass
class DistinctValues:
    """The frame GX validates in place of a table: each group's distinct tuples (tiled to
    the longest group), every column and dtype of the table; and the way back to rows."""

    frame: pd.DataFrame
    rows: int
    codes: dict[str, np.ndarray]  # group column -> the tuple code of every table row
    sizes: dict[str, int]  # group column -> number of distinct tuples
    # id of a group's codes -> table rows per distinct tuple (filled when first needed)
    counts: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        frame: pd.DataFrame,
        groups: list[tuple[str, ...]],
        nullness: set[str] | frozenset[str] = frozenset(),
    ) -> DistinctValues:
        """``nullness``: columns whose values matter only as present or missing."""
        n = len(frame)
        codes_of, sizes, reps = {}, {}, {}
        for group in groups:
            present = tuple(c for c in group if c in frame)
            if not present:
                continue
            if len(present) == 1 and present[0] in nullness:
                codes = _nullness_codes(frame[present[0]])
            else:
                codes = _tuple_codes(frame, present)
            size = int(codes.max()) + 1
            rep = _any_row_of(codes, size)
            for column in present:
                codes_of[column], sizes[column] = codes, size
            reps[present] = rep
        longest = max(sizes.values(), default=1)
        data = {}
        for column in frame.columns:
            if column in sizes:
                rep = next(r for g, r in reps.items() if column in g)
                # Row p of the frame holds tuple p % size of the column's group.
                take = rep[np.arange(longest) % sizes[column]]
            else:
                take = np.arange(longest)
            data[column] = frame[column].take(take).reset_index(drop=True)
        return cls(pd.DataFrame(data), n, codes_of, sizes)

    def expand(self, result) -> None:
        """Turn each row-wise result on the distinct values into the result on every row:
        failing rows, counts and percentages over the table's rows."""
        for item in result.results:
            config = item.expectation_config
            names = ROW_WISE.get(config.type)
            res = item.result
            if names is None or res is None or "element_count" not in res:
                continue
            columns = [config.kwargs[k] for k in names]
            if columns[0] not in self.codes:
                continue
            codes, size = self.codes[columns[0]], self.sizes[columns[0]]
            positions = np.asarray(res.get("unexpected_index_list") or [], dtype="int64")
            failing = np.zeros(size, dtype=bool)
            failing[positions % size] = True
            value_of = dict(
                zip((positions % size).tolist(), res.get("unexpected_list") or [], strict=False)
            )
            rows = np.flatnonzero(failing[codes])
            row_values = [value_of.get(t) for t in codes[rows[:MAX_RESULT_RECORDS]].tolist()]
            n, unexpected = self.rows, len(rows)
            expanded = {"element_count": n, "unexpected_count": unexpected}
            denominator = n
            if "missing_count" in res:
                missing_tuple = self._missing(columns, config.kwargs, size)
                weights = self._rows_per_tuple(columns[0])
                missing = int(weights[missing_tuple].sum())
                denominator = n - missing
                expanded["missing_count"] = missing
                expanded["missing_percent"] = missing / n * 100 if n else None
                expanded["unexpected_percent_total"] = unexpected / n * 100 if n else None
                expanded["unexpected_percent_nonmissing"] = (
                    unexpected / denominator * 100 if denominator else None
                )
            expanded["unexpected_percent"] = unexpected / denominator * 100 if denominator else None
            partial = row_values[:PARTIAL]
            expanded.update(
                partial_unexpected_list=partial,
                partial_unexpected_counts=_most_common(row_values),
                partial_unexpected_index_list=rows[:PARTIAL].tolist(),
                unexpected_list=row_values,
                unexpected_index_list=rows.tolist(),
                unexpected_index_query=f"df.filter(items={rows.tolist()}, axis=0)",
            )
            res.update({k: v for k, v in expanded.items() if k in res})

    def _rows_per_tuple(self, column: str) -> np.ndarray:
        """How many table rows hold each distinct tuple of ``column``'s group (counted
        once per group, not once per expectation)."""
        codes = self.codes[column]
        if id(codes) not in self.counts:
            self.counts[id(codes)] = np.bincount(codes, minlength=self.sizes[column])
        return self.counts[id(codes)]

    def _missing(self, columns: list[str], kwargs: dict, size: int) -> np.ndarray:
        """Which distinct tuples GX leaves out as missing (rows 0..size-1 hold each once)."""
        nulls = [self.frame[c].iloc[:size].isna().to_numpy() for c in columns]
        if len(nulls) == 1:
            return nulls[0]
        ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
        if ignore == "either_value_is_missing":
            return nulls[0] | nulls[1]
        if ignore == "both_values_are_missing":
            return nulls[0] & nulls[1]
        return np.zeros(size, dtype=bool)


def _most_common(values: list) -> list[dict]:
    """GX's partial_unexpected_counts: the 20 most common of the listed unexpected values."""
    try:
        common = sorted(Counter(values).most_common(PARTIAL), key=lambda x: (-x[1], x[0]))
    except TypeError:
        return [{"error": "partial_exception_counts requires a hashable type"}]
    return [{"value": key, "count": count} for key, count in common]


PARTIAL = 20  # GX's partial_unexpected_* lists hold the first 20 failures
MAX_RESULT_RECORDS = 200  # great_expectations.constants: unexpected_list holds 200 values


class _Validator:
    """One ephemeral GX context per run; one validation definition per table."""

    def __init__(self, specs: dict[str, dict]):
        g = gx()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        # In memory, no default docs site, no usage statistics: nothing leaves the run.
        project = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
        )
        self.specs = specs
        self.context = g.get_context(mode="ephemeral", project_config=project)
        self.context.variables.progress_bars = {"globally": False}
        source = self.context.data_sources.add_pandas("tierwise")
        self.batches, self.suites, self.batch_ids = {}, {}, {}
        for table, spec in specs.items():
            batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(
                "ingest run"
            )
            expectations = [
                ExpectationConfiguration(
                    type=e["type"],
                    kwargs=e["kwargs"],
                    meta=e.get("meta", {}),
                    description=e.get("description"),
                ).to_domain_obj()
                for e in spec["expectations"]
            ]
            self.suites[table] = self.context.suites.add(
                g.ExpectationSuite(name=table, expectations=expectations, meta=spec.get("meta", {}))
            )
            self.batches[table] = batch

    def validate(self, table: str, frame: pd.DataFrame, parameters: dict, distinct: bool = True):
        """Validate one table; COMPLETE results list every failing row's index.

        With ``distinct`` (and a suite of row-wise expectations), GX validates each
        distinct value of a column (each distinct tuple of the columns row-wise
        expectations read together) once, and the results are mapped back to every row
        that holds it: exactly the failures a row-by-row run finds, at the cost of the
        distinct values. Results are not stored here (storing every index costs as much
        as the checks): the Data Docs store a trimmed copy later."""
        groups = value_groups(self.specs[table]) if distinct and len(frame) else None
        if groups is None:
            batch = self.batches[table].get_batch(batch_parameters={"dataframe": frame})
            self.batch_ids[table] = batch.id
            return batch.validate(
                self.suites[table],
                result_format={"result_format": "COMPLETE"},
                expectation_parameters=parameters,
            )
        values = DistinctValues.of(frame, groups, nullness_columns(self.specs[table]))
        batch = self.batches[table].get_batch(batch_parameters={"dataframe": values.frame})
        self.batch_ids[table] = batch.id
        result = batch.validate(
            self.suites[table],
            result_format={"result_format": "COMPLETE"},
            expectation_parameters=parameters,
        )
        values.expand(result)
        return result

    def store_for_docs(self, table: str, result) -> None:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        suite_id = ExpectationSuiteIdentifier(name=table)
        run_id = RunIdentifier(run_name="tierwise ingest", run_time=dt.datetime.now(dt.UTC))
        self.context.validation_results_store.store_validation_results(
            suite_validation_result=result,
            suite_validation_result_identifier=ValidationResultIdentifier(
                expectation_suite_identifier=suite_id,
                run_id=run_id,
                batch_identifier=self.batch_ids[table],
            ),
            expectation_suite_identifier=suite_id,
        )


# --------------------------------------------------------------------------- checks


def _window_bounds(frame: pd.DataFrame, config: DistrictConfig) -> tuple[pd.Series, pd.Series]:
    # Few distinct (year, window) pairs: one code per row, then take (no per-row look-ups).
    code, pairs = _pair_codes(frame["school_year"], frame["window"])
    starts, ends = {}, {}
    for year, window in pairs:  # every pair of distinct values; absent pairs go unused
        if window not in config.windows:
            continue
        try:
            first, last = config.window_dates(str(year), str(window))
        except ValueError:
            continue
        starts[(year, window)], ends[(year, window)] = pd.Timestamp(first), pd.Timestamp(last)
    first = pd.Series([starts.get(k) for k in pairs] + [None], dtype="datetime64[s]").to_numpy()
    last = pd.Series([ends.get(k) for k in pairs] + [None], dtype="datetime64[s]").to_numpy()
    start = pd.Series(first[code], index=frame.index, dtype="datetime64[s]")
    end = pd.Series(last[code], index=frame.index, dtype="datetime64[s]")
    return start, end


def _pair_codes(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, list[tuple]]:
    """An integer code per row for the pair (a, b) (-1 when either is missing)."""
    ca, ua = fast.distinct_codes(a)
    cb, ub = fast.distinct_codes(b)
    code = np.where((ca < 0) | (cb < 0), -1, ca * max(len(ub), 1) + cb)
    pairs = [(x, y) for x in ua for y in ub]
    return code, pairs


def _label(frame: pd.DataFrame) -> pd.Series:
    return frame["source_file"].astype("str") + " row " + frame["source_row"].astype("str")


def superseded_by(screenings: pd.DataFrame) -> pd.Series:
    """For each screening with a later one of the same student, measure and window: where
    the kept (latest by date, then last read) row is; None otherwise.

    Vectorized: the key columns become one integer, rows are sorted by (key, date, read
    order) with numpy, and the last row of each key is the one kept.
    """
    n = len(screenings)
    out = pd.Series(None, index=screenings.index, dtype="str")
    if n == 0:
        return out
    key = None
    usable = np.ones(n, dtype=bool)
    span = 1
    for column in ("student_id", "measure", "school_year", "window"):
        codes, uniques = fast.distinct_codes(screenings[column])
        usable &= codes >= 0
        # key = key * (len(uniques) + 1) + codes + 1, in place (no table-long temporaries)
        if key is None:
            key = codes.astype("int64")
        else:
            key *= len(uniques) + 1
            key += codes
        key += 1
        span *= len(uniques) + 1
    dates = screenings["date"].to_numpy(dtype="datetime64[s]")
    missing = np.isnat(dates)
    date = dates.view("int64")
    order = screenings["_order"].to_numpy() if "_order" in screenings else np.arange(n)
    if usable.all():  # the usual case: no copies of the key arrays
        sort = _sort_by_key_date_order(key, span, date, missing, order)
    else:
        idx = np.flatnonzero(usable)
        sort = idx[_sort_by_key_date_order(key[idx], span, date[idx], missing[idx], order[idx])]
    sorted_key = key[sort]
    last_of_group = np.r_[sorted_key[1:] != sorted_key[:-1], True]
    group = np.cumsum(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    group -= 1
    kept = sort[last_of_group]  # one per group, in group order
    dup = sort[~last_of_group]
    if dup.size:
        # Label only the kept rows some other row points to (few), not every kept row.
        targets, which = np.unique(group[~last_of_group], return_inverse=True)
        labels = _label(screenings.iloc[kept[targets]]).to_numpy()
        out.iloc[dup] = labels[which]
    return out


def _sort_by_key_date_order(
    key: np.ndarray, span: int, date: np.ndarray, missing: np.ndarray, order: np.ndarray
) -> np.ndarray:
    """The positions that sort rows by (key, date - missing first -, order).

    When the three fit in 63 bits (key < span, dates as days or seconds from the
    earliest, order as a rank), one int64 sort of the packed values does it: a third of
    a three-key lexsort. Otherwise the lexsort."""
    n = len(key)
    if n == 0:
        return np.arange(0)
    present = date[~missing]
    low = int(present.min()) if present.size else 0
    step = 86400 if present.size and not (present % 86400).any() else 1
    rel = date - low
    rel //= step
    rel += 1
    rel[missing] = 0  # missing dates sort first
    date_span = int(rel.max()) + 1
    order_rank = np.argsort(order, kind="stable") if not _is_increasing(order) else None
    bits = [max(int(x - 1).bit_length(), 1) for x in (span, date_span, n)]
    if sum(bits) > 63:
        return np.lexsort((order, rel, key))
    position = np.arange(n, dtype="int64")
    if order_rank is not None:
        position = np.empty(n, dtype="int64")
        position[order_rank] = np.arange(n, dtype="int64")  # rank of each row's order
    # packed = key << (date bits + row bits) | rel << row bits | position, in place
    packed = key << (bits[1] + bits[2])
    rel <<= bits[2]
    packed |= rel
    packed |= position
    del rel, position
    packed.sort()
    packed &= (1 << bits[2]) - 1  # the rank
    return packed if order_rank is None else order_rank[packed]


def _is_increasing(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] > values[:-1]).all())


def duplicate_of(students: pd.DataFrame) -> pd.Series:
    """For each roster line whose student_id an earlier line has: where that line is."""
    ids = students["student_id"]
    dup = ids.notna() & ids.duplicated(keep="first")
    out = pd.Series(None, index=students.index, dtype="str")
    if dup.any():
        first = students[ids.notna() & ~ids.duplicated(keep="first")]
        where = pd.Series(_label(first).to_numpy(), index=first["student_id"].to_numpy())
        out[dup] = where.reindex(ids[dup].to_numpy()).to_numpy()
    return out


def _unreadable_note(frame: pd.DataFrame, fields: tuple[str, ...]) -> pd.Series:
    note = pd.Series(None, index=frame.index, dtype="str")
    for name in fields:
        raw = frame.get(f"_raw_{name}")
        if raw is None:
            continue
        text = name + " '" + raw.astype("str") + "' could not be read"
        note = note.fillna(text.where(raw.notna()))
    return note


def check_frame(
    table: str, records: pd.DataFrame, config: DistrictConfig, roster_ids: pd.Index | None
) -> pd.DataFrame:
    """The records of one table with every canonical column and the check columns."""
    spec = CANONICAL[table]
    frame = records  # the records are this run's own: no copy of a large table
    for column in spec.columns:
        if column not in frame:
            frame[column] = pd.Series(None, index=frame.index, dtype=_dtype(table, column))
    if roster_ids is not None:
        # Hash each distinct id once (ids repeat once per measure and window).
        codes, uniques = fast.distinct_codes(frame["student_id"])
        known = np.r_[fast.isin_text(pd.Index(uniques, dtype="str"), roster_ids), False]
        frame["in_roster"] = pd.Series(known[codes], index=frame.index).where(codes >= 0, None)
    if "score" in spec.columns and "measure" in spec.columns:
        lo = {m: s.min for m, s in config.measures.items()}
        hi = {m: s.max for m, s in config.measures.items()}
        frame["score_min"] = fast.map_distinct(frame["measure"], lo)
        frame["score_max"] = fast.map_distinct(frame["measure"], hi)
    if table == "screenings":
        frame["window_start"], frame["window_end"] = _window_bounds(frame, config)
        frame["superseded_by"] = superseded_by(frame)
        frame["raw_percentile"] = frame.get(
            "_raw_percentile", pd.Series(None, index=frame.index, dtype="str")
        )
    if table == "students":
        frame["school_name"] = fast.fill_text(frame["school_name"], frame["school_id"])
        frame["duplicate_of"] = duplicate_of(frame)
    if table == "interventions":
        frame["unreadable"] = _unreadable_note(
            frame,
            ("end_date", "tier", "sessions_planned", "sessions_attended", "minutes_per_session"),
        )
    return frame.reset_index(drop=True)


DTYPES = {
    "date": "datetime64[s]",
    "integer": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "text": "str",
}


def _dtype(table: str, column: str) -> str:
    return DTYPES[CANONICAL[table].kind(column)]


# --------------------------------------------------------------------------- failures


def _failures(result, table: str) -> tuple[pd.DataFrame, list[str]]:
    """(row index, rule, order, expectation meta) of every row-level failure; and the
    structural expectations that failed."""
    rows, structural = [], []
    for order, item in enumerate(result.results):
        config = item.expectation_config
        meta = config.meta or {}
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise InputError(
                table,
                f"a data-quality check could not run ({config.type}): "
                f"{item.exception_info.get('exception_message')}",
            )
        if item.success:
            continue
        if meta.get("structural") or "rule" not in meta:
            observed = item.result.get("observed_value")
            structural.append(f"{config.description or config.type} (found {observed!r})")
            continue
        index = item.result.get("unexpected_index_list") or []
        if index:
            rows.append(
                pd.DataFrame(
                    {
                        "index": np.asarray(index, dtype="int64"),
                        "rule": meta["rule"],
                        "order": order,
                    }
                )
            )
    if not rows:
        return pd.DataFrame({"index": [], "rule": [], "order": []}), structural
    return pd.concat(rows, ignore_index=True), structural


def _python_values(series: pd.Series) -> list:
    """A column's values as ``DataFrame.to_dict("records")`` gives them (missing values of
    a masked dtype are None), a column at a time: to_dict boxes cell by cell."""
    values = series.tolist()
    masked = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)
    if isinstance(series.array, masked):
        values = [None if v is pd.NA else v for v in values]
    return values


def _reason_texts(
    table: str,
    frame: pd.DataFrame,
    primary: pd.DataFrame,
    metas: dict[str, dict],
    origins: dict[str, list[dict[str, str]]],
    config: DistrictConfig,
) -> pd.DataFrame:
    """The quarantine lines (one per failing row) with column, value and reason."""
    out = []
    # One look-up of the failing rows (only the columns a reason uses, dates as text),
    # then plain dicts: cheap even for many failures.
    wanted = {
        "source_file",
        "source_row",
        "_origin",
        "student_id",
        "measure",
        "window",
        "school_year",
        "window_start",
        "window_end",
        "start_date",
        "sessions_planned",
        "superseded_by",
        "duplicate_of",
        "unreadable",
        "_raw_measure",
    }
    for meta in metas.values():
        wanted |= {meta["field"], f"_raw_{meta['field']}"}
    picked = frame.loc[primary["index"].to_numpy(), [c for c in frame.columns if c in wanted]]
    for column in picked.columns:
        if str(picked[column].dtype).startswith("datetime64"):
            picked[column] = picked[column].dt.strftime("%Y-%m-%d")
    names = list(picked.columns)
    columns = [_python_values(picked[c]) for c in names]
    rows = [dict(zip(names, v, strict=True)) for v in zip(*columns, strict=True)]
    for row, rule, also in zip(rows, primary["rule"], primary["also"], strict=True):
        meta = metas[rule]
        name = meta["field"]
        raw = row.get(f"_raw_{name}")
        value = raw if isinstance(raw, str) else row.get(name)
        if rule == "measure_missing":
            value = row.get("_raw_measure")
        if rule == "value_unreadable":
            value = row.get("unreadable")
        if rule in ("student_not_in_roster", "duplicate_student"):
            value = row.get("student_id")
        if value is None or value is pd.NA or value is pd.NaT:
            value = None
        elif isinstance(value, float) and np.isnan(value):
            value = None
        if isinstance(value, pd.Timestamp):
            value = value.strftime("%Y-%m-%d")
        measure = row.get("measure")
        limits = config.measures.get(measure) if isinstance(measure, str) else None
        context = {
            "value": value,
            "field": name,
            "measure": measure,
            "min": limits.min if limits else float("nan"),
            "max": limits.max if limits else float("nan"),
            "window": row.get("window"),
            "school_year": row.get("school_year"),
            "student_id": row.get("student_id"),
            "start": row.get("window_start") if table == "screenings" else row.get("start_date"),
            "end": row.get("window_end"),
            "planned": row.get("sessions_planned"),
            "other": row.get("superseded_by") if table == "screenings" else row.get("duplicate_of"),
            "grade_min": config.grades.min,
            "grade_max": config.grades.max,
        }
        if value is None and rule.endswith(("_missing", "_unreadable", "_unknown")):
            reason = f"{name} is empty"
        else:
            try:
                reason = meta["reason"].format(**context)
            except (KeyError, ValueError, TypeError):
                reason = f"{rule}: {value!r}"
        origin_list = origins.get(row["source_file"], [])
        k = int(row["_origin"]) if pd.notna(row.get("_origin")) else -1
        column = origin_list[k].get(name, name) if 0 <= k < len(origin_list) else name
        out.append(
            {
                "source_file": row["source_file"],
                "source_row": int(row["source_row"]),
                "table": table,
                "column": column or name,
                "field": name,
                "value": None if value is None else str(value),
                "rule": rule,
                "reason": reason,
                "also_broke": also,
                "student_id": row.get("student_id"),
                "measure": measure if isinstance(measure, str) else None,
            }
        )
    return pd.DataFrame(out, columns=QUARANTINE_COLUMNS)


def _split(
    table: str,
    frame: pd.DataFrame,
    result,
    origins: dict[str, list[dict[str, str]]],
    config: DistrictConfig,
) -> tuple[np.ndarray | None, pd.DataFrame]:
    """(which rows are accepted - None for all -, quarantine lines) of one validated table."""
    failures, structural = _failures(result, table)
    if structural:
        raise InputError(table, "the table fails a structural check: " + "; ".join(structural))
    metas = {
        (item.expectation_config.meta or {})["rule"]: item.expectation_config.meta
        for item in result.results
        if "rule" in (item.expectation_config.meta or {})
    }
    if failures.empty:
        return None, pd.DataFrame(columns=QUARANTINE_COLUMNS)
    failures = failures.drop_duplicates(["index", "rule"]).sort_values(["index", "order"])
    later = failures.duplicated("index")
    # Only rows breaking several rules need a join (few): no per-row Python otherwise.
    also = failures[later].groupby("index")["rule"].agg(", ".join)
    primary = failures[~later].set_index("index")
    primary["also"] = also.reindex(primary.index)
    primary = primary.reset_index()
    quarantine = _reason_texts(table, frame, primary, metas, origins, config)
    accepted = np.ones(len(frame), dtype=bool)
    accepted[frame.index.get_indexer(primary["index"].to_numpy())] = False
    return accepted, quarantine


def _drop_helpers(table: str, frame: pd.DataFrame) -> None:
    """Free the check columns once the quarantine lines are written (a state's screenings:
    a gigabyte), before the canonical tables are built beside the check frame."""
    keep = {*CANONICAL[table].columns, *LINEAGE}
    for column in [c for c in frame.columns if c not in keep]:
        del frame[column]


def _canonical(table: str, frame: pd.DataFrame, accepted: np.ndarray | None) -> pd.DataFrame:
    """The accepted rows of the canonical columns, typed; column by column (two at a time:
    Arrow's and numpy's takes release the GIL), so no copy of the whole check frame is
    made on the way, and no row index is taken along."""
    rows = None if accepted is None or accepted.all() else np.flatnonzero(accepted)
    columns = [*CANONICAL[table].columns, *LINEAGE]

    def typed(column: str) -> pd.Series:
        dtype = "int64" if column == "source_row" else _dtype(table, column)
        if dtype == "str":
            return fast.categorical_as_str(frame[column], rows)
        values = frame[column].array
        return pd.Series(values if rows is None else values.take(rows)).astype(dtype)

    with ThreadPoolExecutor(max_workers=2) as pool:
        out = dict(zip(columns, pool.map(typed, columns), strict=True))
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- run


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


def _records_of(mapped: list[MappedFile], table: str) -> pd.DataFrame:
    frames = [m.records for m in mapped if m.profile.table == table and not m.records.empty]
    if not frames:
        spec = CANONICAL[table]
        empty = {c: pd.Series([], dtype=_dtype(table, c)) for c in spec.columns}
        empty.update(
            source_file=pd.Series([], dtype="str"),
            source_row=pd.Series([], dtype="int64"),
            _origin=pd.Series([], dtype="int32"),
        )
        return pd.DataFrame(empty)
    frame = concat_records(frames)
    frame["_order"] = np.arange(len(frame))
    return frame


def run_quality(
    mapped: list[MappedFile], config: DistrictConfig, release: bool = False
) -> QualityResult:
    """Validate every canonical table; split accepted rows from quarantined ones. With
    ``release``, each file's screening, intervention and probe records are dropped from
    ``mapped`` once their table is built (the ledger keeps their counts): at state scale
    they are gigabytes the caller no longer needs."""
    import time

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    validator = _Validator(load_suite_specs())
    seconds["gx_setup"] = time.perf_counter() - started
    parameters = suite_parameters(config)
    origins = {m.file: m.origins for m in mapped}
    record_counts = {m.file: len(m.records) for m in mapped}
    tables, quarantines, validations = {}, [], {}

    roster, derived_skips = _roster_candidates(mapped, config)
    if roster.empty:
        raise InputError(
            "roster",
            "no students: add a roster file (students.csv) or a vendor export with grade "
            "and school columns",
        )
    started = time.perf_counter()
    frame = check_frame("students", roster, config, None)
    validations["students"] = validator.validate("students", frame, parameters)
    accepted, quarantine = _split("students", frame, validations["students"], origins, config)
    tables["students"] = _canonical("students", frame, accepted)
    quarantines.append(quarantine)
    roster_ids = pd.Index(tables["students"]["student_id"].unique())
    seconds["students"] = time.perf_counter() - started

    for table in ("screenings", "interventions", "progress"):
        started = time.perf_counter()
        frame = check_frame(table, _records_of(mapped, table), config, roster_ids)
        validations[table] = validator.validate(table, frame, parameters)
        accepted, quarantine = _split(table, frame, validations[table], origins, config)
        _drop_helpers(table, frame)
        tables[table] = _canonical(table, frame, accepted)
        del frame  # the check columns are done with: free them before the next table
        if release:
            for m in mapped:
                if m.profile.table == table:
                    m.records = m.records.iloc[:0].copy()  # a slice would keep the data
        quarantines.append(quarantine)
        seconds[table] = time.perf_counter() - started

    quarantine = pd.concat(
        [q for q in quarantines if not q.empty] or [quarantines[0]], ignore_index=True
    )
    quarantine = (
        quarantine.astype({"source_row": "int64"})
        .sort_values(["source_file", "source_row", "table"])
        .reset_index(drop=True)
    )
    ledger = build_ledger(mapped, roster, derived_skips, quarantine, tables, record_counts)
    return QualityResult(tables, quarantine, ledger, validations, validator, seconds)


def _counts(series: pd.Series) -> str:
    counts = series.value_counts()
    return "; ".join(f"{k}: {v}" for k, v in counts.items())


def build_ledger(
    mapped: list[MappedFile],
    roster: pd.DataFrame,
    derived_skips: list[dict],
    quarantine: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    record_counts: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Per input file and table: records = accepted + quarantined + skipped (checked).
    ``record_counts``: each file's number of mapped records, when ``mapped`` no longer
    holds them."""
    lines = []
    accepted_counts = {
        # value_counts hashes the Arrow strings once; a groupby costs twice that at 1M.
        t: frame["source_file"].value_counts(sort=False)
        for t, frame in tables.items()
        if not frame.empty
    }
    for m in mapped:
        n_main = record_counts[m.file] if record_counts is not None else len(m.records)
        feeds = [(m.profile.table, n_main, m.skipped)]
        if m.students is not None and m.profile.table != "students":
            extra = [d for d in derived_skips if d["file"] == m.file]
            skips = pd.DataFrame(
                {
                    "source_row": np.concatenate([d["rows"] for d in extra]) if extra else [],
                    "reason": np.concatenate([d["reasons"] for d in extra]) if extra else [],
                }
            )
            feeds.append(("students", len(m.students), skips))
        for table, n_records, skips in feeds:
            q = quarantine[(quarantine["source_file"] == m.file) & (quarantine["table"] == table)]
            acc = int(accepted_counts.get(table, pd.Series(dtype="int64")).get(m.file, 0))
            main = table == m.profile.table
            line = {
                "source_file": m.file,
                "profile": m.profile.name,
                "table": table,
                "data_rows": m.data_rows if main else n_records,
                # Main table: facts read plus candidate facts skipped; a vendor file's
                # roster lines: one per distinct student (some skipped as already known).
                "records": n_records + len(skips) if main else n_records,
                "accepted": acc,
                "quarantined": len(q),
                "skipped": len(skips),
                "quarantined_by_rule": _counts(q["rule"]),
                "skipped_by_reason": _counts(skips["reason"]) if len(skips) else "",
            }
            lines.append(line)
    ledger = pd.DataFrame(lines, columns=LEDGER_COLUMNS)
    reconcile(ledger, mapped, quarantine, tables)
    return ledger


def reconcile(
    ledger: pd.DataFrame,
    mapped: list[MappedFile],
    quarantine: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
) -> None:
    """Raise unless every record is accepted, quarantined or skipped, and every data row
    of every file appears at least once."""
    total = ledger["accepted"] + ledger["quarantined"] + ledger["skipped"]
    bad = ledger[total != ledger["records"]]
    if not bad.empty:
        first = bad.iloc[0]
        raise InputError(
            first["source_file"],
            f"ledger does not reconcile for {first['table']}: {first['records']} records read, "
            f"{first['accepted']} accepted + {first['quarantined']} quarantined + "
            f"{first['skipped']} skipped",
        )
    for m in mapped:
        table = tables[m.profile.table]
        q = quarantine[
            (quarantine["source_file"] == m.file) & (quarantine["table"] == m.profile.table)
        ]
        seen = np.concatenate(
            [
                m.skipped["source_row"].to_numpy(dtype="int64"),
                table.loc[table["source_file"] == m.file, "source_row"].to_numpy(dtype="int64"),
                q["source_row"].to_numpy(dtype="int64"),
            ]
        )
        rows = np.asarray(m.source_rows, dtype="int64")
        # A mask over row numbers, O(n): np.setdiff1d sorts and took seconds per file.
        found = np.zeros(int(max(rows.max(initial=0), seen.max(initial=0))) + 1, dtype=bool)
        found[seen[seen >= 0]] = True
        lost = rows[~found[rows]] if rows.size else rows
        if lost.size:
            raise InputError(m.file, f"rows not accounted for in the ledger: {lost[:10].tolist()}")


def check_ceiling(ledger: pd.DataFrame, config: DistrictConfig) -> None:
    """Stop when a file's quarantine share is above the ceiling (a wrong profile?)."""
    q = config.quality
    for line in ledger.itertuples(index=False):
        checked = line.accepted + line.quarantined
        if line.quarantined == 0 or checked == 0:
            continue
        share = line.quarantined / checked
        every = line.accepted == 0
        if (share > q.quarantine_ceiling and checked >= q.ceiling_min_records) or every:
            raise InputError(
                line.source_file,
                f"{line.quarantined} of {checked} {line.table} records "
                f"({share:.0%}) break data-quality rules, above the "
                f"{q.quarantine_ceiling:.0%} ceiling (quality.quarantine_ceiling); "
                f"reasons: {line.quarantined_by_rule}. Is profile '{line.profile}' "
                "the right layout for this file? The quarantine was written for review.",
            )


# --------------------------------------------------------------------------- outputs


def write_quarantine(result: QualityResult, term_dir: Path) -> dict[str, Path]:
    """``quarantine.parquet`` + ``quarantine.csv`` and ``ledger.parquet`` (+ ``.csv``)."""
    term_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "quarantine": term_dir / "quarantine.parquet",
        "quarantine_csv": term_dir / "quarantine.csv",
        "ledger": term_dir / "ledger.parquet",
        "ledger_csv": term_dir / "ledger.csv",
    }
    result.quarantine.to_parquet(paths["quarantine"], index=False)
    result.quarantine.to_csv(paths["quarantine_csv"], index=False, lineterminator="\n")
    result.ledger.to_parquet(paths["ledger"], index=False)
    result.ledger.to_csv(paths["ledger_csv"], index=False, lineterminator="\n")
    return paths


_EXTERNAL_TAG = re.compile(
    r"<(?:link|script)\b[^>]*\b(?:href|src)\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>(?:\s*</script>)?",
    re.I,
)
_EXTERNAL_ATTR = re.compile(r"""\b(href|src)\s*=\s*(["'])\s*(?:https?:)?//[^"']*\2""", re.I)
_EXTERNAL_URL = re.compile(r"""url\(\s*(["']?)\s*(?:https?:)?//[^)]*\)""", re.I)
_EXTERNAL_IMPORT = re.compile(r"""@import\s+[^;]*(?:https?:)?//[^;]*;""", re.I)
_SCRIPT_BLOCK = re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S)

DOCS_CSS = """
/* Tierwise: GX Data Docs without CDN assets (bootstrap is not loaded). */
.container-fluid, .row { display: block; }
.col-12, .col-md-2, .col-md-3, .col-md-9, .col-md-10, .ge-main-content { width: 100%; }
nav, .navbar, .ge-sidebar, #sidebar, .sticky, .cooltip, .ge-info, .dropdown-menu { display: none; }
.collapse, .collapse:not(.show) { display: block; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #d9e2ec; padding: 4px 8px; text-align: left; }
.card { border: 1px solid #d9e2ec; border-radius: 6px; margin: 12px 0; padding: 8px 12px; }
.badge { padding: 0 6px; border-radius: 4px; background: #f5f7fa; }
.fa-check-circle, .text-success { color: #1c7c54; }
.fa-times, .text-danger { color: #b42318; }
code, pre { white-space: pre-wrap; word-break: break-word; }
"""


def make_offline(site: Path, stylesheet: str) -> int:
    """Rewrite a Data Docs site so no page loads anything from the network.

    CDN ``<link>``/``<script>`` tags and their inline scripts (which need jQuery and
    Bootstrap from the network) are removed, external ``src``/``href``/``url()`` become
    local or inert, and each page gets the Tierwise stylesheet inline. Returns the
    number of files changed.
    """
    changed = 0
    css_block = f'<style type="text/css">\n{stylesheet}\n{DOCS_CSS}\n</style>'
    for path in sorted(site.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".html", ".css", ".js", ".json"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        new = _EXTERNAL_TAG.sub("", text)
        if path.suffix.lower() == ".html":
            new = _SCRIPT_BLOCK.sub("", new)
            new = new.replace("</head>", f"{css_block}\n</head>", 1)
        new = _EXTERNAL_ATTR.sub(lambda m: f'data-removed-{m.group(1)}=""', new)
        new = _EXTERNAL_URL.sub("none", new)
        new = _EXTERNAL_IMPORT.sub("", new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def _trim_for_docs(result, keep: int = 20) -> None:
    """Data Docs show examples of failing values, not every index of a large run."""
    for item in result.results:
        res = item.result or {}
        for key in ("unexpected_index_list", "unexpected_list"):
            if key in res and isinstance(res[key], list) and len(res[key]) > keep:
                res[key] = res[key][:keep]
        if "unexpected_index_query" in res:
            res["unexpected_index_query"] = "(see quarantine.csv for every row)"


def build_data_docs(result: QualityResult, site: Path, stylesheet: str) -> Path:
    """GX Data Docs of this run's validations in ``site`` (offline); returns its index."""
    validator = result.validator
    context = validator.context
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for table, validation in result.validations.items():
        _trim_for_docs(validation)
        validator.store_for_docs(table, validation)
    context.add_data_docs_site(
        site_name="tierwise",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(site.resolve()),
            },
        },
    )
    context.build_data_docs(site_names=["tierwise"])
    # Images GX copies but the offline pages do not use (logos, animated help).
    shutil.rmtree(site / "static" / "images", ignore_errors=True)
    make_offline(site, stylesheet)
    return site / "index.html"


# --------------------------------------------------------------------------- summary

RULE_HELP = {
    "student_id_missing": "The row has no student id.",
    "student_not_in_roster": "The student id is not on the roster (students.csv or a vendor "
    "file with grade and school). Often a typo or a student who left.",
    "duplicate_screening": "The same student has the same measure twice in one window; the "
    "latest by date is kept.",
    "duplicate_student": "The roster lists the student id twice; the first line is kept.",
    "score_out_of_range": "The score is outside the measure's valid range in district.yml.",
    "score_missing": "The score is empty or not a number.",
    "percentile_out_of_range": "National percentiles run from 1 to 99.",
    "percentile_unreadable": "The percentile is not a number.",
    "date_outside_window": "The test date is outside the window's dates in district.yml.",
    "date_unreadable": "The date could not be read.",
    "window_unknown": "The window is not fall, winter or spring (or the date is in no window).",
    "school_year_unreadable": "The school year is not like 2025-2026.",
    "measure_unknown": "The measure is not configured in district.yml.",
    "measure_missing": "No measure rule of the profile fits the row.",
    "grade_unreadable": "The grade could not be read (K, PK, 0-12, 'Two' ...).",
    "grade_out_of_range": "The grade is outside the configured grades.",
    "school_missing": "The student has no school id.",
    "program_missing": "The enrolment names no program.",
    "start_date_unreadable": "The start date could not be read.",
    "end_before_start": "The intervention ends before it starts.",
    "attended_above_planned": "More sessions attended than planned.",
    "value_unreadable": "An optional value could not be read.",
}


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        '<div class="tw-table-wrap"><table class="tw-table">'
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>"
    )


def summary_html(
    result: QualityResult,
    title: str,
    stylesheet: str,
    generated_at: str,
    data_docs_href: str | None,
    max_rows: int = 200,
) -> str:
    """The one-page data-quality summary: ledger, top reasons, quarantined rows."""
    ledger, quarantine = result.ledger, result.quarantine
    read = int(ledger["records"].sum())
    accepted = int(ledger["accepted"].sum())
    quarantined = int(ledger["quarantined"].sum())
    skipped = int(ledger["skipped"].sum())
    cards = "".join(
        f"<li><strong>{n:,}</strong>{html.escape(label)}</li>"
        for n, label in (
            (len(ledger["source_file"].unique()), "files read"),
            (read, "records read"),
            (accepted, "accepted"),
            (quarantined, "quarantined"),
            (skipped, "skipped (out of scope)"),
        )
    )
    parts = [
        f'<header class="tw-header"><h1>{html.escape(title)}</h1>'
        "<p>What Tierwise read from your exports, what it set aside, and why.</p></header>",
        f'<ul class="tw-cards">{cards}</ul>',
        '<p class="tw-lead">Every record of every file is counted: it is either '
        "<strong>accepted</strong> into the reports, <strong>quarantined</strong> (set aside "
        "because it breaks a rule; fix the export and run again) or <strong>skipped</strong> "
        "(out of scope by the file's profile, e.g. a subject Tierwise does not screen). "
        "Accepted + quarantined + skipped = records read, for every file.</p>",
        "<h2>Files</h2>",
        _table(
            [
                "File",
                "Layout (profile)",
                "Table",
                "Data rows",
                "Records",
                "Accepted",
                "Quarantined",
                "Skipped",
                "Skipped because",
            ],
            [
                [
                    f.source_file,
                    f.profile,
                    f.table,
                    f.data_rows,
                    f.records,
                    f.accepted,
                    f.quarantined,
                    f.skipped,
                    f.skipped_by_reason,
                ]
                for f in ledger.itertuples(index=False)
            ],
        ),
    ]
    if quarantine.empty:
        parts.append('<h2>Quarantined rows</h2><p class="tw-empty">None: every record passed.</p>')
    else:
        top = (
            quarantine.groupby("rule")
            .agg(rows=("rule", "size"), files=("source_file", lambda s: ", ".join(sorted(set(s)))))
            .sort_values("rows", ascending=False)
        )
        parts += [
            "<h2>Top reasons</h2>",
            _table(
                ["Reason", "What it means", "Rows", "Files"],
                [[r, RULE_HELP.get(r, ""), n, f] for r, (n, f) in top.iterrows()],
            ),
            "<h2>Quarantined rows</h2>",
            '<p class="tw-lead">Row numbers are as a spreadsheet shows them (the header is '
            "row 1). The full list is in <code>quarantine.csv</code> beside the processed "
            "tables"
            + (f"; the first {max_rows} are shown" if len(quarantine) > max_rows else "")
            + ".</p>",
            _table(
                ["File", "Row", "Column", "Value", "Reason", "Also broke"],
                [
                    [q.source_file, q.source_row, q.column, q.value, q.reason, q.also_broke]
                    for q in quarantine.head(max_rows).itertuples(index=False)
                ],
            ),
        ]
    if data_docs_href:
        parts.append(
            "<h2>Every check, in detail</h2>"
            f"<p>The full validation results (Great Expectations Data Docs) are "
            f'<a href="{html.escape(data_docs_href)}">here</a>: one page per table, each check '
            "with its pass rate and examples of failing values.</p>"
        )
    parts.append(f'<p class="tw-footer">Generated by Tierwise on {html.escape(generated_at)}.</p>')
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f'<title>{html.escape(title)}</title>\n<style type="text/css">\n{stylesheet}\n</style>\n'
        f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_reports(
    result: QualityResult,
    out_dir: Path,
    title: str,
    stylesheet: str,
    data_docs: bool = True,
) -> Path:
    """``data-quality/index.html`` (the summary) and ``data-quality/data-docs/`` (GX)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    href = None
    if data_docs:
        build_data_docs(result, out_dir / "data-docs", stylesheet)
        href = "data-docs/index.html"
    generated_at = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = summary_html(result, title, stylesheet, generated_at, href)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
