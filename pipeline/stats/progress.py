"""Progress monitoring: rate of improvement, aimline and a decision per student x measure.

Rules (DESIGN.md, "Progress monitoring"; defaults in ``district.yml``, ``progress:``):

* **ROI** (rate of improvement) is the ordinary least-squares slope of score on weeks since
  the first probe, with its standard error ``sqrt(s^2 / Sxx)``, ``s^2 = SSE / (n - 2)``,
  and a t-based confidence interval (closed form, so a million students need no loop).
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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipeline import fast
from pipeline.config import DistrictConfig

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


def load_growth_norms(config_dir: Path | str, config: DistrictConfig) -> pd.DataFrame:
    """``measure, grade, typical, realistic, ambitious, source`` from the configured CSV."""
    path = Path(config.progress.growth_norms)
    path = path if path.is_absolute() else Path(config_dir) / path
    norms = pd.read_csv(path, dtype={"measure": str, "source": str})
    return norms.astype({"grade": int, "typical": float, "realistic": float, "ambitious": float})


def load_benchmark_goals(config_dir: Path | str, config: DistrictConfig) -> pd.DataFrame:
    """End-of-year goals (``measure, grade, goal``) from ``config/benchmarks/*.csv`` tables
    laid out as ``measure, grade, window, level, min_score``: the spring ``min_score`` of the
    configured ``progress.benchmark_level``. Empty when there are none."""
    frames = []
    for path in sorted((Path(config_dir) / "benchmarks").glob("*.csv")):
        table = pd.read_csv(path)
        if {"measure", "grade", "window", "level", "min_score"} <= set(table.columns):
            frames.append(table)
    if not frames:
        return pd.DataFrame({"measure": [], "grade": [], "goal": []})
    table = pd.concat(frames, ignore_index=True)
    level = table["level"].astype(str).str.lower() == config.progress.benchmark_level.lower()
    spring = table[(table["window"] == "spring") & level]
    return (
        spring.rename(columns={"min_score": "goal"})[["measure", "grade", "goal"]]
        .astype({"grade": int, "goal": float})
        .drop_duplicates(["measure", "grade"], keep="last")
    )


def probe_weeks(progress: pd.DataFrame) -> pd.DataFrame:
    """Probes sorted by student, measure and date, with ``week`` since the first probe."""
    return _probe_weeks(progress)[0]


def _probe_weeks(
    progress: pd.DataFrame, columns: list[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`probe_weeks` keeping only ``columns`` (default: all), with each probe's
    student x measure group code (sorted like the groups; -1 for a missing key)."""
    position, code = _probe_order(progress)
    probes = (progress if columns is None else progress[columns]).take(position)
    probes = probes.reset_index(drop=True)
    return probes.assign(
        week=_weeks_since_first(probes["date"].to_numpy(), code),
        score=probes["score"].astype(float),
    ), code


def _probe_order(progress: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The positions in ``progress`` of the probes with a score and a date, sorted by
    student, measure and date (stable), and each one's student x measure group code in
    that order: ``groupby([student_id, measure], sort=True).ngroup()``, -1 (first) for a
    probe without a student or a measure."""
    kept = np.flatnonzero((progress["score"].notna() & progress["date"].notna()).to_numpy())
    dates = progress["date"].to_numpy()[kept]
    # Sort on integer codes, not on the id strings (several times faster).
    student = pd.factorize(progress["student_id"], sort=True)[0][kept]
    measure, measures = pd.factorize(progress["measure"], sort=True)
    measure = measure[kept]
    if dates.dtype.kind != "M" or (student < 0).any() or (measure < 0).any():
        code = progress.take(kept).groupby(["student_id", "measure"], sort=True).ngroup()
        order = np.lexsort((dates, code.to_numpy()))
        return kept[order], code.to_numpy()[order]
    # Each probe's (student, measure) pair as one integer in the order of the pairs.
    pair = student * len(measures) + measure
    ticks = dates.view(np.int64)
    ticks = ticks - ticks.min() if len(ticks) else ticks
    span = int(ticks.max()) + 1 if len(ticks) else 1
    if len(pair) == 0 or int(pair.max()) < np.iinfo(np.int64).max // span:
        # One key, pair then date: a stable sort that is quick on nearly sorted probes.
        order = np.argsort(pair * span + ticks, kind="stable")
    else:
        order = np.lexsort((ticks, pair))
    pair = pair[order]
    code = np.cumsum(np.r_[True, pair[1:] != pair[:-1]]) - 1 if len(pair) else pair
    return kept[order], code


def _weeks_since_first(dates: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Each probe's weeks since the first probe of its group (``code`` sorted)."""
    start = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else code
    first = np.repeat(dates[start], np.diff(np.r_[start, len(code)]))
    return (dates - first) / np.timedelta64(1, "D") / 7.0


def ols_slopes(
    frame: pd.DataFrame, keys: list[str], x: str = "week", y: str = "score", level: float = 0.95
) -> pd.DataFrame:
    """OLS slope of ``y`` on ``x`` per group, with SE and a t confidence interval.

    Closed form from group sums: ``b = Sxy / Sxx``, ``SE = sqrt((Syy - b Sxy) / (n - 2) / Sxx)``.
    SE is missing with fewer than three points or no spread in ``x``. Groups come out
    sorted by ``keys``.
    """
    grouped = frame.groupby(keys, sort=True)
    return _ols_slopes(frame, grouped.ngroup().to_numpy(), grouped.size().index, x, y, level)


def _ols_slopes(
    frame: pd.DataFrame, code: np.ndarray, index: pd.Index, x: str, y: str, level: float
) -> pd.DataFrame:
    """:func:`ols_slopes` given each row's group code (0 .. len(index) - 1) and the groups."""
    size = len(index)
    xs, ys = frame[x].to_numpy(dtype=float), frame[y].to_numpy(dtype=float)
    total = lambda w: np.bincount(code, weights=w, minlength=size)  # noqa: E731
    n = np.bincount(code, minlength=size).astype(float)
    mx, my = total(xs) / n, total(ys) / n
    dx, dy = xs - mx[code], ys - my[code]
    sxx, sxy, syy = total(dx * dx), total(dx * dy), total(dy * dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, np.nan)
        dof = np.where(n > 2, n - 2, np.nan)
        resid = np.clip(syy - slope * sxy, 0, None)
        se = np.sqrt(resid / dof / sxx)
    tcrit = stats.t.ppf(0.5 + level / 2, dof)
    out = pd.DataFrame(
        {
            "n": n.astype(int),
            "x_mean": mx,
            "y_mean": my,
            "slope": slope,
            "intercept": my - slope * mx,
            "slope_se": se,
            "slope_ci_low": slope - tcrit * se,
            "slope_ci_high": slope + tcrit * se,
        },
        index=index,
    )
    return out.reset_index()


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


def progress_decisions(
    progress: pd.DataFrame,
    students: pd.DataFrame,
    interventions: pd.DataFrame,
    config: DistrictConfig,
    growth_norms: pd.DataFrame,
    school_year: str,
    benchmark_goals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per student x measure with probes: ROI, aimline, decision and its reason.

    ``progress``: canonical probes (student_id, date, measure, score); ``students``: the
    roster (student_id, school_id, grade); ``interventions``: canonical enrolments, used for
    the program and the goal date; ``growth_norms``: :func:`load_growth_norms`.
    """
    rules = config.progress
    if progress.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    keys = ["student_id", "measure"]
    # Sorted by student, measure, date; group codes in the same (sorted) order as ``fit``:
    # per-probe work is array indexing, and only the groups' first probes' ids are taken.
    order, code = _probe_order(progress)
    if len(code) and code[0] >= 0:  # sorted: no missing key, every code 0 .. n - 1 present
        dates = progress["date"].to_numpy()[order]
        scores = progress["score"].to_numpy(dtype=float, na_value=np.nan)[order]
        weeks = _weeks_since_first(dates, code)
        start = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        groups = pd.MultiIndex.from_arrays([progress[k].take(order[start]) for k in keys])
        points = pd.DataFrame({"week": weeks, "score": scores})
        fit = _ols_slopes(points, code, groups, "week", "score", 0.95)
    else:
        probes, code = _probe_weeks(progress, [*keys, "date", "score"])
        fit = ols_slopes(probes, keys, level=0.95)
        dates = probes["date"].to_numpy()
        scores, weeks = probes["score"].to_numpy(float), probes["week"].to_numpy(float)
    count = fit["n"].to_numpy()
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    position = np.arange(len(code)) - start[code]

    def median_of_first_three(values: np.ndarray) -> np.ndarray:
        first = values[start]
        second = values[np.minimum(start + 1, start + count - 1)]
        third = values[np.minimum(start + 2, start + count - 1)]
        three = first + second + third - np.maximum.reduce([first, second, third])
        three = three - np.minimum.reduce([first, second, third])
        return np.select([count == 1, count == 2], [first, (first + second) / 2], three)

    last_index = start + count - 1
    rows = fit.assign(
        _code=np.arange(len(fit)),
        first_date=dates[start],
        last_date=dates[last_index],
        weeks_span=weeks[last_index],
        baseline=median_of_first_three(scores),
        baseline_week=median_of_first_three(weeks),
    )
    subject_of = {name: m.subject for name, m in config.measures.items()}
    rows = rows.assign(subject=rows["measure"].map(subject_of)).merge(
        students[["student_id", "school_id", "grade"]], on="student_id", how="left"
    )
    rows = rows.merge(_current_programs(interventions), on=["student_id", "subject"], how="left")
    norms = growth_norms[["measure", "grade", "typical", rules.goal_growth]].rename(
        columns={"typical": "expected_growth", rules.goal_growth: "goal_growth"}
    )
    rows = rows.merge(norms, on=["measure", "grade"], how="left")
    # Back in group-code order, so per-probe arrays index rows by code.
    rows = rows.sort_values("_code").reset_index(drop=True)

    _, spring_end = config.window_dates(school_year, "spring")
    goal_date = pd.to_datetime(rows["end_date"]).fillna(pd.Timestamp(spring_end))
    goal_week = (goal_date - rows["first_date"]).dt.days / 7.0
    # A goal date at or before the baseline would give no aimline: aim for the spring end.
    goal_week = goal_week.where(goal_week > rows["baseline_week"] + 1)
    fallback = (pd.Timestamp(spring_end) - rows["first_date"]).dt.days / 7.0
    goal_week = goal_week.fillna(fallback.clip(lower=rows["baseline_week"] + 1))

    growth_goal = rows["baseline"] + rows["goal_growth"] * (goal_week - rows["baseline_week"])
    goal, source = growth_goal, pd.Series(f"growth:{rules.goal_growth}", index=rows.index)
    if rules.goal_source == "benchmark" and benchmark_goals is not None and len(benchmark_goals):
        bench = rows[["measure", "grade"]].merge(
            benchmark_goals, on=["measure", "grade"], how="left"
        )["goal"]
        goal = bench.where(bench.notna(), growth_goal)
        source = source.where(bench.isna(), "benchmark")
    source = source.where(goal.notna(), "none")
    aim_slope = (goal - rows["baseline"]) / (goal_week - rows["baseline_week"])

    # The last k probes against the aimline.
    k = rules.consecutive_points
    baseline, baseline_week = rows["baseline"].to_numpy(), rows["baseline_week"].to_numpy()
    aim_at = baseline[code] + aim_slope.to_numpy()[code] * (weeks - baseline_week[code])
    tail = position >= count[code] - k
    below = np.bincount(code, weights=tail & (scores < aim_at), minlength=len(rows))
    above = np.bincount(code, weights=tail & (scores > aim_at), minlength=len(rows))
    last_below, last_above = below >= k, above >= k

    n_probes = rows["n"]
    enough = (n_probes >= rules.min_probes) & (rows["weeks_span"] >= rules.min_weeks)
    tolerance = rules.trend_tolerance * aim_slope.abs()
    roi = rows["slope"]
    has_aim = aim_slope.notna()
    conditions = [
        ~enough,
        ~has_aim,
        enough & last_below,
        enough & last_above,
        roi < aim_slope - tolerance,
        roi > aim_slope + tolerance,
    ]
    decision = np.select(
        conditions,
        [
            "insufficient_data",
            "insufficient_data",
            "change_intervention",
            "raise_goal",
            "change_intervention",
            "raise_goal",
        ],
        default="continue",
    )
    rule_id = np.select(
        conditions,
        ["too_few_probes", "no_goal", "last_below", "last_above", "trend_below", "trend_above"],
        default="trend_on_aimline",
    )
    # Vectorized number-to-text (a per-row f-string costs seconds at a million students).
    fmt = lambda s: fast.number_text(s.round(2)).where(s.notna(), "")  # noqa: E731
    reason = np.select(
        conditions,
        [
            fast.number_text(n_probes)
            + " probes over "
            + fast.number_text(rows["weeks_span"].round(1))
            + f" weeks; a decision needs {rules.min_probes} probes over {rules.min_weeks:g} weeks",
            pd.Series("no goal: no growth norm for this measure and grade", index=rows.index),
            pd.Series(f"the last {k} probes are all below the aimline", index=rows.index),
            pd.Series(f"the last {k} probes are all above the aimline", index=rows.index),
            "trend " + fmt(roi) + " a week is below the aimline's " + fmt(aim_slope) + " a week",
            "trend " + fmt(roi) + " a week is above the aimline's " + fmt(aim_slope) + " a week",
        ],
        default="trend " + fmt(roi) + " a week is close to the aimline's " + fmt(aim_slope),
    )
    out = rows.assign(
        n_probes=n_probes.astype(int),
        roi=roi,
        roi_se=rows["slope_se"],
        roi_ci_low=rows["slope_ci_low"],
        roi_ci_high=rows["slope_ci_high"],
        goal=goal,
        goal_source=source,
        goal_date=rows["first_date"] + pd.to_timedelta(goal_week * 7, unit="D"),
        goal_week=goal_week,
        aim_slope=aim_slope,
        last_below=last_below,
        last_above=last_above,
        growth_ratio=(roi / rows["expected_growth"]).where(rows["expected_growth"] > 0),
        decision=decision,
        decision_label=pd.Series(decision, index=rows.index).map(DECISION_LABELS),
        rule_id=rule_id,
        reason=reason,
    )
    on_track = pd.Series(np.isin(decision, ON_TRACK_DECISIONS), index=out.index, dtype="boolean")
    out["on_track"] = on_track.mask(out["decision"] == "insufficient_data")
    out["goal_date"] = out["goal_date"].dt.normalize()
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


NORM_BANDS = ("below 10th", "10th-24th", "25th-49th", "50th-74th", "75th-89th", "90th and above")
# Hasbrouck & Tindal's AWI divides the fall-to-spring difference by 32 weeks.
WEEKS_FALL_TO_SPRING = 32


def load_orf_norms(config_dir: Path | str) -> pd.DataFrame:
    """Hasbrouck & Tindal (2017) ORF norms: grade, percentile, fall, winter, spring, awi."""
    return pd.read_csv(Path(config_dir) / "norms" / "hasbrouck_tindal_2017_orf.csv")


def norm_band(scores: pd.DataFrame, norms: pd.DataFrame) -> pd.Series:
    """Each score's band against the published percentile scores of its grade and
    season (``scores``: grade, window, score). At or above the 50th percentile score is
    "50th-74th" and so on; missing where the norms have no row (e.g. grade 1 fall)."""
    long = norms.melt(
        id_vars=["grade", "percentile"], value_vars=["fall", "winter", "spring"], var_name="window"
    ).pivot_table(index=["grade", "window"], columns="percentile", values="value")
    cuts = scores[["grade", "window"]].merge(long.reset_index(), on=["grade", "window"], how="left")
    pcts = sorted(c for c in long.columns)
    above = np.column_stack(
        [(scores["score"].to_numpy(dtype=float) >= cuts[p].to_numpy(dtype=float)) for p in pcts]
    )
    band = above.sum(axis=1)
    known = cuts[pcts].notna().all(axis=1).to_numpy() & scores["score"].notna().to_numpy()
    labels = np.array(NORM_BANDS, dtype=object)[band]
    return pd.Series(np.where(known, labels, None), index=scores.index, dtype="str")


def fall_to_spring_roi(screenings: pd.DataFrame) -> pd.DataFrame:
    """Per student x measure: fall and spring scores and ROI = (spring - fall) / 32 weeks,
    the OLS slope through the two screenings placed 32 weeks apart (Hasbrouck & Tindal's
    convention for AWI)."""
    week = {"fall": 0.0, "spring": float(WEEKS_FALL_TO_SPRING)}
    two = screenings[screenings["window"].isin(list(week))]
    two = two.assign(week=two["window"].map(week))
    both = two.groupby(["student_id", "measure"])["window"].transform("nunique") == 2
    fit = ols_slopes(two[both], ["student_id", "measure"])
    wide = two[both].pivot_table(index=["student_id", "measure"], columns="window", values="score")
    return (
        wide.reset_index()
        .merge(fit[["student_id", "measure", "slope"]], on=["student_id", "measure"])
        .rename(columns={"slope": "roi"})
    )
