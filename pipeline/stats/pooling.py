"""Pooling a program's grade x measure effects into one (fixed-effect, inverse-variance
weights; cluster-robust by school district-wide): :func:`pool_grades`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

_KEYS = ["program", "scope", "subject"]
# The comparison columns of each estimator: in score units and in fall-SD units.
_NAMES = {
    "change": {
        "diff": "comparison_diff",
        "se": "comparison_se",
        "ci_low": "comparison_ci_low",
        "ci_high": "comparison_ci_high",
    },
    "change_sd": {
        "diff": "effect_sd",
        "se": "effect_sd_se",
        "ci_low": "effect_sd_ci_low",
        "ci_high": "effect_sd_ci_high",
    },
}
_ALL_NAMES = [name for names in _NAMES.values() for name in names.values()]


def pool_grades(cells: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The grade x measure effects of each program x scope x subject combined by inverse-
    variance weights (fixed-effect pooling; Borenstein et al. 2009, ch. 11)::

        d = sum_g a_g d_g,   a_g = w_g / sum_g w_g,   w_g = 1 / V_g,
        V_g = 1/n_compared_g + 1/n_comparison_g   (SD units: the variance of a
                                                   difference of two means of unit SD),
        SE = sqrt(sum_g a_g^2 SE_g^2)              (SE_g: grade g's own robust SE)

    in score units (``comparison_*``, V_g times the grade's SD squared) and SD units
    (``effect_sd*``), with d -/+ t SE, t on the Welch-Satterthwaite degrees of freedom
    ``(sum v_g)^2 / sum (v_g^2 / df_g)`` for ``v_g = a_g^2 SE_g^2`` (z when the grades
    carry no ``df``). The weights are the inverse variances the group sizes imply rather
    than 1 / SE_g^2 from the data: with a handful of students per grade an estimated SE
    is noisy, and weighting by it favours the grades whose SE came out small (coverage of
    the null program fell to 85 % on 3-school districts, tests/test_planted_truth.py).
    District-wide, where the grades' errors are clustered by school, ``SE_g`` in the
    weights is the grade's heteroskedasticity-robust SE (``se_hc``: a cluster-robust SE
    from a few schools is too noisy to weight by), and SE is the cluster-robust SE of the
    weighted sum itself, ``SE^2 = c sum_s (sum_g a_g psi_gs)^2`` with ``a_g = w_g / sum
    w_g``, ``psi_gs`` school s's influence on grade g's estimate (:func:`regression_effect`)
    and statsmodels' CR1 factor ``c = G / (G - 1) (N - 1) / (N - K)`` (N students and K
    coefficients over the grades), so one school's grades are not counted as independent;
    the interval then uses Student's t with G - 1 degrees of freedom (Cameron & Miller
    2015, section VI). Counts are summed over the grades."""
    if cells.empty:
        return pd.DataFrame(columns=[*_KEYS, "n_compared", "n_comparison", *_ALL_NAMES])
    rows = []
    # Each group's numbers as numpy arrays (a few grades each, thousands of groups).
    numbers = {c: cells[c].to_numpy() for c in cells.columns if c not in (*_KEYS, "influence")}
    for key, at in cells.groupby(_KEYS, observed=True, sort=False).indices.items():
        group = {column: values[at] for column, values in numbers.items()}
        row = dict(zip(_KEYS, key, strict=True))
        row.update(n_compared=group["n_compared"].sum(), n_comparison=group["n_comparison"].sum())
        for sd_units, names in ((False, _NAMES["change"]), (True, _NAMES["change_sd"])):
            row.update(_pooled(group, cells.iloc[at], sd_units, names, level))
        rows.append(row)
    return pd.DataFrame(rows)


def pooling_se(group: pd.DataFrame, sd_units: bool = True) -> tuple[pd.Series, bool]:
    """Per grade, the SE its pooling weight ``1 / SE^2`` uses, and whether the grades are
    clustered by school (then the HC1 SE; else the SE a grade's SD-unit difference has
    when both groups share one SD, ``sqrt(1/n_compared + 1/n_comparison)``, in the
    estimate's units: weights that an estimated SE from a handful of students cannot
    tilt towards the grades whose SE happens to come out small)."""
    numbers = {c: group[c].to_numpy() for c in group.columns if c != "influence"}
    se, clustered = _pooling_se(numbers, sd_units)
    return pd.Series(se, index=group.index), clustered


def _pooling_se(group: dict[str, np.ndarray], sd_units: bool) -> tuple[np.ndarray, bool]:
    """:func:`pooling_se` of one group's columns as arrays."""
    se = (group["effect_sd_se"] if sd_units else group["se"]).astype(float)
    scale = group["sd_scale"].astype(float) if sd_units and "sd_scale" in group else 1.0
    clustered = "clustered" in group and bool(group["clustered"].all())
    if clustered and sd_units and np.isnan(scale).any():
        clustered = False  # no single SD per grade: pool with the formula alone
    if clustered:
        return group["se_hc"].astype(float) / scale, True
    sizes = np.sqrt(1.0 / group["n_compared"] + 1.0 / group["n_comparison"])
    unit = 1.0 if sd_units else group.get("sd_scale", np.full(len(se), np.nan)).astype(float)
    fixed = (sizes * unit).astype(float)
    # Without a grade's SD (score units of mixed measures) the grade's own SE weighs it.
    return np.where(~np.isnan(fixed) & (fixed > 0), fixed, se), False


def _pooled(
    group: dict[str, np.ndarray], frame: pd.DataFrame, sd_units: bool, names: dict, level: float
) -> dict:
    """One program x scope x subject's pooled estimate (:func:`pool_grades`) from its
    columns as arrays (``frame``: the same rows, for the schools' influence)."""
    estimate = group["effect_sd" if sd_units else "diff"].astype(float)
    weight_se, clustered = _pooling_se(group, sd_units)
    own_se = (group["effect_sd_se"] if sd_units else group["se"]).astype(float)
    # A grade whose own SE is not finite (a leverage-1 point under HC3) carries no
    # information on its precision: it is left out of the pooled estimate.
    ok = (weight_se > 0) & ~np.isnan(estimate) & np.isfinite(own_se)
    if not ok.any():
        return dict.fromkeys(names.values(), np.nan)
    w = 1.0 / weight_se[ok] ** 2
    a = w / np.nansum(w)
    pooled = float(np.nansum(a * estimate[ok]))
    if clustered:
        pooled_se, crit = _clustered_se(frame, ok, a, sd_units, level)
    else:
        # Weights fixed by the group sizes: the variance of the weighted sum is
        # sum_g a_g^2 SE_g^2, with each grade's own (robust) SE.
        parts = a**2 * own_se[ok] ** 2
        pooled_se = float(np.sqrt(np.nansum(parts)))
        crit = stats.norm.ppf(0.5 + level / 2)
        if "df" in group:  # Student's t, Welch-Satterthwaite: (sum v_g)^2 / sum (v_g^2 / df_g)
            dof = float(np.nansum(parts) ** 2 / np.nansum(parts**2 / group["df"][ok].astype(float)))
            crit = stats.t.ppf(0.5 + level / 2, dof)
    return {
        names["diff"]: pooled,
        names["se"]: pooled_se,
        names["ci_low"]: pooled - crit * pooled_se,
        names["ci_high"]: pooled + crit * pooled_se,
    }


def _clustered_se(group, ok, a, sd_units: bool, level: float) -> tuple[float, float]:
    """The cluster-robust SE of the weighted sum and its t critical value on G - 1
    (:func:`pool_grades`)."""
    g = group[ok]
    scale = group["sd_scale"] if sd_units and "sd_scale" in group else 1.0
    scales = np.broadcast_to(scale, len(group))[ok]
    scaled = [infl * share / sc for infl, share, sc in zip(g["influence"], a, scales, strict=True)]
    by_school = pd.concat(scaled).groupby(level=0).sum()
    schools = len(by_school)
    n = float(g["n_compared"].sum() + g["n_comparison"].sum())
    cr1 = schools / (schools - 1) * (n - 1) / (n - float(g["n_params"].sum()))
    return float(np.sqrt(cr1 * np.sum(by_school**2))), stats.t.ppf(0.5 + level / 2, schools - 1)
