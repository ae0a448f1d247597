"""OLS tables (pipeline.stats.regression) against sandwich formulas written out in numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.stats.regression import TABLE_COLUMNS, design_matrix, ols_table


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    """Three arms, a covariate, heteroskedastic errors, 40 clusters, a few missing values."""
    rng = np.random.default_rng(15)
    n = 600
    arm = rng.choice(["control", "a", "b"], n)
    x = rng.normal(size=n)
    cluster = rng.integers(0, 40, n)
    y = (
        1.0
        + 0.5 * (arm == "a")
        + 0.8 * (arm == "b")
        + 0.3 * x
        + rng.normal(size=40)[cluster]
        + rng.normal(size=n) * (1 + np.abs(x))
    )
    frame = pd.DataFrame(
        {"y": y, "a": (arm == "a") * 1.0, "b": (arm == "b") * 1.0, "x": x, "school": cluster}
    )
    frame.loc[[3, 50, 400], "y"] = np.nan
    frame.loc[[7], "x"] = np.nan
    return frame


def _by_hand(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    rows = frame.dropna(subset=["y", "a", "b", "x"])
    X = np.column_stack([np.ones(len(rows)), rows.a, rows.b, rows.x, rows.a * rows.x])
    y = rows.y.to_numpy()
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ X.T @ y
    return X, beta, y - X @ beta, rows


TERMS = ["a", "b", "x", "a:x"]


def test_hc0_hc1_and_classical_match_the_sandwich_written_out(trial):
    X, beta, e, rows = _by_hand(trial)
    n, k = X.shape
    bread = np.linalg.inv(X.T @ X)
    hc0 = bread @ (X.T * e**2) @ X @ bread  # White (1980)
    expected = {
        "nonrobust": bread * (e @ e) / (n - k),
        "HC0": hc0,
        "HC1": hc0 * n / (n - k),
    }
    for cov, matrix in expected.items():
        table = ols_table(trial, "y", TERMS, cov=cov)
        assert list(table.columns) == TABLE_COLUMNS
        assert list(table.term) == ["intercept", *TERMS]
        assert (table.n == n).all() and n == len(trial) - 4
        np.testing.assert_allclose(table.estimate, beta, rtol=1e-10)
        np.testing.assert_allclose(table.se, np.sqrt(np.diag(matrix)), rtol=1e-10)
        crit = stats.t.ppf(0.975, n - k)
        np.testing.assert_allclose(table.ci_high - table.estimate, crit * table.se, rtol=1e-10)
        assert (table.df == n - k).all()


def test_cluster_robust_is_liang_zeger_with_the_cr1_factor_and_g_minus_1_df(trial):
    X, beta, e, rows = _by_hand(trial)
    n, k = X.shape
    bread = np.linalg.inv(X.T @ X)
    meat = np.zeros((k, k))
    for school in np.unique(rows.school):
        score = X[rows.school.to_numpy() == school].T @ e[rows.school.to_numpy() == school]
        meat += np.outer(score, score)
    G = rows.school.nunique()
    factor = G / (G - 1) * (n - 1) / (n - k)  # Cameron & Miller (2015), CR1 / Stata
    se = np.sqrt(np.diag(factor * bread @ meat @ bread))

    table = ols_table(trial, "y", TERMS, cov="cluster", cluster="school")
    np.testing.assert_allclose(table.se, se, rtol=1e-10)
    assert (table.n_groups == G).all() and (table.df == G - 1).all()
    np.testing.assert_allclose(
        table.p, 2 * stats.t.sf(np.abs(beta / se), G - 1), rtol=1e-8, atol=1e-300
    )


def test_cluster_needs_its_column_and_the_column_needs_cluster(trial):
    with pytest.raises(ValueError, match="cluster"):
        ols_table(trial, "y", ["a"], cov="cluster")
    with pytest.raises(ValueError, match="cluster"):
        ols_table(trial, "y", ["a"], cov="HC1", cluster="school")


def test_a_colon_term_is_the_product_of_its_columns():
    frame = pd.DataFrame({"t": [0.0, 1.0, 2.0], "g": [1.0, 0.0, 1.0]})
    design = design_matrix(frame, ["t", "t:g"])
    assert list(design.columns) == ["intercept", "t", "t:g"]
    assert design["t:g"].tolist() == [0.0, 0.0, 2.0]
