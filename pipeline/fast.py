"""The few measured fast paths, named for what they do; rules and statistics call them.

A state's tables hold millions of rows but few distinct values in most columns (nine
measures, a few thousand scores), so the work is done once per distinct value and
broadcast back; text ids are looked up in Arrow hash tables. Each helper states the plain
pandas expression it equals, and keeps its result identical to that expression.

* once per distinct value: :func:`distinct_codes`, :class:`Coded`, :func:`on_uniques`,
  :func:`map_distinct`, :func:`distinct_rows`, :func:`number_text`, :func:`as_string`,
  :func:`concat_once`;
* text as dictionary-encoded (categorical) columns: :func:`categorical_text`,
  :func:`constant_text`, :func:`fill_text`, :func:`categorical_as_str`,
  :func:`categorical_columns_as_str`, :func:`dictionary_encode`;
* Arrow hash look-ups of text ids: :func:`isin_text`, :func:`join_roster`;
* integer-coded groups (one student x subject): :func:`group_codes`, :func:`pairs_in`,
  :func:`arrays_by_group`;
* sorted runs (one student x subject after another): :func:`runs`, :func:`rank_in_runs`,
  :func:`any_in_runs`, :func:`join_runs`, :func:`join_in_groups`, :func:`sort_rank`;
* rows as named tuples without per-value Arrow conversion: :func:`itertuples`.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def distinct_codes(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A code per row into the distinct values (-1 when missing), and those values.

    Text read from a file is categorical (dictionary-encoded by the reader): its codes
    and categories are used as they are; any other series is factorized."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), series.cat.categories
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, pd.Index(uniques)


class Coded(NamedTuple):
    """A column as a code per row (-1: missing) into its distinct values, so that a look-up
    is done once per distinct value (nine measures, millions of rows)."""

    codes: np.ndarray
    uniques: pd.Index

    @classmethod
    def of(cls, series: pd.Series) -> Coded:
        return cls(*distinct_codes(series))

    def map(self, mapping: dict, dtype=object, missing=None) -> np.ndarray:
        """``series.map(mapping)`` as an array, ``missing`` where a value is missing or not
        in ``mapping``."""
        values = [mapping.get(u, missing) for u in self.uniques] + [missing]
        return np.array(values, dtype=dtype)[self.codes]  # code -1 takes the last

    def text(self, rows: np.ndarray) -> pa.Array:
        """The values of ``rows`` as Arrow text, decoded from the codes (no Python string
        per row)."""
        codes = self.codes[rows]
        dictionary = pa.array(np.asarray(self.uniques, dtype=object), pa.string())
        indices = pa.array(codes, mask=codes < 0)
        return pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()


def on_uniques(series: pd.Series, func) -> pd.Series:
    """Apply a scalar function once per distinct value (exports repeat values a lot)."""
    codes, uniques = distinct_codes(series)
    if len(uniques) == 0:
        return pd.Series([None] * len(series), index=series.index, dtype=object)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def map_distinct(series: pd.Series, mapping: dict, dtype: str = "float64") -> pd.Series:
    """``series.map(mapping)`` through its distinct values (few measures, many rows)."""
    codes, uniques = distinct_codes(series)
    values = pd.Series([mapping.get(u) for u in uniques] + [None], dtype=dtype).to_numpy()
    return pd.Series(values[codes], index=series.index, dtype=dtype)


def categorical_text(codes: np.ndarray, values, index: pd.Index) -> pd.Series:
    """Text per row from a code per row (-1: missing) into ``values`` (None: missing),
    as a categorical of its distinct values (a few bytes a row, whatever the text)."""
    value_codes, uniques = pd.factorize(pd.Series(values, dtype="str"), use_na_sentinel=True)
    if not np.array_equal(value_codes, np.arange(len(value_codes))):
        # Some values repeat or are missing: recode (otherwise the codes stand as they are).
        codes = np.r_[value_codes, -1][codes] if len(codes) else np.array([], dtype="int64")
    dtype = pd.CategoricalDtype(pd.Index(uniques, dtype="str"))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False), index=index)


def constant_text(value: object, index: pd.Index) -> pd.Series:
    """The same text (or missing, for None) on every row, as a categorical."""
    codes = np.full(len(index), -1 if value is None else 0, dtype="int8")
    dtype = pd.CategoricalDtype(pd.Index([] if value is None else [str(value)], dtype="str"))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False), index=index)


def fill_text(series: pd.Series, other: pd.Series) -> pd.Series:
    """``series.fillna(other)`` for text, categorical or not."""
    if not series.isna().any():
        return series
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype("str")
    if isinstance(other.dtype, pd.CategoricalDtype):
        other = other.astype("str")
    return series.fillna(other)


def categorical_as_str(series: pd.Series, rows: np.ndarray | None = None) -> pd.Series:
    """A text column (its ``rows`` only, when given) as the ``str`` dtype; a categorical
    through Arrow (one take of its categories, not a Python string per row)."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        values = series.array if rows is None else series.array.take(rows)
        return pd.Series(values, index=series.index if rows is None else None).astype("str")
    codes = series.cat.codes.to_numpy()
    if rows is not None:
        codes = codes[rows]
    # Arrow text categories are taken as they are (no Python string per category).
    text = _arrow_text(series.cat.categories).take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.array(text, dtype="str"), index=series.index if rows is None else None)


def categorical_columns_as_str(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its categorical columns as ``str``
    (``frame.astype({c: "str" for c in categorical})``), each by :func:`categorical_as_str`."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not text:
        return frame
    return frame.assign(**{c: categorical_as_str(frame[c]) for c in text})


def dictionary_encode(column: pa.ChunkedArray, parts: int = 2) -> pa.ChunkedArray:
    """``column.dictionary_encode()``: one dictionary for every chunk, in order of first
    appearance. Runs of chunks are encoded in ``parts`` threads (Arrow releases the GIL),
    then each run's new values are appended to the dictionary and its indices moved to
    it: the same dictionary and indices (a state's 40 million student ids: seconds of
    hashing each)."""
    from concurrent.futures import ThreadPoolExecutor

    if column.num_chunks < parts:
        return column.dictionary_encode()
    bounds = np.linspace(0, column.num_chunks, parts + 1).astype(int)
    runs = [
        pa.chunked_array(column.chunks[a:b], column.type) for a, b in itertools.pairwise(bounds)
    ]
    with ThreadPoolExecutor(parts, thread_name_prefix="encode") as pool:
        encoded = list(pool.map(pa.ChunkedArray.dictionary_encode, runs))
    dictionary = encoded[0].chunks[0].dictionary
    indices = [chunk.indices for chunk in encoded[0].chunks]
    for run in encoded[1:]:
        own = run.chunks[0].dictionary
        moved = pc.index_in(own, value_set=dictionary).fill_null(-1).to_numpy().copy()
        unseen = moved < 0  # appended after the dictionary, in their order
        moved[unseen] = len(dictionary) + np.arange(unseen.sum())
        dictionary = pa.concat_arrays([dictionary, own.filter(pa.array(unseen))])
        moved = pa.array(moved.astype(np.int32))
        indices += [moved.take(chunk.indices) for chunk in run.chunks]
    return pa.chunked_array([pa.DictionaryArray.from_arrays(i, dictionary) for i in indices])


def _arrow_text(text) -> pa.Array:
    """Text (a Series, Index, pandas array or list) as an Arrow large string array."""
    array = getattr(text, "array", text)
    if isinstance(getattr(array, "dtype", None), pd.StringDtype):
        return pa.array(array).cast(pa.large_string())  # Arrow-backed already
    return pa.array(np.asarray(list(text), dtype=object), type=pa.large_string(), from_pandas=True)


def isin_text(values: pd.Series | pd.Index, allowed) -> np.ndarray:
    """``values.isin(allowed).to_numpy()`` for text, hashed by Arrow (pandas' str isin
    converts every allowed value to a Python scalar: slow for a roster of a million ids)."""
    hit = pc.fill_null(pc.is_in(_arrow_text(values), value_set=_arrow_text(allowed)), False)
    return hit.to_numpy(zero_copy_only=False)


def positions_in(values: pd.Series, lookup: pd.Series | pd.Index) -> np.ndarray:
    """``pd.Index(lookup).get_indexer(values)`` for text with unique ``lookup`` values (-1
    where absent), hashed by Arrow (pandas' get_indexer of text is slower at 1M ids)."""
    found = pc.index_in(_arrow_text(values), value_set=_arrow_text(lookup))
    return found.fill_null(-1).to_numpy().astype(np.int64)


def join_roster(rows: pd.DataFrame, students: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``rows.merge(roster, on="student_id", how="inner")`` (roster: student_id, school_id,
    grade; the order of ``rows`` kept) with each row's position in ``students``.

    A hash lookup of the ids (pyarrow ``index_in``) rather than a merge, when ids are unique.
    """
    roster = students[["student_id", "school_id", "grade"]]
    if {"school_id", "grade"} & set(rows.columns) or not roster["student_id"].is_unique:
        frame = rows.merge(
            roster.assign(_position=np.arange(len(roster))), on="student_id", how="inner"
        )
        return frame.drop(columns="_position"), frame["_position"].to_numpy()

    position = positions_in(rows["student_id"], roster["student_id"])
    on_roster = np.flatnonzero(position >= 0)
    if len(on_roster) < len(rows):
        rows, position = rows.iloc[on_roster], position[on_roster]
    rows = rows.reset_index(drop=True)
    return rows.assign(
        school_id=roster["school_id"].take(position).reset_index(drop=True),
        grade=roster["grade"].take(position).reset_index(drop=True),
    ), position


def distinct_rows(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A code per row for its combination of ``columns`` (0, 1, ... in order of first
    appearance) and the position of each combination's first row.

    Exact: floats are compared by their bits (``-0.0`` is not ``0.0``, ``NaN`` is not
    ``<NA>``), so every row of a combination gives the same result as its first row.
    """
    code = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values.dtype):
            missing = values.isna().to_numpy()
            bits = values.to_numpy(dtype=np.float64, na_value=np.nan).view(np.int64).copy()
            bits[missing] = 0
            part, uniques = pd.factorize(bits)
            part, size = part * 2 + missing, 2 * len(uniques)
        else:
            part, uniques = pd.factorize(values)  # missing values: -1
            part, size = part + 1, len(uniques) + 1
        code, _ = pd.factorize(code * size + part)
    first = np.flatnonzero(~pd.Series(code).duplicated().to_numpy())
    return code, first


def runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: the run number of each element and the start of each run."""
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys[:0]
    return np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(keys)])), start


def rank_in_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: each element's place in its run (0, 1, ...) and its run's
    length: ``groupby(keys).cumcount()`` and ``groupby(keys).transform("size")``."""
    run, start = runs(keys)
    return np.arange(len(keys)) - start[run], np.diff(np.r_[start, len(keys)])[run]


def any_in_runs(keys: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """For sorted ``keys``: whether any element of each element's run is flagged:
    ``pd.Series(flags).groupby(keys).transform("any")``."""
    run, start = runs(keys)
    return np.bincount(run, weights=flags, minlength=len(start))[run] > 0


def join_runs(keys: np.ndarray, values: np.ndarray, sep: str) -> np.ndarray:
    """``sep.join`` of ``values`` over each run of equal sorted ``keys`` (one per run).

    Joined by Arrow; each distinct text becomes one Python string, shared by its runs."""
    _, start = runs(keys)
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    lists = pa.ListArray.from_arrays(pa.array(np.r_[start, len(keys)], pa.int32()), values)
    joined = pc.binary_join(lists, pa.scalar(sep, values.type)).dictionary_encode()
    texts = np.array(joined.dictionary.to_pylist() + [None], dtype=object)
    return texts[joined.indices.fill_null(-1).to_numpy()]


def join_in_groups(frame: pd.DataFrame, keys: list[str], column: str, sep: str) -> pd.Series:
    """``frame.groupby(keys)[column].agg(sep.join)`` for a ``frame`` sorted by ``keys``
    (none missing): one Arrow join, not a Python call per group (a state has 700,000)."""
    group = group_codes(*(pd.factorize(frame[key])[0] for key in keys))
    _, start = runs(group)
    index = pd.MultiIndex.from_frame(frame[keys].iloc[start])
    values = _arrow_text(frame[column])  # Arrow text as it is (no Python string per row)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pd.Series(join_runs(group, values, sep), index=index, name=column)


def group_codes(*codes: np.ndarray) -> np.ndarray:
    """A code per row for its combination of integer ``codes``, numbered 0, 1, ... in
    sorted order of the combinations: ``DataFrame(codes).groupby(list, sort=True).ngroup()``.

    One student x subject is ``group_codes(student, subject)``: integers to sort and count
    by, rather than pairs of text ids."""
    n = len(codes[0])
    group, groups = np.zeros(n, dtype=np.int64), 1
    for column in codes:
        column = np.asarray(column, dtype=np.int64)
        low = column.min(initial=0)
        size = column.max(initial=0) - low + 1
        combined, span = group * size + (column - low), groups * size
        if span <= 4 * n + 1024:
            group = _rank_in(combined, span)
            groups = int(group.max(initial=-1)) + 1
        else:
            group, uniques = pd.factorize(combined, sort=True)
            groups = len(uniques)
    return group


def _rank_in(values: np.ndarray, span: int) -> np.ndarray:
    """Each of ``values`` (integers 0..span-1) numbered by its rank among the distinct
    values: ``pd.factorize(values, sort=True)[0]``, without hashing, for a small span."""
    present = np.zeros(span, dtype=bool)
    present[values] = True
    return (np.cumsum(present) - 1)[values]


def arrays_by_group(
    frame: pd.DataFrame, keys: list[str], columns: list[str]
) -> dict[tuple, dict[str, np.ndarray]]:
    """Each group's ``columns`` as arrays, by group key in sorted order:
    ``{key: {c: group[c].to_numpy() for c in columns} for key, group in
    frame.groupby(keys, observed=True)}``, from one sort of the rows (not a frame per
    group: twelve thousand school x grade cells at a million students)."""
    grouped = frame.groupby(keys, observed=True, sort=True)
    number = grouped.ngroup()  # missing (NaN) where a key is: in no group, as groupby has it
    labels = grouped.size().index  # group g's key, in ngroup's numbering
    if labels.nlevels == 1:  # one key: groupby's keys are 1-tuples all the same
        labels = pd.MultiIndex.from_arrays([labels])
    rows = np.flatnonzero(number.notna().to_numpy())
    group = number.to_numpy()[rows].astype(np.int64)
    rows = rows[np.argsort(group, kind="stable")]
    ends = np.cumsum(np.bincount(group, minlength=len(labels)))[:-1]
    parts = {column: np.split(frame[column].to_numpy()[rows], ends) for column in columns}
    return {
        tuple(key): {column: parts[column][g] for column in columns} for g, key in enumerate(labels)
    }


def pairs_in(left: tuple[np.ndarray, np.ndarray], right: tuple[np.ndarray, np.ndarray]):
    """Whether each pair of integer codes of ``left`` is among those of ``right``:
    ``pd.MultiIndex.from_arrays(left).isin(pd.MultiIndex.from_arrays(right))``."""
    n = len(left[0])
    both = group_codes(*(np.r_[a, b] for a, b in zip(left, right, strict=True)))
    return np.isin(both[:n], both[n:])


def concat_once(
    left: np.ndarray, right: np.ndarray, left_code: np.ndarray, right_code: np.ndarray
) -> np.ndarray:
    """``left + right`` (object arrays of text), each distinct pair of codes concatenated
    once (rows with equal codes hold equal texts): a few thousand reasons over millions of
    rows."""
    pair = group_codes(left_code, right_code)
    first = np.flatnonzero(~pd.Series(pair).duplicated().to_numpy())
    texts = np.empty(len(first), dtype=object)
    texts[pair[first]] = left[first] + right[first]
    return texts[pair]


def placed(frame: pd.DataFrame, numbers: np.ndarray, n: int) -> pd.DataFrame:
    """The rows of ``frame`` moved to the row numbers ``numbers`` (distinct, 0 to ``n - 1``)
    of an ``n``-row frame, missing at the numbers no row has:
    ``frame.set_index(numbers).reindex(range(n))`` by positions (no hash of n numbers)."""
    position = np.full(n, -1, dtype=np.int64)
    position[np.asarray(numbers, dtype=np.int64)] = np.arange(len(frame))
    return frame.reset_index(drop=True).reindex(position).reset_index(drop=True)


def sort_rank(values: pd.Series) -> np.ndarray:
    """Each value's rank among the sorted distinct values; missing values rank last."""
    code, uniques = pd.factorize(values, sort=True)
    return np.where(code < 0, len(uniques), code)


def as_string(values: pd.Series, order: np.ndarray | None = None) -> pd.Series:
    """``values.astype("string")``, converting each distinct value once (an object column
    of a few thousand distinct texts over millions of rows); with ``order``:
    ``values.take(order).reset_index(drop=True).astype("string")``."""
    if order is not None and values.dtype != object:
        values = values.take(order).reset_index(drop=True)
    if values.dtype != object:
        return values.astype("string")
    code, uniques = pd.factorize(values)
    try:
        dictionary = pa.array(np.asarray(uniques, dtype=object), pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: let pandas convert
        if order is not None:
            values = values.take(order).reset_index(drop=True)
        return values.astype("string")
    index = values.index
    if order is not None:
        code, index = code[order], pd.RangeIndex(len(order))
    indices = pa.array(code, mask=code < 0)
    text = pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()
    return pd.Series(pd.array(text, dtype="string"), index=index, name=values.name)


def number_text(values: pd.Series) -> pd.Series:
    """``values.astype(str)``, each distinct value (by its bits: -0.0 is not 0.0)
    converted once."""
    array = values.to_numpy()
    if array.dtype.kind not in "fiu":
        return values.astype(str)
    code, uniques = pd.factorize(array.view(np.int64) if array.dtype.kind == "f" else array)
    if array.dtype.kind == "f":
        uniques = uniques.view(np.float64)
    text = pd.Series(uniques, dtype=array.dtype).astype(str)
    return text.take(code).set_axis(values.index).rename(values.name)


def itertuples(frame: pd.DataFrame):
    """``frame.itertuples(index=False)``, the same named tuples of the same values, with
    text columns read as Python objects first (iterating an Arrow text column converts
    each value on its own, a microsecond apiece)."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    return frame.astype(dict.fromkeys(text, object)).itertuples(index=False)
