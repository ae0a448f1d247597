"""What the district report shows, computed: data quality first, the schools side by
side (suppressed), and links to every school's reports. Programs and the tier picture
come from :mod:`pipeline.reports.school` at district scope.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.reports.school import (  # noqa: E402
    DISTRICT_COLOR,
    NEED,
    TOTAL,
    SubjectView,
    TermData,
)
from pipeline.reports.specialist import SUBJECT_TITLES, TIER_COLORS  # noqa: E402
from pipeline.stats import privacy  # noqa: E402

DATA_DOCS = "data-quality/index.html"


def ledger_display(ledger: pd.DataFrame | None) -> pd.DataFrame:
    """Rows read, accepted, quarantined and skipped per input file (row counts, not
    students, so nothing here is suppressed)."""
    if ledger is None or ledger.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "File": ledger["source_file"],
            "Table": ledger["table"],
            "Rows read": ledger["data_rows"],
            "Accepted": ledger["accepted"],
            "Quarantined": ledger["quarantined"],
            "Skipped": ledger["skipped"],
        }
    )


RULE_WORDS = {
    "date_outside_window": "the date is outside the screening window",
    "score_out_of_range": "the score is outside the measure's valid range",
    "percentile_out_of_range": "the percentile is outside 1-99",
    "student_not_in_roster": "the student is not in the roster",
    "duplicate_screening": "a later screening of the same measure replaces it",
    "duplicate_student": "the student appears twice in the roster",
}


def quarantine_reasons(quarantine: pd.DataFrame | None) -> pd.DataFrame:
    """How many input rows each data-quality rule set aside, most first. The reasons of
    single rows quote ids and values, so they stay in the data-quality report; here each
    rule is said in words."""
    if quarantine is None or quarantine.empty:
        return pd.DataFrame()
    counts = (
        quarantine.groupby(["table", "column", "rule"], dropna=False)
        .size()
        .rename("rows")
        .reset_index()
        .sort_values(["rows", "table", "rule"], ascending=[False, True, True])
    )
    words = [
        RULE_WORDS.get(str(rule), f"{column}: {str(rule).replace('_', ' ')}")
        for rule, column in zip(counts["rule"], counts["column"], strict=True)
    ]
    return pd.DataFrame(
        {
            "Table": counts["table"],
            "Column": counts["column"],
            "Rule": counts["rule"],
            "Rows set aside": counts["rows"],
            "What was wrong": words,
        }
    )


def data_docs_href(reports_dir: str | Path, school_year: str, window: str) -> str | None:
    path = Path(reports_dir) / school_year / window / DATA_DOCS
    return DATA_DOCS if path.exists() else None


def schools_side_by_side(
    term: TermData, views: list[SubjectView]
) -> tuple[pd.DataFrame, dict[str, privacy.Suppressed]]:
    """One row per school: students screened and the share needing support per subject
    (from the district views, suppressed with every table that shares their totals),
    then students in groups and not yet served."""
    names = term.schools()
    tables = {v.subject: v.schools for v in views if v.schools is not None}
    subjects = list(tables)
    out = pd.DataFrame({"School": list(names["school_name"]) + ["All schools"]})
    labels = list(names["school_name"]) + [TOTAL]
    if subjects:
        first = tables[subjects[0]]
        out["Students screened"] = [first.display().loc[r, TOTAL] for r in labels]
    for s in subjects:
        out[f"{SUBJECT_TITLES[s]}: need support"] = [tables[s].share_text(r, NEED) for r in labels]
    groups, unserved = term.table("groups"), term.table("unserved")
    if groups is not None and unserved is not None:
        served = groups.groupby(groups["school_id"].astype(str))["size"].sum()
        waiting = unserved.groupby(unserved["school_id"].astype(str)).size()
        counts = pd.DataFrame(
            {
                "In groups": [int(served.get(i, 0)) for i in names["school_id"]],
                "Not yet served": [int(waiting.get(i, 0)) for i in names["school_id"]],
            },
            index=list(names["school_name"]),
        )
        shown = privacy.suppress(counts, term.k).display()
        out["In groups"] = [shown.loc[r, "In groups"] for r in labels]
        out["Not yet served"] = [shown.loc[r, "Not yet served"] for r in labels]
    return out, tables


def schools_figure(tables: dict[str, privacy.Suppressed]) -> tuple[plt.Figure, str]:
    """Per subject, each school's share needing support (Tier 3 and Tier 2 stacked) with
    the district's share as a line; only published numbers are drawn."""
    subjects = list(tables)
    schools = [r for r in tables[subjects[0]].counts.index if r != TOTAL]
    fig, axes = plt.subplots(
        1,
        len(subjects),
        figsize=(3.6 * len(subjects) + 2.2, 0.42 * len(schools) + 1.4),
        sharey=True,
        squeeze=False,
    )
    alt = []
    y = np.arange(len(schools))[::-1]
    for ax, subject in zip(axes[0], subjects, strict=True):
        t = tables[subject]
        parts = []
        for pos, school in zip(y, schools, strict=True):
            need = t.share(school, NEED)
            t3, t2 = t.share(school, ["Tier 3"]), t.share(school, ["Tier 2"])
            if need is None:
                label = t.share_text(school, NEED)
                ax.text(1, pos, label, va="center", fontsize=8)
                parts.append(f"{school} {label}")
            elif t2 is not None and t3 is not None:
                ax.barh(pos, t3, color=TIER_COLORS[3], edgecolor="white", height=0.7)
                ax.barh(pos, t2, left=t3, color=TIER_COLORS[2], edgecolor="white", height=0.7)
                parts.append(f"{school} {need:.0f}%")
            else:
                ax.barh(pos, need, color=TIER_COLORS[2], hatch="///", edgecolor="white", height=0.7)
                parts.append(f"{school} {need:.0f}%")
        overall = t.share(TOTAL, NEED)
        if overall is not None:
            ax.axvline(overall, color=DISTRICT_COLOR, linewidth=1, linestyle="--")
        ax.set_title(SUBJECT_TITLES[subject])
        ax.set_xlabel("Need support (%)")
        ax.spines[["top", "right"]].set_visible(False)
        alt.append(
            f"{SUBJECT_TITLES[subject]}"
            + (f" (district {overall:.0f}%)" if overall is not None else "")
            + ": "
            + ", ".join(parts)
        )
    axes[0][0].set_yticks(y, schools)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=TIER_COLORS[3]),
        plt.Rectangle((0, 0), 1, 1, color=TIER_COLORS[2]),
        plt.Rectangle((0, 0), 1, 1, facecolor=TIER_COLORS[2], hatch="///", edgecolor="white"),
        plt.Line2D([], [], color=DISTRICT_COLOR, linestyle="--"),
    ]
    names = ["Tier 3 (intensive)", "Tier 2 (strategic)", "Tier 2 or 3 (split hidden)", "District"]
    axes[0][-1].legend(handles, names, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig, "Share of students needing support by school. " + "; ".join(alt) + "."


def school_links(term: TermData) -> list[tuple[str, str]]:
    links = []
    for school_id, name in term.schools().itertuples(index=False, name=None):
        links.append((f"{name}: principal report", f"schools/{school_id}/principal.html"))
        links.append((f"{name}: specialist report", f"schools/{school_id}/specialist.html"))
    return links


DISTRICT_METHODS = [
    (
        "Need support",
        "Students in Tier 2 (strategic) or Tier 3 (intensive) on this window's screening, as "
        "a share of the students screened in that subject.",
    ),
    (
        "Quarantined rows",
        "Input rows that broke a data-quality rule (a grade that is not a grade, a score "
        "outside the measure's range, a student not in the roster). They are left out of "
        "every report and listed with file and row in the data-quality report.",
    ),
    (
        "Effect (SD)",
        "Growth of a program's students beyond similar students without intervention, in "
        "standard deviations, with its 95 % interval. An interval that crosses 0 means the "
        "data cannot yet tell the program apart from no program.",
    ),
    (
        "n<10 and hidden",
        "Numbers built from fewer than 10 students show n<10; a few more are hidden so that "
        "a small group cannot be worked out from the totals.",
    ),
]
