"""What the principal report shows: the school's need for support by grade against the
district's, movement since fall, the programs' effects, equity by student group and
staffing, and the key-finding sentences, all from published (suppressed) numbers.

Nothing here names a student: every table is a count, and every count goes through
:func:`pipeline.stats.privacy.suppress` before it reaches a page, a figure or a sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.reports import programs
from pipeline.reports.data import TermData
from pipeline.reports.subjects import SubjectView, tier_table_display
from pipeline.reports.words import SUBJECT_TITLES, confidence_level
from pipeline.rules.labels import TIER_LABELS
from pipeline.stats import privacy
from pipeline.stats.district import FLAGS, NEED, NOT_RECORDED, TOTAL


def subgroup_display(view: SubjectView) -> pd.DataFrame:
    """The equity table: every subgroup's row, then all students, suppressed."""
    parts = []
    for result in view.subgroups:
        shown = tier_table_display(result, "Group")
        parts.append(shown[shown["Group"] != "All students"])
    parts.append(tier_table_display(view.grades, "Group").tail(1))
    return pd.concat(parts, ignore_index=True)


def grade_comparison_display(view: SubjectView) -> pd.DataFrame:
    out = tier_table_display(view.grades, "Grade")
    k = view.grades.min_cell_size
    district = [
        privacy.format_percent(
            view.district_overall if g == "All students" else view.district_share.get(g), k
        )
        for g in out["Grade"]
    ]
    return out.assign(**{"District: need support": district})


# --- key findings ------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value:.0f} %"


def _change_words(now: float, before: float) -> str:
    diff = round(now) - round(before)
    if diff == 0:
        return "unchanged since fall"
    return f"{'up' if diff > 0 else 'down'} from {_pct(before)} in fall"


Finding = tuple[str, float, str]  # (kind, weight, sentence)


def subject_findings(view: SubjectView, k: int) -> list[Finding]:
    """(kind, weight, sentence) candidates for one subject, from published numbers only:
    the share needing support, grades that changed or stand apart from the district,
    subgroups that differ, and movement out of Tier 2 and 3 since fall."""
    return [
        *_overall_finding(view),
        *_grade_findings(view),
        *_equity_findings(view),
        *_movement_finding(view, k),
    ]


def _overall_finding(view: SubjectView) -> list[Finding]:
    overall = view.grades.share(TOTAL, NEED)
    screened = view.grades.value(TOTAL, TOTAL)
    if overall is None or screened is None:
        return []
    words = f"{view.title}: {_pct(overall)} of {screened} students screened need support"
    extra = []
    if view.fall_grades is not None and view.fall_grades.share(TOTAL, NEED) is not None:
        extra.append(_change_words(overall, view.fall_grades.share(TOTAL, NEED)))
    if view.district_overall is not None:
        extra.append(f"district {_pct(view.district_overall)}")
    text = words + (f" ({'; '.join(extra)})" if extra else "") + "."
    return [("overall", 100.0, text)]


def _grade_findings(view: SubjectView) -> list[Finding]:
    """A grade whose share changed since fall, else one 5 points or more off the
    district's share (weighted a little lower)."""
    found = []
    for grade in [g for g in view.grades.counts.index if g != TOTAL]:
        now = view.grades.share(grade, NEED)
        if now is None:
            continue
        before = None
        if view.fall_grades is not None and grade in view.fall_grades.counts.index:
            before = view.fall_grades.share(grade, NEED)
        district = view.district_share.get(grade)
        if before is not None and round(now) != round(before):
            text = (
                f"{grade} {view.subject}: {_pct(now)} need support, {_change_words(now, before)}."
            )
            found.append(("grade", abs(now - before), text))
        elif district is not None and abs(now - district) >= 5:
            side = "above" if now > district else "below"
            text = (
                f"{grade} {view.subject}: {_pct(now)} need support, {side} the district's "
                f"{_pct(district)}."
            )
            found.append(("grade", abs(now - district) * 0.8, text))
    return found


def _equity_findings(view: SubjectView) -> list[Finding]:
    """A subgroup whose share differs from the other students' by 10 points or more."""
    found = []
    for result in view.subgroups:
        rows = [r for r in result.counts.index if r not in (TOTAL, NOT_RECORDED)]
        pair = next(((y, n) for _, y, n in FLAGS if y in rows and n in rows), None)
        if pair is None:
            continue
        yes, no = (result.share(r, NEED) for r in pair)
        if yes is not None and no is not None and abs(round(yes) - round(no)) >= 10:
            text = (
                f"{pair[0]}: {_pct(yes)} need support in {view.subject}, against "
                f"{_pct(no)} of the other students."
            )
            found.append(("equity", abs(yes - no), text))
    return found


def _movement_finding(view: SubjectView, k: int) -> list[Finding]:
    """How many of fall's Tier 2 and 3 students are in Tier 1 now (at least k of them)."""
    if view.movement is None:
        return []
    m = view.movement
    rows = ["Tier 2 in fall", "Tier 3 in fall"]
    base = [m.value(r, TOTAL) for r in rows]
    moved = [m.value(r, "Tier 1 now") for r in rows]
    if not (all(v is not None for v in base + moved) and sum(base) >= k):
        return []
    share = sum(moved) / sum(base) * 100
    text = (
        f"{view.title}: of the {sum(base)} students who needed support in fall, "
        f"{sum(moved)} ({_pct(share)}) are now in Tier 1."
    )
    return [("movement", 60.0, text)]


def program_findings(
    effectiveness: pd.DataFrame | None, scope: str, config: DistrictConfig
) -> list[Finding]:
    """A sentence per published program effect (only against a comparison group; a change
    since fall is never a finding): more, less or no clearly different growth than similar
    students without intervention, with the effect, its interval and its size (Kraft 2020)."""
    from pipeline.reports.programs import magnitude_words

    level = confidence_level(config)
    rows = program_rows(effectiveness, scope)
    if rows is None or rows.empty:
        return []
    shown = rows[rows["published"] & rows["effect"].notna() & rows["has_comparison"]]
    out = []
    for row in shown.itertuples():
        low, high = row.low, row.high
        if low > 0:
            verdict = "students grew more than similar students who had no intervention"
        elif high < 0:
            verdict = "students grew less than similar students who had no intervention"
        else:
            verdict = "no clear difference from similar students who had no intervention"
        size = magnitude_words(row.effect, low, high, config)
        out.append(
            (
                "program",
                40.0 + abs(row.effect) * 20,
                f"{row.program} ({row.subject}, {row.n_compared} students compared): {verdict} "
                f"(effect {row.effect:+.2f} SD, {level} % interval {low:+.2f} to {high:+.2f}; "
                f"{size}; not a controlled experiment).",
            )
        )
    return out


def key_findings(
    views: list[SubjectView],
    effectiveness: pd.DataFrame | None,
    scope: str,
    config: DistrictConfig,
) -> list[str]:
    """Three to five plain sentences, the most telling first: the share needing support
    in reading and math, the grade that changed most, movement since fall, the program
    with the clearest result, then behaviour and the rest by size."""
    k = config.privacy.min_cell_size
    candidates = [f for view in views for f in subject_findings(view, k)]
    candidates += program_findings(effectiveness, scope, config)
    candidates.sort(key=lambda c: -c[1])  # stable: subject order breaks ties
    picked: list[str] = []

    def take(kind: str, limit: int, skip_behavior: bool = False) -> None:
        for found_kind, _, text in candidates:
            if limit and found_kind == kind and text not in picked:
                if skip_behavior and text.startswith("Behavior"):
                    continue
                picked.append(text)
                limit -= 1

    take("overall", 2, skip_behavior=True)
    for kind in ("grade", "equity", "program", "movement"):
        take(kind, 1)
    take("overall", 1)
    for _, _, text in candidates:
        if text not in picked:
            picked.append(text)
    return picked[:5]


# --- programs ----------------------------------------------------------------------


def program_rows(effectiveness: pd.DataFrame | None, scope: str) -> pd.DataFrame | None:
    """Programs at ``scope`` (a school id or ``"district"``) with the effect the report
    shows: growth beyond similar students without intervention, in SD units, with its
    interval (``effect``, ``low``, ``high``), only where a comparison group exists
    (``has_comparison``); ``change``: the mean change since fall in points, which is
    never an effect."""
    if effectiveness is None:
        return None
    rows = effectiveness[effectiveness["scope"].astype(str) == str(scope)]
    if rows.empty:
        return rows.assign(
            effect=[], low=[], high=[], published=[], basis=[], change=[], has_comparison=[]
        )
    has = rows["effect_sd"].notna()
    if "has_comparison" in rows:
        has = has & rows["has_comparison"].fillna(False).astype(bool)
    published = ~rows["suppressed"].fillna(False).astype(bool)
    return (
        rows.assign(
            effect=rows["effect_sd"].where(has).astype(float),
            low=rows["effect_sd_ci_low"].where(has).astype(float),
            high=rows["effect_sd_ci_high"].where(has).astype(float),
            published=published,
            has_comparison=has,
            basis=np.where(has, "similar students who had no intervention", "no comparison group"),
            change=rows["mean_change"].astype(float),
            n=rows["n"].fillna(0).astype(int),
            n_compared=rows["n_compared"].fillna(0).astype(int),
        )
        .sort_values(["subject", "program"])
        .reset_index(drop=True)
    )


def program_display(rows: pd.DataFrame, config: DistrictConfig) -> pd.DataFrame:
    """The programs table: students, attendance, the change since fall (never called an
    effect), the students actually compared, the effect against similar students without
    intervention with its interval and size; a count below k shows n<k."""
    from pipeline.reports.programs import NOT_AN_EFFECT, magnitude_words

    k = config.privacy.min_cell_size

    def fmt(value: float, digits: int = 2, sign: bool = True) -> str:
        if pd.isna(value):
            return ""
        return f"{value:+.{digits}f}" if sign else f"{value * 100:.0f} %"

    published = rows["published"]
    small = privacy.small_text(k)
    has = rows["has_comparison"]
    return pd.DataFrame(
        {
            "Program": rows["program"],
            "Subject": rows["subject"].map(SUBJECT_TITLES),
            "Students": rows["n"].map(lambda n: str(n) if n >= k else small),
            "Attendance": [
                fmt(v, sign=False) if p else small
                for v, p in zip(rows["dosage_mean"], published, strict=True)
            ],
            "Change since fall (points)": [
                (
                    small
                    if not p
                    else ""
                    if pd.isna(c)
                    else fmt(c, 1) + ("" if h else f" ({NOT_AN_EFFECT})")
                )
                for c, p, h in zip(rows["change"], published, has, strict=True)
            ],
            "Students compared": [
                (str(n) if n >= k else small) if h else "none"
                for n, h in zip(rows["n_compared"], has, strict=True)
            ],
            "Effect (SD)": [
                (fmt(v) if h else "no comparison group") if p else small
                for v, p, h in zip(rows["effect"], published, has, strict=True)
            ],
            f"{confidence_level(config)} % interval": [
                f"{fmt(lo)} to {fmt(hi)}" if p and pd.notna(lo) else (small if not p else "")
                for lo, hi, p in zip(rows["low"], rows["high"], published, strict=True)
            ],
            "Size (Kraft 2020)": [
                magnitude_words(v, lo, hi, config) if p and h else ""
                for v, lo, hi, p, h in zip(
                    rows["effect"], rows["low"], rows["high"], published, has, strict=True
                )
            ],
        }
    )


# --- staffing --------------------------------------------------------------------------


def staffing(term: TermData, school_id: str) -> dict:
    """Groups, students served, capacity used and students not yet served, per subject:
    from the recommended groups when the process stage formed them, else from the
    intervention log."""
    k = term.k
    tiers = term.tiers[term.tiers["school_id"] == school_id]
    need = tiers[tiers["tier"].fillna(1) >= 2]
    served = _served(term, school_id, need)
    unserved = term.table("unserved")
    if unserved is not None:
        gap = unserved[unserved["school_id"].astype(str) == school_id]
    else:
        served_pairs = pd.MultiIndex.from_frame(served["rows"][["student_id", "subject"]])
        keys = pd.MultiIndex.from_frame(need[["student_id", "subject"]])
        gap = need[~keys.isin(served_pairs)]
    not_served = gap.groupby("subject").size()
    subjects = [s for s in SUBJECT_TITLES if s in set(need["subject"])]
    table = pd.DataFrame(
        {
            "Served": [int(served["per_subject"].get(s, 0)) for s in subjects],
            "Not yet served": [int(not_served.get(s, 0)) for s in subjects],
        },
        index=[SUBJECT_TITLES[s] for s in subjects],
    )
    return {
        "groups": served["groups"],
        "served": served["served"],
        "staff": served["staff"],
        "capacity": _capacity(term, school_id),
        "source": served["source"],
        "table": privacy.suppress(table, k) if not table.empty else None,
        "k": k,
    }


def _served(term: TermData, school_id: str, need: pd.DataFrame) -> dict:
    """The school's students in groups (``rows``), per subject, in all, and its groups
    and interventionists, with where they come from."""
    groups = term.table("groups")
    if groups is not None:
        mine = groups[groups["school_id"].astype(str) == school_id]
        return {
            "rows": mine,
            "per_subject": mine.groupby("subject")["size"].sum(),
            "served": int(mine["size"].sum()),
            "groups": len(mine),
            "staff": int(mine["interventionist"].dropna().nunique()),
            "source": "recommended groups",
        }
    mine = term.interventions.merge(term.students[["student_id", "school_id"]], on="student_id")
    mine = mine[(mine["school_id"] == school_id)].drop_duplicates(["student_id", "subject"])
    mine = mine.merge(need[["student_id", "subject"]], on=["student_id", "subject"])
    return {
        "rows": mine,
        "per_subject": mine.groupby("subject")["student_id"].nunique(),
        "served": len(mine),
        "groups": int(mine["group_id"].nunique()) if "group_id" in mine else 0,
        "staff": int(mine["interventionist"].nunique()) if "interventionist" in mine else 0,
        "source": "intervention log",
    }


def _capacity(term: TermData, school_id: str) -> str:
    """Groups given to the school's interventionists against their group capacity, as the
    process stage formed them (``staff_capacity``: from staff.csv, or the configured
    default staff when there is none); "not available" for a term processed without it."""
    capacity = term.table("staff_capacity")
    if capacity is None:
        return "not available"
    mine = capacity[capacity["school_id"].astype(str) == school_id]
    slots, used = int(mine["group_capacity"].sum()), int(mine["groups"].sum())
    if not slots:
        return "not available"
    source = str(mine["source"].iloc[0]).replace("grouping.default_staff", "default staff")
    return f"{used} of {slots} group slots ({used / slots:.0%}; {source})"


def staffing_display(info: dict) -> pd.DataFrame:
    result = info["table"]
    if result is None:
        return pd.DataFrame()
    shown = result.display().rename(index={TOTAL: "All subjects"})
    return shown.rename(columns={TOTAL: "Need support"}).reset_index(names="Subject")


# --- page pieces -----------------------------------------------------------------------


def headline_cards(views: list[SubjectView], staff: dict | None, k: int) -> list[tuple]:
    """(label, value) pairs for the row of headline numbers, all published values."""
    cards = []
    if views:
        screened = views[0].grades.value(TOTAL, TOTAL)
        cards.append(("students screened", screened if screened is not None else f"n<{k}"))
    for view in views:
        cards.append((f"need support in {view.subject}", view.grades.share_text(TOTAL, NEED)))
    if staff is not None:
        cards.append(("intervention groups", staff["groups"]))
        table = staff["table"]
        if table is not None:
            cards.append(("students in groups", table.display().loc[TOTAL, "Served"]))
            cards.append(("not yet served", table.display().loc[TOTAL, "Not yet served"]))
    return cards


def term_title(term: TermData) -> str:
    return f"{term.window.capitalize()} {term.school_year}"


def principal_methods(config: DistrictConfig) -> list[tuple[str, str]]:
    """The principal report's "How to read this report", with the interval level and the
    smallest published count of ``config``."""
    k = config.privacy.min_cell_size
    return [
        (
            "Tier 1, 2, 3",
            f"{TIER_LABELS[1]}: on track with regular classroom teaching. {TIER_LABELS[2]}: "
            f"below benchmark, gets small-group support a few times a week. {TIER_LABELS[3]}: "
            "well below benchmark, gets the most intensive, most frequent support.",
        ),
        (
            "Need support",
            "Students in Tier 2 or Tier 3 on this window's screening, as a share of the "
            "students screened in that subject.",
        ),
        ("Effect (SD)", programs.effect_words(config)),
        ("Change since fall", programs.change_words()),
        (
            f"n<{k} and hidden",
            f"Any number built from fewer than {k} students is shown as n<{k}, so no student "
            "can be singled out. A few other numbers are hidden so that a small group cannot "
            "be worked out by subtracting from a total.",
        ),
    ]
