"""What the specialist report shows for one school: who needs support and why, the
tiers by grade, the recommended groups and who is not yet placed, the team's overrides,
and the programs' effectiveness; with the sentences that explain the rules, built from
the config the numbers were computed with. Progress monitoring is in
:mod:`pipeline.reports.monitoring`.

Views are pure: a school's tables in (:mod:`pipeline.reports.data`), display tables out.
This report names students: it stays with the school's staff.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig, load_config
from pipeline.reports import monitoring, programs
from pipeline.reports.data import GroupingData, MonitoringData, SchoolData, from_root
from pipeline.reports.words import SUBJECT_TITLES, confidence_level
from pipeline.rules.labels import TIER_LABELS, focus_label, grade_label
from pipeline.stats.district import crosstab

# "DIBELS 8 composite 396 is below 406", "percentile 12 is at or above 10 and below 25"
_BELOW = re.compile(
    r"(?P<what>[A-Za-z][\w\-]*(?: [A-Za-z][\w\-]*){0,2}) (?P<score>-?\d+(?:\.\d+)?)(?: [a-z]+)? "
    r"is (?:at or above -?[\d.]+ and )?below (?P<cut>-?\d+(?:\.\d+)?)"
)
_TERM = re.compile(r"grade (?P<grade>\w+) (?P<window>fall|winter|spring)")
_LEVEL = re.compile(r"(?P<level>Well Below|Below) Benchmark \(Tier")


def short_reason(reason: object) -> str:
    """A tier's reason as a short phrase for a one-line table: "The composite decides
    (composite first): DIBELS 8 composite 396 is below 406, the grade K spring cut for
    Below Benchmark: Well Below Benchmark (Tier 3)" -> "Composite 396 < 406: K spring, Well
    Below". The full sentence stays beside it, on demand."""
    if not isinstance(reason, str) or not reason:
        return ""
    if reason.startswith("Team override"):
        return "Team override"
    below = _BELOW.search(reason.split(" (computed")[0])
    if below is None:
        return reason.split(":")[0][:48]
    what = below["what"]
    phrase = f"{what[:1].upper()}{what[1:]} {below['score']} < {below['cut']}"
    term, level = _TERM.search(reason), _LEVEL.search(reason)
    details = [f"{term['grade']} {term['window']}"] if term else []
    details += [level["level"]] if level else []
    return phrase + (": " + ", ".join(details) if details else "")


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
        "Focus": need["focus"].map(focus_label),
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


def summary_cards(
    school: SchoolData, grouping: GroupingData, monitoring: MonitoringData
) -> list[tuple[str, object]]:
    """The report's opening numbers: students screened, the share needing support per
    subject, groups (when formed), and students whose progress data say to change the
    intervention (when the term has progress decisions)."""
    known = school.tiers.dropna(subset=["tier"])
    cards: list[tuple[str, object]] = [("students screened", known["student_id"].nunique())]
    for subject in [s for s in SUBJECT_TITLES if s in set(known["subject"])]:
        rows = known[known["subject"] == subject]
        need = int((rows["tier"] >= 2).sum())
        share = f"{need / len(rows) * 100:.0f} %"
        cards.append((f"need support in {subject} ({need} students)", share))
    if grouping.formed:
        cards.append(("intervention groups", len(grouping.groups)))
    if monitoring.decided:
        d = monitoring.decisions
        change = d.loc[d["decision"] == "change_intervention", "student_id"].nunique()
        cards.append(("students needing a change", int(change)))
    return cards


def tiers_by_grade_table(tiers: pd.DataFrame) -> pd.DataFrame:
    """Per grade: students in Tier 1 / 2 / 3 for each subject (specialist report)."""
    known = tiers.dropna(subset=["tier"])
    if known.empty:
        return pd.DataFrame()
    out = pd.DataFrame(index=sorted(known["grade"].unique()))
    for subject in [s for s in SUBJECT_TITLES if s in set(known["subject"])]:
        rows = known[known["subject"] == subject]
        table = crosstab(rows["grade"], rows["tier"].astype(int)).reindex(
            index=out.index, columns=[1, 2, 3], fill_value=0
        )
        need = (table[2] + table[3]) / table.sum(axis=1).replace(0, np.nan) * 100
        out[f"{SUBJECT_TITLES[subject]}: Tier 1 / 2 / 3"] = [
            f"{a} / {b} / {c}" for a, b, c in zip(table[1], table[2], table[3], strict=True)
        ]
        out[f"{SUBJECT_TITLES[subject]}: need support"] = need.map(
            lambda v: "" if pd.isna(v) else f"{v:.0f} %"
        )
    out.insert(0, "Grade", [grade_label(g) for g in out.index])
    return out.reset_index(drop=True)


def _names(school: SchoolData) -> dict[str, str]:
    s = school.students
    return dict(zip(s["student_id"], s["last_name"] + ", " + s["first_name"], strict=True))


def _focus_label(focus: pd.Series) -> pd.Series:
    return focus.map(focus_label)


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
    """The groups of one subject: running ones first (their program), then the new ones
    recommended; members, grades, focus, score range, who."""
    g = grouping.groups
    if "status" not in g:  # a term processed before running groups were kept
        g = g.assign(status="new", program="")
    g = g[g["subject"] == subject].assign(_new=lambda d: d["status"] != "continuing")
    g = g.sort_values(
        ["_new", "tier", "focus", "grade_min", "group_id"],
        ascending=[True, False, True, True, True],
    )
    names = _names(school)
    return pd.DataFrame(
        {
            "Status": g["program"].astype(str).radd("Running: ").where(~g["_new"], "New"),
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


def program_effectiveness_table(monitoring: MonitoringData, school: SchoolData) -> pd.DataFrame:
    """The school's programs and the same programs district-wide."""
    from pipeline.reports.programs import summary_table

    # load_school always sets the config; a hand-built SchoolData may not.
    config = school.config if school.config is not None else load_config(from_root("config"))
    return summary_table(monitoring.effectiveness, config, {school.school_id: "This school"})


def effectiveness_lead(config: DistrictConfig) -> str:
    """The lead of the "Is it working?" section: what is an effect and what is not."""
    from pipeline.reports.programs import COMPARED_WITH, NOT_AN_EFFECT

    level = confidence_level(config)
    return (
        "Per program, this school and the district: students served, sessions attended, the "
        "change since fall on the screening measure, and the effect: growth beyond students at "
        f"the same fall level, {COMPARED_WITH}, in points and in standard deviations with its "
        f"{level}% interval and the number of students actually compared. The change since "
        "fall includes the growth every student makes over a term, so where no comparison "
        f'group exists it reads "{NOT_AN_EFFECT}". Statistics built from fewer students than '
        'the district minimum read "n too small".'
    )


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


# --- the rules in words, from the config the tables were computed with -------------------


def groups_lead(config: DistrictConfig) -> str:
    """The lead of the groups section, with the configured group sizes per tier."""
    sizes = config.grouping.sizes
    rules = ", ".join(f"Tier {t}: {sizes[t].min}-{sizes[t].max}" for t in sorted(sizes))
    return (
        "Each group shares a subject, a tier, a skill focus and a grade band; sizes follow the "
        f"district's rules ({rules}) and no interventionist is given more groups or students "
        "than their capacity. Within a group the score range is kept small."
    )


def specialist_methods(config: DistrictConfig) -> list[tuple[str, str]]:
    """The specialist report's "How to read this report": tiers, aimlines, decisions and
    effect sizes, with the progress rules and interval level of ``config``."""
    return [
        (
            "Tier",
            "How much support a student needs in a subject, from this window's screening. "
            f"{TIER_LABELS[1]}: on track with classroom teaching. {TIER_LABELS[2]}: below "
            f"benchmark, small-group help a few times a week. {TIER_LABELS[3]}: well below "
            "benchmark, the most frequent, smallest-group help. Each tier comes with the rule "
            "and score behind it.",
        ),
        (
            "Percentile and benchmark",
            "A percentile of 20 means the student scored as well as or better than 20 of 100 "
            "students of the same grade nationally. A benchmark is the score a student needs "
            "to be on track for the end of the year.",
        ),
        (
            "Skill focus",
            "The lowest rung of the reading ladder where the student is at risk: phonemic "
            "awareness, then phonics, then fluency, then comprehension. Teach that rung first.",
        ),
        ("Aimline", monitoring.aimline_words(config)),
        (
            "Rate of improvement (ROI)",
            "How many points a student gains per week: the slope of the trend line through "
            "the probes. It is compared with the aimline's slope and with typical growth.",
        ),
        ("Decision", monitoring.decision_words(config)),
        ("Effect (SD)", programs.effect_words(config)),
        ("Change since fall", programs.change_words()),
    ]


# --- the report as a team meets: action first, students by grade and homeroom ----------

NO_HOMEROOM = "No homeroom on the roster"


def student_href(student_id: str) -> str:
    """The student's page in students.html, beside this report."""
    return f"students.html#student-{student_id}"


def support_rows(school: SchoolData) -> pd.DataFrame:
    """One line per student x subject needing support, with the short reason and the
    full sentence, the focus and why; in grade, homeroom, name order."""
    cols = ["student_id", "first_name", "last_name", "homeroom"]
    need = school.tiers[school.tiers["tier"].fillna(1) >= 2].merge(
        school.students[cols], on="student_id"
    )
    need = need.assign(homeroom=need["homeroom"].fillna(NO_HOMEROOM)).sort_values(
        ["grade", "homeroom", "last_name", "first_name", "subject"]
    )
    focus = need.get("focus", pd.Series("", index=need.index))
    focus_reason = need.get("focus_reason", pd.Series("", index=need.index))
    override = need.get("override", pd.Series(False, index=need.index)).fillna(False)
    return pd.DataFrame(
        {
            "grade": need["grade"].to_numpy(),
            "homeroom": need["homeroom"].to_numpy(),
            "Student": (need["last_name"] + ", " + need["first_name"]).to_numpy(),
            "href": need["student_id"].map(student_href).to_numpy(),
            "ID": need["student_id"].to_numpy(),
            "Subject": need["subject"].map(SUBJECT_TITLES).to_numpy(),
            "Tier": need["tier"].astype(int).to_numpy(),
            "Score": need["score"].map(lambda v: f"{v:g}").to_numpy(),
            "Why": need["reason"].map(short_reason).to_numpy(),
            "reason": need["reason"].fillna("").to_numpy(),
            "Focus": _focus_label(focus.fillna("")).replace("", "").to_numpy(),
            "focus_reason": focus_reason.fillna("").to_numpy(),
            "Override": override.map(lambda v: "yes" if v is True else "").to_numpy(),
        }
    )


def class_summary(rows: pd.DataFrame, class_size: int) -> str:
    """One homeroom in a sentence: how many need support, per subject, and Tier 3."""
    students = rows["ID"].nunique()
    per_subject = rows.groupby("Subject")["ID"].nunique()
    subjects = ", ".join(f"{s.lower()} {n}" for s, n in per_subject.items())
    tier3 = rows.loc[rows["Tier"] == 3, "ID"].nunique()
    return (
        f"{students} of {class_size} students need support ({subjects}); "
        f"{tier3} in Tier 3 in at least one subject."
    )


def support_by_class(school: SchoolData) -> list[dict]:
    """The support list as a team meets: per grade, per homeroom, a class summary and one
    line per student x subject."""
    rows = support_rows(school)
    roster = school.students.assign(homeroom=school.students["homeroom"].fillna(NO_HOMEROOM))
    sizes = roster.groupby(["grade", "homeroom"]).size()
    grades = []
    for grade, in_grade in rows.groupby("grade", sort=True):
        classes = [
            {
                "homeroom": homeroom,
                "summary": class_summary(in_class, int(sizes.get((grade, homeroom), 0))),
                "rows": in_class.drop(columns=["grade", "homeroom"]),
            }
            for homeroom, in_class in in_grade.groupby("homeroom", sort=True)
        ]
        grades.append(
            {
                "grade": grade_label(grade),
                "students": in_grade["ID"].nunique(),
                "tier3": in_grade.loc[in_grade["Tier"] == 3, "ID"].nunique(),
                "classes": classes,
            }
        )
    return grades


def tier3_unserved(grouping: GroupingData, school: SchoolData) -> pd.DataFrame:
    """Tier 3 students not yet served: no group this term and no running program."""
    u = grouping.unserved
    if u.empty:
        return pd.DataFrame()
    table = unserved_table(grouping, school)
    table = table[table["Tier"] == 3]
    why = table["Why not placed"]
    return table.assign(
        href=table["ID"].map(student_href),
        why_short=why.str.split(" (", n=1, regex=False).str[0],
    ).rename(columns={"Why not placed": "why_full", "why_short": "Why not placed"})


def new_groups_summary(grouping: GroupingData) -> pd.DataFrame:
    """The groups to start, per subject and tier (continuing groups, when the groups
    table says which are running, are not new)."""
    g = grouping.groups
    if g.empty:
        return pd.DataFrame()
    if "status" in g.columns:
        g = g[g["status"] != "continuing"]
    table = g.groupby(["subject", "tier"]).agg(
        groups=("group_id", "size"), students=("size", "sum")
    )
    table = table.reset_index().sort_values(["subject", "tier"], ascending=[True, False])
    return pd.DataFrame(
        {
            "Subject": table["subject"].map(SUBJECT_TITLES).to_numpy(),
            "Tier": table["tier"].astype(int).to_numpy(),
            "Groups to start": table["groups"].to_numpy(),
            "Students": table["students"].to_numpy(),
        }
    )
