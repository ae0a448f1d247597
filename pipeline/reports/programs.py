"""The program effectiveness table as report text (specialist report, district index):
one row per program x scope, every statistic with its n, "n too small" where it was
suppressed (:func:`pipeline.stats.effectiveness.program_effectiveness` computes them).

An *effect* is only ever growth against a comparison group; without one the table shows
the change since fall and says it is not an effect. Effects are described with the
education-research benchmarks of Kraft (2020), not Cohen's labels."""

from __future__ import annotations

import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.reports.words import confidence_level
from pipeline.stats.scopes import DISTRICT, TOO_SMALL

# The part of the effectiveness ``note`` that names each count's statistics.
_NOTE_OF_COUNT = {
    "n": "served",
    "n_scored": "pre/post",
    "n_moved_base": "tier movement",
    "n_monitored": "on track",
    "n_compared": "comparison",
}
# How the report names the comparison every effect is made against.
COMPARED_WITH = (
    "compared with similar students who had no intervention (not a controlled experiment)"
)
NOT_AN_EFFECT = "no comparison group, not an effect"
KRAFT = "Kraft 2020"


def summary_table(
    effectiveness: pd.DataFrame,
    config: DistrictConfig,
    scope_labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The program effectiveness table as report text: one row per program x scope, every
    statistic with its n, "n too small" where it was suppressed. ``scope_labels``: the
    name shown for a scope (default: "District", or the school id)."""
    e = effectiveness
    if e.empty:
        return pd.DataFrame()
    labels = scope_labels or {}
    level = confidence_level(config)
    fidelity = f"{config.effectiveness.fidelity_threshold * 100:.0f}"
    shown = lambda column, count, text: _unless_suppressed(e, column, count, text)  # noqa: E731
    effect = shown("effect_sd", "n_compared", _with_ci(e, "effect_sd", "effect_sd"))
    return pd.DataFrame(
        {
            "Program": e["program"],
            "Subject": e["subject"].str.capitalize(),
            "Scope": e["scope"].map(lambda s: labels.get(s, "District" if s == DISTRICT else s)),
            "Served": e["n"],
            "Attended (mean)": shown("dosage_mean", "n", _percent(e["dosage_mean"])),
            f"At {fidelity}% fidelity": shown("fidelity_share", "n", _percent(e["fidelity_share"])),
            "With fall and current scores": e["n_scored"],
            "Change since fall (points)": shown("mean_change", "n_scored", change_text(e)),
            "Moved up a tier": shown(
                "moved_up_share", "n_moved_base", _percent(e["moved_up_share"])
            ),
            "Monitored": e["n_monitored"],
            "On track (monitored)": shown(
                "on_track_share", "n_monitored", _percent(e["on_track_share"])
            ),
            "Median ROI vs typical": shown("median_roi", "n_monitored", _roi_vs_typical(e)),
            "Students compared": e["n_compared"],
            "Comparison students": e["n_comparison"],
            f"Growth beyond the comparison (points) [{level}% CI]": shown(
                "comparison_diff", "n_compared", _with_ci(e, "comparison_diff", "comparison", 1)
            ),
            f"Effect (SD) [{level}% CI]": effect,
            f"Size of the effect ({KRAFT})": shown(
                "effect_sd", "n_compared", magnitude_texts(e, config)
            ),
            "Note": e["note"],
        }
    )


def change_text(e: pd.DataFrame) -> pd.Series:
    """The mean change since fall in points, "(no comparison group, not an effect)" where
    the program has no comparison group."""
    has = e.get("has_comparison", pd.Series(True, index=e.index)).fillna(False).astype(bool)
    return pd.Series(
        [
            "" if pd.isna(v) else f"{v:+.1f}" + ("" if ok else f" ({NOT_AN_EFFECT})")
            for v, ok in zip(e["mean_change"], has, strict=True)
        ],
        index=e.index,
    )


def magnitude(effect: float, config: DistrictConfig) -> str:
    """ "small", "medium" or "large" for an effect in SDs, by the benchmarks of Kraft
    (2020, Educational Researcher 49(4):241-253) for school interventions measured on
    achievement tests: below ``magnitude_cuts[0]`` small, below ``[1]`` medium, else large."""
    small_below, large_from = config.effectiveness.magnitude_cuts
    size = abs(effect)
    return "small" if size < small_below else "medium" if size < large_from else "large"


def magnitude_words(effect: float, low: float, high: float, config: DistrictConfig) -> str:
    """What an effect means for a school, in Kraft's (2020) terms; "not clear yet" when
    the interval includes 0."""
    if pd.isna(effect):
        return ""
    if low <= 0 <= high:
        return "not clear yet (the interval includes 0)"
    small_below, large_from = config.effectiveness.magnitude_cuts
    meaning = {
        "small": f"below {small_below:g} SD: little practical difference for students",
        "medium": f"{small_below:g} to {large_from:g} SD: what school programs that work "
        "typically achieve",
        "large": f"{large_from:g} SD or more: large for a school program",
    }
    size = magnitude(effect, config)
    direction = "" if effect > 0 else ", in the wrong direction"
    return f"{size}{direction} ({meaning[size]})"


def magnitude_texts(e: pd.DataFrame, config: DistrictConfig) -> pd.Series:
    return pd.Series(
        [
            magnitude_words(v, lo, hi, config)
            for v, lo, hi in zip(
                e["effect_sd"], e["effect_sd_ci_low"], e["effect_sd_ci_high"], strict=True
            )
        ],
        index=e.index,
    )


def _unless_suppressed(e: pd.DataFrame, column: str, count: str, text: pd.Series) -> pd.Series:
    """``text``, or "n too small" where ``column`` was blanked because ``count`` was."""
    why = f"{_NOTE_OF_COUNT[count]}: {TOO_SMALL}"
    small = e[column].isna() & e["note"].str.contains(why, regex=False)
    return text.mask(small, TOO_SMALL)


def _fmt(value: float, digits: int = 2, percent: bool = False) -> str:
    if pd.isna(value):
        return ""
    return f"{value * 100:.0f}%" if percent else f"{value:.{digits}f}"


def _percent(values: pd.Series) -> pd.Series:
    return values.map(lambda v: _fmt(v, percent=True))


def _with_ci(e: pd.DataFrame, estimate: str, prefix: str, digits: int = 2) -> pd.Series:
    """``estimate [low, high]`` from the columns ``estimate``, ``<prefix>_ci_low`` and
    ``<prefix>_ci_high``; empty where the estimate is missing."""
    low, high = e[f"{prefix}_ci_low"], e[f"{prefix}_ci_high"]
    text = [
        "" if pd.isna(est) else f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
        for est, lo, hi in zip(e[estimate], low, high, strict=True)
    ]
    return pd.Series(text, index=e.index)


def _roi_vs_typical(e: pd.DataFrame) -> pd.Series:
    """``median ROI vs median typical ROI`` (the ROI alone without a typical one)."""
    text = [
        "" if pd.isna(m) else f"{m:.2f} vs {t:.2f}" if pd.notna(t) else f"{m:.2f}"
        for m, t in zip(e["median_roi"], e["median_typical_roi"], strict=True)
    ]
    return pd.Series(text, index=e.index)


def effect_words(config: DistrictConfig) -> str:
    """What an effect is and how big is big, for the three reports' "How to read"."""
    small_below, large_from = config.effectiveness.magnitude_cuts
    return (
        f"How much more a program's students grew than similar students (same grade, same "
        f"starting level), {COMPARED_WITH}, in standard deviations of the fall scores of the "
        f"grade. For school programs ({KRAFT}) below {small_below:g} is small, "
        f"{small_below:g} to {large_from:g} medium (what programs that work typically "
        f"achieve) and {large_from:g} or more large. The {confidence_level(config)} % "
        "interval is the range the true effect probably lies in; an interval that crosses 0 "
        "means the data cannot yet tell the program apart from no program."
    )


def change_words() -> str:
    """What the change since fall is, and why it is not an effect."""
    return (
        "The average gain in points from the fall screening to this one. Every student "
        "grows over a term, so a gain alone does not show that a program worked; where no "
        f'similar students without intervention exist it reads "{NOT_AN_EFFECT}".'
    )
