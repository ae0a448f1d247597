"""The "effectiveness of support" table: students by fall tier x current tier, per scope
and subject, split by whether they received an intervention in the subject."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.stats.scopes import TOO_SMALL, with_scopes

TRANSITION_COLUMNS = [
    "scope",
    "subject",
    "received_intervention",
    "fall_tier",
    "current_tier",
    "n",
    "n_fall_tier",
    "share",
    "note",
]


def transitions(
    fall_tiers: pd.DataFrame,
    current_tiers: pd.DataFrame,
    interventions: pd.DataFrame,
    min_cell_size: int,
) -> pd.DataFrame:
    """Counts of students per scope, subject, intervention or not, fall tier and current
    tier. ``share`` is the count over the fall-tier row total; it is missing (``note``
    "n too small") when that row has fewer than ``min_cell_size`` students."""
    pairs = _tier_pairs(fall_tiers, current_tiers, interventions)
    keys = ["scope", "subject", "received_intervention", "fall_tier", "current_tier"]
    counts = with_scopes(pairs).groupby(keys, observed=True).size().rename("n").reset_index()
    counts["n_fall_tier"] = counts.groupby(keys[:-1], observed=True)["n"].transform("sum")
    small = counts["n_fall_tier"] < min_cell_size
    counts["share"] = (counts["n"] / counts["n_fall_tier"]).where(~small)
    counts["note"] = np.where(small, TOO_SMALL, "")
    counts = counts.astype({"fall_tier": int, "current_tier": int})
    return counts[TRANSITION_COLUMNS].sort_values(keys).reset_index(drop=True)


def _tier_pairs(
    fall_tiers: pd.DataFrame, current_tiers: pd.DataFrame, interventions: pd.DataFrame
) -> pd.DataFrame:
    """Per student x subject with both tiers: school, ``fall_tier``, ``current_tier`` and
    ``received_intervention`` (any intervention in the subject)."""
    pairs = fall_tiers[["student_id", "school_id", "subject", "tier"]].merge(
        current_tiers[["student_id", "subject", "tier"]],
        on=["student_id", "subject"],
        suffixes=("_fall", "_now"),
    )
    pairs = pairs.dropna(subset=["tier_fall", "tier_now"])
    received = (
        interventions[["student_id", "subject"]].drop_duplicates().assign(_r=True)
        if interventions is not None and len(interventions)
        else pd.DataFrame({"student_id": [], "subject": [], "_r": []})
    )
    pairs = pairs.merge(received, on=["student_id", "subject"], how="left")
    return pairs.assign(received_intervention=pairs["_r"].notna().astype(bool)).rename(
        columns={"tier_fall": "fall_tier", "tier_now": "current_tier"}
    )
