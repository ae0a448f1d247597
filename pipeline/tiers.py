"""Tier decisions: which students need support, how intensive, and why.

Every decision carries the rule that produced it (``rule_id``) and a sentence a
specialist understands (``reason``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig

TIER_LABELS = {1: "Tier 1 (core)", 2: "Tier 2 (strategic)", 3: "Tier 3 (intensive)"}


def tier_from_percentile(
    percentile: pd.Series, tier3_below: float | pd.Series, tier2_below: float | pd.Series
) -> pd.Series:
    """Percentile bands: below ``tier3_below`` -> 3, below ``tier2_below`` -> 2, else 1.

    With the default bands (10, 25): 9.9 -> 3, 10 -> 2, 24.9 -> 2, 25 -> 1. Missing
    percentiles give a missing tier. Cuts may be scalars or per-row Series.
    """
    values = percentile.astype("Float64")
    tier = pd.Series(
        np.select(
            [values.lt(tier3_below).fillna(False), values.lt(tier2_below).fillna(False)],
            [3, 2],
            default=1,
        ),
        index=percentile.index,
        dtype="Int64",
    )
    return tier.mask(values.isna())


def _format(value: float) -> str:
    return f"{value:g}"


def assign_tiers(
    screenings: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, window: str
) -> pd.DataFrame:
    """One row per student x subject for ``window``: tier, rule_id and reason.

    Uses each subject's measures whose tier rule is ``percentile``.
    """
    rules = {
        name: config.percentile_bands[m.percentile_preset]
        for name, m in config.measures.items()
        if m.tier_rule == "percentile"
    }
    current = screenings[
        (screenings["window"] == window) & screenings["measure"].isin(list(rules))
    ].merge(students[["student_id", "school_id", "grade"]], on="student_id", how="inner")
    if current.empty:
        return pd.DataFrame(
            columns=[
                "student_id",
                "school_id",
                "grade",
                "subject",
                "measure",
                "score",
                "percentile",
                "tier",
                "rule_id",
                "reason",
                "source_file",
                "source_row",
            ]
        )
    bands = current["measure"].map(rules)
    tier3 = bands.str[0].astype(float)
    tier2 = bands.str[1].astype(float)
    pct = current["percentile"].astype("Float64")
    tier = tier_from_percentile(pct, tier3, tier2)
    labels = current["measure"].map({n: m.label for n, m in config.measures.items()})
    pct_text = pct.map(lambda v: "missing" if pd.isna(v) else _format(v))
    reason = np.select(
        [tier.eq(3).fillna(False), tier.eq(2).fillna(False), tier.eq(1).fillna(False)],
        [
            labels + " percentile " + pct_text + " is below " + tier3.map(_format),
            labels
            + " percentile "
            + pct_text
            + " is at or above "
            + tier3.map(_format)
            + " and below "
            + tier2.map(_format),
            labels + " percentile " + pct_text + " is at or above " + tier2.map(_format),
        ],
        default=labels + ": no percentile reported, so no tier",
    )
    out = current.assign(
        tier=tier,
        rule_id="percentile:"
        + current["measure"].map({n: config.measures[n].percentile_preset for n in rules}),
        reason=reason,
    )
    columns = [
        "student_id",
        "school_id",
        "grade",
        "subject",
        "measure",
        "score",
        "percentile",
        "tier",
        "rule_id",
        "reason",
        "source_file",
        "source_row",
    ]
    return out[columns].sort_values(["school_id", "subject", "student_id"]).reset_index(drop=True)
