"""Progress monitoring in the specialist report: the students whose data say to change
the intervention, the decisions per subject, one small chart per monitored student, and
the sentences that explain the decision rules, built from the config they ran with
(``progress:`` in ``district.yml``; :mod:`pipeline.stats.progress` computes the decisions).
"""

from __future__ import annotations

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
    "insufficient_data": "#6E6E6E",
}
# Where the weekly growth rates of a growth goal come from (config/norms/weekly_growth.csv).
GROWTH_SOURCES = {
    "ambitious": "Fuchs et al. 1993",
    "realistic": "Fuchs et al. 1993",
    "typical": "Hasbrouck & Tindal 2017",
}


def _measure_names(config: DistrictConfig | None):
    """A measure's name in a table or chart ("ORF"); its id without a config."""
    return config.measure_name if config is not None else str


def _student_label(frame: pd.DataFrame) -> pd.Series:
    return frame["last_name"] + ", " + frame["first_name"]


def needs_change_list(
    monitoring: MonitoringData, config: DistrictConfig | None = None
) -> pd.DataFrame:
    """Monitored students whose decision is "change the intervention", with the reason."""
    d = monitoring.decisions
    if d.empty:
        return pd.DataFrame()
    d = d[d["decision"] == "change_intervention"].sort_values(
        ["subject", "grade", "last_name", "first_name"]
    )
    return pd.DataFrame(
        {
            "Student": _student_label(d),
            "ID": d["student_id"],
            "Grade": d["grade"].map(grade_label),
            "Subject": d["subject"].map(SUBJECT_TITLES),
            "Measure": d["measure"].map(_measure_names(config)),
            "Program": d["program"].fillna(""),
            "Probes": d["n_probes"],
            "ROI a week": d["roi"].map(lambda v: f"{v:.2f}"),
            "Aimline a week": d["aim_slope"].map(lambda v: f"{v:.2f}"),
            "Why": d["reason"],
        }
    )


def decision_counts(monitoring: MonitoringData) -> pd.DataFrame:
    """Monitored students per subject and decision."""
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


def _svg_chart(row, pts: pd.DataFrame, measure: str, width: int = 230, height: int = 150) -> str:
    """One student's chart as inline SVG: probes, aimline (dashed), trend, decision badge."""
    left, right, top, bottom = 30, 8, 34, 20
    weeks = pts["week"].to_numpy(dtype=float)
    series = [pts["score"], pts["aimline"], pts["trend"]]
    values = pd.concat(series).dropna().to_numpy(dtype=float)
    x0, x1 = 0.0, max(float(weeks.max()), 1.0)
    y0, y1 = float(values.min()), float(values.max())
    pad = max((y1 - y0) * 0.08, 1.0)
    y0, y1 = y0 - pad, y1 + pad
    sx = lambda w: left + (w - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda v: height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731

    def line(column: str, style: str) -> str:
        ok = pts[column].notna().to_numpy()
        if ok.sum() < 2:
            return ""
        xy = " ".join(
            f"{sx(w):.1f},{sy(v):.1f}"
            for w, v in zip(weeks[ok], pts[column].to_numpy(dtype=float)[ok], strict=True)
        )
        return f'<polyline points="{xy}" fill="none" {style}/>'

    dots = "".join(
        f'<circle cx="{sx(w):.1f}" cy="{sy(v):.1f}" r="2" fill="#333"/>'
        for w, v in zip(weeks, pts["score"].to_numpy(dtype=float), strict=True)
    )
    name = f"{row.last_name}, {row.first_name}"
    title = f"{name} · Grade {grade_label(row.grade)} {measure}"
    label = row.decision_label
    badge_w = 6 + 5.2 * len(label)
    alt = f"{title}: {label}. {row.reason}."
    axis = height - bottom
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(alt)}" '
        'style="font-family:sans-serif;background:#fff;border:1px solid #ddd">'
        f"<title>{esc(alt)}</title>"
        f'<text x="4" y="12" font-size="9.5">{esc(title)}</text>'
        f'<rect x="4" y="17" width="{badge_w:.0f}" height="12" rx="3" '
        f'fill="{DECISION_COLORS[row.decision]}"/>'
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
        + line("aimline", 'stroke="#E69F00" stroke-width="1.4" stroke-dasharray="4 3"')
        + line("trend", 'stroke="#0072B2" stroke-width="1.4"')
        + dots
        + "</svg>"
    )


def pm_charts_html(monitoring: MonitoringData, config: DistrictConfig | None = None) -> HTML:
    """Small multiples, one chart per monitored student x measure (inline SVG, so a
    hundred charts cost milliseconds): probes, aimline, trend line and the decision badge;
    students who need a change first."""
    d, points = monitoring.decisions, monitoring.points
    if d.empty or points.empty:
        return HTML('<p class="tw-empty">No student has progress-monitoring probes.</p>')
    order = {"change_intervention": 0, "insufficient_data": 1, "continue": 2, "raise_goal": 3}
    d = d.assign(_o=d["decision"].map(order)).sort_values(
        ["_o", "subject", "grade", "last_name", "first_name"]
    )
    groups = dict(tuple(points.groupby(["student_id", "measure"], sort=False)))
    name = _measure_names(config)
    charts = [
        _svg_chart(row, groups[(row.student_id, row.measure)], name(row.measure))
        for row in d.itertuples(index=False)
        if (row.student_id, row.measure) in groups
    ]
    legend = (
        '<p class="tw-lead" style="font-size:0.85em">Dots: probes. '
        '<span style="color:#B07800">Dashed: aimline</span> from the baseline to the goal. '
        '<span style="color:#0072B2">Solid: trend</span> (least-squares line).</p>'
    )
    return HTML(
        legend
        + '<div class="tw-pm-grid" style="display:flex;flex-wrap:wrap;gap:6px">'
        + "".join(charts)
        + "</div>"
    )


# --- the rules in words, from the config the decisions were made with -------------------


def _minimum_data(rules: Progress) -> str:
    return f"at least {rules.min_probes} probes over at least {rules.min_weeks:g} weeks"


def goal_words(rules: Progress) -> str:
    """Where the aimline ends: "baseline + ambitious weekly growth, Fuchs et al. 1993"."""
    growth = f"baseline + {rules.goal_growth} weekly growth, {GROWTH_SOURCES[rules.goal_growth]}"
    if rules.goal_source == "benchmark":
        return (
            f"the end-of-year {rules.benchmark_level} cut score where the measure and grade "
            f"have one, else {growth}"
        )
    return growth


def needs_change_lead(config: DistrictConfig) -> str:
    """The lead of the "needs a change" section."""
    rules = config.progress
    return (
        f"Monitored students whose last {count_words(rules.consecutive_points)} probes are "
        "all below the aimline, or whose trend is clearly flatter than the aimline: the data "
        f"say to change the intervention. A decision needs {_minimum_data(rules)}."
    )


def charts_lead(config: DistrictConfig) -> str:
    """The lead of the progress charts: what a chart shows and how it is decided."""
    rules = config.progress
    run = count_words(rules.consecutive_points).capitalize()
    return (
        "One chart per monitored student: the probes, the aimline from the baseline (median "
        f"of the first three probes) to the goal ({goal_words(rules)}), the trend line, and "
        f"the decision. {run} points in a row above the aimline: raise the goal; below: "
        "change the intervention; otherwise the trend is compared with the aimline."
    )


def aimline_words(config: DistrictConfig) -> str:
    """What an aimline is, for the methods appendix."""
    run = count_words(config.progress.consecutive_points)
    return (
        "The straight line on a progress chart from where the student started (the middle "
        "of the first three probes) to the goal. Points above it are on track; "
        f"{run} points in a row below it mean the intervention should change."
    )


def decision_words(config: DistrictConfig) -> str:
    """How a decision is made, for the methods appendix."""
    rules = config.progress
    run = count_words(rules.consecutive_points).capitalize()
    return (
        f"Needs {_minimum_data(rules)}. {run} points below the aimline: change the "
        f"intervention. {run} above: raise the goal. Otherwise the trend decides. Fewer "
        "probes: not enough data yet."
    )
