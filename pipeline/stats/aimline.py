"""The points of a progress chart: each probe with its phase's aimline, trend line and
the trend's interval band (what the monitoring charts draw)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.stats.probes import probe_weeks


def aimline_points(
    probes: pd.DataFrame, decisions: pd.DataFrame, level: float = 0.95
) -> pd.DataFrame:
    """Each probe with its phase, its ``week`` since the phase's first probe, its
    ``chart_week`` since the student's first probe of the measure, and the phase's
    aimline, trend line and the trend's ``level`` interval (``band_low`` / ``band_high``:
    the interval of the trend's mean, :func:`pipeline.stats.decision.goal_probability`)."""
    columns = ["student_id", "measure", "phase", "first_date", "baseline", "baseline_week"]
    columns += ["aim_slope", "roi", "intercept", "trend_x_mean", "trend_sxx"]
    columns += ["trend_resid_var", "trend_dof"]
    phases = decisions[[c for c in columns if c in decisions]].sort_values("first_date")
    points = probe_weeks(probes).drop(columns="week")
    points = pd.merge_asof(
        points.assign(date=pd.to_datetime(points["date"])).sort_values("date"),
        phases,
        left_on="date",
        right_on="first_date",
        by=["student_id", "measure"],
        direction="backward",
    ).dropna(subset=["phase"])
    week = (points["date"] - points["first_date"]).dt.days / 7.0
    start = points.groupby(["student_id", "measure"])["date"].transform("min")
    t = stats.t.ppf(0.5 + level / 2, points["trend_dof"])
    half = t * np.sqrt(
        points["trend_resid_var"]
        * (
            1 / (points["trend_dof"] + 2)
            + (week - points["trend_x_mean"]) ** 2 / points["trend_sxx"]
        )
    )
    trend = points["intercept"] + points["roi"] * week
    out = points.assign(
        week=week,
        chart_week=(points["date"] - start).dt.days / 7.0,
        aimline=points["baseline"] + points["aim_slope"] * (week - points["baseline_week"]),
        trend=trend,
        band_low=trend - half,
        band_high=trend + half,
    )
    return out.sort_values(["student_id", "measure", "date"], kind="stable").reset_index(drop=True)
