"""Who needs support, counted: students per tier by grade, by subgroup, by school and
from fall to now, for one school or the whole district, with small cells suppressed
together (:mod:`pipeline.stats.privacy`), and the district context every principal
report shares (``district_context.parquet``, written once per term by the process stage).

Pure functions on DataFrames: no file is read or written here. "Known" rows are one
subject's tier rows with a tier (:func:`known_tiers`); every count table is built from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import SUBJECTS
from pipeline.rules.labels import grade_label
from pipeline.stats import privacy

TIER_COLUMNS = ["Tier 1", "Tier 2", "Tier 3"]
NEED = ["Tier 2", "Tier 3"]  # "needs support": Tier 2 (strategic) or Tier 3 (intensive)
TOTAL = privacy.TOTAL
# Subgroups of the equity view: roster column, label when true, label when false.
FLAGS = [
    ("ell", "English learners", "Not English learners"),
    ("iep", "Students with an IEP", "Students without an IEP"),
    ("econ_disadvantaged", "Economically disadvantaged", "Not economically disadvantaged"),
]
NOT_RECORDED = "Not recorded"
# What the count tables read of a tier row (a district's tier table is wide and long).
COUNT_COLUMNS = ["student_id", "school_id", "grade", "subject", "tier"]
CONTEXT_COLUMNS = ["subject", "kind", "row", "column", "value"]


def crosstab(index: pd.Series, columns: pd.Series) -> pd.DataFrame:
    """Counts of index x column values, sorted, pairs with a missing value left out, and
    only rows and columns that occur: what ``pd.crosstab`` gives, without its cost (the
    values are numbered once and the pairs counted with ``np.bincount``)."""
    rows, row_values = pd.factorize(index.to_numpy() if index.dtype == object else index, sort=True)
    cols, col_values = pd.factorize(columns, sort=True)
    both = (rows >= 0) & (cols >= 0)
    shape = (len(row_values), len(col_values))
    cell = np.ravel_multi_index((rows[both], cols[both]), shape)
    counts = np.bincount(cell, minlength=shape[0] * shape[1]).reshape(shape)
    seen_rows, seen_cols = counts.sum(axis=1) > 0, counts.sum(axis=0) > 0
    return pd.DataFrame(
        counts[seen_rows][:, seen_cols].astype("int64"),
        index=_labels(row_values[seen_rows]),
        columns=_labels(col_values[seen_cols]),
    )


def _labels(values) -> pd.Index:
    """Row or column labels as a groupby over NumPy values would give them."""
    values = np.asarray(values)
    return pd.Index(values.astype(object) if values.dtype.kind in "OUT" else values)


def known_tiers(tiers: pd.DataFrame, subject: str) -> pd.DataFrame:
    """One subject's rows with a tier, with the tier's column name (``Tier 1`` ...)."""
    columns = [c for c in COUNT_COLUMNS if c in tiers.columns]
    rows = tiers.loc[(tiers["subject"] == subject) & tiers["tier"].notna(), columns]
    codes = rows["tier"].to_numpy(dtype="int64", na_value=0)
    if len(codes) and codes.min() >= 1 and codes.max() <= len(TIER_COLUMNS):
        return rows.assign(tier_name=np.array(TIER_COLUMNS, dtype=object)[codes - 1])
    return rows.assign(tier_name="Tier " + rows["tier"].astype(int).astype(str))


def tier_counts(known: pd.DataFrame, by: str) -> pd.DataFrame:
    """Students per ``by`` value x tier (columns Tier 1..3) of one subject's known rows."""
    table = crosstab(known[by], known["tier_name"]).reindex(columns=TIER_COLUMNS, fill_value=0)
    table.columns.name = None
    return table.astype("int64")


def grade_counts(known: pd.DataFrame) -> pd.DataFrame:
    """Students per grade ("Grade K", "Grade 1" ...) x tier."""
    table = tier_counts(known, "grade").sort_index()
    table.index = [f"Grade {grade_label(g)}" for g in table.index]
    return table


def school_names(students: pd.DataFrame) -> pd.DataFrame:
    """Each school's id and name, by id."""
    return (
        students[["school_id", "school_name"]]
        .drop_duplicates("school_id")
        .sort_values("school_id")
        .reset_index(drop=True)
    )


def school_tier_counts(known: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """Schools (by name) x tier: the district report's side-by-side table."""
    names = school_names(students).set_index("school_id")["school_name"]
    counts = tier_counts(known, "school_id")
    counts.index = [names.get(i, i) for i in counts.index]
    return counts


def subgroup_tables(known: pd.DataFrame, students: pd.DataFrame) -> list[pd.DataFrame]:
    """One count table per subgroup variable (English learners, IEP, economically
    disadvantaged, race/ethnicity), each over every student with a tier, so they share
    their column totals (the tier counts); students without a value are "Not recorded"."""
    known = known[["student_id", "tier_name"]]
    roster = roster_rows(students, known["student_id"])
    out = []
    for column, yes, no in FLAGS:
        if column not in roster:
            continue
        value = roster[column].astype("boolean")
        codes = np.where(value.isna().to_numpy(), 2, np.where(value.fillna(False), 0, 1))
        label = pd.Categorical.from_codes(codes, [yes, no, NOT_RECORDED])
        out.append(_count_by(label, known["tier_name"], [yes, no, NOT_RECORDED]))
    if "race_ethnicity" in roster:
        codes, values = pd.factorize(roster["race_ethnicity"])
        names = [str(v) for v in values]
        missing = names.index(NOT_RECORDED) if NOT_RECORDED in names else len(names)
        label = pd.Categorical.from_codes(
            np.where(codes < 0, missing, codes),
            names if missing < len(names) else [*names, NOT_RECORDED],
        )
        order = sorted(set(names) - {NOT_RECORDED}) + [NOT_RECORDED]
        out.append(_count_by(label, known["tier_name"], order))
    return out


def roster_rows(students: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """The subgroup columns of each id's roster line (missing when not on the roster), in
    the order of ``ids``: a left join, by position when the roster's ids are unique."""
    wanted = ["student_id", *(f for f, _, _ in FLAGS), "race_ethnicity"]
    roster = students[[c for c in wanted if c in students.columns]]
    key = pd.Index(roster["student_id"])
    if not key.is_unique:
        return ids.to_frame().merge(roster, on="student_id", how="left")
    text = isinstance(ids.dtype, pd.StringDtype) and isinstance(key.dtype, pd.StringDtype)
    if key.equals(pd.Index(ids)):
        at = np.arange(len(key))
    elif text:
        at = fast.positions_in(ids, roster["student_id"])
    else:
        at = key.get_indexer(ids)
    found = at >= 0
    if found.all():
        return roster.take(at).reset_index(drop=True)
    rows = roster.take(np.where(found, at, 0)).reset_index(drop=True)
    rows.loc[~found, list(rows.columns)] = None
    return rows


def _count_by(groups, tier_names: pd.Series, order: list[str]) -> pd.DataFrame:
    table = crosstab(pd.Series(groups), tier_names).reindex(columns=TIER_COLUMNS, fill_value=0)
    table = table.reindex([g for g in order if g in table.index])
    table.columns.name = None
    table.index.name = None
    return table.astype("int64")


def movement_counts(fall_known: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """Students screened in both windows: fall tier (rows) x current tier (columns)."""
    a = fall_known[["student_id", "tier_name"]]
    b = known[["student_id", "tier_name"]]
    both = a.merge(b, on="student_id", suffixes=("_fall", "_now"))
    table = crosstab(both["tier_name_fall"], both["tier_name_now"])
    table = table.reindex(index=TIER_COLUMNS, columns=TIER_COLUMNS, fill_value=0)
    table.index = [f"{t} in fall" for t in TIER_COLUMNS]
    table.columns = [f"{t} now" for t in TIER_COLUMNS]
    return table.astype("int64")


@dataclass(frozen=True)
class SubjectCounts:
    """One subject's count tables for a school or the district, suppressed together."""

    grades: privacy.Suppressed
    subgroups: list[privacy.Suppressed]
    fall_grades: privacy.Suppressed | None
    movement: privacy.Suppressed | None
    schools: privacy.Suppressed | None  # the district's schools x tier


def subject_counts(
    tiers: pd.DataFrame,
    students: pd.DataFrame,
    subject: str,
    min_cell_size: int,
    fall_tiers: pd.DataFrame | None = None,
    by_school: bool = False,
    hidden_totals: pd.Series | None = None,
) -> SubjectCounts | None:
    """Every count table of one subject (``None`` when no student has a tier in it), with
    every table that shares the tier totals (by grade, by subgroup, by school when
    ``by_school``, fall-to-now movement) suppressed together, so a total hidden in one is
    hidden in all; ``hidden_totals`` are totals another report hides (the district's)."""
    known = known_tiers(tiers, subject)
    if known.empty:
        return None
    grades = grade_counts(known)
    subgroups = subgroup_tables(known, students)
    tables = [grades, *subgroups]
    if by_school:
        tables.append(school_tier_counts(known, students))
    fall_grades = moves = None
    fall_known = None if fall_tiers is None else known_tiers(fall_tiers, subject)
    if fall_known is not None and not fall_known.empty:
        fall_grades = privacy.suppress(grade_counts(fall_known), min_cell_size)
        moves = movement_counts(fall_known, known)
    # When everyone was screened in both windows, the movement table's column totals are
    # the tier counts of today: suppress it with the others so the totals agree.
    same_totals = moves is not None and np.array_equal(moves.sum().to_numpy(), grades.sum())
    if same_totals:
        tables.append(moves.set_axis(TIER_COLUMNS, axis=1))
    linked = privacy.suppress_linked(tables, min_cell_size, force_total_row=hidden_totals)
    movement = None
    if same_totals:
        movement = _renamed(linked.pop(), [*moves.columns, TOTAL])
    elif moves is not None:
        movement = privacy.suppress(moves, min_cell_size)
    schools = linked.pop() if by_school else None
    return SubjectCounts(linked[0], linked[1:], fall_grades, movement, schools)


def _renamed(result: privacy.Suppressed, columns: list[str]) -> privacy.Suppressed:
    """A suppressed table with new column names (the movement table suppressed under the
    tier columns it shares with the others)."""
    frames = (result.counts, result.primary, result.complementary)
    return privacy.Suppressed(*(f.set_axis(columns, axis=1) for f in frames), result.min_cell_size)


def district_context_table(
    students: pd.DataFrame,
    tiers: pd.DataFrame,
    min_cell_size: int,
    subjects: tuple[str, ...] | list[str] = SUBJECTS,
) -> pd.DataFrame:
    """What every principal report takes from the district (``CONTEXT_COLUMNS``): the
    district's share needing support per grade row (``kind="share"``, the total row
    included) and which cells of each school's row the district's by-school table hides
    (``kind="hidden"``, by school name), so a school report hides them too."""
    rows = []
    for subject in subjects:
        counts = subject_counts(tiers, students, subject, min_cell_size, by_school=True)
        if counts is None:
            continue
        result = counts.grades
        for row in result.counts.index:
            share = result.share(row, NEED)
            if share is not None:
                rows.append((subject, "share", str(row), "", float(share)))
        for school, flags in counts.schools.hidden.iterrows():
            rows.extend(
                (subject, "hidden", str(school), str(column), float(bool(flag)))
                for column, flag in flags.items()
            )
    return pd.DataFrame(rows, columns=CONTEXT_COLUMNS)


def context_for_school(
    context: pd.DataFrame, subject: str, school_name: str
) -> tuple[dict[str, float], float | None, pd.Series | None]:
    """One subject's district context for one school, from :func:`district_context_table`:
    the district's share needing support per grade row, overall, and which of the school's
    tier totals the district hides (``None`` when it has none in this subject)."""
    rows = context[context["subject"] == subject]
    shares = rows[rows["kind"] == "share"]
    by_row = dict(zip(shares["row"], shares["value"], strict=True))
    overall = by_row.pop(TOTAL, None)
    mine = rows[(rows["kind"] == "hidden") & (rows["row"] == school_name)]
    hidden = None
    if len(mine):
        flags = mine["value"].astype(bool).to_numpy()
        hidden = pd.Series(flags, index=list(mine["column"]), name=school_name)
    return by_row, overall, hidden
