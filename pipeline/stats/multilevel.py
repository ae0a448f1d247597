"""Two-level linear mixed models (students in schools, occasions in children) as tidy tables.

The model, in Raudenbush & Bryk's (2002, *Hierarchical Linear Models*, 2nd ed., ch. 2-4)
notation with level-1 units ``i`` in groups ``j``::

    y_ij = x_ij' gamma + z_ij' u_j + e_ij,   u_j ~ N(0, T),   e_ij ~ N(0, sigma^2)

``x`` holds the intercept and ``terms`` (``"a:b"`` is a product, e.g. ``time:program``);
``z`` holds the intercept and the ``slopes`` that vary by group. The fit is statsmodels'
``MixedLM`` by maximum likelihood (``reml=False``; MLwiN's IGLS, SAS ``method=ml``) or
restricted maximum likelihood (``reml=True``; the HLM program, SAS's default). statsmodels'
default optimizer can stop at a wrong point for random-slope models (on High School and
Beyond it reports ``converged`` at a log-likelihood 2.3 below the optimum), so
:func:`fit_mixed` starts from moment estimates, tries several optimizers and keeps the best
finite log-likelihood.

:func:`mixed_model_table` returns one row per quantity (columns as
:data:`pipeline.stats.regression.TABLE_COLUMNS`), ``kind`` saying which:

* ``fixed``: ``gamma`` with the GLS standard errors ``sqrt(diag((sum_j X_j' V_j^-1 X_j)^-1))``
  at the estimated variances, ``V_j = Z_j T Z_j' + sigma^2 I`` (what HLM, SAS and MLwiN
  print); normal intervals;
* ``variance``: ``var(intercept)``, ``var(<slope>)``, ``cov(intercept, <slope>)``,
  ``var(residual)``, with standard errors from the expected (Fisher) information on the
  variance scale, ``I_ab = 1/2 sum_j tr(V_j^-1 dV_j/da V_j^-1 dV_j/db)`` for ML (as IGLS
  reports) and ``1/2 tr(P dV/da P dV/db)``, ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X' V^-1``, for
  REML (Searle, Casella & McCulloch 1992, *Variance Components*, ch. 6). No interval: a
  variance is bounded at zero and a Wald interval misleads;
* ``derived``: ``icc`` (random intercept only) ``tau00 / (tau00 + sigma^2)``, its SE by the
  delta method; ``reliability(<coef>)``, the mean over groups of
  ``lambda_j = tau_qq / (tau_qq + v_qq,j)`` with ``v_j = sigma^2 (Z_j'Z_j)^-1`` the sampling
  variance of group ``j``'s OLS coefficients (R&B ch. 3-4; for a random intercept
  ``tau00 / (tau00 + sigma^2 / n_j)``);
* ``test``: ``chi2(<coef>)``, R&B's homogeneity test (ch. 3), ``sum_j (b_qj - w_j'gamma_q)^2
  / v_qq,j`` over groups with more rows than random coefficients, with ``J - F_q`` degrees of
  freedom (``F_q`` fixed terms model coefficient ``q``); only when every fixed term is a
  group-level variable times a random coefficient (HLM's "intercepts- and
  slopes-as-outcomes" layout);
* ``fit``: ``deviance``, ``-2 log-likelihood`` (the REML criterion under REML).

:func:`variance_decomposition` is the random-intercept model with optional predictors:
the ICC, and with predictors the share of each variance they explain (R&B ch. 4).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from pipeline.stats.regression import (
    INTERCEPT,
    TABLE_COLUMNS,
    coefficient_table,
    complete_rows,
    design_matrix,
    term_columns,
)

GRADIENT_OPTIMIZERS = ("lbfgs", "bfgs")
SEARCH_OPTIMIZERS = ("powell", "nm")
_AGREE = 1e-3  # log-likelihood units within which two optimizers agree
_TOL = 1e-8


def fit_mixed(
    frame: pd.DataFrame,
    outcome: str,
    terms: Sequence[str],
    group: str,
    slopes: Sequence[str] = (),
    reml: bool = True,
):
    """The statsmodels ``MixedLMResults`` with the best finite log-likelihood.

    Every optimizer starts from :func:`moment_start`. The gradient optimizers
    (:data:`GRADIENT_OPTIMIZERS`) run first; unless the best of them converged and the
    others reached the same log-likelihood (within 0.001), the derivative-free ones
    (:data:`SEARCH_OPTIMIZERS`) run too. Rows with a missing value in the model's columns
    are left out.
    """
    needed = [outcome, group, *(c for t in [*terms, *slopes] for c in term_columns(t))]
    rows = complete_rows(frame, needed)
    model = MixedLM(
        rows[outcome].to_numpy(dtype=float),
        design_matrix(rows, terms),
        groups=rows[group].to_numpy(),
        exog_re=design_matrix(rows, slopes),
    )
    start = moment_start(model)
    fits = [_try_fit(model, reml, method, start) for method in GRADIENT_OPTIMIZERS]
    if not _settled(fits):
        fits += [_try_fit(model, reml, method, start) for method in SEARCH_OPTIMIZERS]
    finite = [f for f in fits if f is not None and np.isfinite(f.llf)]
    if not finite:
        raise ValueError(f"no optimizer could fit the mixed model for {outcome!r}")
    return max(finite, key=lambda f: f.llf)


def moment_start(model: MixedLM) -> MixedLMParams | None:
    """Starting values: OLS fixed effects; ``sigma^2`` the pooled residual variance of the
    groups' own OLS fits on ``z``; ``T`` the covariance of those fits' coefficients minus
    their mean sampling covariance (a method-of-moments estimate, Swamy 1970), its
    eigenvalues floored so that it is positive definite. None when fewer than two groups
    have more rows than random coefficients (statsmodels' own start then)."""
    q = model.k_re
    coefs, sampling, rss, dof = [], [], 0.0, 0
    for z, y in zip(model.exog_re_li, model.endog_li, strict=True):
        if len(z) > q and np.linalg.matrix_rank(z) == q:
            inv = np.linalg.inv(z.T @ z)
            coefs.append(inv @ z.T @ y)
            sampling.append(inv)
            rss += float(np.sum((y - z @ coefs[-1]) ** 2))
            dof += len(y) - q
    if len(coefs) < 2 or rss <= 0:
        return None
    s2 = rss / dof
    T = np.atleast_2d(np.cov(np.array(coefs).T)) - s2 * np.mean(sampling, axis=0)
    values, vectors = np.linalg.eigh(T)
    floored = np.maximum(values, 0.01 * max(values.max(), 1e-3 * s2))
    fixed = np.linalg.lstsq(model.exog, model.endog, rcond=None)[0]
    return MixedLMParams.from_components(fixed, cov_re=vectors @ np.diag(floored) @ vectors.T / s2)


def _try_fit(model: MixedLM, reml: bool, method: str, start: MixedLMParams | None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return model.fit(reml=reml, method=method, start_params=start, maxiter=20000)
        except (np.linalg.LinAlgError, ValueError):
            return None


def _settled(fits: list) -> bool:
    """The best fit converged, and every fit reached a finite log-likelihood within
    :data:`_AGREE` of it (a fit that stopped short nearby still corroborates it)."""
    if any(f is None or not np.isfinite(f.llf) for f in fits):
        return False
    best = max(fits, key=lambda f: f.llf)
    return bool(best.converged) and all(best.llf - f.llf <= _AGREE for f in fits)


@dataclass(frozen=True)
class _Groups:
    """Per-group arrays of a fitted model at its estimated variances."""

    X: list[np.ndarray]
    Z: list[np.ndarray]
    y: list[np.ndarray]
    W: list[np.ndarray]  # V_j^-1

    @classmethod
    def of(cls, result) -> _Groups:
        model, T, s2 = result.model, np.asarray(result.cov_re), result.scale
        Z = model.exog_re_li
        W = [np.linalg.inv(z @ T @ z.T + s2 * np.eye(len(z))) for z in Z]
        return cls(model.exog_li, Z, model.endog_li, W)


def mixed_model_table(
    frame: pd.DataFrame,
    outcome: str,
    terms: Sequence[str],
    group: str,
    slopes: Sequence[str] = (),
    reml: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Fit the two-level model (:func:`fit_mixed`) and return its tidy table."""
    return mixed_table(fit_mixed(frame, outcome, terms, group, slopes, reml), level)


def mixed_table(result, level: float = 0.95) -> pd.DataFrame:
    """Fixed effects, variance components, ICC, reliabilities, homogeneity tests and
    deviance of a fitted ``MixedLMResults`` (see the module docstring)."""
    groups = _Groups.of(result)
    model = result.model
    n, n_groups = int(model.nobs), int(model.n_groups)
    xtwx_inv = np.linalg.inv(sum(x.T @ w @ x for x, w in zip(groups.X, groups.W, strict=True)))
    fixed = coefficient_table(
        model.exog_names, result.fe_params, np.sqrt(np.diag(xtwx_inv)), np.nan, level, n, n_groups
    )
    names = list(model.data.exog_re_names)
    T, s2 = np.asarray(result.cov_re), float(result.scale)
    variance = _variance_rows(groups, names, T, s2, result.reml, xtwx_inv)
    derived = _reliability_rows(groups, names, T, s2)
    if len(names) == 1:
        derived = pd.concat([_icc_row(variance), derived])
    tests = _homogeneity_rows(groups, names, np.asarray(result.fe_params), s2)
    fit = pd.DataFrame({"term": ["deviance"], "estimate": [-2 * result.llf], "kind": ["fit"]})
    table = pd.concat([fixed, variance, derived, tests, fit], ignore_index=True)
    return table.assign(n=n, n_groups=n_groups)[TABLE_COLUMNS]


def _variance_parameters(names: list[str]) -> list[tuple[str, int, int]]:
    """(term, i, j) per element of T, lower triangle, then the residual as (term, -1, -1)."""
    q = len(names)
    pairs = [(i, j) for i in range(q) for j in range(i + 1)]
    terms = [f"var({names[i]})" if i == j else f"cov({names[j]}, {names[i]})" for i, j in pairs]
    return [(t, i, j) for t, (i, j) in zip(terms, pairs, strict=True)] + [("var(residual)", -1, -1)]


def _unit(q: int, i: int, j: int) -> np.ndarray | None:
    """dT / d(theta) for theta = T[i, j] (= T[j, i]); None for sigma^2 (dV/dsigma^2 = I)."""
    if i < 0:
        return None
    unit = np.zeros((q, q))
    unit[i, j] = unit[j, i] = 1.0
    return unit


def variance_information(
    groups: _Groups, parameters: list[tuple[str, int, int]], reml: bool, xtwx_inv: np.ndarray
) -> np.ndarray:
    """Expected information of the variance parameters (ML, or REML; module docstring).

    With ``W = V_j^-1`` and ``dV/dtheta = Z E Z'`` (or ``I`` for sigma^2), every trace
    reduces to small matrices: ``tr(W Z Ea Z' W Z Eb Z') = tr(Ea C Eb C)`` with ``C = Z'WZ``,
    and so on. REML adds ``-2 tr(M X'W dVb W dVa W X) + tr(M X'W dVa W X M X'W dVb W X)``
    to ``tr(W dVa W dVb)``, ``M = (X'V^-1 X)^-1``, summed over groups (``P`` is not
    block-diagonal, but these pieces are).
    """
    q = groups.Z[0].shape[1]
    units = [_unit(q, i, j) for _, i, j in parameters]
    size, k = len(parameters), xtwx_inv.shape[0]
    info = np.zeros((size, size))
    cross, quad = np.zeros((size, size, k, k)), np.zeros((size, k, k))
    for x, z, w in zip(groups.X, groups.Z, groups.W, strict=True):
        wz, wx = w @ z, w @ x
        C, F, D, H = z.T @ wz, z.T @ wx, wz.T @ wz, wz.T @ wx
        for a, ea in enumerate(units):
            quad[a] += wx.T @ wx if ea is None else F.T @ ea @ F
            for b, eb in enumerate(units[: a + 1]):
                info[a, b] += _trace_pair(ea, eb, C, D, w)
                if reml:
                    cross[a, b] += _cross_pair(ea, eb, C, F, H, wx, w)
    if reml:
        M = xtwx_inv
        for a in range(size):
            for b in range(a + 1):
                info[a, b] += -2 * np.trace(M @ cross[a, b]) + np.trace(M @ quad[a] @ M @ quad[b])
    info = np.tril(info) + np.tril(info, -1).T
    return info / 2


def _trace_pair(ea, eb, C, D, w) -> float:
    """tr(W dVa W dVb) for one group."""
    if ea is None and eb is None:
        return float(np.sum(w * w))
    if ea is None or eb is None:
        return float(np.trace((eb if ea is None else ea) @ D))
    return float(np.trace(ea @ C @ eb @ C))


def _cross_pair(ea, eb, C, F, H, wx, w) -> np.ndarray:
    """X'W dVb W dVa W X for one group."""
    if ea is None and eb is None:
        return wx.T @ w @ wx
    if eb is None:
        return H.T @ ea @ F
    if ea is None:
        return F.T @ eb @ H
    return F.T @ eb @ C @ ea @ F


def _variance_rows(groups, names, T, s2, reml, xtwx_inv) -> pd.DataFrame:
    parameters = _variance_parameters(names)
    estimate = [T[i, j] if i >= 0 else s2 for _, i, j in parameters]
    try:
        cov = np.linalg.inv(variance_information(groups, parameters, reml, xtwx_inv))
    except np.linalg.LinAlgError:  # a singular T (e.g. a correlation of -1) has no inverse
        cov = np.full((len(parameters), len(parameters)), np.nan)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    table = pd.DataFrame(
        {"term": [t for t, _, _ in parameters], "estimate": estimate, "se": se, "kind": "variance"}
    )
    table.attrs["cov"] = cov
    return table


def _icc_row(variance: pd.DataFrame) -> pd.DataFrame:
    """ICC = tau00 / (tau00 + sigma^2), SE by the delta method from the variances' covariance."""
    tau, s2 = variance["estimate"].to_numpy()
    total = tau + s2
    gradient = np.array([s2, -tau]) / total**2
    se = float(np.sqrt(gradient @ variance.attrs["cov"] @ gradient))
    return pd.DataFrame({"term": ["icc"], "estimate": [tau / total], "se": [se], "kind": "derived"})


def _ols_by_group(groups: _Groups, q: int):
    """Each group's OLS coefficients on z and the diagonal of (Z_j'Z_j)^-1, for groups with
    more rows than coefficients and a full-rank Z_j."""
    for x, z, y in zip(groups.X, groups.Z, groups.y, strict=True):
        ztz = z.T @ z
        if len(z) > q and np.linalg.matrix_rank(ztz) == q:
            inv = np.linalg.inv(ztz)
            yield x, z, inv @ z.T @ y, np.diag(inv)


def _reliability_rows(groups, names, T, s2) -> pd.DataFrame:
    """Mean reliability of the groups' OLS coefficients, one row per random coefficient."""
    q = len(names)
    v = np.array([s2 * d for _, _, _, d in _ols_by_group(groups, q)])
    reliability = (np.diag(T) / (np.diag(T) + v)).mean(axis=0)
    return pd.DataFrame(
        {"term": [f"reliability({n})" for n in names], "estimate": reliability, "kind": "derived"}
    )


def _homogeneity_rows(groups, names, gamma, s2) -> pd.DataFrame:
    """R&B's chi-square test that a random coefficient does not vary between groups."""
    q = len(names)
    chi2, loads, used = np.zeros(q), np.zeros((q, len(gamma)), dtype=bool), 0
    for x, z, b, d in _ols_by_group(groups, q):
        weights = np.linalg.lstsq(z, x, rcond=None)[0]  # x_j = z_j W_j when the layout holds
        if not np.allclose(z @ weights, x, atol=_TOL * max(1.0, np.abs(x).max())):
            return pd.DataFrame(columns=["term", "estimate", "df", "p", "kind"])
        loads |= np.abs(weights) > _TOL
        chi2 += (b - weights @ gamma) ** 2 / (s2 * d)
        used += 1
    df = used - loads.sum(axis=1)
    return pd.DataFrame(
        {
            "term": [f"chi2({n})" for n in names],
            "estimate": chi2,
            "df": df.astype(float),
            "p": stats.chi2.sf(chi2, df),
            "kind": "test",
        }
    )


def variance_decomposition(
    frame: pd.DataFrame,
    outcome: str,
    group: str,
    terms: Sequence[str] = (),
    reml: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """How much of ``outcome``'s variance lies between groups: the random-intercept model,
    its ICC and the reliability of the group means. With ``terms``, the model with them
    (on the same rows) plus the no-predictor model's ``var(intercept)``, ``var(residual)``
    and ``icc`` ("... without predictors") and each variance's share explained,
    ``(tau_null - tau) / tau_null`` (R&B ch. 4)."""
    needed = [outcome, group, *(c for t in terms for c in term_columns(t))]
    rows = complete_rows(frame, needed)
    null = mixed_model_table(rows, outcome, [], group, reml=reml, level=level)
    if not terms:
        return null
    table = mixed_model_table(rows, outcome, terms, group, reml=reml, level=level)
    base = null.set_index("term")["estimate"]
    now = table.set_index("term")["estimate"]
    extra = {
        f"{term} without predictors": (base[term], null.set_index("term").loc[term, "se"])
        for term in (f"var({INTERCEPT})", "var(residual)", "icc")
    }
    for term in (f"var({INTERCEPT})", "var(residual)"):
        extra[f"share of {term} explained"] = ((base[term] - now[term]) / base[term], np.nan)
    added = pd.DataFrame(
        {
            "term": list(extra),
            "estimate": [e for e, _ in extra.values()],
            "se": [s for _, s in extra.values()],
            "kind": "derived",
        }
    ).assign(n=table["n"].iloc[0], n_groups=table["n_groups"].iloc[0])
    return pd.concat([table, added], ignore_index=True)[TABLE_COLUMNS]
