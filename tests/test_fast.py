"""The fast paths of :mod:`pipeline.fast` against the plain pandas each one replaces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import fast

codes = st.lists(st.integers(-1, 4), min_size=0, max_size=40)


@pytest.mark.parametrize("longest", [1, 3, 40])
def test_join_runs_of_coded_text_joins_each_run_in_order(longest):
    # (was test_tiers.test_measure_lists_join_each_run_in_order: the measures_used lists)
    measures = pd.Index(["a", "b", "c"])
    lengths = [1, 2, longest, 2]
    keys = np.repeat(np.arange(len(lengths)), lengths)
    rng = np.random.default_rng(longest)
    measure = rng.integers(0, 3, len(keys))
    expected = [", ".join(measures[m] for m in measure[keys == k]) for k in range(len(lengths))]
    text = fast.Coded(measure, measures).text(np.arange(len(keys)))
    assert list(fast.join_runs(keys, text, ", ")) == expected
    assert list(fast.join_runs(keys, measures[measure].to_numpy(object), ", ")) == expected


def test_join_runs_keeps_a_missing_value_missing():
    keys = np.array([0, 1, 1])
    assert list(fast.join_runs(keys, np.array(["a", None, "b"], dtype=object), "; ")) == [
        "a",
        None,
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["s1", "s10", "s2"]),
            st.sampled_from(["math", "behavior"]),
            st.sampled_from(["a", "b b", "c; d"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["str", object]),
)
def test_join_in_groups_is_groupby_agg_join(rows, dtype):
    # (the domain focus's "computation + concepts" and "At risk: ...; ..." texts)
    frame = pd.DataFrame(rows, columns=["student_id", "subject", "text"]).astype({"text": dtype})
    frame = frame.sort_values(["student_id", "subject"], kind="stable")
    expected = frame.groupby(["student_id", "subject"])["text"].agg("; ".join)
    joined = fast.join_in_groups(frame, ["student_id", "subject"], "text", "; ")
    pd.testing.assert_series_equal(joined, expected)


def test_isin_ids_is_pandas_isin():
    values = pd.Series(["s1", "s2", None, "s3", "s1"], dtype="str")
    served = pd.array(["s3", "s1"], dtype="str")  # what Series.unique() of ids gives
    for ids in (pd.Index(["s1", "s3"]), ["s3"], pd.Index([], dtype=object), served):
        expected = values.isin(ids).to_numpy()
        assert (fast.isin_text(values, ids) == expected).all()
        assert (fast.isin_text(values.astype(object), ids) == expected).all()


@pytest.mark.parametrize("categories", ["str", object])
def test_categorical_as_str_is_astype_str(categories):
    values = pd.Series(["b", None, "a", "b", "é"], index=[5, 6, 7, 8, 9], dtype="category")
    values = values.cat.set_categories(pd.Index(["b", "a", "é", "unused"], dtype=categories))
    pd.testing.assert_series_equal(fast.categorical_as_str(values), values.astype("str"))
    rows = np.array([3, 1, 0])
    expected = values.take(rows).reset_index(drop=True).astype("str")
    pd.testing.assert_series_equal(fast.categorical_as_str(values, rows), expected)
    frame = pd.DataFrame({"code": values, "text": values.astype("str"), "n": range(5)})
    expected = frame.astype({"code": "str"})
    pd.testing.assert_frame_equal(fast.categorical_columns_as_str(frame), expected)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_dictionary_encode_in_runs_is_arrows_dictionary_encode(parts):
    import pyarrow as pa

    chunks = [["b", None, "a"], ["c", "a"], [], [None, "d", "b"], ["e", "c", "f", "a"]]
    column = pa.chunked_array([pa.array(c, pa.string()) for c in chunks])
    expected = column.dictionary_encode()
    got = fast.dictionary_encode(column, parts)
    assert got.type == expected.type
    assert [len(c) for c in got.chunks] == [len(c) for c in expected.chunks]
    for chunk in got.chunks:  # one dictionary, in order of first appearance
        assert chunk.dictionary.equals(expected.chunks[0].dictionary)
    assert pa.chunked_array(got).to_pylist() == column.to_pylist()
    indices = pa.concat_arrays([c.indices for c in got.chunks])
    assert indices.equals(pa.concat_arrays([c.indices for c in expected.chunks]))


def test_as_string_in_a_given_order_is_take_then_astype():
    order = np.array([2, 0, 3, 1])
    for values in (
        pd.Series(["b", None, "a", "b"], index=[5, 6, 7, 8], dtype=object),
        pd.Series([1.5, "x", None, "y"], dtype=object),
        pd.Series(["p", "q", "r", None], dtype="str"),
    ):
        expected = values.take(order).reset_index(drop=True).astype("string")
        pd.testing.assert_series_equal(fast.as_string(values, order), expected)
        pd.testing.assert_series_equal(fast.as_string(values), values.astype("string"))


def test_coded_map_and_text_are_series_map():
    series = pd.Series(["orf", "maze", None, "orf", "psf"], dtype="str")
    coded = fast.Coded.of(series)
    mapping = {"orf": 2, "maze": 3}
    expected = series.map(mapping).fillna(-1).astype(int).to_numpy()
    assert (coded.map(mapping, int, -1) == expected).all()
    assert list(coded.map({"orf": "fluency"})) == ["fluency", None, None, "fluency", None]
    rows = np.array([4, 0, 2])
    assert coded.text(rows).to_pylist() == [series[4], series[0], None]


@settings(max_examples=50, deadline=None)
@given(a=codes, b=codes)
def test_group_codes_is_groupby_ngroup(a, b):
    n = min(len(a), len(b))
    frame = pd.DataFrame({"a": a[:n], "b": b[:n]}, dtype="int64")
    expected = frame.groupby(["a", "b"], sort=True).ngroup().to_numpy()
    assert (fast.group_codes(frame["a"].to_numpy(), frame["b"].to_numpy()) == expected).all()


@settings(max_examples=50, deadline=None)
@given(a=st.lists(st.integers(-1, 10**9), max_size=40), b=codes, c=codes)
def test_group_codes_of_far_apart_codes_is_groupby_ngroup(a, b, c):
    """Codes spread far beyond the number of rows (numbered by a sort), beside small ones."""
    n = min(len(a), len(b), len(c))
    frame = pd.DataFrame({"a": a[:n], "b": b[:n], "c": c[:n]}, dtype="int64")
    expected = frame.groupby(["b", "a", "c"], sort=True).ngroup().to_numpy()
    got = fast.group_codes(*(frame[k].to_numpy() for k in ("b", "a", "c")))
    assert got.dtype == np.int64 and (got == expected).all()


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 1000))
def test_arrays_by_group_is_each_groupby_group_as_arrays(n, seed):
    """Keys as the effects group them (text scope and subject, a nullable grade with a
    missing one, categorical text): the same keys in the same order, and each group's
    columns as the arrays ``to_numpy`` gives of that group (values, order and dtype)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "scope": pd.array(rng.choice(["001", "002", "district"], n), dtype="str"),
            "subject": pd.Categorical(rng.choice(["reading", "math"], n)),
            "grade": pd.array(rng.choice([0, 1, 2, None], n), dtype="Int64"),
            "pre": rng.normal(size=n),
            "school_id": pd.array(rng.choice(["001", "002", None], n), dtype="str"),
            "level": rng.choice(["Core", "Strategic", None], n),
        }
    )
    columns = ["school_id", "pre", "level"]
    for keys in (["scope", "subject", "grade"], ["scope"], ["grade"]):
        got = fast.arrays_by_group(frame, keys, columns)
        want = {
            key: {c: group[c].to_numpy() for c in columns}
            for key, group in frame.groupby(keys, observed=True)
        }
        assert list(got) == list(want)
        for key, arrays in want.items():
            for column, array in arrays.items():
                assert got[key][column].dtype == array.dtype
                assert pd.Series(got[key][column]).equals(pd.Series(array)), (key, column)


@settings(max_examples=50, deadline=None)
@given(
    left=st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 3))),
    right=st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 3))),
)
def test_pairs_in_is_multiindex_isin(left, right):
    def arrays(pairs):
        return tuple(np.array([p[k] for p in pairs], dtype=np.int64) for k in (0, 1))

    expected = pd.MultiIndex.from_arrays(arrays(left)).isin(
        pd.MultiIndex.from_arrays(arrays(right))
    )
    assert (fast.pairs_in(arrays(left), arrays(right)) == expected).all()


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.integers(0, 5)), seed=st.integers(0, 100))
def test_runs_rank_and_any_are_groupby(keys, seed):
    keys = np.sort(np.array(keys, dtype=np.int64))
    flags = np.random.default_rng(seed).random(len(keys)) < 0.3
    grouped = pd.Series(flags).groupby(keys)
    rank, size = fast.rank_in_runs(keys)
    assert (rank == grouped.cumcount().to_numpy()).all()
    assert (size == grouped.transform("size").to_numpy()).all()
    assert (fast.any_in_runs(keys, flags) == grouped.transform("any").to_numpy()).all()


@settings(max_examples=50, deadline=None)
@given(left=st.lists(st.sampled_from(["", "Most intensive: ", "Two: "])), seed=st.integers(0, 9))
def test_concat_once_is_plain_concatenation(left, seed):
    rng = np.random.default_rng(seed)
    right = rng.choice(np.array(["ORF 31 wcpm", "Maze 4", "PSF 10"], dtype=object), len(left))
    left = np.array(left, dtype=object)
    left_code, _ = pd.factorize(left)
    right_code, _ = pd.factorize(right)
    expected = (pd.Series(left, dtype=object) + pd.Series(right, dtype=object)).tolist()
    assert list(fast.concat_once(left, right, left_code, right_code)) == expected


def test_itertuples_gives_itertuples_values_and_types():
    """The same named tuples as ``itertuples(index=False)``: Arrow text (both missing
    markers), nullable integers, floats, dates and booleans, value for value, type for
    type (``repr`` tells ``1`` from ``np.int64(1)`` and ``nan`` from ``<NA>``)."""
    frame = pd.DataFrame(
        {
            "text": pd.array(["a", None, "c"], dtype="str"),
            "string": pd.array(["x", None, "z"], dtype="string"),
            "grade": pd.array([3, None, 0], dtype="Int64"),
            "score": [1.5, np.nan, 2.0],
            "date": pd.to_datetime(["2025-01-02", None, "2025-03-04"]),
            "flag": [True, False, True],
            "plain": ["p", "q", None],
        }
    )
    got, want = list(fast.itertuples(frame)), list(frame.itertuples(index=False))
    assert [row._fields for row in got] == [row._fields for row in want]
    assert repr(got) == repr(want)


@given(n=st.integers(0, 30), seed=st.integers(0, 100))
def test_placed_is_set_index_then_reindex(n, seed):
    rng = np.random.default_rng(seed)
    numbers = rng.permutation(n)[: rng.integers(0, n + 1)]
    frame = pd.DataFrame(
        {
            "phase": rng.integers(1, 4, len(numbers)).astype(float),
            "program": pd.array([f"P{k}" for k in numbers], dtype="str"),
            "start": pd.to_datetime(rng.integers(0, 10**9, len(numbers)), unit="s"),
        },
        index=rng.permutation(len(numbers)) + 7,  # any index: only the order counts
    )
    expected = frame.set_index(pd.Index(numbers)).reindex(range(n)).reset_index(drop=True)
    pd.testing.assert_frame_equal(fast.placed(frame, numbers, n), expected)
