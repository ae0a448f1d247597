"""Focus from domain scores (MAP Growth goals, i-Ready domains, SAEBRS sub-scales).

The expected focus of each planted student follows from DESIGN.md "Skill focus" and the
configured labels: MAP goal adjectives Low (below the 21st percentile) and LoAvg (21st-40th)
are at risk, Low more so; i-Ready "2 Grade Levels Below" is Tier 3, "1 Grade Level Below"
Tier 2; the SAEBRS sub-scale cuts of district.yml. Domain scores never decide a tier.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from pipeline.config import Measure
from pipeline.rules.domains import domain_levels
from pipeline.rules.labels import DIAGNOSTIC
from pipeline.rules.tiers import assign_tiers

GOALS = ("number", "algebra", "measurement", "geometry")
SUBJECT = {"map_math_rit": "math", "saebrs_total": "behavior"}


def _screen(rows):
    """rows: (student_id, measure, score, percentile, vendor_level)."""
    students = pd.DataFrame(
        {"student_id": sorted({r[0] for r in rows}), "school_id": "001", "grade": 3}
    )
    screenings = pd.DataFrame(
        {
            "student_id": [r[0] for r in rows],
            "window": "winter",
            "measure": [r[1] for r in rows],
            "subject": [SUBJECT.get(r[1], "math" if "math" in r[1] else "behavior") for r in rows],
            "score": [float(r[2]) for r in rows],
            "percentile": pd.array([r[3] for r in rows], dtype="Float64"),
            "vendor_level": [r[4] for r in rows],
            "source_file": "screenings.csv",
            "source_row": range(2, 2 + len(rows)),
        }
    )
    return screenings, students


def _map(student, percentile, adjectives):
    """A MAP math test: overall RIT at ``percentile`` and four goal adjectives."""
    rows = [(student, "map_math_rit", 190, percentile, None)]
    for goal, adjective in zip(GOALS, adjectives, strict=True):
        if adjective:
            rit = {"Low": 175, "LoAvg": 185, "Avg": 195, "HiAvg": 205}[adjective]
            rows.append((student, f"map_math_goal_{goal}", rit, None, adjective))
    return rows


def _saebrs(student, total, social, academic, emotional):
    return [
        (student, "saebrs_total", total, None, None),
        (student, "saebrs_social", social, None, None),
        (student, "saebrs_academic", academic, None, None),
        (student, "saebrs_emotional", emotional, None, None),
    ]


@pytest.fixture(scope="module")
def planted(config):
    rows = [
        *_map("number-low", 15, ("Low", "Avg", "LoAvg", "Avg")),  # Tier 2 (10th-24th)
        *_map("shapes-low", 8, ("Avg", "Avg", "LoAvg", "LoAvg")),  # Tier 3 (below 10th)
        *_map("both", 20, ("LoAvg", "Avg", "Avg", "LoAvg")),
        *_map("more-number", 20, ("Low", "Low", "Low", "LoAvg")),  # computation 3, 3; concepts 3, 2
        *_map("no-goals", 20, (None, None, None, None)),
        # Both vendors' goal scores: computation at levels 3, 1, 1 (mean 1.67), concepts at
        # 2, 2 (mean 2): the highest level comes first, the mean only among skills at it.
        *_map("two-vendors", 20, ("Low", "Avg", "LoAvg", "LoAvg")),
        ("two-vendors", "iready_math_number_operations_scale", 450, None, "Early On Grade Level"),
        *_map("all-fine", 20, ("Avg", "HiAvg", "Avg", "Avg")),
        *_map("core", 60, ("Low", "Low", "Low", "Low")),  # Tier 1 whatever the goals say
        # SAEBRS: total under 37 is Tier 2, under 25 Tier 3 (district.yml saebrs_total)
        *_saebrs("acting-out", 30, 7, 12, 18),  # social under 9: Tier 3 level
        *_saebrs("withdrawn", 20, 15, 12, 8),  # emotional under 10
        *_saebrs("disengaged", 33, 14, 8, 17),  # academic under 10 (level 2)
    ]
    screenings, students = _screen(rows)
    tiers = assign_tiers(screenings, students, config, "winter")
    return tiers.set_index(["student_id", "subject"])


@pytest.mark.parametrize(
    ("student", "subject", "tier", "focus", "measure"),
    [
        ("number-low", "math", 2, "computation", "map_math_goal_number"),
        # measurement and geometry both LoAvg at 185: the first in config order
        ("shapes-low", "math", 3, "concepts", "map_math_goal_measurement"),
        ("both", "math", 2, "computation + concepts", "map_math_goal_number"),
        ("more-number", "math", 2, "computation", "map_math_goal_number"),
        ("two-vendors", "math", 2, "computation", "map_math_goal_number"),
        ("no-goals", "math", 2, DIAGNOSTIC, "map_math_rit"),
        ("all-fine", "math", 2, DIAGNOSTIC, "map_math_rit"),
        ("acting-out", "behavior", 2, "externalizing", "saebrs_social"),
        ("withdrawn", "behavior", 3, "internalizing", "saebrs_emotional"),
        ("disengaged", "behavior", 2, "externalizing", "saebrs_academic"),
    ],
)
def test_planted_domain_scores_give_the_focus(planted, student, subject, tier, focus, measure):
    row = planted.loc[(student, subject)]
    assert row["tier"] == tier
    assert row["focus"] == focus
    if focus != DIAGNOSTIC:
        assert row["focus_measure"] == measure
        assert row["focus_reason"].startswith("At risk: ")


def test_the_reason_names_each_domain_at_risk(planted):
    reason = planted.loc[("number-low", "math"), "focus_reason"]
    assert "MAP Number and Operations 175 RIT (Low)" in reason
    assert "MAP Measurement and Data 185 RIT (LoAvg)" in reason
    assert "Geometry" not in reason  # Avg is not at risk


def test_a_sub_scale_reason_names_its_cut(planted):
    reason = planted.loc[("acting-out", "behavior"), "focus_reason"]
    assert reason == "At risk: SAEBRS social 7 points (under 9)"


def test_domain_scores_never_decide_a_tier(planted):
    core = planted.loc[("core", "math")]
    assert core["tier"] == 1 and pd.isna(core["focus"])
    assert core["measure"] == "map_math_rit"


def test_a_domain_measure_with_a_tier_rule_is_a_config_error():
    with pytest.raises(ValidationError, match="role 'domain' never decides a tier"):
        Measure(
            subject="math",
            label="x",
            min=0,
            max=1,
            tier_rule="percentile",
            role="domain",
            skill="computation",
        )


def test_iready_relative_placement_and_percentile_levels(config):
    screenings, _ = _screen(
        [
            ("a", "iready_math_number_operations_scale", 400, None, "2 Grade Levels Below"),
            ("a", "iready_math_geometry_scale", 430, None, "1 Grade Level Below"),
            ("a", "iready_math_algebra_scale", 450, None, "Early On Grade Level"),
            ("a", "iready_math_measurement_data_scale", 420, 7, None),  # no label: percentile
        ]
    )
    levels = domain_levels(screenings, config, "winter").set_index("measure")["level"]
    assert levels.to_dict() == {
        "iready_math_number_operations_scale": 3,
        "iready_math_geometry_scale": 2,
        "iready_math_algebra_scale": 1,
        "iready_math_measurement_data_scale": 3,  # below the 10th percentile
    }


def test_the_synthetic_district_shows_math_and_behaviour_focus(small_district, config):
    """The demo writes MAP goal scores and SAEBRS sub-scales: Tier 2/3 math and behaviour
    students get a domain focus instead of "needs a diagnostic"."""
    screenings = pd.read_csv(small_district / "screenings.csv", dtype={"student_id": str})
    students = pd.read_csv(small_district / "students.csv", dtype={"student_id": str})
    spring = screenings[screenings["window"] == "spring"]
    # SAEBRS sub-scales add up to the total, as on the real form.
    wide = spring.pivot_table(index="student_id", columns="measure", values="score")
    scales = ["saebrs_social", "saebrs_academic", "saebrs_emotional"]
    both = wide.dropna(subset=[*scales, "saebrs_total"])
    assert len(both) and (both[scales].sum(axis=1) == both["saebrs_total"]).all()
    tiers = assign_tiers(spring, students, config, "spring")
    need = tiers[tiers["tier"] >= 2]
    for subject, domains in (
        ("math", {"computation", "concepts"}),
        ("behavior", {"externalizing", "internalizing"}),
    ):
        focus = need.loc[need["subject"] == subject, "focus"]
        named = focus.str.split(" + ", regex=False).map(set)
        assert sum(s <= domains for s in named) > 0.9 * len(named), subject
        assert {"+".join(sorted(s)) for s in named} >= domains  # each domain alone somewhere


# --- from vendor exports, through the profiles --------------------------------------


def _ingested(raw, config):
    from .test_ingest import ingest

    return ingest(raw, config).tables


def test_map_growth_goals_are_read_beside_the_rit_and_give_the_focus(tmp_path, config):
    """The vendor sample's math test, its goals renamed to the grade 3-5 areas."""
    from .test_ingest import roster_of, vendor_raw

    raw = vendor_raw(tmp_path, "map_growth_cdf.csv", roster=roster_of(["605001"], grade="4"))
    cdf = pd.read_csv(raw / "map_growth_cdf.csv", dtype=str, keep_default_na=False)
    math = cdf["Subject"].eq("Mathematics")
    goals = [
        ("Operations and Algebraic Thinking", "210", "Low"),
        ("Number and Operations", "218", "LoAvg"),
        ("Measurement and Data", "226", "Avg"),
        ("Geometry", "231", "Avg"),
    ]
    for k, (name, rit, adjective) in enumerate(goals, start=1):
        cdf.loc[math, [f"Goal{k}Name", f"Goal{k}RitScore", f"Goal{k}Adjective"]] = [
            name,
            rit,
            adjective,
        ]
    cdf.loc[math, "TestPercentile"] = "18"  # below the 25th: Tier 2
    cdf[math | cdf["Subject"].str.startswith("Language")].to_csv(
        raw / "map_growth_cdf.csv", index=False
    )
    screenings = _ingested(raw, config)["screenings"]
    mine = screenings[screenings["student_id"] == "605001"].set_index("measure")
    assert mine.loc["map_math_rit", "score"] == 233  # the overall RIT is still read
    assert mine.loc["map_math_goal_algebra", ["score", "vendor_level"]].tolist() == [210, "Low"]
    assert mine.loc["map_math_goal_geometry", "score"] == 231
    students = pd.DataFrame({"student_id": ["605001"], "school_id": "001", "grade": 4})
    tiers = assign_tiers(screenings, students, config, "fall").set_index("subject")
    assert tiers.loc["math", "tier"] == 2
    assert tiers.loc["math", "focus"] == "computation"  # Operations and Algebraic Thinking: Low
    assert tiers.loc["math", "focus_measure"] == "map_math_goal_algebra"


def test_iready_domain_placements_give_the_focus(tmp_path, config):
    """The vendor sample's student 605001 in winter: overall 2 grade levels below
    (percentile 14: Tier 2); Number and Operations and Measurement and Data 1 below,
    Algebra 3 or more below, Geometry 2 below: both skills reach the Tier 3 level with the
    same mean, so both are named; the lowest score at that level is Algebra's 374."""
    from .test_ingest import vendor_raw

    screenings = _ingested(vendor_raw(tmp_path, "iready_diagnostic_math.csv"), config)["screenings"]
    winter = screenings[screenings["window"] == "winter"]
    students = pd.DataFrame({"student_id": ["605001"], "school_id": "001", "grade": 3})
    row = assign_tiers(winter, students, config, "winter").set_index("subject").loc["math"]
    assert row["tier"] == 2
    assert row["focus"] == "computation + concepts"
    assert row["focus_measure"] == "iready_math_algebra_scale" and row["focus_score"] == 374


def test_a_focus_of_several_domains_reads_as_their_labels():
    from pipeline.rules.labels import focus_label

    assert focus_label("computation + concepts") == "Computation + Concepts and application"
    assert focus_label("internalizing") == "Internalizing behavior"
    assert focus_label(None) == ""
