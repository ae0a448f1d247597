"""One subject as the principal and district reports show it: the count tables of
:mod:`pipeline.stats.district` for a school or the district, suppressed together, with
the district context a school report must agree with, and those tables as text.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.reports.data import TermData
from pipeline.reports.words import SUBJECT_TITLES
from pipeline.stats import district, privacy
from pipeline.stats.district import NEED, TIER_COLUMNS, TOTAL


@dataclass
class SubjectView:
    subject: str
    grades: privacy.Suppressed
    subgroups: list[privacy.Suppressed]
    district_share: dict[str, float]  # grade label -> % needing support district-wide
    district_overall: float | None
    fall_grades: privacy.Suppressed | None
    movement: privacy.Suppressed | None
    schools: privacy.Suppressed | None = None  # district view: schools x tier

    @property
    def title(self) -> str:
        return SUBJECT_TITLES.get(self.subject, self.subject.capitalize())


def district_context(
    term: TermData, subject: str, school_id: str
) -> tuple[dict[str, float], float | None, pd.Series | None]:
    """What the district report shows that a principal report must agree with: the
    district's share needing support per grade, overall, and which of this school's tier
    totals the district's by-school table hides (the principal report hides them too).
    The process stage computes it once per term; a term without it computes it here."""
    name = term.school_name(school_id)
    table = term.table("district_context")
    if table is None:
        table = district.district_context_table(term.students, term.tiers, term.k, [subject])
    return district.context_for_school(table, subject, name)


def subject_view(
    term: TermData, school_id: str | None, subject: str, with_fall: bool = True
) -> SubjectView | None:
    """Everything a report shows for one subject, suppressed: for one school, or for the
    whole district when ``school_id`` is ``None`` (:func:`district.subject_counts`)."""

    def only(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if school_id is None else frame[frame["school_id"] == school_id]

    fall = None
    if with_fall and term.fall_tiers is not None and term.window != "fall":
        fall = only(term.fall_tiers)
    shares, overall, hidden = ({}, None, None)
    if school_id is not None:
        shares, overall, hidden = district_context(term, subject, school_id)
    counts = district.subject_counts(
        only(term.tiers),
        only(term.students),
        subject,
        term.k,
        fall_tiers=fall,
        by_school=school_id is None,
        hidden_totals=hidden,
    )
    if counts is None:
        return None
    return SubjectView(
        subject,
        counts.grades,
        counts.subgroups,
        shares,
        overall,
        counts.fall_grades,
        counts.movement,
        schools=counts.schools,
    )


def school_views(term: TermData, school_id: str | None) -> list[SubjectView]:
    """The views of every subject screened at the school (or in the district)."""
    views = [subject_view(term, school_id, s) for s in SUBJECT_TITLES]
    return [v for v in views if v is not None]


def tier_table_display(result: privacy.Suppressed, first: str) -> pd.DataFrame:
    """A suppressed tier table as text, with the share needing support (Tier 2 or 3)."""
    shown = result.display()
    need = [result.share_text(row, NEED) for row in result.counts.index]
    out = pd.DataFrame(
        {
            first: list(result.counts.index),
            "Students screened": shown[TOTAL].to_numpy(),
            **{c: shown[c].to_numpy() for c in TIER_COLUMNS},
            "Need support (Tier 2 or 3)": need,
        }
    )
    out.loc[out[first] == TOTAL, first] = "All students"
    return out


def movement_display(result: privacy.Suppressed) -> pd.DataFrame:
    """The fall-to-now table as text: fall level (rows) x level now (columns)."""
    shown = result.display().rename(columns={TOTAL: "Students"}, index={TOTAL: "All students"})
    shown.index = ["All students" if i == TOTAL else i for i in result.counts.index]
    return shown.reset_index(names="Fall level")
