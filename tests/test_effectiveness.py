"""Effectiveness statistics against independent computations (numpy / scipy / pandas)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pipeline.rules.tiers import assign_tiers
from pipeline.stats.effectiveness import (
    DISTRICT,
    TOO_SMALL,
    hedges_g_paired,
    program_effectiveness,
    stratified_difference,
    suppress_small,
    transitions,
)

from .test_planted_truth import typed


@pytest.fixture(scope="module")
def tables(small_district):
    names = ("students", "screenings", "interventions", "progress")
    ids = {"student_id": str, "school_id": str, "group_id": str}
    return typed({n: pd.read_csv(small_district / f"{n}.csv", dtype=ids) for n in names})


@pytest.fixture(scope="module")
def tiers(tables, config):
    fall = assign_tiers(tables["screenings"], tables["students"], config, "fall")
    spring = assign_tiers(tables["screenings"], tables["students"], config, "spring")
    return fall, spring


@pytest.fixture(scope="module")
def effectiveness(tables, tiers, config):
    fall, spring = tiers
    t = tables
    return program_effectiveness(
        t["screenings"], t["students"], t["interventions"], config, "spring", fall, spring
    )


def independent_g(pre: np.ndarray, post: np.ndarray, z: float = 1.959963984540054):
    """Borenstein et al. (2009) eqs. 4.25-4.28 with J of eq. 4.22, one group at a time."""
    n = len(pre)
    diff = post - pre
    s_diff = float(np.std(diff, ddof=1))
    r = stats.pearsonr(pre, post).statistic
    s_within = s_diff / math.sqrt(2 * (1 - r))
    d = float(np.mean(diff)) / s_within
    v_d = (1 / n + d**2 / (2 * n)) * 2 * (1 - r)
    j = 1 - 3 / (4 * (n - 1) - 1)
    g, se = j * d, j * math.sqrt(v_d)
    return g, g - z * se, g + z * se


def test_hedges_g_paired_worked_example():
    # Hand arithmetic: n = 50, mean diff 5, S_diff 10, r = 0.5 -> S_within = 10,
    # d = 0.5, V_d = (1/50 + 0.25/100) * 2 * 0.5 = 0.0225, J = 1 - 3/195.
    out = hedges_g_paired(np.array([50]), np.array([5.0]), np.array([10.0]), np.array([0.5]))
    j = 1 - 3 / 195
    assert out["g"].iloc[0] == pytest.approx(0.5 * j)
    assert out["se"].iloc[0] == pytest.approx(0.15 * j)
    assert out["ci_low"].iloc[0] == pytest.approx(0.5 * j - 1.959964 * 0.15 * j, rel=1e-6)


def outcome_frame(t: dict) -> pd.DataFrame:
    """Fall and spring scores on the subject's screening measure, built independently."""
    scr = t["screenings"]
    wide = scr[scr["window"].isin(["fall", "spring"])].pivot_table(
        index=["student_id", "subject", "measure"], columns="window", values="score"
    )
    wide = wide.reset_index().merge(t["students"][["student_id", "school_id"]], on="student_id")
    preference = {"dibels8_orf_wrc": 0, "dibels8_lnf": 1, "map_math_rit": 0}
    wide = wide[wide["measure"].isin(list(preference))].dropna(subset=["fall", "spring"])
    wide = wide.assign(rank=wide["measure"].map(preference)).sort_values("rank")
    return wide.drop_duplicates(["student_id", "subject"])


def test_g_and_interval_match_an_independent_implementation(tables, effectiveness):
    scores = outcome_frame(tables)
    # A student with two phases in one program (two log rows) is one student.
    enrol = (
        tables["interventions"][["student_id", "program", "subject"]]
        .drop_duplicates()
        .merge(scores, on=["student_id", "subject"])
    )
    checked = 0
    for row in effectiveness.itertuples():
        mine = enrol[enrol["program"] == row.program]
        if row.scope != DISTRICT:
            mine = mine[mine["school_id"] == row.scope]
        assert row.n_scored == len(mine)
        if len(mine) < 10:
            assert np.isnan(row.hedges_g) and TOO_SMALL in row.note
            continue
        g, low, high = independent_g(mine["fall"].to_numpy(), mine["spring"].to_numpy())
        assert row.hedges_g == pytest.approx(g, rel=1e-9)
        assert (row.g_ci_low, row.g_ci_high) == pytest.approx((low, high), rel=1e-9)
        assert row.mean_change == pytest.approx((mine["spring"] - mine["fall"]).mean())
        checked += 1
    assert checked >= 5  # every program district-wide at least


def test_dosage_and_fidelity(tables, effectiveness):
    # A student's sessions over all their rows (phases) of a program.
    iv = (
        tables["interventions"]
        .groupby(["student_id", "program"], as_index=False)[
            ["sessions_attended", "sessions_planned"]
        ]
        .sum()
    )
    ratio = iv["sessions_attended"] / iv["sessions_planned"]
    district = effectiveness[effectiveness["scope"] == DISTRICT].set_index("program")
    for program, rows in iv.assign(ratio=ratio).groupby("program"):
        assert district.loc[program, "n"] == rows["student_id"].nunique()
        assert district.loc[program, "dosage_mean"] == pytest.approx(rows["ratio"].mean())
        assert district.loc[program, "fidelity_share"] == pytest.approx(
            (rows["ratio"] >= 0.8).mean()
        )


def test_single_stratum_difference_is_welchs_interval():
    rng = np.random.default_rng(9)
    a, b = rng.normal(12, 5, 25), rng.normal(9, 7, 31)
    treated = pd.DataFrame({"program": "P", "stratum": 1, "y": a})
    control = pd.DataFrame({"stratum": 1, "y": b})
    out = stratified_difference(treated, control, ["program"], ["stratum"], "y").iloc[0]
    welch = stats.ttest_ind(a, b, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert out["diff"] == pytest.approx(a.mean() - b.mean())
    assert out["df"] == pytest.approx(welch.df)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_strata_are_weighted_by_the_treated_counts():
    # Stratum 1: treated 10, 12 (n 2) vs control 5, 7, 9; stratum 2: treated 20, 22, 24, 26
    # vs control 20, 22. Differences 11 - 7 = 4 and 23 - 21 = 2; weights 2/6 and 4/6.
    treated = pd.DataFrame({"program": "P", "s": [1, 1, 2, 2, 2, 2], "y": [10, 12, 20, 22, 24, 26]})
    control = pd.DataFrame({"s": [1, 1, 1, 2, 2], "y": [5, 7, 9, 20, 22]})
    out = stratified_difference(treated, control, ["program"], ["s"], "y").iloc[0]
    assert out["diff"] == pytest.approx(4 * 2 / 6 + 2 * 4 / 6)
    var1 = np.var([10, 12], ddof=1) / 2 + np.var([5, 7, 9], ddof=1) / 3
    var2 = np.var([20, 22, 24, 26], ddof=1) / 4 + np.var([20, 22], ddof=1) / 2
    assert out["se"] == pytest.approx(math.sqrt((2 / 6) ** 2 * var1 + (4 / 6) ** 2 * var2))
    assert (out["n_compared"], out["n_comparison"]) == (6, 5)


def test_comparison_uses_only_non_enrolled_students_at_the_same_level(tables, effectiveness):
    district = effectiveness[effectiveness["scope"] == DISTRICT]
    served = tables["interventions"].groupby("subject")["student_id"].nunique()
    for row in district.itertuples():
        # Comparison students are outside every program of the subject.
        roster = tables["students"]["student_id"].nunique()
        assert row.n_comparison <= roster - served[row.subject]
        assert row.n_compared <= row.n_scored


def test_transitions_match_a_crosstab(tables, tiers, config):
    fall, spring = tiers
    out = transitions(fall, spring, tables["interventions"], config.privacy.min_cell_size)
    pairs = fall[["student_id", "school_id", "subject", "tier"]].merge(
        spring[["student_id", "subject", "tier"]],
        on=["student_id", "subject"],
        suffixes=("_f", "_s"),
    )
    served = set(
        zip(tables["interventions"]["student_id"], tables["interventions"]["subject"], strict=True)
    )
    pairs["received"] = [
        (s, j) in served for s, j in zip(pairs["student_id"], pairs["subject"], strict=True)
    ]
    for scope, subset in [(DISTRICT, pairs), ("001", pairs[pairs["school_id"] == "001"])]:
        for (subject, received), grp in subset.groupby(["subject", "received"]):
            expected = pd.crosstab(grp["tier_f"].astype(int), grp["tier_s"].astype(int))
            mine = out[
                (out["scope"] == scope)
                & (out["subject"] == subject)
                & (out["received_intervention"] == received)
            ].pivot_table(index="fall_tier", columns="current_tier", values="n", fill_value=0)
            mine = mine.reindex(index=expected.index, columns=expected.columns, fill_value=0)
            assert (mine.to_numpy() == expected.to_numpy()).all(), (scope, subject, received)
    small = out[out["n_fall_tier"] < config.privacy.min_cell_size]
    assert small["share"].isna().all() and (small["note"] == TOO_SMALL).all()


def test_fall_window_has_no_growth_statistics(tables, tiers, config):
    fall, _ = tiers
    t = tables
    out = program_effectiveness(
        t["screenings"], t["students"], t["interventions"], config, "fall", fall, fall
    )
    assert out["mean_change"].isna().all() and out["effect_sd"].isna().all()
    assert out["note"].str.contains("no post-test yet").all()
    assert (out["n"] > 0).all()


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=6, max_size=6),
    min_n=st.integers(1, 20),
)
def test_no_number_is_shown_below_the_minimum_cell_size(counts, min_n):
    n, n_scored, n_moved, n_mon, n_cmp, n_ctl = counts
    row = {c: 1.0 for c in ("dosage_mean", "fidelity_share", "mean_change", "hedges_g")}
    row.update(
        {
            "program": "P",
            "scope": DISTRICT,
            "subject": "math",
            "n": n,
            "n_scored": n_scored,
            "n_moved_base": n_moved,
            "moved_up_share": 0.5,
            "n_monitored": n_mon,
            "on_track_share": 0.5,
            "n_compared": n_cmp,
            "n_comparison": n_ctl,
            "comparison_diff": 2.0,
            "effect_sd": 0.2,
        }
    )
    out = suppress_small(pd.DataFrame([row]), min_n, "spring").iloc[0]
    assert np.isnan(out["dosage_mean"]) == (n < min_n)
    assert np.isnan(out["hedges_g"]) == (n_scored < min_n)
    assert np.isnan(out["moved_up_share"]) == (n_moved < min_n)
    assert np.isnan(out["on_track_share"]) == (n_mon < min_n)
    assert np.isnan(out["effect_sd"]) == (n_cmp < min_n or n_ctl < min_n)
    if 0 < n_scored < min_n:
        assert TOO_SMALL in out["note"] and out["suppressed"]


def test_summary_table_says_n_too_small_instead_of_a_number(effectiveness, config):
    from pipeline.reports.programs import summary_table

    table = summary_table(effectiveness, config)
    small = effectiveness["n_scored"].between(1, 9).to_numpy()
    assert small.any(), "the small district has schools with fewer than 10 in a program"
    change = "Change since fall (points)"
    assert (table.loc[small, change] == TOO_SMALL).all()
    assert (table.loc[~small, change].str.match(r"^[+-]\d+\.\d")).all()
    # The headers carry the configured fidelity threshold and interval level.
    assert "At 80% fidelity" in table.columns and "Effect (SD) [95% CI]" in table.columns
    assert not any("Hedges" in c or "Pre/post g" in c for c in table.columns)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["orf", "maze"]),
            st.sampled_from(["fall", "spring"]),
            st.one_of(st.none(), st.integers(0, 4)),
        ),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
)
def test_latest_screening_per_student_measure_window(rows, with_codes):
    from pipeline.stats.outcomes import latest_screenings

    frame = pd.DataFrame(
        {
            "student_id": [f"s{r[0]}" for r in rows],
            "measure": [r[1] for r in rows],
            "window": [r[2] for r in rows],
            "date": pd.to_datetime("2025-09-01")
            + pd.to_timedelta([np.nan if r[3] is None else r[3] for r in rows], "D"),
            "row": range(len(rows)),
        }
    )
    # The latest dated row; of one date the later row (a re-upload); an undated row last.
    expected = frame.sort_values("date", kind="stable", na_position="last").drop_duplicates(
        ["student_id", "measure", "window"], keep="last"
    )
    student = np.array([r[0] for r in rows]) if with_codes else None
    pd.testing.assert_frame_equal(latest_screenings(frame, student), expected)
    # Brute force: per key, the row with the largest (has no date, date, row number).
    for _, group in frame.groupby(["student_id", "measure", "window"]):
        undated = group[group["date"].isna()]
        best = undated if len(undated) else group[group["date"] == group["date"].max()]
        assert best["row"].max() in set(expected["row"])


def test_moments_skip_missing_values_and_groups_with_none():
    from pipeline.stats.comparison import _moments

    frame = pd.DataFrame(
        {
            "g": ["a", "a", "a", "b", "b", "c"],
            "x": [1.0, np.nan, 4.0, np.nan, np.nan, 2.0],
        }
    )
    expected = pd.DataFrame(
        {"g": ["a", "c"], "p_n": [2, 1], "p_mean": [2.5, 2.0], "p_var": [4.5, np.nan]}
    )
    got = _moments(frame, ["g"], ["x"], "p_")["x"]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["p_n"].dtype.kind == "i"


# ------------------------------------------------- the effect against a comparison group


def cluster_robust(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """OLS coefficient 1 and its CR1 standard error, by hand (Cameron & Miller 2015, eq. 11
    with the small-sample factor G / (G - 1) (N - 1) / (N - K))."""
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ X.T @ y
    u = y - X @ beta
    meat = sum(
        np.outer(X[groups == g].T @ u[groups == g], X[groups == g].T @ u[groups == g])
        for g in np.unique(groups)
    )
    n, k, big_g = len(y), X.shape[1], len(np.unique(groups))
    v = bread @ meat @ bread * big_g / (big_g - 1) * (n - 1) / (n - k)
    return float(beta[1]), float(np.sqrt(v[1, 1]))


def test_district_effect_is_ols_with_school_clustered_errors():
    from pipeline.stats.comparison import regression_effect

    rng = np.random.default_rng(4)
    n = 300
    frame = pd.DataFrame(
        {
            "school_id": rng.choice(["a", "b", "c", "d", "e"], n),
            "fall_level": rng.choice([2, 3], n),
            "pre": rng.normal(40, 10, n),
            "fall_sd": 10.0,
        }
    )
    served = rng.random(n) < 0.4
    school = frame["school_id"].map({"a": 0, "b": 2, "c": -1, "d": 1, "e": 3})
    growth = 5 + 0.3 * frame["pre"] + 4 * served + school + rng.normal(0, 6, n)
    frame = frame.assign(change=growth, change_sd=growth / 10)
    fit = regression_effect(frame[served], frame[~served], ["fall_level"], True, min_clusters=2)
    # The same model by hand: intercept, served, centred pre in SDs, level 3, schools b-e.
    both = pd.concat([frame[served], frame[~served]])
    s = np.r_[np.ones(served.sum()), np.zeros((~served).sum())]
    pre = both["pre"].to_numpy() / 10
    X = np.column_stack(
        [np.ones(n), s, pre - pre.mean(), both["fall_level"].to_numpy() == 3]
        + [both["school_id"].to_numpy() == k for k in ["b", "c", "d", "e"]]
    ).astype(float)
    beta, se = cluster_robust(both["change"].to_numpy(), X, both["school_id"].to_numpy())
    assert fit["diff"] == pytest.approx(beta, rel=1e-9)
    assert fit["se"] == pytest.approx(se, rel=1e-9)
    assert fit["df"] == 4  # G - 1
    assert fit["effect_sd"] == pytest.approx(beta / 10) and fit["effect_sd_se"] == pytest.approx(
        se / 10
    )
    assert (fit["n_compared"], fit["n_comparison"]) == (served.sum(), (~served).sum())
    # One grade pooled: the same estimate and CR1 standard error, with Student's t on
    # G - 1 = 4 degrees of freedom.
    from pipeline.stats.comparison import pool_grades

    cell = pd.DataFrame([{"program": "P", "scope": DISTRICT, "subject": "reading", **fit}])
    pooled = pool_grades(cell).iloc[0]
    assert pooled["comparison_diff"] == pytest.approx(beta)
    assert pooled["comparison_se"] == pytest.approx(se, rel=1e-9)
    half = stats.t.ppf(0.975, 4) * pooled["comparison_se"]
    assert pooled["comparison_ci_high"] == pytest.approx(beta + half)
    assert pooled["effect_sd"] == pytest.approx(beta / 10)


def test_grades_are_pooled_by_inverse_variance_weights():
    from pipeline.stats.comparison import pool_grades

    cells = pd.DataFrame(
        {
            "program": "P",
            "scope": "district",
            "subject": "reading",
            "grade": [1, 2, 3],
            "n_compared": [10, 20, 30],
            "n_comparison": [5, 6, 7],
            "diff": [1.0, 2.0, 4.0],
            "se": [1.0, 2.0, 4.0],
            "effect_sd": [0.1, 0.3, 0.2],
            "effect_sd_se": [0.05, 0.1, 0.2],
        }
    )
    out = pool_grades(cells).iloc[0]
    # SD units: weights are the inverse variances the group sizes imply (a difference of
    # two unit-SD means has variance 1/n1 + 1/n2; Borenstein et al. 2009, eq. 4.20 and
    # 11.3): 1/(1/10 + 1/5) = 10/3, 1/(1/20 + 1/6) = 60/13, 1/(1/30 + 1/7) = 210/37.
    w = np.array([10 / 3, 60 / 13, 210 / 37])
    a = w / w.sum()
    assert out["effect_sd"] == pytest.approx(a @ np.array([0.1, 0.3, 0.2]))
    # Fixed weights: Var(sum a_g d_g) = sum a_g^2 SE_g^2 with each grade's own SE.
    se = float(np.sqrt(a**2 @ np.array([0.05, 0.1, 0.2]) ** 2))
    assert out["effect_sd_se"] == pytest.approx(se)
    assert out["effect_sd_ci_low"] == pytest.approx(out["effect_sd"] - 1.959964 * se)
    # Score units without a grade SD: each grade's own SE weighs it (1/SE^2), and then
    # sum a_g^2 SE_g^2 = 1 / sum w_g.
    assert out["comparison_diff"] == pytest.approx((1 + 2 / 4 + 4 / 16) / (1 + 1 / 4 + 1 / 16))
    assert (out["n_compared"], out["n_comparison"]) == (60, 18)


def test_a_program_without_comparable_students_has_no_effect_and_says_so(config):
    from pipeline.stats.comparison import growth_comparison
    from pipeline.stats.effectiveness import NO_COMPARISON

    scores = pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(24)],
            "school_id": "001",
            "subject": "reading",
            "measure": "m",
            "grade": 2,
            "pre": np.arange(24.0),
            "post": np.arange(24.0) + 5,
            "change": 5.0,
            "fall_sd": 7.0,
            "change_sd": 5 / 7,
            # The served students are all at level 3; every comparison student at level 1.
            "fall_level": [3] * 12 + [1] * 12,
        }
    )
    enrol = pd.DataFrame(
        {"student_id": [f"s{i}" for i in range(12)], "program": "P", "subject": "reading"}
    ).assign(school_id="001")
    out = growth_comparison(scores, enrol)
    assert set(out["scope"]) == {"001", DISTRICT}  # a row for every scope: no KeyError
    assert (out["n_compared"] == 0).all() and out["effect_sd"].isna().all()
    from pipeline.stats.effectiveness import EFFECTIVENESS_COLUMNS

    table = out.assign(n=12, n_scored=12).reindex(columns=EFFECTIVENESS_COLUMNS)
    marked = suppress_small(table, 10, "spring")
    assert (~marked["has_comparison"]).all()
    assert marked["note"].str.contains(NO_COMPARISON, regex=False).all()
