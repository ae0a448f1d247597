"""The sentences that say why a student has a tier, a combined tier or a skill focus.

One function per kind of decision, one row at a time, so the wording reads as the report
prints it: "ORF 31 wcpm is below 55, the grade 3 fall cut for Below Benchmark: Well
Below Benchmark (Tier 3)". The rules call these once per distinct decision, never once
per student (see :mod:`pipeline.rules.measure`).
"""

from __future__ import annotations

import pandas as pd

from pipeline.rules.labels import grade_label


def number(value: object) -> str:
    """A score, percentile or cut as a reason shows it: 55.0 -> "55", 24.9 -> "24.9"."""
    if value is None or pd.isna(value):
        return "missing"
    return f"{float(value):g}"


def score_with_unit(score: object, unit: str) -> str:
    """A score with its unit: "31 wcpm", "95%" or "190" (a measure without a unit)."""
    if not unit:
        return number(score)
    return number(score) + (unit if unit == "%" else f" {unit}")


def grade_and_window(grade: int, window: str) -> str:
    """Where a cut applies: "grade 3 fall", "grade K winter"."""
    return f"grade {grade_label(grade)} {window}"


# --- one measure's tier -----------------------------------------------------------------


def benchmark(
    name: str, score: str, where: str, level: str, above: str, goal: str, below: str
) -> str:
    """A cut-score table's level; ``above``, ``goal``, ``below``: the lowest score of
    Above Benchmark, At Benchmark and Below Benchmark; ``where``: "grade 3 fall"."""
    said = f"{name} {score}"
    if level == "well_below":
        return (
            f"{said} is below {below}, the {where} cut for Below Benchmark: "
            "Well Below Benchmark (Tier 3)"
        )
    if level == "below":
        return (
            f"{said} is below {goal}, the {where} benchmark goal, and at or above the "
            f"Below Benchmark cut {below}: Below Benchmark (Tier 2)"
        )
    if level == "benchmark":
        return f"{said} is at or above {goal}, the {where} benchmark goal: At Benchmark (Tier 1)"
    return f"{said} is at or above {above}, the {where} cut for Above Benchmark (Tier 1)"


def vendor_level(name: str, score: str, label: str, tier: int) -> str:
    """The vendor's own label (BESS Normal / Elevated / Extremely Elevated)."""
    return f"{name} {score}: the vendor's level '{label}' means Tier {tier}"


def score_bands(name: str, score: str, tier: int, tier3: str, tier2: str, high_risk: bool) -> str:
    """Raw-score cuts; with ``high_risk`` high scores are the risk (a BESS T-score)."""
    said = f"{name} {score}"
    if not high_risk:
        if tier == 3:
            return f"{said} is below {tier3}, the Tier 3 cut (Tier 3)"
        if tier == 2:
            return f"{said} is below {tier2}, the Tier 2 cut, and at or above {tier3} (Tier 2)"
        return f"{said} is at or above {tier2}, the Tier 2 cut (Tier 1)"
    if tier == 3:
        return f"{said} is at or above {tier3}, the Tier 3 cut (Tier 3)"
    if tier == 2:
        return f"{said} is at or above {tier2}, the Tier 2 cut, and below {tier3} (Tier 2)"
    return f"{said} is below {tier2}, the Tier 2 cut (Tier 1)"


def percentile(
    name: str, value: str, tier: int, tier3: str, tier2: str, watch: str, on_watch: bool
) -> str:
    """Percentile bands: Tier 3 below ``tier3``, Tier 2 below ``tier2``, Tier 1 on watch
    below ``watch`` (a third cut, where the preset has one)."""
    said = f"{name} percentile {value}"
    if tier == 3:
        return f"{said} is below {tier3} (Tier 3)"
    if tier == 2:
        return f"{said} is at or above {tier3} and below {tier2} (Tier 2)"
    if on_watch:
        return f"{said} is at or above {tier2} and below {watch} (Tier 1, on watch)"
    return f"{said} is at or above {tier2} (Tier 1)"


def instead_of_cut(reason: str, where: str) -> str:
    """A fallback's reason: the cut-score table has no cut for ``where``."""
    return f"{reason} (no {where} cut score in the benchmark table)"


def no_tier(name: str, score: str, where: str) -> str:
    return f"{name} {score}: no cut score for {where} and no percentile, so no tier"


# --- several measures of one subject ----------------------------------------------------


COMPOSITE_DECIDES = "The composite decides (composite first): "


def most_intensive_of(n_measures: int, subject: str) -> str:
    """The note before the deciding measure's reason (none for a single measure)."""
    if n_measures < 2:
        return ""
    return f"Most intensive of {n_measures} {subject} measures: "


def two_of(n_measures: int, subject: str) -> str:
    if n_measures < 2:
        return ""
    return f"At least two of {n_measures} {subject} measures reach this tier (two of three): "


# --- skill focus ------------------------------------------------------------------------

LOWEST_RUNG = "Lowest rung at risk: "
DOMAINS_AT_RISK = "At risk: "
NOTHING_BELOW_CUT = "No skill measure is below its cut"
GIVE_A_DIAGNOSTIC = (
    "No skill-level measure is below its cut, so the screening cannot tell which skill "
    "to teach: give a diagnostic"
)
# What is missing below a reading rung (by the rung's place on the ladder).
MISSING_BELOW = {
    2: "no decoding measure (NWF, WRF or ORF accuracy)",
    3: "no oral reading fluency score",
}


def rung_below_missing(reason: str, rung: int) -> str:
    """Fluency or comprehension at risk with no data on the rung below."""
    missing = MISSING_BELOW.get(rung, "no measure of the rung below")
    return f"{reason}; but {missing} tells whether the gap is lower on the reading ladder"


# --- a team's override ------------------------------------------------------------------

NO_SCREENING = "No screening score in this window"


def override(by: str, on: str, why: str, computed_tier: object, computed_reason: str) -> str:
    """The team's reason, quoting the tier the rules computed (text; missing: none) and
    their reason."""
    was = "no computed tier" if pd.isna(computed_tier) else f"computed Tier {computed_tier}"
    return f"Team override by {by} on {on}: {why} ({was}: {computed_reason})"
