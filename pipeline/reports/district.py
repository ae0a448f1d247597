"""What the district report shows: data quality first, the schools side by side
(suppressed), and links to every school's reports. The tier picture and the programs come
from :mod:`pipeline.reports.subjects` and :mod:`pipeline.reports.principal` at district
scope.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.reports import programs
from pipeline.reports.data import TermData
from pipeline.reports.subjects import SubjectView
from pipeline.reports.words import SUBJECT_TITLES, confidence_level
from pipeline.rules.labels import TIER_LABELS
from pipeline.stats import privacy
from pipeline.stats.district import NEED, TOTAL


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


# A school with no screening of a subject in the window (not screened yet, or a vendor
# file that only covers some schools) has no row in that subject's table.
NOT_SCREENED = "not screened"


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
        shown = first.display()
        out["Students screened"] = [
            shown.loc[r, TOTAL] if r in shown.index else NOT_SCREENED for r in labels
        ]
    for s in subjects:
        out[f"{SUBJECT_TITLES[s]}: need support"] = [
            tables[s].share_text(r, NEED) if r in tables[s].counts.index else NOT_SCREENED
            for r in labels
        ]
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


def school_links(term: TermData) -> list[tuple[str, str]]:
    links = []
    for school_id, name in term.schools().itertuples(index=False, name=None):
        links.append((f"{name}: principal report", f"schools/{school_id}/principal.html"))
        links.append((f"{name}: specialist report", f"schools/{school_id}/specialist.html"))
    return links


def district_methods(config: DistrictConfig) -> list[tuple[str, str]]:
    """The district report's "How to read this report", with the interval level and the
    smallest published count of ``config``."""
    k = config.privacy.min_cell_size
    return [
        (
            "Need support",
            f"Students in {TIER_LABELS[2]} or {TIER_LABELS[3]} on this window's screening, as "
            "a share of the students screened in that subject.",
        ),
        (
            "Quarantined rows",
            "Input rows that broke a data-quality rule (a grade that is not a grade, a score "
            "outside the measure's range, a student not in the roster). They are left out of "
            "every report and listed with file and row in the data-quality report.",
        ),
        ("Effect (SD)", programs.effect_words(config)),
        ("Change since fall", programs.change_words()),
        (
            f"n<{k} and hidden",
            f"Numbers built from fewer than {k} students show n<{k}; a few more are hidden so "
            "that a small group cannot be worked out from the totals.",
        ),
    ]


# --- regression discontinuity at the tier cut ------------------------------------------

RD_TERMS = {
    "first_stage": "Share served jumps at the cut",
    "students": "Enough students on each side of the cut",
    "density": "No bunching of fall scores at the cut",
}


def rd_findings(term: TermData) -> list[dict]:
    """Per subject whose regression-discontinuity estimate passed every diagnostic
    (``rd.parquet``, :mod:`pipeline.stats.rd`): a heading sentence and the table of the
    estimate and its diagnostics. Subjects whose diagnostics failed say which failed."""
    rd = term.table("rd")
    if rd is None or rd.empty:
        return []
    level = confidence_level(term.config)
    out = []
    for subject, rows in rd.groupby("subject", sort=True):
        effect = rows[rows["term"] == "effect"].iloc[0]
        failed = rows.loc[~rows["passes"].astype(bool), "term"].map(_rd_term).tolist()
        title = SUBJECT_TITLES.get(subject, subject)
        if failed:
            text = (
                f"{title}: no estimate at the tier cut is shown, because these checks did not "
                f"pass: {', '.join(failed)}."
            )
            out.append({"subject": subject, "shown": False, "text": text, "table": None})
            continue
        size = programs.magnitude_words(
            effect["estimate"], effect["ci_low"], effect["ci_high"], term.config
        )
        text = (
            f"{title}: for students near the tier cut, being served changed growth by "
            f"{effect['estimate']:+.2f} SD ({level} % interval {effect['ci_low']:+.2f} to "
            f"{effect['ci_high']:+.2f}; {size}), from {int(effect['n_below'])} eligible "
            f"students just below the cut and {int(effect['n_above'])} just above it, within "
            f"{effect['bandwidth']:.2f} SD of the cut score. This is the strongest evidence the "
            "data allow: near the cut, who was eligible depended only on a few points of the "
            "fall score, not on anything a comparison could miss."
        )
        out.append({"subject": subject, "shown": True, "text": text, "table": _rd_table(rows)})
    return out


def _rd_term(term: str) -> str:
    if term.startswith("balance: "):
        return f"no jump in {term.removeprefix('balance: ')} at the cut"
    if term.startswith("placebo: "):
        return f"no jump at a placebo cut ({term.removeprefix('placebo: ')})"
    return RD_TERMS.get(term, term)


def _rd_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The estimate and each diagnostic with its figure and whether it passed."""

    def figure(row) -> str:
        if pd.notna(row["estimate"]):
            return f"{row['estimate']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
        if pd.notna(row["p"]):
            return f"p = {row['p']:.2f}"
        return f"{int(row['n_below'])} below, {int(row['n_above'])} above"

    return pd.DataFrame(
        {
            "Check": ["Effect of being served (SD)", *map(_rd_term, rows["term"].iloc[1:])],
            "Figure": [figure(r) for _, r in rows.iterrows()],
            "Passed": ["estimate", *np.where(rows["passes"].iloc[1:], "yes", "no")],
        }
    )


def rd_methods(config: DistrictConfig) -> str:
    """How the estimate at the cut is made and when it is shown."""
    rd = config.effectiveness.rd
    return (
        "Students just below the Tier 2 cut of the fall screening are eligible for "
        "intervention, students just above are not, but some eligible students are not "
        "served and a few others are. The jump in growth at the cut, divided by the jump in "
        "the share served, estimates the effect of being served for students near the cut "
        "(a fuzzy regression discontinuity: rdrobust, local linear fits with the MSE-optimal "
        "bandwidth, each grade and measure with its own intercept and slope, and robust "
        "bias-corrected intervals; Calonico, Cattaneo & Titiunik 2014). "
        "It is shown only when every check passes: the share served jumps by at least "
        f"{rd.min_first_stage:g}; at least {rd.min_students} students sit on each side within "
        "the bandwidth; fall scores do not bunch at the cut (rddensity); student "
        f"characteristics ({', '.join(rd.covariates)}) do not jump at the cut; and growth "
        f"does not jump at placebo cuts ({', '.join(f'{c:+g}' for c in rd.placebo_cuts)} SD)."
    )
