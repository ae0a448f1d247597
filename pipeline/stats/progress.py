"""Progress monitoring: per student x measure x phase, the rate of improvement with its
uncertainty, the aimline, the likelihood of reaching the goal and a decision, now and as
of each data meeting.

Rules (DESIGN.md, "Progress monitoring"; defaults in ``district.yml``, ``progress:``):

* **Phases** (:mod:`pipeline.stats.phases`): each intervention of the student in the
  measure's subject starts one; everything below is per phase.
* **ROI** (rate of improvement): the OLS slope of score on weeks since the phase's first
  probe, its standard error ``sqrt(s^2 / Sxx)`` and a t interval at ``report_confidence``
  (``roi_ci_low`` / ``roi_ci_high``, 95 %); from running sums along each series, so each
  data meeting's fit costs O(1) (:func:`pipeline.stats.probes.cumulative_fits`).
* **Baseline**: the median of the phase's first three probes, at the median of their weeks.
* **Goal** (``goal_source``): ``baseline + weekly growth x weeks`` to the goal date, the
  end-of-year benchmark, or the team's goal in the intervention log. Weekly growth
  (``goal_growth``): by default the larger of Fuchs, Fuchs, Hamlett, Walz & Germann's
  (1993) *realistic* growth and the growth typical at the student's own percentile
  (Hasbrouck & Tindal 2017): a goal at least as steep as published realistic growth, and
  never below what students at the same level typically make. The goal date is the
  phase's intervention end date, else the last day of the spring window.
* **Decision** (:mod:`pipeline.stats.decision`): the ROI interval at
  ``decision_confidence`` against the aim slope (or the four-point rule), and
  ``p_goal``, the likelihood of reaching the goal by the goal date from the trend.
* **Data meetings**: every ``meeting_weeks`` weeks from the phase's start, plus the
  screening windows' start dates; :func:`progress_tables` gives the current decision per
  phase and the decision as of each meeting (``progress_history``).
* **Expected growth**: typical weekly growth for the measure and grade at the 50th
  percentile (``config/norms/weekly_growth.csv``); ``growth_ratio = roi / expected_growth``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig, Progress
from pipeline.stats import decision as rule
from pipeline.stats.aimline import aimline_points  # noqa: F401 - readers import it from here
from pipeline.stats.decision import DECISION_LABELS, ON_TRACK_DECISIONS
from pipeline.stats.norms import typical_growth_at_percentile
from pipeline.stats.phases import PHASE_COLUMNS, intervention_phases, probe_phases
from pipeline.stats.probes import (
    KEYS,
    ProbeSeries,
    cumulative_fits,
    ols_slopes,
    probe_series,
    probe_weeks,
)

__all__ = [
    "DECISION_COLUMNS",
    "DECISION_LABELS",
    "HISTORY_COLUMNS",
    "ON_TRACK_DECISIONS",
    "aimline_points",
    "ols_slopes",
    "probe_weeks",
    "progress_decisions",
    "progress_tables",
]

PHASE_KEYS = [*KEYS, "phase"]
DECISION_COLUMNS = [
    "student_id",
    "school_id",
    "grade",
    "subject",
    "measure",
    "phase",
    "current",
    "program",
    "phase_start",
    "n_probes",
    "first_date",
    "last_date",
    "weeks_span",
    "weeks",
    "as_of",
    "baseline",
    "baseline_week",
    "roi",
    "roi_se",
    "roi_ci_low",
    "roi_ci_high",
    "decision_low",
    "decision_high",
    "intercept",
    "trend_x_mean",
    "trend_sxx",
    "trend_resid_var",
    "trend_dof",
    "goal",
    "goal_source",
    "goal_date",
    "goal_week",
    "aim_slope",
    "p_goal",
    "last_below",
    "last_above",
    "expected_growth",
    "growth_ratio",
    "decision",
    "decision_label",
    "rule_id",
    "reason",
    "decision_week",
    "decision_date",
    "on_track",
]
# The history keeps what a meeting's decision rests on (at a million students it has about
# seven rows per phase, so no reason text: the current decision has it).
HISTORY_COLUMNS = [
    "student_id",
    "school_id",
    "subject",
    "measure",
    "phase",
    "meeting_date",
    "as_of",
    "n_probes",
    "weeks",
    "roi",
    "roi_se",
    "roi_ci_low",
    "roi_ci_high",
    "decision_low",
    "decision_high",
    "aim_slope",
    "goal",
    "goal_date",
    "p_goal",
    "decision",
    "rule_id",
    "decision_week",
    "decision_date",
    "on_track",
]


def progress_decisions(
    progress: pd.DataFrame,
    students: pd.DataFrame,
    interventions: pd.DataFrame,
    config: DistrictConfig,
    school_year: str,
) -> pd.DataFrame:
    """The current decision per student x measure x phase (:data:`DECISION_COLUMNS`; the
    current phase is the last, ``current``), on all of the phase's probes."""
    return progress_tables(progress, students, interventions, config, school_year, False)[0]


def progress_tables(
    progress: pd.DataFrame,
    students: pd.DataFrame,
    interventions: pd.DataFrame,
    config: DistrictConfig,
    school_year: str,
    history: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(progress_decisions, progress_history)``: the decision per student x measure x
    phase on all its probes (``as_of`` its last probe), and one per data meeting
    (``meeting_date``; :data:`HISTORY_COLUMNS`). ``progress``: canonical probes;
    ``students``: the roster (school_id, grade); ``interventions``: the log (phases,
    programs, end dates, team goals)."""
    if progress.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS), pd.DataFrame(columns=HISTORY_COLUMNS)
    series, rows = _series_and_rows(progress, interventions, config)
    _, spring_end = config.window_dates(school_year, "spring")
    rows = _with_student(rows, students, config, school_year)
    rows = _with_goal(rows, config, pd.Timestamp(spring_end))
    codes = np.arange(len(rows))
    current = _decide(rows, series, codes, series.last, config.progress)
    decisions = _decision_table(
        current.assign(as_of=current["last_date"]), config.progress.report_confidence
    )
    if not history:
        return decisions, pd.DataFrame(columns=HISTORY_COLUMNS)
    code, last, meeting = _meetings(rows, series, config, school_year)
    past = _decide(rows, series, code, last, config.progress, reasons=False)
    past = _decision_table(
        past.assign(as_of=meeting, meeting_date=meeting),
        config.progress.report_confidence,
        HISTORY_COLUMNS,
    )
    return decisions, past


def _series_and_rows(
    progress: pd.DataFrame, interventions: pd.DataFrame, config: DistrictConfig
) -> tuple[ProbeSeries, pd.DataFrame]:
    """The probe series of each student x measure x phase and their rows
    (:func:`_series_rows`); the probes matched to their phase are freed on return."""
    subject_of = {name: m.subject for name, m in config.measures.items()}
    probes = probe_phases(progress, intervention_phases(interventions), subject_of)
    series = probe_series(probes, PHASE_KEYS)
    return series, _series_rows(series, probes)


def _series_rows(series: ProbeSeries, probes: pd.DataFrame) -> pd.DataFrame:
    """One row per series (student x measure x phase, in series order): keys, the phase's
    program, start, end date and team goal, first and last date and the baseline."""
    first = series.position[series.start]
    keys = ["student_id", "measure", "phase", "subject", *PHASE_COLUMNS]
    rows = probes[keys].take(first).reset_index(drop=True)
    return rows.assign(
        first_date=series.dates[series.start],
        last_date=series.dates[series.last],
        weeks_span=series.weeks[series.last],
        baseline=_median_of_first_three(series.scores, series),
        baseline_week=_median_of_first_three(series.weeks, series),
        current=rows["phase"].eq(rows.groupby(KEYS)["phase"].transform("max")).to_numpy(),
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


def _season(dates: pd.Series, config: DistrictConfig, school_year: str) -> pd.Series:
    """The screening season a date falls in: fall before the winter window's start,
    winter before the spring window's start, else spring."""
    winter = pd.Timestamp(config.window_dates(school_year, "winter")[0])
    spring = pd.Timestamp(config.window_dates(school_year, "spring")[0])
    return pd.Series(
        np.select([dates < winter, dates < spring], ["fall", "winter"], "spring"),
        index=dates.index,
    )


def _with_student(
    rows: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, school_year: str
) -> pd.DataFrame:
    """The series with the student's school and grade, ``expected_growth`` (typical at
    the 50th percentile) and ``goal_growth`` (``progress.goal_growth``; module docstring)."""
    rows = rows.merge(students[["student_id", "school_id", "grade"]], on="student_id", how="left")
    norms = config.growth_norms[["measure", "grade", "typical", "realistic", "ambitious"]]
    rows = rows.merge(norms, on=["measure", "grade"], how="left")
    at_percentile = typical_growth_at_percentile(
        rows.assign(
            window=_season(rows["first_date"], config, school_year), score=rows["baseline"]
        ),
        config.orf_norms,
        config.growth_norms,
    )
    growth = config.progress.goal_growth
    goal_growth = {
        "ambitious": rows["ambitious"],
        "realistic": rows["realistic"],
        "typical": at_percentile,
        "realistic_or_typical": pd.concat([rows["realistic"], at_percentile], axis=1).max(axis=1),
    }[growth]
    return rows.assign(expected_growth=rows["typical"], goal_growth=goal_growth).drop(
        columns=["typical", "realistic", "ambitious"]
    )


def _with_goal(
    rows: pd.DataFrame, config: DistrictConfig, spring_end: pd.Timestamp
) -> pd.DataFrame:
    """The series with ``goal_week`` and ``goal_date`` (the phase's end date, else the
    spring window's last day), ``goal`` and ``goal_source`` and the aim slope."""
    goal_week = _goal_week(rows, spring_end)
    goal, source = _goal(rows, goal_week, config)
    return rows.assign(
        goal=goal,
        goal_source=source,
        goal_date=(rows["first_date"] + pd.to_timedelta(goal_week * 7, unit="D")).dt.normalize(),
        goal_week=goal_week,
        aim_slope=(goal - rows["baseline"]) / (goal_week - rows["baseline_week"]),
    )


def _goal_week(rows: pd.DataFrame, spring_end: pd.Timestamp) -> pd.Series:
    """Weeks from the phase's first probe to the goal date: its intervention's end date,
    else the last day of the spring window."""
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
    week (``growth:<goal_growth>``); with ``goal_source: benchmark`` the end-of-year
    benchmark where the measure and grade have one; with ``team`` the log's goal."""
    rules = config.progress
    growth_goal = rows["baseline"] + rows["goal_growth"] * (goal_week - rows["baseline_week"])
    goal, source = growth_goal, pd.Series(f"growth:{rules.goal_growth}", index=rows.index)
    if rules.goal_source == "benchmark" and len(config.benchmark_goals):
        bench = rows[["measure", "grade"]].merge(
            config.benchmark_goals, on=["measure", "grade"], how="left"
        )["goal"]
        bench.index = rows.index
        goal, source = bench.fillna(growth_goal), source.where(bench.isna(), "benchmark")
    if rules.goal_source == "team":
        team = rows["team_goal"].astype(float)
        goal, source = team.fillna(growth_goal), source.where(team.isna(), "team")
    return goal, source.where(goal.notna(), "none")


def _decide(
    rows: pd.DataFrame,
    series: ProbeSeries,
    code: np.ndarray,
    last: np.ndarray,
    rules: Progress,
    reasons: bool = True,
) -> pd.DataFrame:
    """The decision of series ``code`` on its probes up to ``last`` (one row per pair),
    with its reason in words unless ``reasons`` is false."""
    fits = cumulative_fits(series, code, last)
    fits = pd.concat([rows.iloc[code].reset_index(drop=True), fits], axis=1)
    fits = fits.assign(weeks=series.weeks[last], last_date=series.dates[last])
    fits = _with_last_points(fits, rows, series, last, rules.consecutive_points)
    decide = (
        rule.four_point_decision if rules.decision_rule == "four_point" else rule.interval_decision
    )
    fits = pd.concat([fits, decide(fits, rules)], axis=1)
    unclear = fits["decision"] == "not_yet_clear"
    week = rule.weeks_to_decision(fits, rules).where(unclear)
    return fits.assign(
        p_goal=rule.goal_probability(fits),
        decision_week=week,
        decision_date=(fits["first_date"] + pd.to_timedelta(week * 7, unit="D")).dt.normalize(),
        reason=_reasons(fits, rules) if reasons else "",
    )


def _with_last_points(
    fits: pd.DataFrame, rows: pd.DataFrame, series: ProbeSeries, last: np.ndarray, k: int
) -> pd.DataFrame:
    """``last_below`` / ``last_above``: the last ``k`` probes up to ``last`` all below
    (above) the phase's aimline (running counts along each series)."""
    owner = series.series
    baseline, week0 = rows["baseline"].to_numpy(), rows["baseline_week"].to_numpy()
    aim = rows["aim_slope"].to_numpy()
    aim_at = baseline[owner] + aim[owner] * (series.weeks - week0[owner])
    run_from = np.maximum(last + 1 - k, series.start[series.series[last]])
    counted = (last + 1 - run_from) >= k
    below = np.r_[0, np.cumsum(series.scores < aim_at)]
    above = np.r_[0, np.cumsum(series.scores > aim_at)]
    return fits.assign(
        last_below=counted & (below[last + 1] - below[run_from] >= k),
        last_above=counted & (above[last + 1] - above[run_from] >= k),
    )


def _meetings(
    rows: pd.DataFrame, series: ProbeSeries, config: DistrictConfig, school_year: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data meetings of each series: ``(series code, its last probe on or before the
    meeting, meeting date)``. Meetings fall every ``meeting_weeks`` weeks from the phase's
    start (its first probe without a logged start) and on the screening windows' start
    dates, after the start and up to the next phase's start (the meeting that changed the
    intervention) or the series' last probe plus one cadence, and no later than the data."""
    rules = config.progress
    cadence = pd.Timedelta(weeks=rules.meeting_weeks)
    anchor = pd.to_datetime(rows["phase_start"]).fillna(rows["first_date"])
    next_start = anchor.groupby([rows["student_id"], rows["measure"]]).shift(-1)
    horizon = pd.concat([rows["last_date"] + cadence, next_start], axis=1).min(axis=1)
    horizon = horizon.clip(upper=rows["last_date"].max())
    count = ((horizon - anchor) // cadence).clip(lower=0).astype(int).to_numpy()
    code = np.repeat(np.arange(len(rows)), count)
    step = np.arange(code.size) - np.repeat(np.cumsum(count) - count, count) + 1
    dates = anchor.to_numpy()[code] + step * cadence.to_timedelta64()
    if rules.meetings_at_screenings:
        code, dates = _with_screening_meetings(code, dates, anchor, horizon, config, school_year)
    last = _last_probe_by(series, code, dates)
    seen = last >= series.start[code]
    order = np.lexsort((dates[seen], code[seen]))
    return code[seen][order], last[seen][order], dates[seen][order]


def _with_screening_meetings(code, dates, anchor, horizon, config, school_year):
    """``code`` and ``dates`` plus the screening windows' start dates inside each series'
    (start, horizon], without repeating a date the cadence already has."""
    codes, extra = [code], [dates]
    for window in config.windows:
        day = pd.Timestamp(config.window_dates(school_year, window)[0])
        inside = np.flatnonzero(((anchor < day) & (day <= horizon)).to_numpy())
        codes.append(inside)
        extra.append(np.full(inside.size, day.to_datetime64()))
    frame = pd.DataFrame({"code": np.concatenate(codes), "date": np.concatenate(extra)})
    frame = frame.drop_duplicates()
    return frame["code"].to_numpy(), frame["date"].to_numpy()


def _last_probe_by(series: ProbeSeries, code: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Each meeting's last probe of its series on or before its date (an index into the
    series' arrays; before the series' first probe when there is none). Probes and
    meetings sorted together by series and date, probes first on a shared date: the
    probes counted before a meeting end at its last probe."""
    kind = np.r_[np.zeros(series.series.size, dtype=np.int8), np.ones(code.size, dtype=np.int8)]
    owner = np.r_[series.series, code]
    when = np.r_[series.dates, dates]
    order = np.lexsort((kind, when, owner))
    probes_so_far = np.cumsum(kind[order] == 0)
    last = np.empty(code.size, dtype=np.int64)
    meeting = order >= series.series.size
    last[order[meeting] - series.series.size] = probes_so_far[meeting] - 1
    return last


def _reasons(fits: pd.DataFrame, rules: Progress) -> pd.Series:
    """Per decision, the reason as a report shows it."""
    k = rules.consecutive_points
    level = f"{rules.decision_confidence * 100:.0f} %"
    trend = "trend " + _number(fits["slope"]) + " a week"
    interval = (
        f" ({level} interval "
        + _number(fits["decision_low"])
        + " to "
        + _number(fits["decision_high"])
        + ")"
    )
    aimline = " the aimline's " + _number(fits["aim_slope"]) + " a week"
    said = lambda text: pd.Series(text, index=fits.index)  # noqa: E731
    share = f"{rules.on_course_share:g} x"
    texts = {
        "too_few_probes": fast.number_text(fits["n"])
        + " probes over "
        + fast.number_text(fits["weeks"].round(1))
        + f" weeks; a decision needs {rules.min_probes} probes over {rules.min_weeks:g} weeks",
        "no_goal": said("no goal: no growth norm for this measure and grade"),
        "no_spread": said("the probes do not span enough time for a trend"),
        "interval_below": trend + interval + " is below" + aimline,
        "interval_above": trend + interval + " is above" + aimline,
        "interval_on_course": trend + interval + f" is at least {share}" + aimline,
        "interval_unclear": trend + interval + " cannot yet be told from" + aimline,
        "last_below": said(f"the last {k} probes are all below the aimline"),
        "last_above": said(f"the last {k} probes are all above the aimline"),
        "trend_below": trend + " is below" + aimline,
        "trend_above": trend + " is above" + aimline,
        "trend_on_aimline": trend + " is close to" + aimline,
    }
    out = pd.Series("", index=fits.index, dtype=object)
    for rule_id, text in texts.items():
        pick = fits["rule_id"] == rule_id
        out[pick] = text[pick]
    return out


def _number(values: pd.Series) -> pd.Series:
    """Rounded to 2 decimals as text, empty when missing (vectorized: a per-row f-string
    costs seconds at a million students)."""
    # + 0.0 turns a rounded -0.0 into 0.0.
    return fast.number_text(values.round(2) + 0.0).where(values.notna(), "")


def _decision_table(
    fits: pd.DataFrame, level: float, columns: list[str] = DECISION_COLUMNS
) -> pd.DataFrame:
    """The decisions as published, by school, student, measure and phase; ``roi_ci_low``
    / ``roi_ci_high`` the ``level`` (``report_confidence``) interval."""
    low, high = rule.slope_interval(fits, level)
    out = fits.assign(
        n_probes=fits["n"].astype(int),
        roi=fits["slope"],
        roi_se=fits["slope_se"],
        roi_ci_low=low,
        roi_ci_high=high,
        trend_x_mean=fits["x_mean"],
        trend_sxx=fits["sxx"],
        trend_resid_var=fits["resid_var"],
        trend_dof=fits["dof"],
        growth_ratio=(fits["slope"] / fits["expected_growth"]).where(fits["expected_growth"] > 0),
        decision_label=fits["decision"].map(DECISION_LABELS),
    )
    on_track = out["decision"].isin(ON_TRACK_DECISIONS).astype("boolean")
    out["on_track"] = on_track.mask(out["decision"].isin(["insufficient_data", "not_yet_clear"]))
    keys = ["school_id", "student_id", "measure", "phase"]
    if "meeting_date" in columns:
        keys.append("meeting_date")
    return out[columns].sort_values(keys, kind="stable").reset_index(drop=True)
