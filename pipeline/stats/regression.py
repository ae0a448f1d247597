"""Ordinary least squares with a chosen covariance, as a tidy table.

One row per coefficient: ``term, estimate, se, ci_low, ci_high, n, n_groups, df, p, kind``
(:data:`TABLE_COLUMNS`, shared with :mod:`pipeline.stats.multilevel`). ``terms`` are column
names; ``"a:b"`` is the product of columns ``a`` and ``b`` (an interaction). The intercept
is the term ``intercept``. Rows with a missing outcome, term or cluster are left out and
``n`` says how many rows the fit rests on.

Covariances (``cov``), for ``X`` the n x k design, ``e`` the residuals and
``B = (X'X)^-1``:

* ``nonrobust``: ``s^2 B`` with ``s^2 = e'e / (n - k)``;
* ``HC0``: White (1980) ``B (sum_i e_i^2 x_i x_i') B``;
* ``HC1``: ``HC0 * n / (n - k)`` (MacKinnon & White 1985; Stata's ``, robust``);
* ``cluster``: Liang & Zeger (1986) ``B (sum_g X_g' e_g e_g' X_g) B`` over the clusters
  ``g`` of column ``cluster``, times the small-sample factor ``G/(G-1) * (n-1)/(n-k)``
  (CR1, Stata's ``vce(cluster)``); intervals and p-values use Student's t with ``G - 1``
  degrees of freedom, as Cameron & Miller (2015, *J. Human Resources* 50(2), sec. VI)
  recommend for few clusters.

The other covariances use t with ``n - k`` degrees of freedom.

>>> frame = pd.DataFrame({"y": [1.0, 2.0, 2.5, 4.0], "x": [0, 1, 2, 3]})
>>> ols_table(frame, "y", ["x"], cov="nonrobust")[["term", "estimate"]].round(2)
        term  estimate
0  intercept      0.95
1          x      0.95
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

INTERCEPT = "intercept"
TABLE_COLUMNS = ["term", "estimate", "se", "ci_low", "ci_high", "n", "n_groups", "df", "p", "kind"]
Covariance = Literal["nonrobust", "HC0", "HC1", "cluster"]


def term_columns(term: str) -> list[str]:
    """The columns a term multiplies: ``"time:program"`` -> ``["time", "program"]``."""
    return term.split(":")


def design_matrix(
    frame: pd.DataFrame, terms: Sequence[str], intercept: bool = True
) -> pd.DataFrame:
    """The model's columns: ``intercept`` (a column of ones) and one column per term."""
    columns = {INTERCEPT: np.ones(len(frame))} if intercept else {}
    for term in terms:
        values = np.ones(len(frame))
        for column in term_columns(term):
            values = values * frame[column].to_numpy(dtype=float)
        columns[term] = values
    return pd.DataFrame(columns, index=frame.index)


def complete_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``frame`` with none of ``columns`` missing."""
    used = list(dict.fromkeys(columns))
    return frame.loc[frame[used].notna().all(axis=1)]


def ols_table(
    frame: pd.DataFrame,
    outcome: str,
    terms: Sequence[str],
    cov: Covariance = "HC1",
    cluster: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """OLS of ``outcome`` on an intercept and ``terms``, with the ``cov`` covariance."""
    if (cov == "cluster") != (cluster is not None):
        raise ValueError("cov='cluster' needs cluster=<column>, and cluster needs cov='cluster'")
    needed = [outcome, *(c for t in terms for c in term_columns(t))]
    rows = complete_rows(frame, needed + ([cluster] if cluster else []))
    X = design_matrix(rows, terms)
    model = sm.OLS(rows[outcome].to_numpy(dtype=float), X)
    if cov == "cluster":
        groups = pd.factorize(rows[cluster])[0]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
        n_groups, df = int(groups.max()) + 1, float(groups.max())
    else:
        fit = model.fit(cov_type=cov)
        n_groups, df = np.nan, float(fit.df_resid)
    return coefficient_table(
        X.columns, fit.params, fit.bse, df, level, n=len(rows), n_groups=n_groups
    )


def coefficient_table(
    terms: Sequence[str],
    estimate: np.ndarray | pd.Series,
    se: np.ndarray | pd.Series,
    df: float,
    level: float,
    n: int,
    n_groups: float = np.nan,
    kind: str = "fixed",
) -> pd.DataFrame:
    """Estimates with SEs as rows with Wald intervals and two-sided p-values: Student's t
    with ``df`` degrees of freedom, or the normal distribution when ``df`` is missing."""
    estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    dist = stats.norm if np.isnan(df) else stats.t(df)
    crit = dist.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * dist.sf(np.abs(estimate / se))
    return pd.DataFrame(
        {
            "term": list(terms),
            "estimate": estimate,
            "se": se,
            "ci_low": estimate - crit * se,
            "ci_high": estimate + crit * se,
            "n": n,
            "n_groups": n_groups,
            "df": df,
            "p": p,
            "kind": kind,
        }
    )[TABLE_COLUMNS]
