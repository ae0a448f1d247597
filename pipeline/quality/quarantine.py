"""The quarantine: failing rows with their reasons, apart from the accepted rows.

Rows an expectation lists in its ``unexpected_index_list`` (``result_format=COMPLETE``)
go to the quarantine with file, row, column, value and rule; a row that breaks several
rules is quarantined once, under the first rule in suite order, with the others in
``also_broke``. A failing expectation without ``meta.rule`` (or with
``meta.structural``) is about the table's shape: the run stops.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.contract import CANONICAL, LINEAGE, QuarantineRule
from pipeline.errors import InputError
from pipeline.ingest.dates import ambiguous_note
from pipeline.quality.checks import column_dtype

if TYPE_CHECKING:
    from pipeline.quality.run import QualityResult

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


# Rules whose reason, for a row without a value, is just "<field> is empty".
SAYS_EMPTY = frozenset(
    r for r in QuarantineRule if r.value.endswith(("_missing", "_unreadable", "_unknown"))
)
# Columns a reason text may quote, besides the rule's own field and its raw text.
REASON_COLUMNS = {
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
    "roster_id_like",
}


def _failing_rows(frame: pd.DataFrame, index: np.ndarray, metas: dict[str, dict]) -> list[dict]:
    """The failing rows as plain dicts of the columns a reason uses (dates as text).

    One look-up of the failing rows, then plain dicts: cheap even for many failures."""
    wanted = set(REASON_COLUMNS)
    for meta in metas.values():
        wanted |= {meta["field"], f"_raw_{meta['field']}"}
    picked = frame.loc[index, [c for c in frame.columns if c in wanted]]
    for column in picked.columns:
        if str(picked[column].dtype).startswith("datetime64"):
            picked[column] = picked[column].dt.strftime("%Y-%m-%d")
    names = list(picked.columns)
    columns = [_python_values(picked[c]) for c in names]
    return [dict(zip(names, v, strict=True)) for v in zip(*columns, strict=True)]


def _shown_value(rule: str, field: str, row: dict):
    """The value a quarantine line shows: the raw text ingest could not read, else the
    checked value (the student id for roster rules); None when missing."""
    raw = row.get(f"_raw_{field}")
    value = raw if isinstance(raw, str) else row.get(field)
    if rule == QuarantineRule.MEASURE_MISSING:
        value = row.get("_raw_measure")
    if rule == QuarantineRule.VALUE_UNREADABLE:
        value = row.get("unreadable")
    if rule in (QuarantineRule.STUDENT_NOT_IN_ROSTER, QuarantineRule.DUPLICATE_STUDENT):
        value = row.get("student_id")
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value


def _reason(table: str, rule: str, meta: dict, value, row: dict, config: DistrictConfig) -> str:
    """The sentence an analyst reads: the suite's ``meta.reason`` filled in."""
    name = meta["field"]
    if value is None and rule in SAYS_EMPTY:
        return f"{name} is empty"
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
    try:
        text = meta["reason"].format(**context)
    except (KeyError, ValueError, TypeError):
        text = f"{rule}: {value!r}"
    return text + _clue(rule, value, row)


DATE_RULES = frozenset({QuarantineRule.DATE_UNREADABLE, QuarantineRule.START_DATE_UNREADABLE})


def _clue(rule: str, value, row: dict) -> str:
    """What the row itself says about the fix: a date's two readings, the roster id an
    unknown id equals but for leading zeros."""
    if rule in DATE_RULES and isinstance(value, str):
        return ambiguous_note(value)
    like = row.get("roster_id_like")
    if rule == QuarantineRule.STUDENT_NOT_IN_ROSTER and isinstance(like, str):
        return (
            f" (the roster has {like!r}: the same id with other leading zeros; "
            "quality.match_ids_ignoring_leading_zeros: true matches them)"
        )
    return ""


def _source_column(row: dict, field: str, origins: dict[str, list[dict[str, str]]]) -> str:
    """The input file's column the field was read from (its profile's mapping)."""
    origin_list = origins.get(row["source_file"], [])
    k = int(row["_origin"]) if pd.notna(row.get("_origin")) else -1
    column = origin_list[k].get(field, field) if 0 <= k < len(origin_list) else field
    return column or field


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
    rows = _failing_rows(frame, primary["index"].to_numpy(), metas)
    for row, rule, also in zip(rows, primary["rule"], primary["also"], strict=True):
        meta = metas[rule]
        name = meta["field"]
        value = _shown_value(rule, name, row)
        measure = row.get("measure")
        out.append(
            {
                "source_file": row["source_file"],
                "source_row": int(row["source_row"]),
                "table": table,
                "column": _source_column(row, name, origins),
                "field": name,
                "value": None if value is None else str(value),
                "rule": rule,
                "reason": _reason(table, rule, meta, value, row, config),
                "also_broke": also,
                "student_id": row.get("student_id"),
                "measure": measure if isinstance(measure, str) else None,
            }
        )
    return pd.DataFrame(out, columns=QUARANTINE_COLUMNS)


def split_table(
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


def drop_check_columns(table: str, frame: pd.DataFrame) -> None:
    """Free the check columns once the quarantine lines are written (a state's screenings:
    a gigabyte), before the canonical tables are built beside the check frame."""
    keep = {*CANONICAL[table].columns, *LINEAGE}
    for column in [c for c in frame.columns if c not in keep]:
        del frame[column]


def canonical_table(
    table: str, frame: pd.DataFrame, accepted: np.ndarray | None, encoded_text: bool = False
) -> pd.DataFrame:
    """The accepted rows of the canonical columns, typed; column by column (two at a time:
    Arrow's and numpy's takes release the GIL), so no copy of the whole check frame is
    made on the way, and no row index is taken along. With ``encoded_text``, a text
    column read as a categorical stays one (a few bytes a row, whatever the text).

    The columns are taken out of ``frame`` (which is left empty): each column of the check
    frame is freed once its typed copy is made, not when the whole table is built."""
    rows = None if accepted is None or accepted.all() else np.flatnonzero(accepted)
    columns = [*CANONICAL[table].columns, *LINEAGE]
    checked = {column: frame.pop(column) for column in columns}

    def typed(column: str) -> pd.Series:
        source = checked.pop(column)
        dtype = "int64" if column == "source_row" else column_dtype(table, column)
        encoded = isinstance(source.dtype, pd.CategoricalDtype)
        if dtype == "str" and encoded and encoded_text:
            values = source.array
            return pd.Series(values if rows is None else values.take(rows))
        if dtype == "str":
            return fast.categorical_as_str(source, rows)
        values = source.array
        return pd.Series(values if rows is None else values.take(rows)).astype(dtype)

    with ThreadPoolExecutor(max_workers=2) as pool:
        out = dict(zip(columns, pool.map(typed, columns), strict=True))
    return pd.DataFrame(out)


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
