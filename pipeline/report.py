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

from pipeline import store  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.tiers import FOCUS_LABELS, TIER_LABELS  # noqa: E402

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


REPO_ROOT = Path(__file__).resolve().parent.parent


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
# (computed by pipeline.groups in the process stage; here only loaded and formatted)


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
