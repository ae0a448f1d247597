"""The regression-discontinuity estimate at the tier cut (pipeline.stats.rd) against the
synthetic district's planted effect at the cut and against rdrobust's own worked setup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.stats.outcomes import outcome_scores
from pipeline.stats.rd import RD_COLUMNS, rd_effect, rd_estimates, rd_sample, running_variable
from pipeline.synth import SynthSpec, generate
from pipeline.validate.effects import typed


@pytest.fixture(scope="module")
def district(config):
    tables, truth = generate(SynthSpec(schools=8, students_per_grade=60, seed=11, lean=True))
    t = typed(tables)
    scores = outcome_scores(t["screenings"], t["students"], config, "spring")
    return t, scores, truth


def test_eligibility_is_exactly_below_the_cut_score(district, config):
    _, scores, _ = district
    r = running_variable(scores, config)
    assert len(r) > 0.9 * len(scores.dropna(subset=["fall_percentile"]))
    # Eligible (percentile below the cut) exactly where the score sits below the cut score.
    assert ((r["distance"] > 0) == r["eligible"]).all()
    assert (r["distance"] != 0).all()


def test_first_stage_and_effect_recover_the_planted_truth(district, config):
    t, scores, truth = district
    enrol = t["interventions"]
    for subject in ("reading", "math"):
        found = rd_effect(scores, enrol, subject, config, students=t["students"])
        planted = truth["rd"][subject]["effect_sd"]
        # One seed: within three standard errors (the 95 % coverage over many seeds is
        # what `tierwise validate --suite effects` measures).
        assert abs(found["estimate"] - planted) <= 3 * found["se"], (subject, found, planted)
        table = found["table"].set_index("term")
        first = table.loc["first_stage"]
        # 30 % of eligible students go unserved (spec.unserved_share): a 0.7 jump.
        assert first["ci_low"] <= 0.7 <= first["ci_high"]
        assert first["passes"]


def test_served_share_is_what_the_intervention_log_says(district, config):
    t, scores, _ = district
    sample = rd_sample(scores, t["interventions"], "reading", config)
    served = set(t["interventions"].query("subject == 'reading'")["student_id"])
    expected = sample["student_id"].isin(served)
    assert (sample["served"] == expected.astype(float)).all()
    # Nobody above the cut is served in the synthetic district.
    assert sample.loc[~sample["eligible"], "served"].sum() == 0


def test_rd_table_has_every_diagnostic_and_shows_only_when_all_pass(district, config):
    t, scores, _ = district
    table = rd_estimates(scores, t["interventions"], t["students"], config)
    assert list(table.columns) == RD_COLUMNS
    for _, rows in table.groupby("subject"):
        terms = list(rows["term"])
        assert terms[:4] == ["effect", "first_stage", "students", "density"]
        assert [x for x in terms if x.startswith("balance")] == [
            f"balance: {c}" for c in config.effectiveness.rd.covariates
        ]
        assert len([x for x in terms if x.startswith("placebo")]) == 2
        assert (rows["shown"] == rows["passes"].all()).all()


def test_a_failing_first_stage_hides_the_estimate(config):
    # Service only far above the cut (a program for others): no jump in the share served
    # at the cut, so the estimate must not be shown.
    rng = np.random.default_rng(3)
    n = 3000
    pre = rng.normal(50, 10, n).round()
    percentile = np.clip((pre - 20) * 1.5, 1, 99).round()
    scores = pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(n)],
            "subject": "math",
            "measure": "map_math_rit",
            "grade": 3,
            "pre": pre,
            "fall_percentile": percentile,
            "fall_sd": 10.0,
            "change_sd": rng.normal(0.5, 0.4, n),
        }
    )
    far = (scores["pre"] > 65) & (rng.random(n) < 0.5)
    served = scores.loc[far, ["student_id"]].assign(subject="math")
    found = rd_effect(scores, served, "math", config)
    table = found["table"].set_index("term")
    assert not table.loc["first_stage", "passes"]
    assert not table["shown"].any()


def test_grades_pooled_each_on_its_own_line_recover_a_planted_jump(config):
    # Two grades whose growth differs in level and slope, and whose students crowd at the
    # cut differently (grade 1 only just below it, as fall ORF on its floor): one pooled
    # line bends where the mix changes. Planted: served students grow 0.3 SD more.
    rng = np.random.default_rng(7)
    n = 6000
    grade = rng.integers(0, 2, n)
    distance = np.where(grade == 1, rng.uniform(-1.0, 0.15, n), rng.normal(0, 0.6, n))
    served = (distance > 0) & (rng.random(n) < 0.7)
    growth = np.where(grade == 1, 0.7 - 0.6 * distance, 1.5 + 0.0 * distance)
    change_sd = growth + 0.3 * served + rng.normal(0, 0.5, n)
    fall_sd = np.where(grade == 1, 40.0, 16.0)
    cut_score = np.where(grade == 1, 5.5, 7.5)
    scores = pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(n)],
            "subject": "reading",
            "measure": np.where(grade == 1, "dibels8_orf_wrc", "dibels8_lnf"),
            "grade": grade,
            # Scores on a fine grid so the cut score falls exactly at distance 0.
            "pre": cut_score - distance * fall_sd,
            "fall_percentile": np.where(distance > 0, 20.0, 30.0),
            "fall_sd": fall_sd,
            "change_sd": change_sd,
        }
    )
    enrol = scores.loc[served, ["student_id"]].assign(subject="reading")
    found = rd_effect(scores, enrol, "reading", config, diagnostics=False)
    assert abs(found["estimate"] - 0.3) <= 3 * found["se"], found
    assert found["ci_low"] <= 0.3 <= found["ci_high"]
