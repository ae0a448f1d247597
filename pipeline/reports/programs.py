"""The program effectiveness table as report text (specialist report, district index):
one row per program x scope, every statistic with its n, "n too small" where it was
suppressed (:func:`pipeline.stats.effectiveness.program_effectiveness` computes them)."""

from __future__ import annotations

import pandas as pd

from pipeline.stats.scopes import DISTRICT, TOO_SMALL

# The part of the effectiveness ``note`` that names each count's statistics.
_NOTE_OF_COUNT = {
    "n": "served",
    "n_scored": "pre/post",
    "n_moved_base": "tier movement",
    "n_monitored": "on track",
    "n_compared": "comparison",
}


def summary_table(
    effectiveness: pd.DataFrame, scope_labels: dict[str, str] | None = None
) -> pd.DataFrame:
    """The program effectiveness table as report text: one row per program x scope, every
    statistic with its n, "n too small" where it was suppressed. ``scope_labels``: the
    name shown for a scope (default: "District", or the school id)."""
    e = effectiveness
    if e.empty:
        return pd.DataFrame()
    labels = scope_labels or {}
    shown = lambda column, count, text: _unless_suppressed(e, column, count, text)  # noqa: E731
    return pd.DataFrame(
        {
            "Program": e["program"],
            "Subject": e["subject"].str.capitalize(),
            "Scope": e["scope"].map(lambda s: labels.get(s, "District" if s == DISTRICT else s)),
            "Served": e["n"],
            "Attended (mean)": shown("dosage_mean", "n", _percent(e["dosage_mean"])),
            "At 80% fidelity": shown("fidelity_share", "n", _percent(e["fidelity_share"])),
            "With fall and current scores": e["n_scored"],
            "Mean change (points)": shown("mean_change", "n_scored", e["mean_change"].map(_fmt)),
            "Pre/post g [95% CI]": shown("hedges_g", "n_scored", _with_ci(e, "hedges_g", "g")),
            "Moved up a tier": shown(
                "moved_up_share", "n_moved_base", _percent(e["moved_up_share"])
            ),
            "Monitored": e["n_monitored"],
            "On track (monitored)": shown(
                "on_track_share", "n_monitored", _percent(e["on_track_share"])
            ),
            "Median ROI vs typical": shown("median_roi", "n_monitored", _roi_vs_typical(e)),
            "Growth vs comparison (points) [95% CI]": shown(
                "comparison_diff", "n_compared", _with_ci(e, "comparison_diff", "comparison", 1)
            ),
            "Effect (SD) [95% CI]": shown(
                "effect_sd", "n_compared", _with_ci(e, "effect_sd", "effect_sd")
            ),
            "Compared with": e["n_comparison"],
            "Note": e["note"],
        }
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
