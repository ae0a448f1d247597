"""The progress-monitoring decision from a trend and its uncertainty.

**Interval rule** (``progress.decision_rule: interval``, the default). With the OLS rate of
improvement ``b`` (ROI), its standard error ``SE`` on ``n - 2`` degrees of freedom and the
two-sided ``decision_confidence`` interval ``[lo, hi] = b -/+ t SE`` (0.90: one-sided 5 %
each way):

* *change the intervention* when ``hi < aim slope``: the trend is below the aimline with
  confidence;
* *raise the goal* when ``lo > aim slope``;
* *continue* when ``lo >= on_course_share x aim slope``: the trend is confidently at least
  that share of the aimline's slope and not confidently below it;
* *not yet clear* otherwise, with the week by which a decision becomes likely
  (:func:`weeks_to_decision`);
* *insufficient data* below ``min_probes`` probes or ``min_weeks`` weeks.

Why: the SE of an ORF slope after 6-8 weekly probes is of the order of the aim slope
itself (Christ 2006), so a point rule or a bare trend comparison flags many students who
are on course; decision accuracy grows with weeks of data and is rarely adequate before
10-14 weeks (Ardoin, Christ, Morena, Cormier & Klingbeil 2013; Christ, Zopluoglu, Monaghen
& Van Norman 2013; Van Norman, Christ & Newell 2017; Parker, Van Norman & Nelson 2018).
A one-sided test at 5 % keeps a student truly on the aimline from being told "change" at
any one meeting more than about 5 % of the time.

**Four-point rule** (``decision_rule: four_point``): the last ``consecutive_points`` probes
all below the aimline -> change; all above -> raise the goal; else the trend within
``trend_tolerance`` of the aim slope -> continue (Fuchs & Fuchs; NCII guidance).

**Likelihood of reaching the goal** (:func:`goal_probability`): the OLS line projected to
the goal date, ``y(x0) = a + b x0``, with the standard error of the predicted *mean*
``s sqrt(1/n + (x0 - mean x)^2 / Sxx)`` (the trend's uncertainty, not a single probe's
noise); ``p_goal = 1 - T_{n-2}((goal - y(x0)) / se_mean)`` (e.g. Draper & Smith 1998,
ch. 3; statsmodels' ``get_prediction().se_mean``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.config import Progress

DECISION_LABELS = {
    "change_intervention": "Change the intervention",
    "raise_goal": "Raise the goal",
    "continue": "Continue",
    "not_yet_clear": "Not yet clear",
    "insufficient_data": "Insufficient data",
}
ON_TRACK_DECISIONS = ("continue", "raise_goal")


def interval_decision(fits: pd.DataFrame, rules: Progress) -> pd.DataFrame:
    """``decision``, ``rule_id``, ``decision_low`` / ``decision_high`` (the interval the
    decision used) for each row of ``fits`` (``slope``, ``slope_se``, ``dof``, ``n``,
    ``weeks``, ``aim_slope``)."""
    low, high = slope_interval(fits, rules.decision_confidence)
    aim = fits["aim_slope"]
    enough = (fits["n"] >= rules.min_probes) & (fits["weeks"] >= rules.min_weeks)
    table = [  # condition, decision, rule id
        (~enough, "insufficient_data", "too_few_probes"),
        (aim.isna(), "insufficient_data", "no_goal"),
        (fits["slope_se"].isna(), "insufficient_data", "no_spread"),
        (high < aim, "change_intervention", "interval_below"),
        (low > aim, "raise_goal", "interval_above"),
        (low >= rules.on_course_share * aim, "continue", "interval_on_course"),
    ]
    return _first_rule(table, ("not_yet_clear", "interval_unclear"), low, high)


def slope_interval(fits: pd.DataFrame, level: float) -> tuple[pd.Series, pd.Series]:
    """The two-sided ``level`` Student-t interval of the slope on ``dof`` degrees."""
    t = stats.t.ppf(0.5 + level / 2, fits["dof"])
    return fits["slope"] - t * fits["slope_se"], fits["slope"] + t * fits["slope_se"]


def four_point_decision(fits: pd.DataFrame, rules: Progress) -> pd.DataFrame:
    """The classic rule: ``last_below`` / ``last_above`` (the last ``consecutive_points``
    probes all below / above the aimline), else the trend against the aim slope within
    ``trend_tolerance`` of it."""
    slope, aim = fits["slope"], fits["aim_slope"]
    enough = (fits["n"] >= rules.min_probes) & (fits["weeks"] >= rules.min_weeks)
    tolerance = rules.trend_tolerance * aim.abs()
    table = [
        (~enough, "insufficient_data", "too_few_probes"),
        (aim.isna(), "insufficient_data", "no_goal"),
        (fits["last_below"], "change_intervention", "last_below"),
        (fits["last_above"], "raise_goal", "last_above"),
        (slope < aim - tolerance, "change_intervention", "trend_below"),
        (slope > aim + tolerance, "raise_goal", "trend_above"),
    ]
    low, high = slope_interval(fits, rules.decision_confidence)
    return _first_rule(table, ("continue", "trend_on_aimline"), low, high)


def _first_rule(
    table: list[tuple[pd.Series, str, str]],
    otherwise: tuple[str, str],
    low: pd.Series,
    high: pd.Series,
) -> pd.DataFrame:
    """Each row's ``decision`` and ``rule_id`` from the first line of ``table``
    (condition, decision, rule id) whose condition holds, else ``otherwise``; with the
    interval the decision used (``decision_low`` / ``decision_high``)."""
    conditions = [condition.to_numpy(dtype=bool) for condition, _, _ in table]
    return pd.DataFrame(
        {
            "decision": np.select(conditions, [d for _, d, _ in table], otherwise[0]),
            "rule_id": np.select(conditions, [r for _, _, r in table], otherwise[1]),
            "decision_low": low,
            "decision_high": high,
        },
        index=low.index,
    )


def goal_probability(fits: pd.DataFrame) -> pd.Series:
    """The probability that the trend's mean reaches ``goal`` by ``goal_week`` (module
    docstring): ``1 - T_{n-2}((goal - y(goal_week)) / se_mean)``."""
    x0 = fits["goal_week"]
    predicted = fits["intercept"] + fits["slope"] * x0
    with np.errstate(divide="ignore", invalid="ignore"):
        se_mean = np.sqrt(
            fits["resid_var"] * (1 / fits["n"] + (x0 - fits["x_mean"]) ** 2 / fits["sxx"])
        )
        gap = (fits["goal"] - predicted) / se_mean
    p = pd.Series(stats.t.sf(gap, fits["dof"]), index=fits.index)
    # A perfect fit: the projection is certain.
    certain = (se_mean == 0) & fits["goal"].notna()
    p = p.mask(certain, (predicted >= fits["goal"]).astype(float))
    return p.where(fits["goal"].notna() & fits["dof"].notna())


def weeks_to_decision(fits: pd.DataFrame, rules: Progress) -> pd.Series:
    """For a "not yet clear" trend: the weeks of data (since the phase's first probe) at
    which a decision becomes likely if the trend holds at the current probe rate. For
    equally spaced probes ``SE ~ weeks^-1.5`` (``Sxx`` grows with n and with the span
    squared), so a distance ``d`` between the slope and a decision's boundary is resolved
    when ``d > z SE_now (weeks_now / w)^1.5``: ``w = weeks_now (z SE_now / d)^(2/3)``;
    the earliest of change (below the aim slope), continue (above ``on_course_share`` of
    it) and raise the goal (above it)."""
    z = stats.norm.ppf(0.5 + rules.decision_confidence / 2)
    slope, aim, se = fits["slope"], fits["aim_slope"], fits["slope_se"]
    distances = [aim - slope, slope - rules.on_course_share * aim, slope - aim]
    weeks = []
    for d in distances:
        with np.errstate(divide="ignore", invalid="ignore"):
            w = fits["weeks"] * (z * se / d) ** (2 / 3)
        weeks.append(w.where(d > 0))
    return pd.concat(weeks, axis=1).min(axis=1)
