"""Real, public data through study specs (``config/real/*.yml``) and the pipeline's own
effectiveness and progress functions, checked against independent pandas / scipy
computations on the same files. Skips when ``../shared/data/real/`` is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.stats import studies
from pipeline.stats.effectiveness import growth_comparison, outcome_scores, program_vs_comparison
from pipeline.stats.norms import fall_to_spring_roi, norm_band

from .conftest import REPO_ROOT, shared_data

SPECS = REPO_ROOT / "config" / "real"


def study(name: str, config):
    path = shared_data("real", studies.load_spec(SPECS / f"{name}.yml")["file"])
    spec = studies.load_spec(SPECS / f"{name}.yml")
    return studies.read_study(spec, path.parent), studies.study_config(config, spec), path


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(0.95)
    return float(a.mean() - b.mean()), float(ci.low), float(ci.high)


# ------------------------------------------------------------------ Project STAR


def test_star_small_class_difference_per_grade(config):
    tables, _, path = study("star", config)
    pipeline = program_vs_comparison(
        tables["screenings"],
        tables["students"],
        tables["interventions"],
        tables["comparison"]["student_id"],
    ).set_index(["measure", "grade"])
    raw = pd.read_csv(path)
    lines = []
    for grade, suffix in enumerate(["k", "1", "2", "3"]):
        for subject, measure in (("read", "star_sat_reading"), ("math", "star_sat_math")):
            score = raw[f"{subject}{suffix}"]
            small = score[(raw[f"star{suffix}"] == "small") & score.notna()].to_numpy()
            regular = score[(raw[f"star{suffix}"] == "regular") & score.notna()].to_numpy()
            diff, low, high = welch(small, regular)
            row = pipeline.loc[(measure, grade)]
            assert (row["n_compared"], row["n_comparison"]) == (len(small), len(regular))
            assert row["diff"] == pytest.approx(diff, rel=1e-10)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9)
            lines.append(
                f"grade {'K' if grade == 0 else grade} {subject}: small - regular = "
                f"{diff:.2f} [{low:.2f}, {high:.2f}] (n {len(small)} vs {len(regular)})"
            )
            # Small classes scored higher in every grade and subject (Krueger 1999).
            assert low > 0
    print("\nProject STAR, Stanford Achievement Test scaled scores:\n  " + "\n  ".join(lines))


# ------------------------------------------------------------- Early intervention


def test_early_intervention_growth_difference(config):
    import statsmodels.formula.api as smf

    tables, cfg, path = study("early", config)
    scores = outcome_scores(tables["screenings"], tables["students"], cfg, "spring")
    enrol = tables["interventions"].merge(
        tables["students"][["student_id", "school_id"]], on="student_id"
    )
    pipeline = growth_comparison(scores, enrol, strata=("measure", "grade"))
    row = pipeline[pipeline["scope"] == "district"].iloc[0]

    raw = pd.read_csv(path)
    wide = raw.pivot_table(index=["id", "trt"], columns="age", values="cog").reset_index()
    wide.columns = ["id", "trt", "age1", "age15", "age2"]
    wide["growth"] = wide["age2"] - wide["age1"]
    treated = wide.loc[wide["trt"] == "Y", "growth"].to_numpy()
    control = wide.loc[wide["trt"] == "N", "growth"].to_numpy()
    assert (row["n_compared"], row["n_comparison"]) == (58, 45) == (len(treated), len(control))
    # The effect adjusts growth for the age-1 score (ANCOVA), with HC3 errors in one site
    # and Student's t on n - k degrees of freedom.
    model = smf.ols("growth ~ C(trt, Treatment('N')) + age1", data=wide)
    fit = model.fit(cov_type="HC3", use_t=True)
    term = "C(trt, Treatment('N'))[T.Y]"
    low, high = fit.conf_int().loc[term]
    assert row["comparison_diff"] == pytest.approx(fit.params[term], rel=1e-9)
    assert row["comparison_se"] == pytest.approx(fit.bse[term], rel=1e-9)
    assert (row["comparison_ci_low"], row["comparison_ci_high"]) == pytest.approx((low, high))
    # Per-child growth from age 1 to 2, by group.
    per_child = scores.set_index("student_id")["change"]
    expected = wide.set_index(wide["id"].astype(str))["growth"]
    pd.testing.assert_series_equal(
        per_child.sort_index(), expected.sort_index(), check_names=False, check_index_type=False
    )
    print(
        f"\nEarly intervention: growth age 1 -> 2, treated {treated.mean():.2f} vs control "
        f"{control.mean():.2f}; adjusted for the age-1 score {fit.params[term]:.2f} "
        f"[{low:.2f}, {high:.2f}]"
    )


def test_early_program_vs_comparison_counts_each_child_once(config):
    # 103 children (58 treated, 45 not), each seen at ages 1, 1.5 and 2: one score per
    # child (the latest, age 2), not 174 vs 135 observations.
    tables, _, path = study("early", config)
    out = program_vs_comparison(
        tables["screenings"],
        tables["students"],
        tables["interventions"],
        tables["comparison"]["student_id"],
    ).iloc[0]
    raw = pd.read_csv(path)
    at_two = raw[raw["age"] == 2]
    diff, low, high = welch(
        at_two.loc[at_two["trt"] == "Y", "cog"].to_numpy(),
        at_two.loc[at_two["trt"] == "N", "cog"].to_numpy(),
    )
    assert (out["n_compared"], out["n_comparison"]) == (58, 45)
    assert out["diff"] == pytest.approx(diff, rel=1e-10)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high), rel=1e-9)


# ------------------------------------------------------------ UO CORE ORF passages


@pytest.fixture(scope="module")
def orf(config):
    tables, _, path = study("orf", config)
    return tables, pd.read_csv(path, dtype={"id.student": str})  # ids are zero-padded text


def test_orf_words_correct_per_minute_is_the_median_of_passages(orf):
    tables, raw = orf
    raw = raw.assign(wcpm=60 * raw["wrc"] / raw["sec"])
    expected = raw.groupby(["id.student", "occasion"])["wcpm"].median()
    mine = tables["screenings"].set_index(["student_id", "window"])["score"]
    assert len(mine) == len(expected)
    for (student, occasion), value in expected.items():
        assert mine.loc[(str(student), occasion)] == pytest.approx(value)


def test_orf_fall_to_spring_roi(orf):
    tables, raw = orf
    raw = raw.assign(wcpm=60 * raw["wrc"] / raw["sec"])
    med = raw.groupby(["id.student", "occasion"])["wcpm"].median().unstack()
    med = med.dropna(subset=["fall", "spring"])
    expected = (med["spring"] - med["fall"]) / 32
    roi = fall_to_spring_roi(tables["screenings"]).set_index("student_id")["roi"]
    expected.index = expected.index.astype(str)
    assert len(roi) == len(expected)
    pd.testing.assert_series_equal(
        roi.sort_index(), expected.sort_index(), check_names=False, check_index_type=False
    )
    print(f"\nUO CORE ORF: median fall-to-spring ROI {expected.median():.2f} wcpm a week")


def test_orf_levels_against_hasbrouck_tindal(orf, config):
    tables, _ = orf
    scores = tables["screenings"].merge(tables["students"][["student_id", "grade"]])
    band = norm_band(scores, config.orf_norms)
    # Grade 2 fall, quoted from H&T (2017): 10th 23, 25th 36, 50th 50, 75th 84, 90th 111.
    g2 = (scores["grade"] == 2) & (scores["window"] == "fall")
    labels = ["below 10th", "10th-24th", "25th-49th", "50th-74th", "75th-89th", "90th and above"]
    expected = [
        labels[int(np.searchsorted([23, 36, 50, 84, 111], s, side="right"))]
        for s in scores.loc[g2, "score"]
    ]
    assert band[g2].tolist() == expected
    # Every grade 2-4 occasion has published norms, so every score gets a band.
    assert band.notna().all()
    # Grade 4 spring: 50th percentile 133, so 133 is "50th-74th" and 132.9 "25th-49th".
    edge = pd.DataFrame({"grade": [4, 4], "window": ["spring"] * 2, "score": [133, 132.9]})
    assert norm_band(edge, config.orf_norms).tolist() == [
        "50th-74th",
        "25th-49th",
    ]
