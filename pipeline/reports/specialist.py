"""What the report notebooks call: load a school's slice, and turn tables and figures
into safe, self-contained HTML.

Notebooks stay thin: they load, call, plot and narrate. Every data-derived string goes
through :func:`html.escape` (tables through ``DataFrame.to_html(escape=True)``), and
figures are embedded as PNG data URIs with alt text, so a report loads nothing from
outside itself.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from IPython.display import HTML  # noqa: E402

from pipeline.config import REPO_ROOT, load_config  # noqa: E402
from pipeline.rules.tiers import FOCUS_LABELS, TIER_LABELS  # noqa: E402
from pipeline.stages import store  # noqa: E402

# Colour-blind-safe (after Okabe & Ito), used for tiers in every figure.
TIER_COLORS = {1: "#56B4E9", 2: "#E69F00", 3: "#B2182B"}
SUBJECT_TITLES = {"reading": "Reading", "math": "Math", "behavior": "Behavior"}
FIGURE_DPI = 110


@dataclass
class SchoolData:
    """One school's slice of a term's processed tables."""

    school_id: str
    school_name: str
    school_year: str
    window: str
    district_name: str
    students: pd.DataFrame
    tiers: pd.DataFrame


def from_root(path: str | Path) -> Path:
    """Relative paths are taken from the repository root, wherever the kernel runs."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def resolve_term(processed_dir: str | Path, school_year: str, window: str) -> tuple[str, str]:
    """The term a notebook renders: as given, or the latest processed one when blank."""
    if school_year and window:
        return school_year, window
    return store.latest_term(processed_dir)


def load_school(
    processed_dir: str | Path,
    school_year: str,
    window: str,
    school_id: str,
    config_dir: str | Path = "config",
) -> SchoolData:
    """Read the term's processed tables and keep only ``school_id``'s students."""
    processed_dir, config_dir = from_root(processed_dir), from_root(config_dir)
    year, term_window = resolve_term(processed_dir, school_year, window)
    students = store.read_table(processed_dir, year, term_window, "students")
    mine = students[students["school_id"] == str(school_id)]
    if mine.empty:
        known = ", ".join(sorted(students["school_id"].unique())[:20])
        raise LookupError(f"school_id {school_id!r} has no students (known: {known})")
    tiers = store.read_table(processed_dir, year, term_window, "tiers")
    config = load_config(config_dir)
    return SchoolData(
        school_id=str(school_id),
        school_name=str(mine["school_name"].iloc[0]),
        school_year=year,
        window=term_window,
        district_name=config.district_name,
        students=mine.reset_index(drop=True),
        tiers=tiers[tiers["school_id"] == str(school_id)].reset_index(drop=True),
    )


def grade_label(grade: int) -> str:
    return {-1: "PK", 0: "K"}.get(int(grade), str(int(grade)))


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def header_html(title: str, subtitle: str) -> HTML:
    return HTML(f'<header class="tw-header"><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>')


def section_html(title: str, lead: str = "") -> HTML:
    lead_html = f'<p class="tw-lead">{esc(lead)}</p>' if lead else ""
    return HTML(f'<h2 class="tw-section">{esc(title)}</h2>{lead_html}')


def table_html(frame: pd.DataFrame, caption: str = "", empty: str = "None.") -> HTML:
    """A table with header cells and an escaped caption; every cell is escaped."""
    if frame.empty:
        return HTML(f'<p class="tw-empty">{esc(empty)}</p>')
    body = frame.to_html(index=False, escape=True, border=0, classes="tw-table", na_rep="")
    if caption:
        body = body.replace(">", f"><caption>{esc(caption)}</caption>", 1)
    return HTML(f'<div class="tw-table-wrap">{body}</div>')


def figure_html(fig: plt.Figure, alt: str, caption: str = "") -> HTML:
    """Embed a figure as a PNG data URI with alt text, then close it."""
    buffer = io.BytesIO()
    fig.savefig(
        buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None}
    )
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    figcaption = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return HTML(
        f'<figure class="tw-figure"><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
        f"{figcaption}</figure>"
    )


def tier_counts_by_grade(tiers: pd.DataFrame) -> pd.DataFrame:
    """Students per subject x grade x tier (long), for the distribution chart."""
    known = tiers.dropna(subset=["tier"])
    return (
        known.groupby(["subject", "grade", "tier"], observed=True)
        .size()
        .rename("students")
        .reset_index()
    )


def tier_distribution_figure(tiers: pd.DataFrame) -> tuple[plt.Figure, str]:
    """Stacked bars of tier shares by grade, one panel per subject; returns (fig, alt)."""
    counts = tier_counts_by_grade(tiers)
    subjects = [s for s in SUBJECT_TITLES if s in set(counts["subject"])]
    fig, axes = plt.subplots(
        1,
        max(1, len(subjects)),
        figsize=(4.2 * max(1, len(subjects)), 3.2),
        sharey=True,
        squeeze=False,
    )
    alt_parts = []
    for ax, subject in zip(axes[0], subjects, strict=False):
        table = (
            counts[counts["subject"] == subject]
            .pivot_table(index="grade", columns="tier", values="students", fill_value=0)
            .reindex(columns=[1, 2, 3], fill_value=0)
        )
        shares = table.div(table.sum(axis=1), axis=0) * 100
        bottom = pd.Series(0.0, index=shares.index)
        labels = [grade_label(g) for g in shares.index]
        for tier in (1, 2, 3):
            ax.bar(
                labels,
                shares[tier],
                bottom=bottom,
                color=TIER_COLORS[tier],
                label=TIER_LABELS[tier],
                edgecolor="white",
                linewidth=0.6,
            )
            bottom = bottom + shares[tier]
        ax.set_title(SUBJECT_TITLES[subject])
        ax.set_xlabel("Grade")
        ax.set_ylim(0, 100)
        support = (shares[2] + shares[3]).round().astype(int)
        alt_parts.append(
            f"{SUBJECT_TITLES[subject]}: share needing support by grade "
            + ", ".join(f"{lab} {v}%" for lab, v in zip(labels, support, strict=True))
        )
    axes[0][0].set_ylabel("Students (%)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    for ax in axes[0]:
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig, "Tier distribution by grade. " + "; ".join(alt_parts) + "."


def support_list(school: SchoolData, subject: str | None = None) -> pd.DataFrame:
    """Students in Tier 2 or 3, most intensive first, with the reason for their tier and
    their skill focus (one subject, or all)."""
    need = school.tiers[school.tiers["tier"].fillna(1) >= 2]
    if subject is not None:
        need = need[need["subject"] == subject]
    need = need.merge(school.students[["student_id", "first_name", "last_name"]], on="student_id")
    need = need.sort_values(
        ["subject", "tier", "grade", "last_name", "first_name"],
        ascending=[True, False, True, True, True],
    )
    return pd.DataFrame(
        {
            "Subject": need["subject"].map(SUBJECT_TITLES),
            "Student": need["last_name"] + ", " + need["first_name"],
            "ID": need["student_id"],
            "Grade": need["grade"].map(grade_label),
            "Tier": need["tier"].astype(int),
            "Score": need["score"].map(lambda v: f"{v:g}"),
            "Percentile": need["percentile"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
            "Reason": need["reason"],
            **_focus_columns(need),
        }
    )


def _focus_columns(need: pd.DataFrame) -> dict[str, pd.Series]:
    """Focus and its evidence, when the tiers table carries them (issue 4 onwards)."""
    if "focus" not in need.columns:
        return {}
    return {
        "Focus": need["focus"].map(lambda f: FOCUS_LABELS.get(f, f) if isinstance(f, str) else ""),
        "Why this focus": need["focus_reason"].fillna(""),
        "Override": need["override"].map(lambda v: "yes" if v is True else ""),
    }


def summary_counts(school: SchoolData) -> pd.DataFrame:
    """Per subject: students screened and how many are in each tier."""
    known = school.tiers.dropna(subset=["tier"])
    table = known.pivot_table(
        index="subject", columns="tier", values="student_id", aggfunc="count", fill_value=0
    ).reindex(columns=[1, 2, 3], fill_value=0)
    screened = table.sum(axis=1)
    return pd.DataFrame(
        {
            "Subject": [SUBJECT_TITLES.get(s, s) for s in table.index],
            "Screened": screened.to_numpy(),
            "Tier 1": table[1].to_numpy(),
            "Tier 2": table[2].to_numpy(),
            "Tier 3": table[3].to_numpy(),
            "Need support (%)": ((table[2] + table[3]) / screened * 100)
            .round(0)
            .astype(int)
            .to_numpy(),
        }
    )


def footer_html(generated_at: str) -> HTML:
    when = f" on {esc(generated_at)}" if generated_at else ""
    return HTML(
        f'<p class="tw-footer">Generated by Tierwise{when}. Confidential: contains student '
        "names; share only with staff who work with these students.</p>"
    )


# --------------------------------------------------------------------------- groups
# (computed by pipeline.groups.form in the process stage; here only loaded and formatted)


@dataclass
class GroupingData:
    """One school's recommended groups and its unserved students."""

    groups: pd.DataFrame
    unserved: pd.DataFrame


def load_grouping(processed_dir: str | Path, school: SchoolData) -> GroupingData:
    """Read ``groups.parquet`` and ``unserved.parquet`` and keep this school's rows."""
    processed_dir = from_root(processed_dir)
    out = []
    for name in ("groups", "unserved"):
        path = store.term_dir(processed_dir, school.school_year, school.window) / f"{name}.parquet"
        frame = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=["school_id"])
        out.append(frame[frame["school_id"] == school.school_id].reset_index(drop=True))
    return GroupingData(*out)


def _names(school: SchoolData) -> dict[str, str]:
    s = school.students
    return dict(zip(s["student_id"], s["last_name"] + ", " + s["first_name"], strict=True))


def _focus_label(focus: pd.Series) -> pd.Series:
    return focus.map(lambda f: FOCUS_LABELS.get(f, str(f)))


def grouping_summary(grouping: GroupingData, school: SchoolData) -> pd.DataFrame:
    """Per subject: students needing support, placed in a group, unserved, and groups."""
    need = school.tiers[school.tiers["tier"].fillna(1) >= 2]
    rows = []
    for subject in SUBJECT_TITLES:
        n_need = int((need["subject"] == subject).sum())
        if not n_need:
            continue
        mine = grouping.groups[grouping.groups["subject"] == subject]
        rows.append(
            {
                "Subject": SUBJECT_TITLES[subject],
                "Need support": n_need,
                "In a group": int(mine["size"].sum()) if len(mine) else 0,
                "Unserved": int((grouping.unserved["subject"] == subject).sum()),
                "Groups": len(mine),
            }
        )
    return pd.DataFrame(rows)


def group_table(grouping: GroupingData, school: SchoolData, subject: str) -> pd.DataFrame:
    """The recommended groups of one subject: members, grades, focus, score range, who."""
    g = grouping.groups
    g = g[g["subject"] == subject].sort_values(
        ["tier", "focus", "grade_min", "group_id"], ascending=[False, True, True, True]
    )
    names = _names(school)
    return pd.DataFrame(
        {
            "Group": g["group_id"],
            "Tier": g["tier"].astype(int),
            "Focus": _focus_label(g["focus"]),
            "Grades": g["grades"],
            "Size": g["size"].astype(int),
            "Members": g["student_ids"].map(lambda ids: "; ".join(names.get(i, i) for i in ids)),
            "Score range": g["score_range"],
            "Interventionist": g["interventionist"],
            "Slot": g["slot"],
            "Note": g["note"],
        }
    )


def staff_load(grouping: GroupingData) -> pd.DataFrame:
    """Groups and students per interventionist (their capacity is in staff.csv)."""
    g = grouping.groups
    if g.empty:
        return pd.DataFrame()
    load = g.groupby("interventionist").agg(
        groups=("group_id", "size"),
        students=("size", "sum"),
        subjects=("subject", lambda s: ", ".join(sorted(set(s)))),
    )
    return pd.DataFrame(
        {
            "Interventionist": load.index,
            "Subjects": load["subjects"].to_numpy(),
            "Groups": load["groups"].to_numpy(),
            "Students": load["students"].to_numpy(),
        }
    )


def unserved_table(grouping: GroupingData, school: SchoolData) -> pd.DataFrame:
    """Students needing support who could not be placed in a group, and why."""
    u = grouping.unserved.sort_values(
        ["subject", "tier", "grade", "student_id"], ascending=[True, False, True, True]
    )
    names = _names(school)
    return pd.DataFrame(
        {
            "Student": u["student_id"].map(lambda i: names.get(i, i)),
            "ID": u["student_id"],
            "Grade": u["grade"].map(grade_label),
            "Subject": u["subject"].map(SUBJECT_TITLES),
            "Tier": u["tier"].astype(int),
            "Focus": _focus_label(u["focus"]),
            "Why not placed": u["reason"],
        }
    )


def override_table(school: SchoolData) -> pd.DataFrame:
    """The team's documented tier overrides (overrides.csv) for this school."""
    t = school.tiers
    if "override" not in t.columns:
        return pd.DataFrame()
    o = t[t["override"].fillna(False).astype(bool)].sort_values(["subject", "student_id"])
    names = _names(school)
    return pd.DataFrame(
        {
            "Student": o["student_id"].map(lambda i: names.get(i, i)),
            "ID": o["student_id"],
            "Subject": o["subject"].map(SUBJECT_TITLES),
            "Tier": o["tier"].astype("Int64"),
            "Computed tier": o["computed_tier"].astype("Int64"),
            "Decided by": o["decided_by"],
            "Date": o["decided_on"],
            "Reason": o["reason"],
        }
    )


def cards_html(items: list[tuple[str, object]]) -> HTML:
    """A row of headline numbers: (label, value) pairs, both escaped."""
    cards = "".join(f"<li><strong>{esc(value)}</strong>{esc(label)}</li>" for label, value in items)
    return HTML(f'<ul class="tw-cards">{cards}</ul>')


def findings_html(sentences: list[str], title: str = "Key findings") -> HTML:
    """The box of plain-language findings a report opens with."""
    items = "".join(f"<li>{esc(s)}</li>" for s in sentences) or "<li>No findings yet.</li>"
    return HTML(
        f'<section class="tw-findings" aria-labelledby="tw-findings-title">'
        f'<h2 id="tw-findings-title">{esc(title)}</h2><ul>{items}</ul></section>'
    )


def note_html(text: str) -> HTML:
    return HTML(f'<p class="tw-note">{esc(text)}</p>')


def link_list_html(links: list[tuple[str, str]]) -> HTML:
    """Links to other reports in the same folder tree: (text, relative href) pairs."""
    items = "".join(f'<li><a href="{esc(href)}">{esc(text)}</a></li>' for text, href in links)
    return HTML(f'<ul class="tw-links">{items}</ul>')


def methods_html(terms: list[tuple[str, str]], title: str = "How to read this report") -> HTML:
    """The plain-language methods appendix: (term, explanation) pairs."""
    items = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in terms)
    return HTML(
        f'<h2 class="tw-section tw-methods-title">{esc(title)}</h2>'
        f'<dl class="tw-methods">{items}</dl>'
    )


def aggregate_footer_html(generated_at: str, min_cell_size: int) -> HTML:
    """Footer of the principal and district reports, which name no student."""
    when = f" on {esc(generated_at)}" if generated_at else ""
    return HTML(
        f'<p class="tw-footer">Generated by Tierwise{when}. This report names no student. '
        f"Counts and percentages from fewer than {int(min_cell_size)} students are shown as "
        f"n&lt;{int(min_cell_size)}.</p>"
    )


# --------------------------------------------------------------------------- progress
# monitoring and intervention effectiveness (processed by pipeline.stats.progress and
# pipeline.stats.effectiveness; here only loaded, formatted and plotted)

DECISION_COLORS = {
    "change_intervention": "#B2182B",
    "raise_goal": "#009E73",
    "continue": "#0072B2",
    "insufficient_data": "#6E6E6E",
}
MEASURE_SHORT = {
    "dibels8_orf_wrc": "ORF",
    "dibels8_lnf": "LNF",
    "math_cbm_dcpm": "Math CBM",
    "map_math_rit": "MAP Math",
}


@dataclass
class MonitoringData:
    """One school's progress decisions, probe points, program effectiveness and tier
    movement; ``effectiveness`` holds the school's rows and the district's."""

    decisions: pd.DataFrame
    points: pd.DataFrame
    effectiveness: pd.DataFrame
    transitions: pd.DataFrame


def _read_optional(processed_dir: Path, year: str, window: str, name: str) -> pd.DataFrame:
    path = store.term_dir(processed_dir, year, window) / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def load_monitoring(processed_dir: str | Path, school: SchoolData) -> MonitoringData:
    """Read the term's progress decisions (``progress_decisions.parquet``), probes,
    effectiveness and transitions, and keep this school's rows (and the district's)."""
    from pipeline.stats.progress import aimline_points

    processed_dir = from_root(processed_dir)
    year, window = school.school_year, school.window
    decisions = _read_optional(processed_dir, year, window, "progress_decisions")
    effectiveness = _read_optional(processed_dir, year, window, "effectiveness")
    moves = _read_optional(processed_dir, year, window, "transitions")
    points = pd.DataFrame()
    if not decisions.empty:
        decisions = decisions[decisions["school_id"] == school.school_id].merge(
            school.students[["student_id", "first_name", "last_name"]], on="student_id"
        )
        probes = _read_optional(processed_dir, year, window, "progress")
        probes = probes[probes["student_id"].isin(decisions["student_id"])]
        if not probes.empty:
            points = aimline_points(probes, decisions)
    keep = lambda f: f[f["scope"].isin([school.school_id, "district"])] if len(f) else f  # noqa: E731
    return MonitoringData(decisions, points, keep(effectiveness), keep(moves))


def _student_label(frame: pd.DataFrame) -> pd.Series:
    return frame["last_name"] + ", " + frame["first_name"]


def needs_change_list(monitoring: MonitoringData) -> pd.DataFrame:
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
            "Measure": d["measure"].map(lambda m: MEASURE_SHORT.get(m, m)),
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
    from pipeline.stats.progress import DECISION_LABELS

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


def _svg_chart(row, pts: pd.DataFrame, width: int = 230, height: int = 150) -> str:
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
    measure = MEASURE_SHORT.get(row.measure, row.measure)
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


def pm_charts_html(monitoring: MonitoringData) -> HTML:
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
    charts = [
        _svg_chart(row, groups[(row.student_id, row.measure)])
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


def program_effectiveness_table(monitoring: MonitoringData, school: SchoolData) -> pd.DataFrame:
    """The school's programs and the same programs district-wide."""
    from pipeline.reports.programs import summary_table

    return summary_table(monitoring.effectiveness, {school.school_id: "This school"})


def forest_plot_figure(
    effectiveness: pd.DataFrame, school_id: str | None = None
) -> tuple[plt.Figure, str] | None:
    """Per program: pre/post Hedges' g and the growth difference against comparable
    students (SD units), each with its 95 % interval; this school and the district."""
    e = effectiveness.dropna(subset=["hedges_g"], how="all")
    if e.empty:
        return None
    e = e.sort_values(["subject", "program", "scope"], ascending=[True, True, False])
    labels = [
        f"{p} ({'district' if s == 'district' else 'this school' if s == school_id else s})"
        for p, s in zip(e["program"], e["scope"], strict=True)
    ]
    y = list(range(len(e)))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.38 * len(e) + 1.2), sharey=True)
    panels = [
        ("hedges_g", "g_ci_low", "g_ci_high", "Pre/post Hedges' g"),
        ("effect_sd", "effect_sd_ci_low", "effect_sd_ci_high", "Growth vs comparison (SD)"),
    ]
    alt = []
    for ax, (col, lo, hi, title) in zip(axes, panels, strict=True):
        colors = ["#0072B2" if s == "district" else "#E69F00" for s in e["scope"]]
        for yi, est, low, high, c in zip(y, e[col], e[lo], e[hi], colors, strict=True):
            if pd.isna(est):
                ax.text(0, yi, "n too small", fontsize=6.5, va="center", color="#6E6E6E")
                continue
            ax.plot([low, high], [yi, yi], color=c, lw=1.6)
            ax.plot([est], [yi], "s", color=c, ms=4)
        ax.axvline(0, color="#999999", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(y, labels, fontsize=7)
    for label, g, s in zip(labels, e["hedges_g"], e["effect_sd"], strict=True):
        g_text = "n too small" if pd.isna(g) else f"{g:.2f}"
        s_text = "n too small" if pd.isna(s) else f"{s:.2f}"
        alt.append(f"{label}: g {g_text}, vs comparison {s_text} SD")
    fig.tight_layout()
    return fig, "Forest plot of program effects with 95% intervals. " + "; ".join(alt) + "."


def transition_table(monitoring: MonitoringData, school: SchoolData) -> pd.DataFrame:
    """The "effectiveness of support" table for this school: of the students at each fall
    tier, how many are at each tier now, with and without an intervention."""
    t = monitoring.transitions
    if t.empty:
        return pd.DataFrame()
    t = t[t["scope"] == school.school_id]
    wide = t.pivot_table(
        index=["subject", "received_intervention", "fall_tier"],
        columns="current_tier",
        values="n",
        aggfunc="sum",
        fill_value=0,
    ).reindex(columns=[1, 2, 3], fill_value=0)
    total = wide.sum(axis=1)
    out = wide.reset_index()
    return pd.DataFrame(
        {
            "Subject": out["subject"].map(SUBJECT_TITLES),
            "Intervention": out["received_intervention"].map({True: "received", False: "none"}),
            "Fall tier": out["fall_tier"].astype(int),
            "Students": total.to_numpy(),
            "Now Tier 1": out[1].to_numpy(),
            "Now Tier 2": out[2].to_numpy(),
            "Now Tier 3": out[3].to_numpy(),
        }
    )
