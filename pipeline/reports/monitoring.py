"""Progress monitoring in the specialist report: the students whose data say to change
the intervention, the decisions per subject, one small chart per monitored student, and
the sentences that explain the decision rules, built from the config they ran with
(``progress:`` in ``district.yml``; :mod:`pipeline.stats.progress` computes the decisions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from IPython.display import HTML

from pipeline.config import DistrictConfig, Progress
from pipeline.reports.data import MonitoringData
from pipeline.reports.html import esc
from pipeline.reports.words import SUBJECT_TITLES, count_words
from pipeline.rules.labels import grade_label
from pipeline.stats.progress import DECISION_LABELS

DECISION_COLORS = {
    "change_intervention": "#B2182B",
    "raise_goal": "#009E73",
    "continue": "#0072B2",
    "not_yet_clear": "#8C6D1F",
    "insufficient_data": "#6E6E6E",
}
# Where the weekly growth rates of a growth goal come from (config/norms/weekly_growth.csv).
GROWTH_SOURCES = {
    "ambitious": "Fuchs et al. 1993",
    "realistic": "Fuchs et al. 1993",
    "typical": "Hasbrouck & Tindal 2017, at the student's percentile",
    "realistic_or_typical": "the larger of Fuchs et al. 1993 realistic growth and "
    "Hasbrouck & Tindal 2017 typical growth at the student's percentile",
}
ORDER = {
    "change_intervention": 0,
    "not_yet_clear": 1,
    "insufficient_data": 2,
    "continue": 3,
    "raise_goal": 4,
}


def _measure_names(config: DistrictConfig | None):
    """A measure's name in a table or chart ("ORF"); its id without a config."""
    return config.measure_name if config is not None else str


def _student_label(frame: pd.DataFrame) -> pd.Series:
    return frame["last_name"] + ", " + frame["first_name"]


def _number(value: float) -> str:
    """Two decimals, without a "-0.00"."""
    return f"{round(value, 2) + 0.0:.2f}"


def _interval(row) -> str:
    return f"{_number(row.roi)} ({_number(row.roi_ci_low)} to {_number(row.roi_ci_high)})"


def _percent(value) -> str:
    return "" if pd.isna(value) else f"{value * 100:.0f} %"


def needs_change_list(
    monitoring: MonitoringData, config: DistrictConfig | None = None
) -> pd.DataFrame:
    """Monitored students whose current decision is "change the intervention": the ROI
    with its 95 % interval, the aim slope, weeks of data, the likelihood of reaching the
    goal and the reason."""
    d = monitoring.decisions
    if d.empty:
        return pd.DataFrame()
    d = d[d["decision"] == "change_intervention"].sort_values(
        ["subject", "grade", "last_name", "first_name"]
    )
    has_phase = "phase" in d
    return pd.DataFrame(
        {
            "Student": _student_label(d),
            "ID": d["student_id"],
            "Grade": d["grade"].map(grade_label),
            "Subject": d["subject"].map(SUBJECT_TITLES),
            "Measure": d["measure"].map(_measure_names(config)),
            "Program": d["program"].fillna(""),
            "Phase": d["phase"] if has_phase else 1,
            "Weeks of data": d.get("weeks", d.get("weeks_span")).map(lambda v: f"{v:.0f}"),
            "Probes": d["n_probes"],
            "ROI a week (95 % interval)": [_interval(r) for r in d.itertuples()],
            "Aim slope a week": d["aim_slope"].map(_number),
            "Likely to reach goal": d.get("p_goal", pd.Series(index=d.index)).map(_percent),
            "Why": d["reason"],
        }
    )


def decision_counts(monitoring: MonitoringData) -> pd.DataFrame:
    """Monitored students per subject and current decision."""
    d = monitoring.decisions
    if d.empty:
        return pd.DataFrame()
    table = (
        d.pivot_table(
            index="subject", columns="decision", values="student_id", aggfunc="count", fill_value=0
        )
        .reindex(columns=list(DECISION_LABELS), fill_value=0)
        .rename(columns=DECISION_LABELS)
    )
    table.insert(0, "Monitored", table.sum(axis=1))
    table.index = [SUBJECT_TITLES.get(s, s) for s in table.index]
    return table.rename_axis("Subject").reset_index()


def decision_sentence(row, config: DistrictConfig | None = None) -> str:
    """The current decision in plain words with its confidence, e.g. "Continue: trend 1.60
    a week (90 % interval 1.10 to 2.10) is at least 0.5 x the aimline's 1.50 a week. On
    current data, 82 % likely to reach 72 wcpm by May 20." (``row``: a progress_decisions
    row, as a namedtuple or Series)."""
    get = row.get if isinstance(row, pd.Series) else lambda k, d=None: getattr(row, k, d)
    label = DECISION_LABELS.get(get("decision"), str(get("decision")))
    text = f"{label}: {get('reason')}."
    unit = ""
    if config is not None and get("measure") in config.measures:
        unit = " " + (config.measures[get("measure")].short_unit or "")
    p, goal, when = get("p_goal"), get("goal"), get("goal_date")
    if p is not None and pd.notna(p) and pd.notna(goal) and pd.notna(when):
        text += (
            f" On current data, {p * 100:.0f} % likely to reach {goal:.0f}{unit.rstrip()} "
            f"by {pd.Timestamp(when):%b %d}."
        )
    decided_by = get("decision_date")
    if get("decision") == "not_yet_clear" and decided_by is not None and pd.notna(decided_by):
        text += (
            f" At the current probe rate a decision is likely by {pd.Timestamp(decided_by):%b %d}."
        )
    return text


# The phase columns a chart draws from (the progress decisions have many more).
PHASE_MARKS = ["phase", "program", "aim_slope", "baseline_week", "baseline", "goal_week", "goal"]
# The current phase's fields a chart's frame and goal read.
CHART_FIELDS = [
    "student_id", "measure", "grade", "first_date", "goal_week", "goal", "decision",
    "decision_label", "reason", "last_name", "first_name",
]  # fmt: skip


def history_sentence(history: pd.DataFrame) -> str:
    """The decisions at the data meetings, oldest first: "Oct 13 (phase 1): Not yet clear
    · Nov 24 (phase 1): Change the intervention · ..." (empty without meetings)."""
    if history is None or history.empty:
        return ""
    dates, phases = history["meeting_date"].to_numpy(), history["phase"].to_numpy()
    # As sort_values(["meeting_date", "phase"]): a stable sort by date, then phase.
    order = np.lexsort((phases, dates))
    return " · ".join(
        f"{pd.Timestamp(date):%b %d} (phase {phase}): {DECISION_LABELS.get(decision, decision)}"
        for date, phase, decision in zip(
            dates[order], phases[order], history["decision"].to_numpy()[order], strict=True
        )
    )


class ProgressCharts:
    """The charts of every monitored series (student x measure) in ``phases`` (their
    progress_decisions rows, one per phase) that has ``points`` (their
    :func:`aimline_points`): each table split once into numpy columns and the rows of each
    series, so that a chart reads arrays rather than slicing frames."""

    KEYS = ["student_id", "measure"]
    PROBES = ["chart_week", "score", "trend", "band_low", "band_high"]

    def __init__(
        self, phases: pd.DataFrame, points: pd.DataFrame, config: DistrictConfig | None = None
    ):
        self.names = _measure_names(config)
        self.phase_rows, self.point_rows = {}, {}
        if len(phases) and len(points):
            self._split(phases, points)

    def _split(self, phases: pd.DataFrame, points: pd.DataFrame) -> None:
        self.phase_rows = phases.groupby(self.KEYS, sort=False).indices
        self.point_rows = points.groupby(self.KEYS, sort=False).indices
        # What a chart reads per phase row: its phase, baseline and goal, and the current
        # phase's fields; the drawn marks of every phase as tuples.
        fields = ["phase", "baseline", "goal", *(c for c in CHART_FIELDS if c in phases.columns)]
        self.phases = {c: phases[c].to_numpy() for c in dict.fromkeys(fields)}
        self.phases["marks"] = list(phases[PHASE_MARKS].itertuples(name="PhaseMarks"))
        self.probes = {c: points[c].to_numpy(dtype=float, na_value=np.nan) for c in self.PROBES} | {
            "phase": points["phase"].to_numpy()
        }
        # Each phase's start in weeks after its series' first probe (as .dt.days / 7).
        first = points.groupby(self.KEYS, sort=False)["date"].min()
        first = first.reindex(pd.MultiIndex.from_frame(phases[self.KEYS])).to_numpy()
        since = pd.to_datetime(phases["first_date"]) - pd.Series(first, index=phases.index)
        self.phases["offset"] = (since.dt.days / 7.0).to_numpy()

    def __contains__(self, key: tuple) -> bool:
        return key in self.phase_rows and key in self.point_rows

    def chart(self, key: tuple) -> str:
        """The chart of one series as inline SVG (see :func:`_svg_chart`)."""
        rows = self.phase_rows[key]
        phase = self.phases["phase"][rows]
        if not (np.diff(phase) > 0).all():  # as sort_values("phase")
            rows = rows[phase.argsort(kind="quicksort")]
        current = rows[-1]
        row = {c: self.phases[c][current] for c in CHART_FIELDS if c in self.phases}
        drawn = {c: self.phases[c][rows] for c in ("offset", "baseline", "goal")}
        drawn["marks"] = [self.phases["marks"][k] for k in rows]
        probes = {c: values[self.point_rows[key]] for c, values in self.probes.items()}
        return _svg_chart(row, drawn, probes, self.names(row["measure"]))


def student_chart(
    history: pd.DataFrame, points: pd.DataFrame, config: DistrictConfig | None = None
) -> str:
    """One student's chart for one measure as inline SVG (see :func:`_svg_chart`).
    ``history``: the student's progress_decisions rows for the measure, one per phase
    (the current phase last); ``points``: their :func:`aimline_points` (at least one)."""
    key = (history["student_id"].iat[0], history["measure"].iat[0])
    return ProgressCharts(history, points, config).chart(key)


def _svg_chart(
    row: dict, phases: dict, probes: dict, measure: str, width: int = 300, height: int = 170
) -> str:
    """Probes (dots), a dashed vertical line where each later phase starts, each phase's
    aimline (dashed, to its goal), trend line and the trend's 95 % band, the current goal
    (a diamond at the goal date) and the decision badge. ``row``: the current phase's
    :data:`CHART_FIELDS`; ``phases``: each phase's ``marks`` (:data:`PHASE_MARKS`),
    ``offset`` (its start, weeks after the first probe), ``baseline`` and ``goal``, in
    phase order; ``probes``: the probes' chart week, score, trend, band and phase."""
    left, right, top, bottom = 30, 10, 34, 20
    offset = phases["offset"]
    goal_x = offset[-1] + float(row["goal_week"])
    week, score, trend, low, high = (
        probes[c] for c in ("chart_week", "score", "trend", "band_low", "band_high")
    )
    values = np.r_[score, low, high, phases["baseline"], phases["goal"]]
    values = values[np.isfinite(values)]
    x1 = max(_largest(week), goal_x, 1.0)
    y0, y1 = float(values.min()), float(values.max())
    pad = max((y1 - y0) * 0.08, 1.0)
    y0, y1 = y0 - pad, y1 + pad
    sx = lambda w: left + w / x1 * (width - left - right)  # noqa: E731
    sy = lambda v: height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    parts = []
    phase_of = probes["phase"]
    for phase_row, start in zip(phases["marks"], offset, strict=True):
        mine = _in_week_order(np.flatnonzero(phase_of == phase_row.phase), week)
        series = (week[mine], trend[mine], low[mine], high[mine])
        parts.append(_phase_marks(phase_row, start, series, sx, sy, top, height - bottom))
    dots = "".join(
        f'<circle cx="{sx(w):.1f}" cy="{sy(v):.1f}" r="2" fill="#333"/>'
        for w, v in zip(week, score, strict=True)
    )
    goal = (
        f'<path class="tw-goal" d="M{sx(goal_x):.1f},{sy(row["goal"]) - 4:.1f} '
        'l4,4 l-4,4 l-4,-4 z" fill="#E69F00"><title>goal</title></path>'
        if pd.notna(row["goal"])
        else ""
    )
    return _svg_frame(
        row, measure, width, height, left, right, top, bottom, sx, sy, x1, y0, y1, pad
    ) + ("".join(parts) + dots + goal + "</svg>")


def _largest(weeks: np.ndarray) -> float:
    """The largest week, missing ones skipped (as ``Series.max``; NaN if none)."""
    known = weeks[~np.isnan(weeks)]
    return float(known.max()) if known.size else float("nan")


def _in_week_order(rows: np.ndarray, week: np.ndarray) -> np.ndarray:
    """``rows`` in the order of their ``week`` (as ``sort_values``: quicksort, missing last)."""
    missing = np.isnan(week[rows])
    present = rows[~missing]
    return np.r_[present[week[present].argsort(kind="quicksort")], rows[missing]]


def _phase_marks(phase_row, start: float, series, sx, sy, top, axis) -> str:
    """A phase's line (from phase 2 on), aimline to its goal, trend and band; ``series``:
    the phase's probes' chart week, trend and band (low, high), in week order."""
    out = ""
    if phase_row.phase > 1:
        program = "" if pd.isna(phase_row.program) else f": {phase_row.program}"
        out += (
            f'<line class="tw-phase-line" data-phase="{phase_row.phase}" x1="{sx(start):.1f}" '
            f'y1="{top}" x2="{sx(start):.1f}" y2="{axis}" stroke="#555" stroke-dasharray="2 2">'
            f"<title>{esc(f'Phase {phase_row.phase}{program}')}</title></line>"
        )
    if pd.notna(phase_row.aim_slope):
        a = (start + phase_row.baseline_week, phase_row.baseline)
        b = (start + phase_row.goal_week, phase_row.goal)
        out += (
            f'<line class="tw-aimline" x1="{sx(a[0]):.1f}" y1="{sy(a[1]):.1f}" '
            f'x2="{sx(b[0]):.1f}" y2="{sy(b[1]):.1f}" stroke="#E69F00" stroke-width="1.4" '
            'stroke-dasharray="4 3"/>'
        )
    week, trend, low, high = series
    ok = ~np.isnan(trend)
    if ok.sum() >= 2:
        line = " ".join(_points(week[ok], trend[ok], sx, sy))
        band = ok & ~np.isnan(low) & ~np.isnan(high)
        if band.sum() >= 2:
            upper = _points(week[band], high[band], sx, sy)
            lower = _points(week[band], low[band], sx, sy)
            out += (
                f'<polygon class="tw-band" points="{" ".join(upper + lower[::-1])}" '
                'fill="#0072B2" fill-opacity="0.15"/>'
            )
        out += (
            f'<polyline class="tw-trend" points="{line}" fill="none" stroke="#0072B2" '
            'stroke-width="1.4"/>'
        )
    return out


def _points(weeks: np.ndarray, values: np.ndarray, sx, sy) -> list[str]:
    """SVG "x,y" points of a line."""
    return [f"{sx(w):.1f},{sy(v):.1f}" for w, v in zip(weeks, values, strict=True)]


def _svg_frame(
    row, measure, width, height, left, right, top, bottom, sx, sy, x1, y0, y1, pad
) -> str:
    """The chart's frame: title, decision badge, axes and their labels."""
    name = (
        f"{row['last_name']}, {row['first_name']}" if "last_name" in row else str(row["student_id"])
    )
    title = f"{name} · Grade {grade_label(row['grade'])} {measure}"
    label = row["decision_label"]
    badge_w = 6 + 5.2 * len(label)
    alt = f"{title}: {label}. {row['reason']}."
    axis = height - bottom
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(alt)}" class="tw-pm-chart" '
        f'data-student="{esc(row["student_id"])}" data-measure="{esc(row["measure"])}" '
        'style="font-family:sans-serif;background:#fff;border:1px solid #ddd">'
        f"<title>{esc(alt)}</title>"
        f'<text x="4" y="12" font-size="9.5">{esc(title)}</text>'
        f'<rect x="4" y="17" width="{badge_w:.0f}" height="12" rx="3" '
        f'fill="{DECISION_COLORS.get(row["decision"], "#6E6E6E")}"/>'
        f'<text x="7" y="26.5" font-size="8.5" fill="#fff">{esc(label)}</text>'
        f'<line x1="{left}" y1="{axis}" x2="{width - right}" y2="{axis}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis}" stroke="#999"/>'
        f'<text x="{left - 3}" y="{sy(y1 - pad) + 3:.1f}" font-size="7.5" text-anchor="end">'
        f"{y1 - pad:.0f}</text>"
        f'<text x="{left - 3}" y="{sy(y0 + pad) + 3:.1f}" font-size="7.5" text-anchor="end">'
        f"{y0 + pad:.0f}</text>"
        f'<text x="{left}" y="{height - 6}" font-size="7.5">0</text>'
        f'<text x="{width - right}" y="{height - 6}" font-size="7.5" text-anchor="end">'
        f"week {x1:.0f}</text>"
    )


def pm_charts_html(monitoring: MonitoringData, config: DistrictConfig | None = None) -> HTML:
    """Small multiples, one card per monitored student x measure (inline SVG, so a hundred
    charts cost milliseconds): the chart (:func:`student_chart`), the decision in words
    with its likelihood (:func:`decision_sentence`) and the decisions at the data meetings
    (:func:`history_sentence`); students who need a change first."""
    d, points = monitoring.decisions, monitoring.points
    if d.empty or points.empty:
        return HTML('<p class="tw-empty">No student has progress-monitoring probes.</p>')
    phases = monitoring.phases if len(monitoring.phases) else d
    if "phase" not in phases:
        phases = phases.assign(phase=1, first_date=phases.get("first_date"))
        points = points.assign(phase=1) if "phase" not in points else points
    d = d.assign(_o=d["decision"].map(ORDER)).sort_values(
        ["_o", "subject", "grade", "last_name", "first_name"]
    )
    charts = ProgressCharts(phases, points, config)
    hist = {}
    if len(monitoring.history):
        hist = dict(tuple(monitoring.history.groupby(ProgressCharts.KEYS, sort=False)))
    cards = [
        '<div class="tw-pm-card" style="width:300px;font-size:0.8em">'
        + charts.chart((row.student_id, row.measure))
        + f"<p>{esc(decision_sentence(row, config))}</p>"
        + _history_html(hist.get((row.student_id, row.measure)))
        + "</div>"
        for row in d.itertuples(index=False)
        if (row.student_id, row.measure) in charts
    ]
    return HTML(
        _legend()
        + '<div class="tw-pm-grid" style="display:flex;flex-wrap:wrap;gap:6px">'
        + "".join(cards)
        + "</div>"
    )


def _history_html(history: pd.DataFrame | None) -> str:
    words = history_sentence(history)
    return (
        f'<p class="tw-pm-history" style="color:#555">Data meetings: {esc(words)}</p>'
        if words
        else ""
    )


def _legend() -> str:
    return (
        '<p class="tw-lead" style="font-size:0.85em">Dots: probes. '
        "Dotted vertical line: a new phase (the intervention changed). "
        '<span style="color:#B07800">Dashed: aimline</span> from the phase\'s baseline to its '
        'goal (diamond). <span style="color:#0072B2">Solid: trend</span> (least-squares line) '
        "with its 95 % band.</p>"
    )


# --- the rules in words, from the config the decisions were made with -------------------


def _minimum_data(rules: Progress) -> str:
    return f"at least {rules.min_probes} probes over at least {rules.min_weeks:g} weeks"


def goal_words(rules: Progress) -> str:
    """Where the aimline ends: "baseline + realistic weekly growth, Fuchs et al. 1993"."""
    growth = f"baseline + {rules.goal_growth} weekly growth, {GROWTH_SOURCES[rules.goal_growth]}"
    if rules.goal_growth == "realistic_or_typical":
        growth = f"baseline + weekly growth: {GROWTH_SOURCES[rules.goal_growth]}"
    if rules.goal_source == "benchmark":
        return (
            f"the end-of-year {rules.benchmark_level} cut score where the measure and grade "
            f"have one, else {growth}"
        )
    if rules.goal_source == "team":
        return f"the team's goal in the intervention log where set, else {growth}"
    return growth


def _rule_words(rules: Progress) -> str:
    """How the configured rule decides, in one or two sentences."""
    if rules.decision_rule == "four_point":
        run = count_words(rules.consecutive_points).capitalize()
        return (
            f"{run} points in a row above the aimline: raise the goal; below: change the "
            "intervention; otherwise the trend is compared with the aimline (a point rule: on "
            "few probes it often flags students who are on course)."
        )
    level = f"{rules.decision_confidence * 100:.0f} %"
    return (
        f"The decision compares the trend's {level} interval with the aimline's slope: change "
        "the intervention only when the whole interval lies below it, raise the goal when it "
        f"lies above it, continue when its lower end is at least {rules.on_course_share:g} x the "
        "aimline's slope; otherwise it is not yet clear, and the chart says by when more "
        "probes will tell."
    )


def needs_change_lead(config: DistrictConfig) -> str:
    """The lead of the "needs a change" section."""
    rules = config.progress
    if rules.decision_rule == "four_point":
        what = (
            f"whose last {count_words(rules.consecutive_points)} probes are all below the "
            "aimline, or whose trend is flatter than the aimline"
        )
    else:
        what = (
            f"whose trend is below the aimline's slope with {rules.decision_confidence * 100:.0f} "
            "% confidence (the whole interval of the trend lies below it)"
        )
    return (
        f"Monitored students {what}, in their current phase: the data say to change the "
        f"intervention. A decision needs {_minimum_data(rules)}. The likelihood is that of "
        "reaching the goal by the goal date if the trend holds."
    )


def charts_lead(config: DistrictConfig) -> str:
    """The lead of the progress charts: what a chart shows and how it is decided."""
    rules = config.progress
    return (
        "One chart per monitored student: the probes, a line where the intervention changed "
        "(a new phase), each phase's aimline from its baseline (median of the phase's first "
        f"three probes) to the goal ({goal_words(rules)}), the trend line with its band, and "
        f"the decision with the decisions at each data meeting. {_rule_words(rules)}"
    )


def aimline_words(config: DistrictConfig) -> str:
    """What an aimline is, for the methods appendix."""
    return (
        "The straight line on a progress chart from where the student started the phase (the "
        "middle of its first three probes) to the goal. A trend clearly below it means the "
        "intervention should change; one probe below it means little on its own."
    )


def decision_words(config: DistrictConfig) -> str:
    """How a decision is made, for the methods appendix."""
    rules = config.progress
    if rules.decision_rule == "four_point":
        run = count_words(rules.consecutive_points).capitalize()
        return (
            f"Needs {_minimum_data(rules)}. {run} points below the aimline: change the "
            f"intervention. {run} above: raise the goal. Otherwise the trend decides. Fewer "
            "probes: not enough data yet."
        )
    return (
        f"Needs {_minimum_data(rules)} in the current phase. {_rule_words(rules)} Fewer "
        "probes: not enough data yet."
    )
