"""Suppression: no small count is shown and no hidden count can be worked out.

The recovery check here is written independently of pipeline.stats.privacy: an attacker's
linear programme over the inner cells only (margins are expressions, not variables),
and for 2 x 2 tables a brute-force enumeration of every table consistent with what is
published.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from pipeline.stats import privacy

K = 10

tables = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 4).flatmap(
        lambda cols: st.lists(
            st.lists(
                st.one_of(st.integers(0, 12), st.integers(0, 80)), min_size=cols, max_size=cols
            ),
            min_size=rows,
            max_size=rows,
        )
    )
)


def frame(rows: list[list[int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[f"c{j}" for j in range(len(rows[0]))])


def attacker_ranges(result: privacy.Suppressed) -> dict[tuple[int, int], tuple[float, float]]:
    """Min and max of every hidden cell given what the page shows: published cells,
    that 'n<10' means 0..9 and 'hidden' means >= 10, and that counts are >= 0."""
    full = result.counts.to_numpy()
    primary = result.primary.to_numpy()
    complementary = result.complementary.to_numpy()
    n_rows, n_cols = full.shape[0] - 1, full.shape[1] - 1
    n = n_rows * n_cols

    def expression(i: int, j: int) -> np.ndarray:
        """Cell (i, j) of the table with margins as a combination of the inner cells."""
        e = np.zeros((n_rows, n_cols))
        rows = range(n_rows) if i == n_rows else [i]
        cols = range(n_cols) if j == n_cols else [j]
        for a in rows:
            for b in cols:
                e[a, b] = 1
        return e.ravel()

    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    for i in range(n_rows + 1):
        for j in range(n_cols + 1):
            e = expression(i, j)
            if primary[i, j]:
                a_ub.append(e)
                b_ub.append(K - 1)
            elif complementary[i, j]:
                a_ub.append(-e)
                b_ub.append(-K)
            else:
                a_eq.append(e)
                b_eq.append(full[i, j])
    ranges = {}
    for i, j in np.argwhere(primary | complementary):
        e = expression(i, j)
        kwargs = dict(
            A_eq=np.array(a_eq) if a_eq else None,
            b_eq=b_eq or None,
            A_ub=np.array(a_ub) if a_ub else None,
            b_ub=b_ub or None,
            bounds=[(0, None)] * n,
            method="highs",
        )
        low = linprog(e, **kwargs)
        high = linprog(-e, **kwargs)
        assert low.status == 0, "the true table must be feasible"
        ranges[(i, j)] = (low.fun, np.inf if high.status == 3 else -high.fun)
    return ranges


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_no_small_count_is_shown_and_no_hidden_count_can_be_recovered(rows):
    result = privacy.suppress(frame(rows), min_cell_size=K)
    full = result.counts.to_numpy()
    shown = ~result.hidden.to_numpy()
    # Every published number, margins included, comes from at least K students.
    assert (full[shown] >= K).all()
    # Every small number is shown as n<10 and nothing else is.
    text = result.display().to_numpy()
    assert ((text == f"n<{K}") == (full < K)).all()
    # The true margins are the margins of the true table.
    inner = np.array(rows)
    assert (full[:-1, -1] == inner.sum(axis=1)).all()
    assert (full[-1, :-1] == inner.sum(axis=0)).all()
    # No hidden cell is pinned down by the published cells and the totals.
    for cell, (low, high) in attacker_ranges(result).items():
        assert high - low >= 1 - 1e-6, f"cell {cell} recoverable: {low}..{high}"


@settings(max_examples=100, deadline=None)
@given(tables)
def test_hidden_cells_of_a_line_with_a_published_total_sum_to_at_least_k(rows):
    result = privacy.suppress(frame(rows), min_cell_size=K)
    full, hidden = result.counts.to_numpy(), result.hidden.to_numpy()
    lines = [(full[i, :-1], hidden[i, :-1], hidden[i, -1]) for i in range(full.shape[0])]
    lines += [(full[:-1, j], hidden[:-1, j], hidden[-1, j]) for j in range(full.shape[1])]
    for values, hidden_cells, total_hidden in lines:
        if not total_hidden and hidden_cells.any():
            assert values[hidden_cells].sum() >= K


@functools.cache
def two_by_two_candidates(limit: int = 30) -> np.ndarray:
    """Every 2 x 2 table with cells 0..limit-1 and its margins: candidates x 3 x 3."""
    a, b, c, d = (g.ravel() for g in np.meshgrid(*[np.arange(limit)] * 4, indexing="ij"))
    return np.stack(
        [
            np.stack([a, b, a + b], axis=1),
            np.stack([c, d, c + d], axis=1),
            np.stack([a + c, b + d, a + b + c + d], axis=1),
        ],
        axis=1,
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 14), min_size=4, max_size=4))
def test_two_by_two_brute_force_every_hidden_cell_has_two_possible_values(values):
    result = privacy.suppress(frame([values[:2], values[2:]]), min_cell_size=K)
    full = result.counts.to_numpy()
    primary, complementary = result.primary.to_numpy(), result.complementary.to_numpy()
    candidate = two_by_two_candidates()
    consistent = np.ones(len(candidate), dtype=bool)
    for i, j in itertools.product(range(3), range(3)):
        cell = candidate[:, i, j]
        if primary[i, j]:
            consistent &= cell < K
        elif complementary[i, j]:
            consistent &= cell >= K
        else:
            consistent &= cell == full[i, j]
    assert consistent.any()
    for i, j in zip(*np.nonzero(primary | complementary), strict=True):
        assert len(np.unique(candidate[consistent, i, j])) >= 2, f"cell {(i, j)} recovered"


def test_a_lone_small_cell_gets_a_partner_in_its_row_and_column():
    counts = pd.DataFrame({"t1": [40, 45], "t2": [30, 35], "t3": [4, 20]}, index=["g1", "g2"])
    result = privacy.suppress(counts, min_cell_size=K)
    assert result.primary.loc["g1", "t3"]
    hidden = result.hidden
    assert hidden.loc["g1", ["t1", "t2"]].any()  # a partner in its row
    assert hidden.loc["g2", "t3"]  # the only partner possible in its column
    assert result.display().loc["g1", "t3"] == "n<10"
    assert result.display().loc["g2", "t3"] == privacy.COMPLEMENTARY_TEXT


def test_a_table_without_small_cells_is_shown_whole():
    counts = pd.DataFrame({"t1": [40, 45], "t2": [30, 35]}, index=["g1", "g2"])
    result = privacy.suppress(counts, min_cell_size=K)
    assert not result.hidden.to_numpy().any()
    assert result.display().loc["Total", "Total"] == "150"


def test_share_is_shown_only_when_it_reveals_nothing_new():
    counts = pd.DataFrame({"t1": [40, 45], "t2": [12, 30], "t3": [4, 20]}, index=["g1", "g2"])
    result = privacy.suppress(counts, min_cell_size=K)
    assert result.share("g1", ["t3"]) is None  # a small cell
    # need support = t2 + t3: derivable from t1 and the total when those are published
    if result.shown("g1", "t1") and result.shown("g1", "Total"):
        assert result.share("g1", ["t2", "t3"]) == pytest.approx(16 / 56 * 100)
    assert result.share("g2", ["t2", "t3"]) == pytest.approx(50 / 95 * 100)


@settings(max_examples=40, deadline=None)
@given(st.lists(tables, min_size=2, max_size=3))
def test_linked_tables_hide_the_same_shared_totals(many):
    # Tables over the same population: rescale the column sums to be equal by adding a
    # balancing row, as a subgroup table's "other" row does.
    cols = min(len(t[0]) for t in many)
    trimmed = [[row[:cols] for row in t] for t in many]
    target = np.max([np.sum(t, axis=0) for t in trimmed], axis=0)
    balanced = [frame([*t, list(target - np.sum(t, axis=0))]) for t in trimmed]
    results = privacy.suppress_linked(balanced, min_cell_size=K)
    masks = [r.hidden.iloc[-1].to_numpy() for r in results]
    for mask in masks[1:]:
        assert (mask == masks[0]).all()
    for result in results:
        assert (result.counts.to_numpy()[~result.hidden.to_numpy()] >= K).all()
        for cell, (low, high) in attacker_ranges(result).items():
            assert high - low >= 1 - 1e-6, f"cell {cell} recoverable"


def test_separate_counts_are_shown_or_marked_small():
    out = privacy.suppress_counts(pd.Series([3, 10, 25]), min_cell_size=K)
    assert list(out) == ["n<10", "10", "25"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["Grade K", "Grade 1", "Grade 2", "b", "a"])),
            st.one_of(st.none(), st.sampled_from(["Tier 1", "Tier 2", "Tier 3"])),
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from(["str", "object", "category"]),
)
def test_count_tables_equal_pandas_crosstab(pairs, dtype):
    from pipeline.stats.district import crosstab as _crosstab

    index = pd.Series([p[0] for p in pairs], dtype=dtype)
    columns = pd.Series([p[1] for p in pairs], dtype="str")
    expected = pd.crosstab(index, columns)
    if expected.empty:
        assert _crosstab(index, columns).empty
        return
    got = _crosstab(index, columns)
    assert list(got.index) == list(expected.index.astype(str))
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
