"""Progress monitoring: rate of improvement, aimline and a decision per student x measure.

Rules (DESIGN.md, "Progress monitoring"; defaults in ``district.yml``, ``progress:``):

* **ROI** (rate of improvement) is the ordinary least-squares slope of score on weeks since
  the first probe, with its standard error ``sqrt(s^2 / Sxx)``, ``s^2 = SSE / (n - 2)``,
  and a t-based confidence interval (closed form, so a million students need no loop;
  :mod:`pipeline.stats.probes`).
* **Baseline** is the median of the first three probes, placed at the median of their weeks.
* **Goal** is the end-of-year benchmark (``goal_source: benchmark``, when the measure and
  grade have one) or ``baseline + weekly growth x weeks`` to the goal date, with the
  published ambitious growth of Fuchs, Fuchs, Hamlett, Walz & Germann (1993) by default.
  The goal date is the intervention's end date, else the last day of the spring window.
* **Aimline**: the straight line from the baseline to the goal.
* **Decision** needs at least ``min_probes`` probes over at least ``min_weeks`` weeks
  ("insufficient data" otherwise). Then the last ``consecutive_points`` (4) probes all below
  the aimline -> change the intervention; all above -> raise the goal; otherwise the trend
  slope is compared with the aimline slope: flatter by more than ``trend_tolerance`` of the
  aimline slope -> change the intervention, steeper by more -> raise the goal, else continue
  (Fuchs & Fuchs' four-point and trend-line rules, as in the NCII / RTI-network guidance).
* **Expected growth** is the typical weekly growth for the measure and grade
  (Hasbrouck & Tindal 2017 AWI for ORF; ``config/norms/weekly_growth.csv``), and
  ``growth_ratio = roi / expected_growth``.

The norms and goals come from the configuration (``config.growth_norms``,
``config.benchmark_goals``), read once by :func:`pipeline.config.load_config`.
:func:`progress_decisions` is a chain of steps, one per rule above, each adding columns to
the table of series.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig, Progress
from pipeline.stats.probes import ProbeSeries, ols_slopes, probe_series, probe_weeks, series_slopes

__all__ = [
    "DECISION_COLUMNS",
    "DECISION_LABELS",
    "ON_TRACK_DECISIONS",
    "aimline_points",
    "ols_slopes",
    "probe_weeks",
    "progress_decisions",
]

DECISION_LABELS = {
    "change_intervention": "Change the intervention",
    "raise_goal": "Raise the goal",
    "continue": "Continue",
    "insufficient_data": "Insufficient data",
}
ON_TRACK_DECISIONS = ("continue", "raise_goal")

DECISION_COLUMNS = [
    "student_id",
    "school_id",
    "grade",
    "subject",
    "measure",
    "program",
    "n_probes",
    "first_date",
    "last_date",
    "weeks_span",
    "baseline",
    "baseline_week",
    "roi",
    "roi_se",
    "roi_ci_low",
    "roi_ci_high",
    "goal",
    "goal_source",
    "goal_date",
    "goal_week",
    "aim_slope",
    "last_below",
    "last_above",
    "expected_growth",
    "growth_ratio",
    "decision",
    "decision_label",
    "rule_id",
    "reason",
    "on_track",
]


def progress_decisions(
    progress: pd.DataFrame,
    students: pd.DataFrame,
    interventions: pd.DataFrame,
    config: DistrictConfig,
    school_year: str,
) -> pd.DataFrame:
    """One row per student x measure with probes: ROI, aimline, decision and its reason.

    ``progress``: canonical probes (student_id, date, measure, score); ``students``: the
    roster (student_id, school_id, grade); ``interventions``: canonical enrolments, used for
    the program and the goal date. Growth norms and benchmark goals come from ``config``.
    """
    if progress.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    rules = config.progress
    series = probe_series(progress)
    _, spring_end = config.window_dates(school_year, "spring")
    rows = _series_rows(series, progress)
    rows = _with_student(rows, students, interventions, config)
    rows = _with_goal(rows, config, spring_end)
    rows = _with_last_points(rows, series, rules.consecutive_points)
    rows = _with_decision(rows, rules)
    return _decision_table(rows)


def _series_rows(series: ProbeSeries, progress: pd.DataFrame) -> pd.DataFrame:
    """One row per probe series (``_code`` its series number): the OLS fit (``n``,
    ``slope``, ``slope_se``, ...), first and last date, weeks spanned and the baseline."""
    fit = series_slopes(series, progress, level=0.95)
    return fit.assign(
        _code=np.arange(len(fit)),
        first_date=series.dates[series.start],
        last_date=series.dates[series.last],
        weeks_span=series.weeks[series.last],
        baseline=_median_of_first_three(series.scores, series),
        baseline_week=_median_of_first_three(series.weeks, series),
    )


def _median_of_first_three(values: np.ndarray, series: ProbeSeries) -> np.ndarray:
    """Per series, the median of ``values`` at its first three probes (of one or two
    probes: the first, or the mean of the two)."""
    start, count = series.start, series.count
    first = values[start]
    second = values[np.minimum(start + 1, start + count - 1)]
    third = values[np.minimum(start + 2, start + count - 1)]
    # The sum less the largest and the smallest.
    three = first + second + third - np.maximum.reduce([first, second, third])
    three = three - np.minimum.reduce([first, second, third])
    return np.select([count == 1, count == 2], [first, (first + second) / 2], three)


def _current_programs(interventions: pd.DataFrame) -> pd.DataFrame:
    """Each student's latest intervention per subject: program and end date."""
    cols = ["student_id", "subject", "program", "end_date"]
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=cols).astype({"end_date": "datetime64[ns]", "program": object})
    latest = interventions.sort_values("start_date", kind="stable").drop_duplicates(
        ["student_id", "subject"], keep="last"
    )
    if "end_date" not in latest:
        latest = latest.assign(end_date=pd.NaT)
    return latest[cols]


def _with_student(
    rows: pd.DataFrame, students: pd.DataFrame, interventions: pd.DataFrame, config: DistrictConfig
) -> pd.DataFrame:
    """The series with the measure's subject, the student's school and grade, their current
    program in the subject and its end date, and the weekly growth norms of the measure
    and grade: ``expected_growth`` (typical) and ``goal_growth`` (``progress.goal_growth``)."""
    subject_of = {name: m.subject for name, m in config.measures.items()}
    rows = rows.assign(subject=rows["measure"].map(subject_of)).merge(
        students[["student_id", "school_id", "grade"]], on="student_id", how="left"
    )
    rows = rows.merge(_current_programs(interventions), on=["student_id", "subject"], how="left")
    growth = config.progress.goal_growth
    norms = config.growth_norms[["measure", "grade", "typical", growth]].rename(
        columns={"typical": "expected_growth", growth: "goal_growth"}
    )
    rows = rows.merge(norms, on=["measure", "grade"], how="left")
    # Back in series order, so per-probe arrays index rows by series number.
    return rows.sort_values("_code").reset_index(drop=True)


def _with_goal(rows: pd.DataFrame, config: DistrictConfig, spring_end: dt.date) -> pd.DataFrame:
    """The series with their goal: ``goal_week`` and ``goal_date`` (the intervention's end
    date, else the spring window's last day), ``goal`` and ``goal_source`` (the end-of-year
    benchmark or the growth goal) and the aimline's slope ``aim_slope``."""
    goal_week = _goal_week(rows, pd.Timestamp(spring_end))
    goal, source = _goal(rows, goal_week, config)
    return rows.assign(
        goal=goal,
        goal_source=source,
        goal_date=(rows["first_date"] + pd.to_timedelta(goal_week * 7, unit="D")).dt.normalize(),
        goal_week=goal_week,
        aim_slope=(goal - rows["baseline"]) / (goal_week - rows["baseline_week"]),
    )


def _goal_week(rows: pd.DataFrame, spring_end: pd.Timestamp) -> pd.Series:
    """Weeks from the first probe to the goal date: the intervention's end date, else the
    last day of the spring window."""
    goal_date = pd.to_datetime(rows["end_date"]).fillna(spring_end)
    goal_week = (goal_date - rows["first_date"]).dt.days / 7.0
    # A goal date at or before the baseline would give no aimline: aim for the spring end.
    goal_week = goal_week.where(goal_week > rows["baseline_week"] + 1)
    fallback = (spring_end - rows["first_date"]).dt.days / 7.0
    return goal_week.fillna(fallback.clip(lower=rows["baseline_week"] + 1))


def _goal(
    rows: pd.DataFrame, goal_week: pd.Series, config: DistrictConfig
) -> tuple[pd.Series, pd.Series]:
    """The goal and where it comes from: ``baseline + goal_growth x weeks`` to the goal
    week (``growth:<goal_growth>``), or with ``goal_source: benchmark`` the end-of-year
    benchmark where the measure and grade have one (``benchmark``); ``none`` without."""
    rules = config.progress
    growth_goal = rows["baseline"] + rows["goal_growth"] * (goal_week - rows["baseline_week"])
    goal, source = growth_goal, pd.Series(f"growth:{rules.goal_growth}", index=rows.index)
    benchmark = config.benchmark_goals if rules.goal_source == "benchmark" else None
    if benchmark is not None and len(benchmark):
        bench = rows[["measure", "grade"]].merge(benchmark, on=["measure", "grade"], how="left")
        goal = bench["goal"].where(bench["goal"].notna(), growth_goal)
        source = source.where(bench["goal"].isna(), "benchmark")
    return goal, source.where(goal.notna(), "none")


def _with_last_points(rows: pd.DataFrame, series: ProbeSeries, k: int) -> pd.DataFrame:
    """The series with ``last_below`` / ``last_above``: whether each of the last ``k``
    probes lies below (above) the aimline."""
    code = series.series
    baseline, baseline_week = rows["baseline"].to_numpy(), rows["baseline_week"].to_numpy()
    aim_slope = rows["aim_slope"].to_numpy()
    aim_at = baseline[code] + aim_slope[code] * (series.weeks - baseline_week[code])
    tail = series.rank >= series.count[code] - k
    below = np.bincount(code, weights=tail & (series.scores < aim_at), minlength=len(rows))
    above = np.bincount(code, weights=tail & (series.scores > aim_at), minlength=len(rows))
    return rows.assign(last_below=below >= k, last_above=above >= k)


def _with_decision(rows: pd.DataFrame, rules: Progress) -> pd.DataFrame:
    """The series with ``decision``, ``rule_id`` and ``reason``: the first rule of the
    table below that holds decides (too few data, no goal, the four-point rule, the trend
    line against the aimline); when none holds, the trend is on the aimline: continue."""
    roi, aim_slope = rows["slope"], rows["aim_slope"]
    enough = (rows["n"] >= rules.min_probes) & (rows["weeks_span"] >= rules.min_weeks)
    tolerance = rules.trend_tolerance * aim_slope.abs()
    table = [  # condition, decision, rule id
        (~enough, "insufficient_data", "too_few_probes"),
        (aim_slope.isna(), "insufficient_data", "no_goal"),
        (enough & rows["last_below"], "change_intervention", "last_below"),
        (enough & rows["last_above"], "raise_goal", "last_above"),
        (roi < aim_slope - tolerance, "change_intervention", "trend_below"),
        (roi > aim_slope + tolerance, "raise_goal", "trend_above"),
    ]
    conditions = [condition for condition, _, _ in table]
    reasons = _reasons(rows, rules)
    return rows.assign(
        decision=np.select(conditions, [d for _, d, _ in table], default="continue"),
        rule_id=np.select(conditions, [r for _, _, r in table], default="trend_on_aimline"),
        reason=np.select(
            conditions, [reasons[r] for _, _, r in table], default=reasons["trend_on_aimline"]
        ),
    )


def _reasons(rows: pd.DataFrame, rules: Progress) -> dict[str, pd.Series]:
    """Per rule id, the reason the rule gives for each series, as a report shows it."""
    k = rules.consecutive_points
    trend = "trend " + _number(rows["slope"]) + " a week is "
    aimline = " the aimline's " + _number(rows["aim_slope"])
    said = lambda text: pd.Series(text, index=rows.index)  # noqa: E731
    return {
        "too_few_probes": fast.number_text(rows["n"])
        + " probes over "
        + fast.number_text(rows["weeks_span"].round(1))
        + f" weeks; a decision needs {rules.min_probes} probes over {rules.min_weeks:g} weeks",
        "no_goal": said("no goal: no growth norm for this measure and grade"),
        "last_below": said(f"the last {k} probes are all below the aimline"),
        "last_above": said(f"the last {k} probes are all above the aimline"),
        "trend_below": trend + "below" + aimline + " a week",
        "trend_above": trend + "above" + aimline + " a week",
        "trend_on_aimline": trend + "close to" + aimline,
    }


def _number(values: pd.Series) -> pd.Series:
    """Rounded to 2 decimals as text, empty when missing (vectorized: a per-row f-string
    costs seconds at a million students)."""
    return fast.number_text(values.round(2)).where(values.notna(), "")


def _decision_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The decisions as published (:data:`DECISION_COLUMNS`), by school, student, measure."""
    out = rows.assign(
        n_probes=rows["n"].astype(int),
        roi=rows["slope"],
        roi_se=rows["slope_se"],
        roi_ci_low=rows["slope_ci_low"],
        roi_ci_high=rows["slope_ci_high"],
        growth_ratio=(rows["slope"] / rows["expected_growth"]).where(rows["expected_growth"] > 0),
        decision_label=rows["decision"].map(DECISION_LABELS),
    )
    on_track = out["decision"].isin(ON_TRACK_DECISIONS)
    out["on_track"] = on_track.astype("boolean").mask(out["decision"] == "insufficient_data")
    return (
        out[DECISION_COLUMNS]
        .sort_values(["school_id", "student_id", "measure"])
        .reset_index(drop=True)
    )


def aimline_points(probes: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Each probe with its week, the aimline and the trend line at that week (for charts)."""
    points = probe_weeks(probes).merge(
        decisions[["student_id", "measure", "baseline", "baseline_week", "aim_slope", "roi"]],
        on=["student_id", "measure"],
        how="inner",
    )
    fit = ols_slopes(points, ["student_id", "measure"])[
        ["student_id", "measure", "intercept", "slope"]
    ]
    points = points.merge(fit, on=["student_id", "measure"], how="left")
    return points.assign(
        aimline=points["baseline"]
        + points["aim_slope"] * (points["week"] - points["baseline_week"]),
        trend=points["intercept"] + points["slope"] * points["week"],
    ).drop(columns=["intercept", "slope"])
