"""The district-wide effect with the school fixed effects absorbed (Frisch-Waugh-Lovell)
against the plain statsmodels fit with one dummy per school, cluster-robust by school."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pipeline.stats.comparison import regression_effect

# School sizes: unequal, one school of a single student ("s0").
SIZES = {"s0": 1, "s1": 5, "s2": 12, "s3": 20, "s4": 35, "s5": 8, "s6": 50, "s7": 3, "s8": 17}


def district(varying_sd: bool, seed: int = 7) -> pd.DataFrame:
    """Students of 10 schools: fall levels 1-3, all of school s3 at level 2 (constant
    within a school), and level 4 only in school s9, which has no other level (its
    indicator is school s9's: it vanishes once the schools are absorbed)."""
    rng = np.random.default_rng(seed)
    school = np.repeat(list(SIZES), list(SIZES.values()))
    level = rng.choice([1, 2, 3], len(school))
    level[school == "s3"] = 2
    school = np.r_[school, ["s9"] * 10]
    level = np.r_[level, [4] * 10]
    n = len(school)
    fall_sd = rng.choice([9.0, 11.0], n) if varying_sd else np.full(n, 10.0)
    served = np.r_[rng.random(n - 10) < 0.4, [True, False] * 5]
    shift = pd.Series(school).map({s: k % 4 for k, s in enumerate([*SIZES, "s9"])}).to_numpy()
    pre = rng.normal(40, 10, n)
    change = 5 + 0.3 * pre + 4 * served + shift - level + rng.normal(0, 6, n) * (1 + served)
    return pd.DataFrame(
        {
            "school_id": school,
            "fall_level": level,
            "pre": pre,
            "fall_sd": fall_sd,
            "change": change,
            "change_sd": change / fall_sd,
            "served": served,
        }
    )


def dummy_fit(frame: pd.DataFrame, column: str) -> dict:
    """statsmodels OLS of ``column`` on intercept, served, the centred fall score in fall
    SDs, the levels but the first and the schools but the first, clustered by school; the
    served coefficient's pinv row times the residuals summed per school."""
    pre = (frame["pre"] / frame["fall_sd"]).to_numpy()
    levels = sorted(frame["fall_level"].unique())[1:]
    schools = sorted(frame["school_id"].unique())
    X = np.column_stack(
        [np.ones(len(frame)), frame["served"], pre - pre.mean()]
        + [frame["fall_level"].to_numpy() == v for v in levels]
        + [frame["school_id"].to_numpy() == s for s in schools[1:]]
    ).astype(float)
    groups = pd.factorize(frame["school_id"])[0]
    fit = sm.OLS(frame[column].to_numpy(), X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    contribution = np.linalg.pinv(X)[1] * fit.resid
    n, k = X.shape
    return {
        "coef": fit.params[1],
        "se": fit.bse[1],
        "se_hc": np.sqrt(np.sum(contribution**2) * n / (n - k)),
        "influence": pd.Series(contribution).groupby(frame["school_id"].to_numpy()).sum(),
        "df": len(schools) - 1,
        "n_params": k,
    }


# The dummy design is rank-deficient on purpose (level 4 is school s9).
@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
@pytest.mark.parametrize("varying_sd", [False, True])
def test_absorbed_schools_give_the_dummy_fit(varying_sd):
    frame = district(varying_sd)
    both = pd.concat([frame[frame["served"]], frame[~frame["served"]]])
    fit = regression_effect(frame[frame["served"]], frame[~frame["served"]], ["fall_level"], True)
    expected = dummy_fit(both, "change")
    assert fit["clustered"] and fit["n_schools"] == 10
    assert (fit["df"], fit["n_params"]) == (expected["df"], expected["n_params"])
    assert fit["diff"] == pytest.approx(expected["coef"], rel=1e-10)
    assert fit["se"] == pytest.approx(expected["se"], rel=1e-10)
    assert fit["se_hc"] == pytest.approx(expected["se_hc"], rel=1e-10)
    influence = expected["influence"]
    assert fit["influence"].index.equals(influence.index)
    # School s0's single student is fitted exactly by its own effect: no influence.
    assert fit["influence"]["s0"] == pytest.approx(0, abs=1e-12 * influence.abs().max())
    np.testing.assert_allclose(fit["influence"], influence, rtol=1e-10, atol=1e-13)
    sd_units = dummy_fit(both, "change_sd")
    assert fit["effect_sd"] == pytest.approx(sd_units["coef"], rel=1e-10)
    assert fit["effect_sd_se"] == pytest.approx(sd_units["se"], rel=1e-10)


def test_served_not_identified_apart_from_the_school_gives_no_estimate():
    # Every school's students are all served or none: growth from being served cannot be
    # told apart from the school's own.
    frame = district(False)
    frame["served"] = frame["school_id"].isin(["s2", "s4", "s9"])
    fit = regression_effect(frame[frame["served"]], frame[~frame["served"]], ["fall_level"], True)
    assert fit is None
