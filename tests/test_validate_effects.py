"""``tierwise validate --suite effects``: a fast subset of the suite (the full run, 200
seeds per scenario, is ``tierwise validate --suite effects --seeds 200 --scenario all``).

Five seeds cannot measure a 95 % coverage; they check that every scenario runs end to end,
that every planted quantity gets an estimate, and that the estimates sit near the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.synth import SynthSpec, generate
from pipeline.synth.scenarios import CUT_BAND_SD, SCENARIOS, effect_at_cut

SEEDS = 5


def test_fast_subset_of_the_effects_suite(tmp_path, capsys):
    out = tmp_path / "runs.csv"
    code = main(["validate", "--suite", "effects", "--seeds", str(SEEDS), "--out", str(out)])
    assert code in (0, 1)  # 1: a bar missed by chance over five seeds is reported, not hidden
    printed = capsys.readouterr().out
    runs = pd.read_csv(out)
    assert set(runs["scenario"]) == set(SCENARIOS)
    for scenario in SCENARIOS:
        assert f"scenario {scenario}:" in printed
    programs = runs[runs["kind"] == "program"]
    assert programs["estimate"].notna().all()
    # Five programs x five seeds per scenario; within 0.15 SD of the truth on average.
    assert (programs.groupby("scenario").size() == 5 * SEEDS).all()
    error = (programs["estimate"] - programs["planted"]).abs()
    assert error.groupby(programs["scenario"]).mean().max() < 0.15
    rd = runs[runs["kind"] == "rd"]
    assert len(rd) == 2 * SEEDS * len(SCENARIOS) and rd["estimate"].notna().mean() >= 0.9
    assert "coverage" in printed and "bias" in printed


def test_scenarios_plant_what_they_say():
    spec = {"schools": 4, "students_per_grade": 30, "seed": 3, "lean": True}
    easy, easy_truth = generate(SynthSpec(**spec))
    by_grade, truth = generate(SynthSpec(**spec, scenario="by_grade"))
    # Effects by grade: the null program stays at 0, the others rise with the grade and
    # average the easy effect over the grades.
    for program, grades in truth["effect_by_grade"].items():
        values = pd.Series(grades).astype(float)
        planted = truth["programs"][program]["effect_sd"]
        assert values.mean() == __import__("pytest").approx(planted)
        assert values.is_monotonic_increasing if planted else (values == 0).all()
    # The easy scenario's screenings are those of a district drawn before scenarios existed:
    # the scenario's draws come from a stream of their own; by_grade changes later scores only.
    fall = lambda t: t["screenings"].query("window == 'fall'").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(fall(easy), fall(by_grade))
    assert easy_truth["scenario"] == "easy" and set(easy_truth["rd"]) == {"reading", "math"}


def test_effect_at_cut_weighs_served_students_by_their_distance_below_the_cut_score():
    # Two grades: cut scores 7.5 (fall SD 10) and 45 (fall SD 100), so the students sit
    # 0.05, 0.15, 0.05 and 0.35 SD below them; weights 1 - distance / 0.25 by hand: 0.8,
    # 0.4, 0.8 and 0 (too far); the unserved student and those above the cut count 0.
    cell = np.array(["g1", "g1", "g1", "g1", "g2", "g2", "g2"])
    fall = np.array([8.0, 7.0, 6.0, 7.0, 50.0, 40.0, 10.0])
    percentile = np.array([30, 20, 15, 20, 40, 10, 1])
    sd = np.array([10.0] * 4 + [100.0] * 3)
    program = np.array([None, "A", "B", None, None, "C", "C"], dtype=object)
    effect = np.array([0.0, 0.2, 0.4, 0.0, 0.0, 1.0, 9.0])
    assert CUT_BAND_SD == 0.25
    planted = effect_at_cut(program, effect, fall, percentile, sd, cell, 25)
    assert planted == pytest.approx((0.8 * 0.2 + 0.4 * 0.4 + 0.8 * 1.0) / (0.8 + 0.4 + 0.8))


def test_selection_serves_lower_scorers_within_a_fall_level():
    spec = {"schools": 6, "students_per_grade": 60, "seed": 4, "lean": True}
    shares = {}
    for name in ("easy", "selection"):
        tables, _ = generate(SynthSpec(**spec, scenario=name))
        fall = tables["screenings"].query("window == 'fall' and subject == 'math'")
        served = set(tables["interventions"].query("subject == 'math'")["student_id"])
        band = fall[(fall["percentile"] >= 10) & (fall["percentile"] < 25)]
        low = band["percentile"] < 17
        is_served = band["student_id"].isin(served)
        shares[name] = is_served[low].mean() - is_served[~low].mean()
    # Within Tier 2, lower scorers are served more often only under selection.
    assert shares["selection"] > shares["easy"] + 0.05
