"""The check columns: what a table's checks need beyond its own values, as plain columns.

Checks that depend on configuration or on other tables are first turned into columns of
the table, so each GX suite validates one DataFrame per table (cost linear in rows):

* ``in_roster`` - the student is on the accepted roster;
* ``score_min`` / ``score_max`` - the measure's valid range from ``district.yml``;
* ``window_start`` / ``window_end`` - the window's configured dates in its school year;
* ``superseded_by`` - a later screening of the same student, measure and window exists
  (the latest by date is kept; a tie keeps the row read last);
* ``duplicate_of`` - the roster already has this student_id (the first line is kept);
* ``raw_percentile`` / ``unreadable`` - the text of a value ingest could not read;
* ``roster_id_like`` - for an id not on the roster, the roster id equal to it but for
  leading zeros (the hint of its quarantine reason).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.contract import CANONICAL

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
    "roster_id_like",
)


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
    if not usable.any():  # no row has every key (each is quarantined for what it lacks)
        return out
    if usable.all():  # the usual case: no copies of the key arrays
        sort = _sort_by_key_date_order(key, span, date, missing, order)
    else:
        idx = np.flatnonzero(usable)
        sort = idx[_sort_by_key_date_order(key[idx], span, date[idx], missing[idx], order[idx])]
    sorted_key = key[sort]
    change = sorted_key[1:] != sorted_key[:-1]
    del key, sorted_key  # table-long: freed before the next one is made
    last_of_group = np.r_[change, True]
    group = np.cumsum(np.r_[True, change])
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
    # packed = key << (date bits + row bits) | rel << row bits | position, in place
    packed = key << (bits[1] + bits[2])
    rel <<= bits[2]
    packed |= rel
    del rel  # table-long: freed before the positions are made
    position = np.arange(n, dtype="int64")
    if order_rank is not None:
        position = np.empty(n, dtype="int64")
        position[order_rank] = np.arange(n, dtype="int64")  # rank of each row's order
    packed |= position
    del position
    # The packed values are distinct (each holds its row's rank), so every sort gives the
    # same order; numpy's stable sort of int64 (timsort) is the fastest on exports, which
    # come nearly in key order (39.5 million screenings: 0.5 s, quicksort 3.5 s).
    packed.sort(kind="stable")
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


def ids_up_to_zeros(ids: pd.Series, roster_ids: pd.Index) -> dict[str, str]:
    """For each distinct id not on the roster, the one roster id equal to it but for
    leading zeros ("1234" and "0001234"), where there is exactly one."""
    _, uniques = fast.distinct_codes(ids)
    uniques = pd.Index(uniques, dtype="str")
    unknown = uniques[~fast.isin_text(uniques, roster_ids)]
    if unknown.empty:
        return {}
    core = pd.Series(roster_ids, dtype="str")
    stripped = core.str.lstrip("0")
    unique_core = stripped.drop_duplicates(keep=False)  # a core two roster ids share: no hint
    by_core = pd.Series(core[unique_core.index].to_numpy(), index=unique_core.to_numpy())
    wanted = pd.Series(unknown, dtype="str").str.lstrip("0")
    found = wanted.map(by_core)
    return {u: r for u, r in zip(unknown, found, strict=True) if isinstance(r, str)}


def match_ids_ignoring_zeros(frame: pd.DataFrame, roster_ids: pd.Index) -> int:
    """Read ids that differ from a roster id only in leading zeros as that roster id (the
    opt-in ``quality.match_ids_ignoring_leading_zeros``); returns the rows changed."""
    like = ids_up_to_zeros(frame["student_id"], roster_ids)
    if not like:
        return 0
    ids = frame["student_id"].astype("str")
    changed = ids.isin(list(like))
    frame["student_id"] = ids.where(~changed, ids.map(like))
    return int(changed.sum())


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
            frame[column] = pd.Series(None, index=frame.index, dtype=column_dtype(table, column))
    if roster_ids is not None:
        # Hash each distinct id once (ids repeat once per measure and window).
        codes, uniques = fast.distinct_codes(frame["student_id"])
        known = np.r_[fast.isin_text(pd.Index(uniques, dtype="str"), roster_ids), False]
        frame["in_roster"] = pd.Series(known[codes], index=frame.index).where(codes >= 0, None)
        like = ids_up_to_zeros(frame["student_id"], roster_ids) if not known[:-1].all() else {}
        # Categorical (few ids are off the roster): a byte a row, not a pointer.
        if like:
            hints = [like.get(u) for u in uniques]
            frame["roster_id_like"] = fast.categorical_text(codes, hints, frame.index)
        else:
            frame["roster_id_like"] = fast.constant_text(None, frame.index)
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


def column_dtype(table: str, column: str) -> str:
    """The pandas dtype of a canonical column."""
    return DTYPES[CANONICAL[table].kind(column)]
