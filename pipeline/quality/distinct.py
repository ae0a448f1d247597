"""GX on a table's distinct values instead of its rows: the one adapter.

A row-wise ("map") expectation asks a yes/no question of every row, and the answer
depends only on that row's values in the expectation's own columns. Validating each
distinct value of a column (each distinct tuple of the columns a pair or multicolumn
expectation links) once therefore finds exactly the failing values; every row holding
one of them fails. A state's 18 million screenings hold a few thousand distinct scores,
so GX checks thousands of values instead of millions of rows.

How it stays GX's result:

* which expectations are row-wise is read from GX: the expectation is a
  ``ColumnMapExpectation``, ``ColumnPairMapExpectation`` or ``MulticolumnMapExpectation``
  with no ``row_condition``, and its map condition reads no other row - GX registers
  conditions over other rows as window functions (unique, increasing, decreasing) and
  names the aggregate metrics a condition needs (z-scores, outliers). One map condition
  compares rows without GX marking it: ``compound_columns.unique`` (:data:`ACROSS_ROWS`).
  Expectations GX validates from the table's columns and dtypes alone (its metrics are
  ``table.columns`` / ``table.column_types``) are exact on the distinct-value frame,
  which keeps every column and dtype.
* any other expectation (an aggregate such as a row count or a mean) makes the whole
  suite run on every row: :func:`plan` says why, and :class:`Validator` logs it.
* the result of each row-wise expectation is built by GX: the failing distinct values
  become the metrics of the whole table (row count, missing or filtered rows, unexpected
  count, values, index list and query), and the expectation's own ``metrics_validate``
  turns them into success, percentages and partial lists - ``mostly`` included. The
  list sizes are GX's (``great_expectations.constants.MAX_RESULT_RECORDS`` and the
  result format's ``partial_unexpected_count``).

A column a suite only requires to be present (every expectation naming it is GX's not-null
condition, whose failing value is the missing value) counts two values, present and
missing: the million distinct student ids would otherwise make GX check a million-row
frame. ``tests/test_quality.py`` compares this with a row-by-row GX run for every
expectation of ``config/expectations/``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline import fast

# A map condition that compares rows although GX registers it as a plain map condition:
# compound uniqueness (GX computes it with a GROUP BY on SQL, duplicated() on pandas).
ACROSS_ROWS = frozenset({"compound_columns.unique"})
# Metrics a map condition may depend on and still be row-wise: the table's shape, and the
# row count GX asks for with every map metric.
SHAPE_METRICS = frozenset({"table.columns", "table.column_types"})
ROW_METRICS = SHAPE_METRICS | {"table.row_count"}
# GX's not-null condition: its failing rows are exactly the missing ones.
NOT_NULL = "column_values.nonnull"
# The run's result format: every failing row's index, for the quarantine.
RESULT_FORMAT = {"result_format": "COMPLETE"}


def _copy(result_format):
    """A fresh result format for GX, which may fill in a dict it is given."""
    return dict(result_format) if isinstance(result_format, dict) else result_format


def shape_engine(frame: pd.DataFrame | None = None):
    """A GX pandas engine holding the table's columns and dtypes, no rows: what GX
    consults to choose an expectation's metrics (a type check is a map on an object
    column, an aggregate of the dtype otherwise)."""
    from great_expectations.execution_engine import PandasExecutionEngine

    engine = PandasExecutionEngine()
    engine.load_batch_data("shape", pd.DataFrame() if frame is None else frame.head(0))
    return engine


def _map_kinds() -> tuple[type, ...]:
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation


def _dependencies(expectation, engine, result_format=RESULT_FORMAT) -> dict:
    """The metrics GX computes to validate ``expectation`` on pandas, by name."""
    return expectation.get_validation_dependencies(
        execution_engine=engine, runtime_configuration={"result_format": _copy(result_format)}
    ).metric_configurations


def columns_of(expectation) -> tuple[str, ...]:
    """The columns a map expectation reads (its domain)."""
    column, pair, _ = _map_kinds()
    if isinstance(expectation, column):
        return (expectation.column,)
    if isinstance(expectation, pair):
        return (expectation.column_A, expectation.column_B)
    return tuple(expectation.column_list)


_READS_OTHER_ROWS: dict[str, str | None] = {}


def _condition_reads_other_rows(expectation, engine, needs: dict) -> str | None:
    """Why a map condition's answer for a row depends on other rows (None: it does not),
    from GX's registry: a window function, or an aggregate metric among its
    dependencies (walked recursively)."""
    from great_expectations.core.metric_function_types import MetricPartialFunctionTypes
    from great_expectations.expectations.registry import get_metric_provider
    from great_expectations.validator.metric_configuration import MetricConfiguration

    map_metric = expectation.map_metric
    if map_metric in ACROSS_ROWS:
        return f"{map_metric} compares rows"
    count = needs[f"{map_metric}.unexpected_count"]
    pending = [
        MetricConfiguration(
            f"{map_metric}.condition", count.metric_domain_kwargs, count.metric_value_kwargs
        )
    ]
    while pending:
        metric = pending.pop()
        provider, _ = get_metric_provider(metric.metric_name, engine)
        for _, fn in inspect.getmembers(provider):
            if (
                getattr(fn, "metric_fn_type", None)
                == MetricPartialFunctionTypes.WINDOW_CONDITION_FN
            ):
                return f"GX computes {metric.metric_name} as a window over rows"
        needs = provider.get_evaluation_dependencies(metric=metric, execution_engine=engine)
        for need in needs.values():
            if need.metric_name.endswith((".map", ".condition")):
                pending.append(need)
            elif need.metric_name not in ROW_METRICS:
                return f"{map_metric} needs the aggregate {need.metric_name}"
    return None


def _derivable(map_metric: str, needs: dict) -> str | None:
    """Why GX's result needs a metric :func:`table_metrics` cannot give (None: it can)."""
    for name in needs:
        if name not in ROW_METRICS and name != f"{NOT_NULL}.unexpected_count":
            suffix = name.removeprefix(f"{map_metric}.")
            if suffix == name or suffix not in DERIVED:
                return f"its result needs {name}"
    return None


def kind_of(expectation, engine) -> tuple[str, str | None]:
    """("shape" | "row-wise" | "rows", why): how an expectation is validated.

    "shape": GX reads only the table's columns and dtypes; "row-wise": on the distinct
    values; "rows": on every row, for the reason given."""
    needs = _dependencies(expectation, engine)
    if set(needs) <= SHAPE_METRICS:
        return "shape", None
    if not isinstance(expectation, _map_kinds()):
        return "rows", "not a map expectation (an aggregate of the table)"
    if getattr(expectation, "row_condition", None):
        return "rows", "its row_condition reads other columns"
    try:
        metric = expectation.map_metric
        if metric not in _READS_OTHER_ROWS:  # the same for every column: asked once
            _READS_OTHER_ROWS[metric] = _condition_reads_other_rows(expectation, engine, needs)
        why = _READS_OTHER_ROWS[metric]
    except Exception as err:  # GX has no pandas implementation of the condition
        why = f"GX cannot evaluate {expectation.map_metric} on pandas ({err})"
    why = why or _derivable(expectation.map_metric, needs)
    return ("rows", why) if why else ("row-wise", None)


@dataclass(frozen=True)
class Plan:
    """How a suite is validated: on ``groups`` of distinct values, or on every row when
    ``rows_because`` names an expectation that needs them."""

    groups: list[tuple[str, ...]]
    nullness: frozenset[str]
    rows_because: str | None = None
    row_wise: frozenset[str] = frozenset()  # ids of the expectations validated by value


def plan(expectations: list, engine) -> Plan:
    """The column sets the row-wise expectations read together (columns linked by a pair
    or multicolumn expectation form one set), the nullness columns; or why not."""
    parent: dict[str, str] = {}

    def root(column: str) -> str:
        while parent.setdefault(column, column) != column:
            column = parent[column]
        return column

    conditions: dict[str, set[str]] = {}
    row_wise = set()
    for expectation in expectations:
        kind, why = kind_of(expectation, engine)
        if kind == "rows":
            return Plan([], frozenset(), f"{expectation.expectation_type}: {why}")
        if kind == "shape":
            continue
        row_wise.add(expectation.id)
        columns = columns_of(expectation)
        for column in columns:
            parent[root(column)] = root(columns[0])
            conditions.setdefault(column, set()).add(expectation.map_metric)
    groups: dict[str, list[str]] = {}
    for column in parent:
        groups.setdefault(root(column), []).append(column)
    nullness = {c for c, metrics in conditions.items() if metrics == {NOT_NULL}}
    return Plan([tuple(g) for g in groups.values()], frozenset(nullness), None, frozenset(row_wise))


def value_groups(expectations: list, frame: pd.DataFrame | None = None) -> list | None:
    """The column sets of :func:`plan`; None when the suite runs on every row."""
    suite = plan(expectations, shape_engine(frame))
    return None if suite.rows_because else suite.groups


def nullness_columns(expectations: list, frame: pd.DataFrame | None = None) -> set[str]:
    """Columns a suite only requires to be present (GX's not-null condition is the one
    expectation naming them): a row's result there depends on whether its value is
    missing, not on which value it is, and the value GX reports for a failing row is the
    missing value itself. Their two "values" (present, missing) stand for every distinct
    value: a state's million student ids need two rows, not a million."""
    return set(plan(expectations, shape_engine(frame)).nullness)


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


def _code_dtype(size: int) -> np.dtype:
    """The smallest signed integer dtype that holds the codes 0..size-1 (int64 beyond)."""
    for dtype in (np.int8, np.int16, np.int32):
        if size - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _tuple_codes(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """A code 0..k-1 per row for the row's values in ``columns`` (missing is a value),
    in the smallest signed integer dtype that holds them: each group's codes are held
    while GX runs (a state's screenings: ten groups of 40 million rows)."""
    parts, span = [], 1
    for column in columns:
        codes, uniques = fast.distinct_codes(frame[column])
        width = len(uniques) + 1
        # Missing (-1) becomes a code of its own, in the smallest dtype that holds it.
        part = codes.astype(_code_dtype(width))
        part[codes < 0] = len(uniques)
        parts.append((part, width))
        span *= width
    # key = (part0 * width1 + part1) * width2 + ..., in a dtype that holds every key.
    key = parts[0][0].astype(_code_dtype(span))
    for part, width in parts[1:]:
        key *= width
        key += part
    if span <= 4 * len(frame) + 1024:
        # Few possible keys: number the ones present in key order (no hashing).
        present = np.zeros(span, dtype=bool)
        for start in range(0, len(key), ROWS_AT_A_TIME):
            present[key[start : start + ROWS_AT_A_TIME]] = True
        number = np.cumsum(present) - 1
        return number.astype(_code_dtype(int(number[-1]) + 1))[key]
    codes, uniques = pd.factorize(key)
    return codes.astype(_code_dtype(len(uniques)))


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
    index: pd.Index  # the table's row labels (what GX reports as a row's index)
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
        return cls(pd.DataFrame(data), n, codes_of, sizes, frame.index)

    def expand(self, result, suite: Plan, engine, result_format: dict = RESULT_FORMAT) -> None:
        """Turn each row-wise result on the distinct values into GX's result on every row
        (success, counts, percentages, values and indexes over the table's rows), and the
        suite's statistics with it."""
        from great_expectations.validator.validation_statistics import (
            calc_validation_statistics,
        )

        for item in result.results:
            if item.result is None or (item.exception_info or {}).get("raised_exception"):
                continue
            if item.expectation_config.id not in suite.row_wise:
                continue
            expectation = item.expectation_config.to_domain_obj()
            columns = columns_of(expectation)
            if columns[0] not in self.codes:
                continue
            metrics = self.table_metrics(expectation, item.result, result_format)
            full = expectation.metrics_validate(
                metrics,
                runtime_configuration={"result_format": _copy(result_format)},
                execution_engine=engine,
            )
            item.success, item.result = full.success, full.result
        statistics = calc_validation_statistics(result.results)
        result.success = statistics.success
        for key in ("evaluated_expectations", "successful_expectations"):
            result.statistics[key] = getattr(statistics, key)
        result.statistics["unsuccessful_expectations"] = statistics.unsuccessful_expectations
        result.statistics["success_percent"] = statistics.success_percent

    def table_metrics(self, expectation, distinct_result: dict, result_format) -> dict:
        """GX's metrics of ``expectation`` on the whole table (keyed as GX keys them), from
        its failing distinct values: the tuple of every row tells whether the row fails."""
        from great_expectations.constants import MAX_RESULT_RECORDS
        from great_expectations.expectations.expectation_configuration import (
            parse_result_format,
        )

        columns = columns_of(expectation)
        codes, size = self.codes[columns[0]], self.sizes[columns[0]]
        positions = np.asarray(distinct_result.get("unexpected_index_list") or [], dtype="int64")
        failing = np.zeros(size, dtype=bool)
        failing[positions % size] = True  # row p of the frame holds tuple p % size
        rows = np.flatnonzero(failing[codes])
        ignored = self._ignored(expectation, columns, size)
        skipped = int(self._rows_per_tuple(columns[0])[ignored].sum()) if ignored.any() else 0
        form = parse_result_format(result_format)
        complete = form["result_format"] == "COMPLETE"
        shown = (
            MAX_RESULT_RECORDS
            if complete
            else min(form["partial_unexpected_count"], MAX_RESULT_RECORDS)
        )
        listed = rows if complete else rows[: form["partial_unexpected_count"]]
        values = {
            "table.row_count": self.rows,
            f"{NOT_NULL}.unexpected_count": skipped,
            "unexpected_count": len(rows),
            "filtered_row_count": self.rows - skipped,
            "unexpected_values": lambda: self._values(expectation, codes[rows[:shown]]),
            "unexpected_index_list": lambda: self.index.take(listed).tolist(),
            "unexpected_index_query": lambda: _index_query(self.index.take(rows).tolist(), form),
        }
        return _MetricsByName(values, expectation.map_metric)

    def _values(self, expectation, tuples: np.ndarray) -> list:
        """The failing values as GX's pandas metrics list them: a column's values, a pair's
        value tuples, a multicolumn row's dict."""
        column, pair, _ = _map_kinds()
        columns = list(columns_of(expectation))
        picked = self.frame[columns].take(tuples)
        if isinstance(expectation, column):
            return list(picked[columns[0]])
        if isinstance(expectation, pair):
            return list(zip(picked[columns[0]].values, picked[columns[1]].values, strict=True))
        return picked.to_dict("records")

    def _rows_per_tuple(self, column: str) -> np.ndarray:
        """How many table rows hold each distinct tuple of ``column``'s group (counted
        once per group, not once per expectation)."""
        codes = self.codes[column]
        if id(codes) not in self.counts:
            self.counts[id(codes)] = np.bincount(codes, minlength=self.sizes[column])
        return self.counts[id(codes)]

    def _ignored(self, expectation, columns: tuple[str, ...], size: int) -> np.ndarray:
        """Which distinct tuples GX leaves out of the checked rows (rows 0..size-1 hold
        each once): a column's missing values; a pair's or multicolumn's rows by its
        ``ignore_row_if``."""
        nulls = np.array([self.frame[c].iloc[:size].isna().to_numpy() for c in columns])
        if len(columns) == 1:
            return nulls[0]
        ignore = expectation.ignore_row_if
        if ignore in ("both_values_are_missing", "all_values_are_missing"):
            return nulls.all(axis=0)
        if ignore in ("either_value_is_missing", "any_value_is_missing"):
            return nulls.any(axis=0)
        return np.zeros(size, dtype=bool)  # "neither" / "never"


class _MetricsByName(dict):
    """GX's metrics of one expectation, answered by metric name: GX keys a metric by its
    configuration's id, ``(name, domain kwargs id, value kwargs id)``, and the adapter
    derives one value per name (so GX's dependencies are not computed twice)."""

    def __init__(self, values: dict, map_metric: str):
        super().__init__()
        self.values, self.prefix = values, f"{map_metric}."

    def _value(self, name: str):
        value = self.values.get(name, self.values.get(name.removeprefix(self.prefix)))
        return value() if callable(value) else value

    def __contains__(self, key) -> bool:
        name = key[0]
        return name in self.values or name.removeprefix(self.prefix) in self.values

    def __getitem__(self, key):
        if key not in self:
            raise KeyError(key)
        if key not in self.keys():
            dict.__setitem__(self, key, self._value(key[0]))  # once: values can be lists
        return dict.__getitem__(self, key)


def _index_query(index: list, form: dict) -> str | None:
    """GX's pandas ``unexpected_index_query``: the failing rows as a ``df.filter``."""
    if form.get("return_unexpected_index_query") is False:
        return None
    return f"df.filter(items={index}, axis=0)"


# The map metrics table_metrics derives from the failing distinct values.
DERIVED = frozenset(
    {
        "unexpected_count",
        "filtered_row_count",
        "unexpected_values",
        "unexpected_index_list",
        "unexpected_index_query",
    }
)
