import pandas as pd
import pytest

from pipeline.tiers import assign_tiers, tier_from_percentile


@pytest.mark.parametrize(
    ("percentile", "tier"),
    [(1, 3), (9.9, 3), (10, 2), (10.1, 2), (24, 2), (24.9, 2), (25, 1), (26, 1), (99, 1)],
)
def test_default_percentile_band_edges(percentile, tier):
    assert tier_from_percentile(pd.Series([percentile]), 10, 25).iloc[0] == tier


def test_missing_percentile_has_no_tier():
    assert tier_from_percentile(pd.Series([None], dtype="Float64"), 10, 25).isna().all()


def test_assign_tiers_gives_reason_and_rule(config):
    students = pd.DataFrame(
        {"student_id": ["007", "008"], "school_id": ["001", "001"], "grade": [3, 3]}
    )
    screenings = pd.DataFrame(
        {
            "student_id": ["007", "008"],
            "window": ["fall", "fall"],
            "measure": ["dibels8_orf_wrc", "dibels8_orf_wrc"],
            "subject": ["reading", "reading"],
            "score": [31.0, 90.0],
            "percentile": [8.0, 60.0],
            "source_file": ["screenings.csv"] * 2,
            "source_row": [2, 3],
        }
    )
    tiers = assign_tiers(screenings, students, config, "fall").set_index("student_id")
    assert tiers.loc["007", "tier"] == 3
    assert tiers.loc["008", "tier"] == 1
    assert tiers.loc["007", "rule_id"] == "percentile:default"
    assert "percentile 8 is below 10" in tiers.loc["007", "reason"]
    assert tiers.loc["007", "source_row"] == 2
