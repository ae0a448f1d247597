"""Progress monitoring: decision rules on hand-made probe series, OLS against statsmodels,
growth norms against the published tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import fast
from pipeline.stats.progress import (
    aimline_points,
    ols_slopes,
    probe_weeks,
    progress_decisions,
)

from .conftest import REPO_ROOT
from .test_planted_truth import typed

YEAR = "2025-2026"
START = pd.Timestamp("2025-10-01")
# Grade 3 ORF, growth goal: the aimline rises at Fuchs et al.'s (1993) ambitious 1.5 words a
# week from the baseline (median of the first three probes, at the median of their weeks).
AMBITIOUS_G3 = 1.5


@pytest.fixture(scope="module")
def small_district_tables(small_district):
    names = ("students", "screenings", "interventions", "progress")
    ids = {"student_id": str, "school_id": str, "group_id": str}
    return typed({n: pd.read_csv(small_district / f"{n}.csv", dtype=ids) for n in names})


@pytest.fixture(scope="module")
def norms(config):
    return config.growth_norms


@pytest.fixture(scope="module")
def classic(config):
    """The classic rules: the four-point and trend-line decision, ambitious growth goals."""
    rules = config.progress.model_copy(
        update={"decision_rule": "four_point", "goal_growth": "ambitious"}
    )
    return config.model_copy(update={"progress": rules})


def series(student: str, scores: list[float], weeks: list[float] | None = None) -> pd.DataFrame:
    weeks = list(range(len(scores))) if weeks is None else weeks
    return pd.DataFrame(
        {
            "student_id": student,
            "date": [START + pd.Timedelta(days=7 * w) for w in weeks],
            "measure": "dibels8_orf_wrc",
            "score": [float(s) for s in scores],
            "source_file": "progress.csv",
            "source_row": range(2, len(scores) + 2),
        }
    )


def roster(ids: list[str], grade: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"student_id": ids, "school_id": "001", "grade": grade})


NO_INTERVENTIONS = pd.DataFrame(
    {"student_id": [], "program": [], "subject": [], "start_date": [], "end_date": []}
).astype({"start_date": "datetime64[ns]", "end_date": "datetime64[ns]"})


def aim(week: float, baseline: float = 50.0, baseline_week: float = 1.0) -> float:
    return baseline + AMBITIOUS_G3 * (week - baseline_week)


# Each case: probe scores (weekly from week 0), expected decision and rule.
DECISION_TABLE = {
    # Baseline 50; probes stay near 50 while the aimline climbs: last 4 below.
    "four_below": ([50, 50, 50, 51, 50, 51, 50, 50], "change_intervention", "last_below"),
    # Climbing far faster than 1.5 a week: last 4 above.
    "four_above": ([50, 50, 50, 60, 62, 64, 66, 68], "raise_goal", "last_above"),
    # Flat, swinging across the aimline so no 4 in a row fall on one side: trend rule.
    "flat_trend": ([10, 30, 10, 10, 30, 10, 30, 10], "change_intervention", "trend_below"),
    # On the aimline, alternating 1 point above and below it: continue.
    "on_aimline": (
        [aim(w) + (1 if w % 2 else -1) for w in range(8)],
        "continue",
        "trend_on_aimline",
    ),
    # Five probes only.
    "five_probes": ([50, 52, 54, 56, 58], "insufficient_data", "too_few_probes"),
}


@pytest.fixture(scope="module")
def table_decisions(classic):
    probes = pd.concat([series(k, v[0]) for k, v in DECISION_TABLE.items()], ignore_index=True)
    out = progress_decisions(probes, roster(list(DECISION_TABLE)), NO_INTERVENTIONS, classic, YEAR)
    return out.set_index("student_id")


@pytest.mark.parametrize("case", list(DECISION_TABLE))
def test_decision_rule_table(table_decisions, case):
    scores, decision, rule = DECISION_TABLE[case]
    row = table_decisions.loc[case]
    assert row["decision"] == decision, row["reason"]
    assert row["rule_id"] == rule
    assert row["n_probes"] == len(scores)


def test_flat_trend_really_has_no_four_point_run(table_decisions):
    scores = DECISION_TABLE["flat_trend"][0]
    # Independent check of the premise: baseline median(10, 30, 10) = 10 at week 1.
    side = [np.sign(s - aim(w, 10.0, 1.0)) for w, s in enumerate(scores)]
    assert set(side[-4:]) == {-1.0, 1.0}
    slope = np.polyfit(np.arange(8), scores, 1)[0]
    assert table_decisions.loc["flat_trend", "roi"] == pytest.approx(slope)
    assert slope < AMBITIOUS_G3 * 0.75


def test_baseline_aimline_and_goal(table_decisions):
    row = table_decisions.loc["four_below"]
    assert row["baseline"] == 50  # median of 50, 50, 50
    assert row["baseline_week"] == 1  # median of weeks 0, 1, 2
    assert row["aim_slope"] == pytest.approx(AMBITIOUS_G3)
    # No intervention end date: the goal is set for the last day of the spring window.
    weeks_to_goal = (pd.Timestamp("2026-06-30") - START).days / 7
    assert row["goal_week"] == pytest.approx(weeks_to_goal)
    assert row["goal"] == pytest.approx(50 + AMBITIOUS_G3 * (weeks_to_goal - 1))
    # Typical growth: Hasbrouck & Tindal (2017) grade 3 AWI at the 50th percentile, 0.9.
    assert row["expected_growth"] == pytest.approx(0.9)
    assert row["growth_ratio"] == pytest.approx(row["roi"] / 0.9)


def test_six_probes_need_six_weeks(config):
    probes = pd.concat(
        [
            series("span5", [50, 51, 52, 53, 54, 55], weeks=[0, 1, 2, 3, 4, 5]),
            series("span6", [50, 51, 52, 53, 54, 55], weeks=[0, 1, 2, 3, 4, 6]),
        ]
    )
    out = progress_decisions(
        probes, roster(["span5", "span6"]), NO_INTERVENTIONS, config, YEAR
    ).set_index("student_id")
    assert out.loc["span5", "decision"] == "insufficient_data"
    assert out.loc["span6", "decision"] != "insufficient_data"
    assert pd.isna(out.loc["span5", "on_track"])


def test_intervention_end_date_is_the_goal_date(classic):
    probes = series("s1", [40, 42, 41, 45, 44, 47, 48])
    interventions = pd.DataFrame(
        {
            "student_id": ["s1"],
            "program": ["Phonics Boost"],
            "subject": ["reading"],
            "start_date": [START - pd.Timedelta(days=7)],
            "end_date": [pd.Timestamp("2026-03-04")],
        }
    )
    row = progress_decisions(probes, roster(["s1"]), interventions, classic, YEAR).iloc[0]
    assert row["program"] == "Phonics Boost"
    assert row["goal_date"] == pd.Timestamp("2026-03-04")
    assert row["goal"] == pytest.approx(
        41 + AMBITIOUS_G3 * ((pd.Timestamp("2026-03-04") - START).days / 7 - 1)
    )


def test_benchmark_goal(config):
    cfg = config.model_copy(
        update={"progress": config.progress.model_copy(update={"goal_source": "benchmark"})}
    )
    probes = series("s1", [40, 42, 41, 45, 44, 47, 48])
    row = progress_decisions(probes, roster(["s1"]), NO_INTERVENTIONS, cfg, YEAR).iloc[0]
    weeks_to_goal = (pd.Timestamp("2026-06-30") - START).days / 7
    # DIBELS 8 grade 3 ORF, end-of-year (spring) benchmark goal: 114 words correct per
    # minute (UO DIBELS 8 Benchmark Goals, July 2020).
    assert row["goal"] == 114.0
    assert row["goal_source"] == "benchmark"
    assert row["aim_slope"] == pytest.approx((114 - 41) / (weeks_to_goal - 1))


def test_benchmark_goals_are_the_spring_cuts_of_the_configured_level(config):
    # Read independently of load_config: every cut-score CSV, spring rows of the level.
    tables = [pd.read_csv(p) for p in sorted((REPO_ROOT / "config" / "benchmarks").glob("*.csv"))]
    cuts = pd.concat(tables, ignore_index=True)
    spring = cuts[(cuts["window"] == "spring") & (cuts["level"] == "benchmark")]
    expected = spring.groupby(["measure", "grade"])["min_score"].last()
    goals = config.benchmark_goals.set_index(["measure", "grade"])["goal"]
    pd.testing.assert_series_equal(goals.sort_index(), expected.astype(float), check_names=False)
    # The level is matched whatever its case.
    upper = config.model_copy(
        update={"progress": config.progress.model_copy(update={"benchmark_level": "BELOW"})}
    )
    below = cuts[(cuts["window"] == "spring") & (cuts["level"] == "below")]
    assert len(upper.benchmark_goals) == len(below.drop_duplicates(["measure", "grade"])) > 0


def test_unsorted_input_gives_the_same_baseline(config):
    probes = series("s1", [44, 40, 48, 50, 52, 53, 55])
    shuffled = probes.sample(frac=1, random_state=3)
    a = progress_decisions(probes, roster(["s1"]), NO_INTERVENTIONS, config, YEAR)
    b = progress_decisions(shuffled, roster(["s1"]), NO_INTERVENTIONS, config, YEAR)
    assert a.iloc[0]["baseline"] == 44  # median of the first three by date: 44, 40, 48
    pd.testing.assert_frame_equal(a, b)


def messy_probes(seed: int) -> pd.DataFrame:
    """Three students x two measures, shuffled, with missing scores and dates and several
    probes on one date."""
    rng = np.random.default_rng(seed)
    frames = []
    for student in ("s1", "s2", "s3"):
        for measure in ("dibels8_orf_wrc", "dibels8_nwf_cls"):
            n = int(rng.integers(1, 12))
            weeks = np.sort(rng.integers(0, 10, n))  # repeated weeks: duplicate dates
            frames.append(series(student, list(rng.normal(50, 10, n)), list(weeks)))
            frames[-1]["measure"] = measure
    probes = pd.concat(frames, ignore_index=True)
    probes.loc[rng.random(len(probes)) < 0.1, "score"] = np.nan
    probes.loc[rng.random(len(probes)) < 0.1, "date"] = pd.NaT
    return probes.sample(frac=1, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(5))
def test_probes_in_date_order_whatever_the_input_order(config, seed):
    probes = messy_probes(seed)
    # Independently: drop probes without a score or date, stable sort by the three keys.
    usable = probes.dropna(subset=["score", "date"])
    expected = usable.sort_values(["student_id", "measure", "date"], kind="stable")
    got = probe_weeks(probes)
    pd.testing.assert_frame_equal(
        got.drop(columns="week"), expected.reset_index(drop=True).astype({"score": float})
    )
    first = expected.groupby(["student_id", "measure"])["date"].transform("min")
    assert got["week"].tolist() == pytest.approx(((expected["date"] - first).dt.days / 7).tolist())
    # The decisions do not depend on the order of the rows, except that of probes of one
    # student, measure and date (the first three by date make the baseline).
    students = roster(["s1", "s2", "s3"])
    backwards = usable.sort_values("date", ascending=False, kind="stable")
    a = progress_decisions(probes, students, NO_INTERVENTIONS, config, YEAR)
    b = progress_decisions(backwards, students, NO_INTERVENTIONS, config, YEAR)
    pd.testing.assert_frame_equal(a, b)
    assert a["n_probes"].sum() == len(usable)


def test_slopes_and_standard_errors_match_statsmodels():
    rng = np.random.default_rng(5)
    frames = []
    for k in range(30):
        n = int(rng.integers(3, 25))
        weeks = np.sort(rng.choice(np.arange(40), n, replace=False)).astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "student_id": f"{k:03d}",
                    "measure": "m",
                    "week": weeks,
                    "score": 20 + rng.normal(1, 0.5) * weeks + rng.normal(0, 4, n),
                }
            )
        )
    probes = pd.concat(frames, ignore_index=True)
    fit = ols_slopes(probes, ["student_id", "measure"]).set_index("student_id")
    for student, rows in probes.groupby("student_id"):
        model = sm.OLS(rows["score"], sm.add_constant(rows["week"])).fit()
        low, high = model.conf_int(0.05).loc["week"]
        assert fit.loc[student, "slope"] == pytest.approx(model.params["week"], rel=1e-9)
        assert fit.loc[student, "slope_se"] == pytest.approx(model.bse["week"], rel=1e-7)
        assert fit.loc[student, "slope_ci_low"] == pytest.approx(low, rel=1e-7)
        assert fit.loc[student, "slope_ci_high"] == pytest.approx(high, rel=1e-7)


def test_roi_on_the_synthetic_district_matches_statsmodels(small_district_tables, config):
    t = small_district_tables
    out = progress_decisions(t["progress"], t["students"], t["interventions"], config, YEAR)
    probes = t["progress"].dropna(subset=["score", "date"])
    log = t["interventions"]
    assert (out["phase"] == 2).sum() >= 10  # the district changes some interventions
    sample = pd.concat([out.sample(25, random_state=1), out[out["phase"] == 2].head(10)])
    for row in sample.itertuples():
        # Independently: the phase's probes lie between its log start and the next one's.
        starts = sorted(
            log.loc[
                (log["student_id"] == row.student_id) & (log["subject"] == row.subject),
                "start_date",
            ]
        )
        begin = starts[row.phase - 1] if row.phase > 1 else pd.Timestamp.min
        end = starts[row.phase] if row.phase < len(starts) else pd.Timestamp.max
        mine = probes[(probes["student_id"] == row.student_id) & (probes["measure"] == row.measure)]
        rows = mine[(mine["date"] >= begin) & (mine["date"] < end)]
        weeks = (rows["date"] - rows["date"].min()).dt.days / 7
        model = sm.OLS(rows["score"].astype(float), sm.add_constant(weeks)).fit()
        assert row.roi == pytest.approx(model.params["date"], rel=1e-9)
        assert row.roi_se == pytest.approx(model.bse["date"], rel=1e-7)
        assert row.n_probes == len(rows)
    assert set(out["decision"]) <= {
        "change_intervention",
        "raise_goal",
        "continue",
        "not_yet_clear",
        "insufficient_data",
    }
    # Every enrolled student with probes is monitored on their program.
    assert out["program"].notna().all()


def test_aimline_points_lie_on_the_aimline(table_decisions):
    probes = series("four_below", DECISION_TABLE["four_below"][0])
    points = aimline_points(probes, table_decisions.reset_index())
    assert points["aimline"].tolist() == pytest.approx([aim(w) for w in range(8)])
    slope, intercept = np.polyfit(np.arange(8), DECISION_TABLE["four_below"][0], 1)
    assert points["trend"].tolist() == pytest.approx([intercept + slope * w for w in range(8)])


def test_orf_growth_norms_are_the_published_tables(norms):
    ht = pd.read_csv(REPO_ROOT / "config" / "norms" / "hasbrouck_tindal_2017_orf.csv")
    fuchs = pd.read_csv(REPO_ROOT / "config" / "norms" / "fuchs_1993_orf_growth.csv")
    orf = norms[norms["measure"] == "dibels8_orf_wrc"].set_index("grade")
    p50 = ht[ht["percentile"] == 50].set_index("grade")["awi"]
    pd.testing.assert_series_equal(orf["typical"], p50, check_names=False)
    f = fuchs.set_index("grade")
    pd.testing.assert_series_equal(orf["realistic"], f["realistic"], check_names=False)
    pd.testing.assert_series_equal(orf["ambitious"], f["ambitious"], check_names=False)
    # Quoted from PUBLISHED.md, section 3 (Fuchs et al. 1993, grades 1-2 from the article).
    assert (f.loc[1, "realistic"], f.loc[1, "ambitious"]) == (2.0, 3.0)
    assert (f.loc[2, "realistic"], f.loc[2, "ambitious"]) == (1.5, 2.0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 12),
    gap=st.integers(1, 3),
    noise=st.lists(st.floats(-20, 20, allow_nan=False), min_size=12, max_size=12),
)
def test_insufficient_exactly_when_too_few_probes_or_weeks(classic, n, gap, noise):
    weeks = [gap * k for k in range(n)]
    probes = series("s", [50 + w + e for w, e in zip(weeks, noise, strict=False)], weeks)
    row = progress_decisions(probes, roster(["s"]), NO_INTERVENTIONS, classic, YEAR).iloc[0]
    too_few = n < 6 or weeks[-1] < 6
    assert (row["decision"] == "insufficient_data") == too_few
    assert row["on_track"] is pd.NA if too_few else row["on_track"] in (True, False)


def test_progress_charts_escape_names_and_show_every_student(table_decisions):
    from pipeline.reports.monitoring import MonitoringData, pm_charts_html

    decisions = table_decisions.reset_index().assign(
        first_name="<script>x</script>", last_name="O'Brien & Co"
    )
    probes = pd.concat([series(k, v[0]) for k, v in DECISION_TABLE.items()], ignore_index=True)
    monitoring = MonitoringData(
        decisions, aimline_points(probes, decisions), pd.DataFrame(), pd.DataFrame()
    )
    html = pm_charts_html(monitoring).data
    assert html.count("<svg") == len(DECISION_TABLE)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "O&#x27;Brien &amp; Co" in html
    # Students who need a change come first.
    assert html.index("Change the intervention") < html.index("Raise the goal")


def test_number_text_is_astype_str_per_value():

    floats = pd.Series([0.0, -0.0, 1.25, np.nan, 1.25, -3.0, 1e20], index=list("abcdefg"))
    ints = pd.Series([3, 12, 3, 0], name="n_probes")
    for values in (floats, floats.round(1), ints):
        pd.testing.assert_series_equal(fast.number_text(values), values.astype(str))


def test_missing_growth_norms_name_the_key(tmp_path):
    import shutil

    from pipeline.config import ConfigError, load_config

    shutil.copy(REPO_ROOT / "config" / "district.yml", tmp_path / "district.yml")
    shutil.copytree(REPO_ROOT / "config" / "benchmarks", tmp_path / "benchmarks")
    with pytest.raises(ConfigError, match=r"progress\.growth_norms: .*weekly_growth\.csv"):
        load_config(tmp_path)


def test_a_config_built_by_hand_gets_its_tables_from_attach_tables(config):
    from pipeline.config import ConfigError, DistrictConfig
    from pipeline.config.load import attach_tables

    bare = DistrictConfig.model_validate(config.model_dump())
    with pytest.raises(ConfigError, match="load_config"):
        _ = bare.growth_norms
    attached = attach_tables(bare, REPO_ROOT / "config")
    pd.testing.assert_frame_equal(attached.growth_norms, config.growth_norms)
    pd.testing.assert_frame_equal(attached.orf_norms, config.orf_norms)
