"""Mixed models (pipeline.stats.multilevel) against closed forms for the balanced one-way
random-effects ANOVA, where REML equals the method-of-moments (ANOVA) estimator and the
sampling variances are known (Searle, Casella & McCulloch 1992, *Variance Components*,
ch. 3-4; Raudenbush & Bryk 2002, ch. 3-4 for the ICC, reliability and chi-square)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from pipeline.stats.multilevel import (
    GRADIENT_OPTIMIZERS,
    SEARCH_OPTIMIZERS,
    fit_mixed,
    mixed_model_table,
    variance_decomposition,
)
from pipeline.stats.regression import design_matrix

GROUPS, PER_GROUP = 30, 8


@pytest.fixture(scope="module")
def balanced() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(GROUPS), PER_GROUP)
    w = rng.normal(size=GROUPS)
    y = 5 + 1.2 * w[group] + rng.normal(0, 1.0, GROUPS)[group] + rng.normal(0, 2, len(group))
    return pd.DataFrame({"y": y, "school": group, "w": w[group]})


def _anova(frame: pd.DataFrame) -> dict[str, float]:
    """Mean squares between and within groups, by hand."""
    means = frame.groupby("school").y.mean()
    residual = frame.y - frame.school.map(means)
    msb = PER_GROUP * ((means - frame.y.mean()) ** 2).sum() / (GROUPS - 1)
    msw = (residual**2).sum() / (GROUPS * (PER_GROUP - 1))
    return {"msb": msb, "msw": msw}


def _table(frame: pd.DataFrame, reml: bool, terms=()) -> pd.DataFrame:
    return variance_decomposition(frame, "y", "school", terms, reml=reml).set_index("term")


@pytest.fixture(scope="module")
def reml_table(balanced) -> pd.DataFrame:
    return _table(balanced, reml=True, terms=["w"])


def test_reml_on_balanced_groups_is_the_anova_estimator_with_its_known_variance(
    balanced, reml_table
):
    ms = _anova(balanced)
    tau, s2 = (ms["msb"] - ms["msw"]) / PER_GROUP, ms["msw"]
    null = reml_table.loc[[t for t in reml_table.index if t.endswith(" without predictors")]]
    null = null.rename(index=lambda t: t.removesuffix(" without predictors"))
    assert null.loc["var(intercept)", "estimate"] == pytest.approx(tau, rel=1e-5)
    assert null.loc["var(residual)", "estimate"] == pytest.approx(s2, rel=1e-5)
    assert null.loc["icc", "estimate"] == pytest.approx(tau / (tau + s2), rel=1e-5)
    lam = s2 + PER_GROUP * tau
    var_tau = 2 / PER_GROUP**2 * (lam**2 / (GROUPS - 1) + s2**2 / (GROUPS * (PER_GROUP - 1)))
    assert null.loc["var(intercept)", "se"] == pytest.approx(np.sqrt(var_tau), rel=1e-4)
    var_s2 = 2 * s2**2 / (GROUPS * (PER_GROUP - 1))
    assert null.loc["var(residual)", "se"] == pytest.approx(np.sqrt(var_s2), rel=1e-4)


def test_reml_with_a_group_level_predictor_uses_the_residual_mean_square_of_the_means(
    balanced, reml_table
):
    means = balanced.groupby("school").agg(y=("y", "mean"), w=("w", "first"))
    slope, intercept = np.polyfit(means.w, means.y, 1)
    msb = PER_GROUP * ((means.y - intercept - slope * means.w) ** 2).sum() / (GROUPS - 2)
    s2 = _anova(balanced)["msw"]
    tau = (msb - s2) / PER_GROUP
    lam = s2 + PER_GROUP * tau
    assert reml_table.loc["w", "estimate"] == pytest.approx(slope, rel=1e-6)
    assert reml_table.loc["var(intercept)", "estimate"] == pytest.approx(tau, rel=1e-5)
    var_tau = 2 / PER_GROUP**2 * (lam**2 / (GROUPS - 2) + s2**2 / (GROUPS * (PER_GROUP - 1)))
    assert reml_table.loc["var(intercept)", "se"] == pytest.approx(np.sqrt(var_tau), rel=1e-4)


def test_ml_on_balanced_groups_has_the_ml_closed_form(balanced):
    ms = _anova(balanced)
    tau = ((1 - 1 / GROUPS) * ms["msb"] - ms["msw"]) / PER_GROUP
    s2 = ms["msw"]
    lam = s2 + PER_GROUP * tau
    table = _table(balanced, reml=False)
    assert table.loc["var(intercept)", "estimate"] == pytest.approx(tau, rel=1e-5)
    var_tau = 2 / PER_GROUP**2 * (lam**2 / GROUPS + s2**2 / (GROUPS * (PER_GROUP - 1)))
    assert table.loc["var(intercept)", "se"] == pytest.approx(np.sqrt(var_tau), rel=1e-4)
    # the grand mean, with SE sqrt(lambda / (J n)), as balanced GLS gives
    assert table.loc["intercept", "estimate"] == pytest.approx(balanced.y.mean(), rel=1e-8)
    assert table.loc["intercept", "se"] == pytest.approx(
        np.sqrt(lam / (GROUPS * PER_GROUP)), rel=1e-4
    )


def test_reliability_and_homogeneity_chi_square_of_the_group_means(balanced, reml_table):
    means = balanced.groupby("school").agg(y=("y", "mean"), w=("w", "first"))
    tau = reml_table.loc["var(intercept)", "estimate"]
    s2 = reml_table.loc["var(residual)", "estimate"]
    assert reml_table.loc["reliability(intercept)", "estimate"] == pytest.approx(
        tau / (tau + s2 / PER_GROUP), rel=1e-10
    )
    # balanced: GLS of the group means on w is OLS on the means
    slope, intercept = np.polyfit(means.w, means.y, 1)
    chi2 = ((means.y - intercept - slope * means.w) ** 2).sum() / (s2 / PER_GROUP)
    row = reml_table.loc["chi2(intercept)"]
    assert row.estimate == pytest.approx(chi2, rel=1e-6)
    assert row.df == GROUPS - 2
    explained = reml_table.loc["share of var(intercept) explained", "estimate"]
    before = reml_table.loc["var(intercept) without predictors", "estimate"]
    assert explained == pytest.approx((before - tau) / before, rel=1e-10)
    assert 0 < explained < 1


@pytest.fixture(scope="module")
def growth() -> pd.DataFrame:
    """Children measured 4 times, random intercept and slope, a treatment x time effect."""
    rng = np.random.default_rng(42)
    children, waves = 40, 4
    child = np.repeat(np.arange(children), waves)
    time = np.tile(np.arange(waves, dtype=float), children)
    treated = (np.arange(children) % 2 == 0)[child] * 1.0
    u = rng.multivariate_normal([0, 0], [[4, -0.5], [-0.5, 1]], children)
    y = 10 + u[child, 0] + (1 + 0.5 * treated + u[child, 1]) * time + rng.normal(0, 1, len(child))
    return pd.DataFrame({"y": y, "child": child, "time": time, "treated": treated})


def test_fit_mixed_keeps_at_least_the_best_of_the_optimizers(growth):
    terms = ["time", "treated", "time:treated"]
    best = fit_mixed(growth, "y", terms, "child", ["time"], reml=False)
    model = MixedLM(
        growth.y.to_numpy(),
        design_matrix(growth, terms),
        groups=growth.child.to_numpy(),
        exog_re=design_matrix(growth, ["time"]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in GRADIENT_OPTIMIZERS + SEARCH_OPTIMIZERS:
            other = model.fit(reml=False, method=method)
            assert best.llf >= other.llf - 1e-6, method


def test_growth_table_rows_and_layout(growth):
    table = mixed_model_table(
        growth, "y", ["time", "treated", "time:treated"], "child", ["time"], reml=True
    ).set_index("term")
    assert table.loc["time:treated", "kind"] == "fixed"
    assert {"var(intercept)", "cov(intercept, time)", "var(time)", "var(residual)"} <= set(
        table.index
    )
    assert "icc" not in table.index  # with a random slope the ICC depends on time
    assert table.loc["chi2(time)", "df"] == 40 - 2  # time and time:treated model the slope
    assert (table.n == len(growth)).all() and (table.n_groups == 40).all()


def test_no_homogeneity_test_for_a_level_1_predictor_without_a_random_slope(growth):
    table = mixed_model_table(growth, "y", ["time"], "child", reml=True)
    assert not table.term.str.startswith("chi2").any()
    assert "icc" in set(table.term)
