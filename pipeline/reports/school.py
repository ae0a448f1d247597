"""What the principal and district reports show, computed: school-level counts with
small cells suppressed (:mod:`pipeline.stats.privacy`), the key-finding sentences, and the
figures drawn only from published numbers.

Nothing here names a student: every table is a count, and every count goes through
:func:`pipeline.stats.privacy.suppress` before it reaches a page, a figure or a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline import fast  # noqa: E402
from pipeline.config import DistrictConfig, load_config  # noqa: E402
from pipeline.reports.specialist import (  # noqa: E402
    SUBJECT_TITLES,
    TIER_COLORS,
    from_root,
    grade_label,
    resolve_term,
)
from pipeline.stages import store  # noqa: E402
from pipeline.stats import privacy

TIER_COLUMNS = ["Tier 1", "Tier 2", "Tier 3"]
NEED = ["Tier 2", "Tier 3"]
TOTAL = privacy.TOTAL
DISTRICT_COLOR = "#000000"
# Programs: a clear result (interval not crossing 0) vs an unclear one; not tier colours.
CLEAR_COLOR, UNCLEAR_COLOR = "#0072B2", "#8C8C8C"
# Subgroups of the equity view: column, label when true, label when false.
FLAGS = [
    ("ell", "English learners", "Not English learners"),
    ("iep", "Students with an IEP", "Students without an IEP"),
    ("econ_disadvantaged", "Economically disadvantaged", "Not economically disadvantaged"),
]
NOT_RECORDED = "Not recorded"
OPTIONAL_TABLES = (
    "groups",
    "unserved",
    "effectiveness",
    "progress_decisions",
    "quarantine",
    "ledger",
    "district_context",
)


@dataclass
class TermData:
    """A term's processed tables for the whole district (the district report reads them
    all; the principal report reads one school's rows and the district's counts)."""

    school_year: str
    window: str
    config: DistrictConfig
    students: pd.DataFrame
    tiers: pd.DataFrame
    fall_tiers: pd.DataFrame | None
    interventions: pd.DataFrame
    optional: dict[str, pd.DataFrame | None] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.config.privacy.min_cell_size

    def table(self, name: str) -> pd.DataFrame | None:
        return self.optional.get(name)

    def schools(self) -> pd.DataFrame:
        return (
            self.students[["school_id", "school_name"]]
            .drop_duplicates("school_id")
            .sort_values("school_id")
            .reset_index(drop=True)
        )


def _read_optional(processed: Path, year: str, window: str, name: str) -> pd.DataFrame | None:
    path = store.term_dir(processed, year, window) / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def load_term(
    processed_dir: str | Path,
    school_year: str,
    window: str,
    config_dir: str | Path = "config",
    fall_for: str | None = None,
) -> TermData:
    """Read a term's processed tables; tables a stage has not written are ``None``.

    Fall tiers (for the change since fall) are the ones the process stage compared with
    (``fall_tiers.parquet``); for school ``fall_for`` only when given (a principal report
    needs no other school's fall), else for the district."""
    processed, config_dir = from_root(processed_dir), from_root(config_dir)
    year, term_window = resolve_term(processed, school_year, window)
    config = load_config(config_dir)
    students = store.read_table(processed, year, term_window, "students")
    tiers = store.read_table(processed, year, term_window, "tiers")
    fall = (
        tiers
        if term_window == "fall"
        else _read_optional(processed, year, term_window, "fall_tiers")
    )
    if fall is not None and fall_for is not None:
        fall = fall[fall["school_id"] == fall_for]
    fall = None if fall is None or fall.empty else fall
    interventions = store.read_table(processed, year, term_window, "interventions")
    optional = {n: _read_optional(processed, year, term_window, n) for n in OPTIONAL_TABLES}
    return TermData(year, term_window, config, students, tiers, fall, interventions, optional)


# --- count tables -------------------------------------------------------------------


def _crosstab(index: pd.Series, columns: pd.Series) -> pd.DataFrame:
    """Counts of index x column values, sorted, pairs with a missing value left out, and
    only rows and columns that occur (what ``pd.crosstab`` gives, without its cost): the
    values are numbered once and counted with ``np.bincount``."""
    rows, row_values = pd.factorize(index.to_numpy() if index.dtype == object else index, sort=True)
    cols, col_values = pd.factorize(columns, sort=True)
    both = (rows >= 0) & (cols >= 0)
    counts = np.bincount(
        rows[both].astype("int64") * len(col_values) + cols[both],
        minlength=len(row_values) * len(col_values),
    ).reshape(len(row_values), len(col_values))
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


# What the count tables read of a tier row (a district's tier table is wide and long).
COUNT_COLUMNS = ["student_id", "school_id", "grade", "subject", "tier"]
TIER_NAMES = np.array(TIER_COLUMNS, dtype=object)


def _known(tiers: pd.DataFrame, subject: str) -> pd.DataFrame:
    """One subject's rows with a tier, with the tier's column name (``Tier 1`` ...)."""
    columns = [c for c in COUNT_COLUMNS if c in tiers.columns]
    rows = tiers.loc[(tiers["subject"] == subject) & tiers["tier"].notna(), columns]
    codes = rows["tier"].to_numpy(dtype="int64", na_value=0)
    if len(codes) and codes.min() >= 1 and codes.max() <= len(TIER_NAMES):
        return rows.assign(tier_name=TIER_NAMES[codes - 1])
    return rows.assign(tier_name="Tier " + rows["tier"].astype(int).astype(str))


def tier_counts(tiers: pd.DataFrame, subject: str, by: str) -> pd.DataFrame:
    """Students per ``by`` value x tier (columns Tier 1..3) for one subject."""
    return _tier_counts(_known(tiers, subject), by)


def _tier_counts(known: pd.DataFrame, by: str) -> pd.DataFrame:
    """:func:`tier_counts` of one subject's :func:`_known` rows."""
    table = _crosstab(known[by], known["tier_name"]).reindex(columns=TIER_COLUMNS, fill_value=0)
    table.columns.name = None
    return table.astype("int64")


def grade_counts(tiers: pd.DataFrame, subject: str) -> pd.DataFrame:
    return _grade_counts(_known(tiers, subject))


def _grade_counts(known: pd.DataFrame) -> pd.DataFrame:
    """:func:`grade_counts` of one subject's :func:`_known` rows."""
    table = _tier_counts(known, "grade").sort_index()
    table.index = [f"Grade {grade_label(g)}" for g in table.index]
    return table


def subgroup_tables(tiers: pd.DataFrame, students: pd.DataFrame, subject: str) -> list:
    """One count table per subgroup variable, each over every student with a tier, so
    they share their column totals (the school's tier counts)."""
    return _subgroup_tables(_known(tiers, subject), students)


def _subgroup_tables(known: pd.DataFrame, students: pd.DataFrame) -> list:
    """:func:`subgroup_tables` of one subject's :func:`_known` rows."""
    known = known[["student_id", "tier_name"]]
    roster = _roster_rows(students, known["student_id"])
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


def _roster_rows(students: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
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
    table = _crosstab(pd.Series(groups), tier_names).reindex(columns=TIER_COLUMNS, fill_value=0)
    present = [g for g in order if g in table.index]
    table = table.reindex(present)
    table.columns.name = None
    table.index.name = None
    return table.astype("int64")


def movement_counts(fall: pd.DataFrame, current: pd.DataFrame, subject: str) -> pd.DataFrame:
    """Students screened in both windows: fall tier (rows) x current tier (columns)."""
    a = _known(fall, subject)[["student_id", "tier_name"]]
    b = _known(current, subject)[["student_id", "tier_name"]]
    both = a.merge(b, on="student_id", suffixes=("_fall", "_now"))
    table = _crosstab(both["tier_name_fall"], both["tier_name_now"])
    table = table.reindex(index=TIER_COLUMNS, columns=TIER_COLUMNS, fill_value=0)
    table.index = [f"{t} in fall" for t in TIER_COLUMNS]
    table.columns = [f"{t} now" for t in TIER_COLUMNS]
    return table.astype("int64")


# --- display ---------------------------------------------------------------------


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
    shown = result.display().rename(columns={TOTAL: "Students"}, index={TOTAL: "All students"})
    shown.index = ["All students" if i == TOTAL else i for i in result.counts.index]
    return shown.reset_index(names="Fall level")


def suppression_note(k: int) -> str:
    return (
        f"n<{k}: fewer than {k} students, not shown to protect their privacy. hidden: not "
        f"shown so that a group of fewer than {k} students cannot be worked out from the "
        "totals."
    )


# --- school view -----------------------------------------------------------------


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


def _district_context(
    term: TermData, subject: str, school_id: str
) -> tuple[dict, float | None, pd.Series | None]:
    """What the district report shows that a principal report must agree with: the
    district's share needing support per grade, and which of this school's tier totals
    the district's by-school table hides (the principal report hides them too)."""
    name = school_name(term, school_id)
    table = term.table("district_context")
    if table is not None:  # precomputed once per term by the process stage
        return _context_from_table(table[table["subject"] == subject], name)
    district = subject_view(term, None, subject, with_fall=False)
    result = district.grades
    shares = {row: result.share(row, NEED) for row in result.counts.index if row != TOTAL}
    hidden = None
    if district.schools is not None and name in district.schools.hidden.index:
        hidden = district.schools.hidden.loc[name]
    shares = {r: v for r, v in shares.items() if v is not None}
    return shares, result.share(TOTAL, NEED), hidden


CONTEXT_COLUMNS = ["subject", "kind", "row", "column", "value"]


def district_context_table(term: TermData) -> pd.DataFrame:
    """What every principal report takes from the district, computed once per term (the
    process stage writes it as ``district_context.parquet``) instead of once per report:
    the district's share needing support per grade row (``kind="share"``, the total row
    included) and which cells of each school's row the district's by-school table hides
    (``kind="hidden"``, by school name)."""
    rows = []
    for subject in SUBJECT_TITLES:
        district = subject_view(term, None, subject, with_fall=False)
        if district is None:
            continue
        result = district.grades
        for row in result.counts.index:
            share = result.share(row, NEED)
            if share is not None:
                rows.append((subject, "share", str(row), "", float(share)))
        if district.schools is not None:
            hidden = district.schools.hidden
            for school, flags in hidden.iterrows():
                rows.extend(
                    (subject, "hidden", str(school), str(column), float(bool(flag)))
                    for column, flag in flags.items()
                )
    return pd.DataFrame(rows, columns=CONTEXT_COLUMNS)


def _context_from_table(
    rows: pd.DataFrame, name: str
) -> tuple[dict, float | None, pd.Series | None]:
    shares = rows[rows["kind"] == "share"]
    by_row = dict(zip(shares["row"], shares["value"], strict=True))
    overall = by_row.pop(TOTAL, None)
    mine = rows[(rows["kind"] == "hidden") & (rows["row"] == name)]
    hidden = (
        pd.Series(mine["value"].astype(bool).to_numpy(), index=list(mine["column"]), name=name)
        if len(mine)
        else None
    )
    return by_row, overall, hidden


def school_tier_counts(term: TermData, subject: str) -> pd.DataFrame:
    """Schools (by name) x tier for one subject: the district report's side-by-side table."""
    return _school_tier_counts(term, _known(term.tiers, subject))


def _school_tier_counts(term: TermData, known: pd.DataFrame) -> pd.DataFrame:
    """:func:`school_tier_counts` of one subject's :func:`_known` rows of ``term.tiers``."""
    names = term.schools().set_index("school_id")["school_name"]
    counts = _tier_counts(known, "school_id")
    counts.index = [names.get(i, i) for i in counts.index]
    return counts


def subject_view(
    term: TermData, school_id: str | None, subject: str, with_fall: bool = True
) -> SubjectView | None:
    """Everything a report shows for one subject, suppressed: for one school, or for the
    whole district when ``school_id`` is ``None``. Every table that shares the subject's
    tier totals (by grade, by subgroup, by school, fall-to-now movement) is suppressed
    together, so a total hidden in one is hidden in all."""
    k = term.k

    def only(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if school_id is None else frame[frame["school_id"] == school_id]

    mine = only(term.tiers)
    known = _known(mine, subject)  # once: the count tables below share these rows
    if known.empty:
        return None
    grades = _grade_counts(known)
    subgroups = _subgroup_tables(known, only(term.students))
    tables = [grades, *subgroups]
    if school_id is None:
        tables.append(_school_tier_counts(term, known))
    moves = fall_grades = movement = None
    if with_fall and term.fall_tiers is not None and term.window != "fall":
        fall_mine = only(term.fall_tiers)
        fall_known = _known(fall_mine, subject)
        if not fall_known.empty:
            fall_grades = privacy.suppress(_grade_counts(fall_known), k)
            moves = movement_counts(fall_mine, mine, subject)
    # When everyone was screened in both windows, the movement table's column totals are
    # the tier counts of today: suppress it with the others so the totals agree.
    same_totals = moves is not None and np.array_equal(moves.sum().to_numpy(), grades.sum())
    if same_totals:
        tables.append(moves.set_axis(TIER_COLUMNS, axis=1))
    district_share, district_overall, force = ({}, None, None)
    if school_id is not None:
        district_share, district_overall, force = _district_context(term, subject, school_id)
    linked = privacy.suppress_linked(tables, k, force_total_row=force)
    if same_totals:
        *linked, shared = linked
        movement = privacy.Suppressed(
            *(
                frame.set_axis([*moves.columns, TOTAL], axis=1)
                for frame in (shared.counts, shared.primary, shared.complementary)
            ),
            k,
        )
    elif moves is not None:
        movement = privacy.suppress(moves, k)
    return SubjectView(
        subject,
        linked[0],
        linked[1 : 1 + len(subgroups)],
        district_share,
        district_overall,
        fall_grades,
        movement,
        schools=linked[1 + len(subgroups)] if school_id is None else None,
    )


def school_views(term: TermData, school_id: str | None) -> list[SubjectView]:
    views = [subject_view(term, school_id, s) for s in SUBJECT_TITLES]
    return [v for v in views if v is not None]


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


def subject_findings(view: SubjectView, k: int) -> list[tuple[str, float, str]]:
    """(kind, weight, sentence) candidates for one subject, from published numbers only."""
    found: list[tuple[str, float, str]] = []
    overall = view.grades.share(TOTAL, NEED)
    screened = view.grades.value(TOTAL, TOTAL)
    if overall is not None and screened is not None:
        words = f"{view.title}: {_pct(overall)} of {screened} students screened need support"
        extra = []
        if view.fall_grades is not None and view.fall_grades.share(TOTAL, NEED) is not None:
            extra.append(_change_words(overall, view.fall_grades.share(TOTAL, NEED)))
        if view.district_overall is not None:
            extra.append(f"district {_pct(view.district_overall)}")
        text = words + (f" ({'; '.join(extra)})" if extra else "") + "."
        found.append(("overall", 100.0, text))
    grades = [g for g in view.grades.counts.index if g != TOTAL]
    for grade in grades:
        now = view.grades.share(grade, NEED)
        if now is None:
            continue
        before = None
        if view.fall_grades is not None and grade in view.fall_grades.counts.index:
            before = view.fall_grades.share(grade, NEED)
        district = view.district_share.get(grade)
        if before is not None and round(now) != round(before):
            weight = abs(now - before)
            text = (
                f"{grade} {view.subject}: {_pct(now)} need support, {_change_words(now, before)}."
            )
            found.append(("grade", weight, text))
        elif district is not None and abs(now - district) >= 5:
            side = "above" if now > district else "below"
            text = (
                f"{grade} {view.subject}: {_pct(now)} need support, {side} the district's "
                f"{_pct(district)}."
            )
            found.append(("grade", abs(now - district) * 0.8, text))
    for result in view.subgroups:
        rows = [r for r in result.counts.index if r not in (TOTAL, NOT_RECORDED)]
        pair = next(((y, n) for _, y, n in FLAGS if y in rows and n in rows), None)
        if pair is None:
            continue
        yes, no = (result.share(r, NEED) for r in pair)
        if yes is not None and no is not None and abs(round(yes) - round(no)) >= 10:
            found.append(
                (
                    "equity",
                    abs(yes - no),
                    f"{pair[0]}: {_pct(yes)} need support in {view.subject}, against "
                    f"{_pct(no)} of the other students.",
                )
            )
    if view.movement is not None:
        m = view.movement
        rows = ["Tier 2 in fall", "Tier 3 in fall"]
        base = [m.value(r, TOTAL) for r in rows]
        moved = [m.value(r, "Tier 1 now") for r in rows]
        if all(v is not None for v in base + moved) and sum(base) >= k:
            share = sum(moved) / sum(base) * 100
            found.append(
                (
                    "movement",
                    60.0,
                    f"{view.title}: of the {sum(base)} students who needed support in fall, "
                    f"{sum(moved)} ({_pct(share)}) are now in Tier 1.",
                )
            )
    return found


def program_findings(
    effectiveness: pd.DataFrame | None, scope: str
) -> list[tuple[str, float, str]]:
    rows = program_rows(effectiveness, scope)
    if rows is None or rows.empty:
        return []
    shown = rows[rows["published"] & rows["effect"].notna()]
    out = []
    for row in shown.itertuples():
        low, high = row.low, row.high
        if low > 0:
            verdict = "students grew more than similar students without it"
        elif high < 0:
            verdict = "students grew less than similar students without it"
        else:
            verdict = "no clear difference from similar students without it"
        out.append(
            (
                "program",
                40.0 + abs(row.effect) * 20,
                f"{row.program} ({row.subject}, {row.n} students): {verdict} "
                f"(effect {row.effect:+.2f} SD, 95 % interval {low:+.2f} to {high:+.2f}).",
            )
        )
    return out


def key_findings(
    views: list[SubjectView], effectiveness: pd.DataFrame | None, scope: str, k: int
) -> list[str]:
    """Three to five plain sentences, the most telling first: the share needing support
    in reading and math, the grade that changed most, movement since fall, the program
    with the clearest result, then behaviour and the rest by size."""
    candidates = [f for view in views for f in subject_findings(view, k)]
    candidates += program_findings(effectiveness, scope)
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
    95 % interval; pre/post Hedges' g when the comparison is missing."""
    if effectiveness is None:
        return None
    rows = effectiveness[effectiveness["scope"].astype(str) == str(scope)]
    if rows.empty:
        return rows.assign(effect=[], low=[], high=[], published=[], basis=[])
    use_cmp = rows["effect_sd"].notna()
    effect = rows["effect_sd"].where(use_cmp, rows["hedges_g"])
    low = rows["effect_sd_ci_low"].where(use_cmp, rows["g_ci_low"])
    high = rows["effect_sd_ci_high"].where(use_cmp, rows["g_ci_high"])
    published = ~rows["suppressed"].fillna(False).astype(bool)
    return (
        rows.assign(
            effect=effect.astype(float),
            low=low.astype(float),
            high=high.astype(float),
            published=published,
            basis=np.where(use_cmp, "vs similar students", "pre/post"),
            n=rows["n"].fillna(0).astype(int),
        )
        .sort_values(["subject", "program"])
        .reset_index(drop=True)
    )


def program_display(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    def fmt(value: float, digits: int = 2, sign: bool = True) -> str:
        if pd.isna(value):
            return ""
        return f"{value:+.{digits}f}" if sign else f"{value * 100:.0f} %"

    published = rows["published"]
    small = privacy.small_text(k)
    return pd.DataFrame(
        {
            "Program": rows["program"],
            "Subject": rows["subject"].map(SUBJECT_TITLES),
            "Students": rows["n"].map(lambda n: str(n) if n >= k else small),
            "Attendance": [
                fmt(v, sign=False) if p else small
                for v, p in zip(rows["dosage_mean"], published, strict=True)
            ],
            "Effect (SD)": [
                (fmt(v) or "no data yet") if p else small
                for v, p in zip(rows["effect"], published, strict=True)
            ],
            "95 % interval": [
                f"{fmt(lo)} to {fmt(hi)}" if p and pd.notna(lo) else (small if not p else "")
                for lo, hi, p in zip(rows["low"], rows["high"], published, strict=True)
            ],
            "Compared with": [
                b if p and pd.notna(e) else ""
                for b, p, e in zip(rows["basis"], published, rows["effect"], strict=True)
            ],
        }
    )


def forest_figure(rows: pd.DataFrame, title: str) -> tuple[plt.Figure, str] | None:
    """Each published program's effect with its 95 % interval; 0 = no difference."""
    shown = rows[rows["published"] & rows["effect"].notna() & rows["low"].notna()]
    if shown.empty:
        return None
    shown = shown.iloc[::-1]
    labels = [
        f"{p} ({SUBJECT_TITLES.get(s, s)}, n={n})"
        for p, s, n in zip(shown["program"], shown["subject"], shown["n"], strict=True)
    ]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(shown) + 1.3))
    y = np.arange(len(shown))
    colors = [
        CLEAR_COLOR if lo > 0 or hi < 0 else UNCLEAR_COLOR
        for lo, hi in zip(shown["low"], shown["high"], strict=True)
    ]
    ax.hlines(y, shown["low"], shown["high"], color=colors, linewidth=2.4)
    ax.scatter(shown["effect"], y, color=colors, zorder=3, s=36, edgecolor="black", linewidth=0.5)
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, labels)
    ax.set_xlabel("Effect in standard deviations (95 % interval); right of 0 = more growth")
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    alt = f"{title}. " + "; ".join(
        f"{p}: {e:+.2f} SD, interval {lo:+.2f} to {hi:+.2f}"
        for p, e, lo, hi in zip(
            shown["program"][::-1],
            shown["effect"][::-1],
            shown["low"][::-1],
            shown["high"][::-1],
            strict=True,
        )
    )
    return fig, alt + "."


# --- figures -------------------------------------------------------------------------


def need_by_grade_figure(views: list[SubjectView]) -> tuple[plt.Figure, str]:
    """Share needing support per grade, Tier 3 and Tier 2 stacked, with the district's
    share as a marker. Only published numbers are drawn; a hidden grade is labelled."""
    fig, axes = plt.subplots(
        1, len(views), figsize=(4.6 * len(views), 3.4), sharey=True, squeeze=False
    )
    alt = []
    top = 0.0
    for ax, view in zip(axes[0], views, strict=True):
        g = view.grades
        grades = [r for r in g.counts.index if r != TOTAL]
        labels = [r.replace("Grade ", "") for r in grades]
        parts = []
        for x, grade in enumerate(grades):
            need = g.share(grade, NEED)
            t3 = g.share(grade, ["Tier 3"])
            t2 = g.share(grade, ["Tier 2"])
            district = view.district_share.get(grade)
            if district is not None:
                ax.plot(x, district, marker="D", color=DISTRICT_COLOR, markersize=6, zorder=4)
                top = max(top, district)
            if need is None:
                label = g.share_text(grade, NEED)
                ax.text(x, 1, label, ha="center", va="bottom", fontsize=8, color="#333333")
                parts.append(f"grade {labels[x]} {label}")
                continue
            if t2 is not None and t3 is not None:
                ax.bar(x, t3, color=TIER_COLORS[3], edgecolor="white", width=0.7)
                ax.bar(x, t2, bottom=t3, color=TIER_COLORS[2], edgecolor="white", width=0.7)
            else:
                ax.bar(x, need, color=TIER_COLORS[2], hatch="///", edgecolor="white", width=0.7)
            top = max(top, need)
            parts.append(f"grade {labels[x]} {need:.0f}%")
        ax.set_xticks(range(len(grades)), labels)
        ax.set_title(view.title)
        ax.set_xlabel("Grade")
        ax.spines[["top", "right"]].set_visible(False)
        alt.append(f"{view.title}: " + ", ".join(parts))
    axes[0][0].set_ylabel("Students needing support (%)")
    axes[0][0].set_ylim(0, max(10.0, min(100.0, top * 1.25 + 2)))
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=TIER_COLORS[3]),
        plt.Rectangle((0, 0), 1, 1, color=TIER_COLORS[2]),
        plt.Rectangle((0, 0), 1, 1, facecolor=TIER_COLORS[2], hatch="///", edgecolor="white"),
        plt.Line2D([], [], marker="D", color=DISTRICT_COLOR, linestyle=""),
    ]
    names = ["Tier 3 (intensive)", "Tier 2 (strategic)", "Tier 2 or 3 (split hidden)", "District"]
    if not any(v.district_share for v in views):
        handles, names = handles[:3], names[:3]
    axes[0][-1].legend(handles, names, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    scope = "school and district" if any(v.district_share for v in views) else "district"
    return fig, f"Students needing support by grade, {scope}. " + "; ".join(alt) + "."


# --- staffing --------------------------------------------------------------------------


def staffing(term: TermData, school_id: str) -> dict:
    """Groups, students served, capacity used and students not yet served, per subject."""
    k = term.k
    groups = term.table("groups")
    unserved = term.table("unserved")
    tiers = term.tiers[term.tiers["school_id"] == school_id]
    need = tiers[tiers["tier"].fillna(1) >= 2]
    if groups is not None:
        mine = groups[groups["school_id"].astype(str) == school_id]
        per_subject = mine.groupby("subject")["size"].sum()
        served = int(mine["size"].sum())
        n_groups = len(mine)
        staff = int(mine["interventionist"].dropna().nunique())
        source = "recommended groups"
    else:
        mine = term.interventions.merge(term.students[["student_id", "school_id"]], on="student_id")
        mine = mine[(mine["school_id"] == school_id)].drop_duplicates(["student_id", "subject"])
        mine = mine.merge(need[["student_id", "subject"]], on=["student_id", "subject"])
        per_subject = mine.groupby("subject")["student_id"].nunique()
        served = len(mine)
        n_groups = int(mine["group_id"].nunique()) if "group_id" in mine else 0
        staff = int(mine["interventionist"].nunique()) if "interventionist" in mine else 0
        source = "intervention log"
    if unserved is not None:
        gap = unserved[unserved["school_id"].astype(str) == school_id]
    else:
        served_pairs = pd.MultiIndex.from_frame(mine[["student_id", "subject"]])
        keys = pd.MultiIndex.from_frame(need[["student_id", "subject"]])
        gap = need[~keys.isin(served_pairs)]
    not_served = gap.groupby("subject").size()
    subjects = [s for s in SUBJECT_TITLES if s in set(need["subject"])]
    table = pd.DataFrame(
        {
            "Served": [int(per_subject.get(s, 0)) for s in subjects],
            "Not yet served": [int(not_served.get(s, 0)) for s in subjects],
        },
        index=[SUBJECT_TITLES[s] for s in subjects],
    )
    result = privacy.suppress(table, k) if not table.empty else None
    capacity = _capacity(term, school_id, n_groups)
    return {
        "groups": n_groups,
        "served": served,
        "staff": staff,
        "capacity": capacity,
        "source": source,
        "table": result,
        "k": k,
    }


def _capacity(term: TermData, school_id: str, n_groups: int) -> str:
    """Groups formed against the interventionists' group capacity, when known."""
    grouping = getattr(term.config, "grouping", None)
    groups = term.table("groups")
    if grouping is None or groups is None:
        return "not available"
    try:
        from pipeline.groups.staff import staff_for_schools

        people = staff_for_schools(None, [school_id], term.config)
        slots = sum(p.group_capacity for p in people if p.school_id == school_id)
    except Exception:  # noqa: BLE001 - capacity is a nicety; the report must still render
        return "not available"
    if not slots:
        return "not available"
    return f"{n_groups} of {slots} group slots ({n_groups / slots:.0%})"


def staffing_display(info: dict) -> pd.DataFrame:
    result = info["table"]
    if result is None:
        return pd.DataFrame()
    shown = result.display().rename(index={TOTAL: "All subjects"})
    return shown.rename(columns={TOTAL: "Need support"}).reset_index(names="Subject")


# --- page pieces -----------------------------------------------------------------------


def school_name(term: TermData, school_id: str) -> str:
    """The school's name; a clear error for an id not in the roster."""
    mine = term.students[term.students["school_id"] == str(school_id)]
    if mine.empty:
        known = ", ".join(sorted(term.students["school_id"].unique())[:20])
        raise LookupError(f"school_id {school_id!r} has no students (known: {known})")
    return str(mine["school_name"].iloc[0])


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


PRINCIPAL_METHODS = [
    (
        "Tier 1, 2, 3",
        "Tier 1 (core): on track with regular classroom teaching. Tier 2 (strategic): "
        "below benchmark, gets small-group support a few times a week. Tier 3 (intensive): "
        "well below benchmark, gets the most intensive, most frequent support.",
    ),
    (
        "Need support",
        "Students in Tier 2 or Tier 3 on this window's screening, as a share of the "
        "students screened in that subject.",
    ),
    (
        "Effect (SD)",
        "How much more a program's students grew than similar students (same grade, same "
        "starting level) who were not in an intervention, in standard deviations: 0.2 is "
        "small, 0.5 medium, 0.8 large. The 95 % interval is the range the true effect "
        "probably lies in; an interval that crosses 0 means the data cannot yet tell the "
        "program apart from no program.",
    ),
    (
        "n<10 and hidden",
        "Any number built from fewer than 10 students is shown as n<10, so no student can "
        "be singled out. A few other numbers are hidden so that a small group cannot be "
        "worked out by subtracting from a total.",
    ),
]


# --- specialist report: summary box, tiers by grade, methods ---------------------------


def specialist_summary_cards(processed_dir: str | Path, school) -> list[tuple[str, object]]:
    """The specialist report's opening numbers for one school (a ``report.SchoolData``):
    students screened, the share needing support per subject, groups, and students whose
    progress data say to change the intervention."""
    processed = from_root(processed_dir)
    known = school.tiers.dropna(subset=["tier"])
    cards: list[tuple[str, object]] = [("students screened", known["student_id"].nunique())]
    for subject in [s for s in SUBJECT_TITLES if s in set(known["subject"])]:
        rows = known[known["subject"] == subject]
        need = int((rows["tier"] >= 2).sum())
        share = f"{need / len(rows) * 100:.0f} %"
        cards.append((f"need support in {subject} ({need} students)", share))
    groups = _read_optional(processed, school.school_year, school.window, "groups")
    if groups is not None:
        cards.append(
            (
                "intervention groups",
                int((groups["school_id"].astype(str) == school.school_id).sum()),
            )
        )
    decisions = _read_optional(processed, school.school_year, school.window, "progress_decisions")
    if decisions is not None:
        mine = decisions[decisions["school_id"].astype(str) == school.school_id]
        change = mine.loc[mine["decision"] == "change_intervention", "student_id"].nunique()
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
        table = _crosstab(rows["grade"], rows["tier"].astype(int)).reindex(
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


SPECIALIST_METHODS = [
    (
        "Tier",
        "How much support a student needs in a subject, from this window's screening. Tier 1 "
        "(core): on track with classroom teaching. Tier 2 (strategic): below benchmark, small-"
        "group help a few times a week. Tier 3 (intensive): well below benchmark, the most "
        "frequent, smallest-group help. Each tier comes with the rule and score behind it.",
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
    (
        "Aimline",
        "The straight line on a progress chart from where the student started (the middle "
        "of the first three probes) to the goal. Points above it are on track; four points "
        "in a row below it mean the intervention should change.",
    ),
    (
        "Rate of improvement (ROI)",
        "How many points a student gains per week: the slope of the trend line through the "
        "probes. It is compared with the aimline's slope and with typical growth.",
    ),
    (
        "Decision",
        "Needs at least 6 probes over at least 6 weeks. Four points below the aimline: "
        "change the intervention. Four above: raise the goal. Otherwise the trend decides. "
        "Fewer probes: not enough data yet.",
    ),
    (
        "Effect size (Hedges' g, SD)",
        "How big a change is, in standard deviations of the scores: about 0.2 is small, "
        "0.5 medium, 0.8 large. The 95 % interval is the range the true effect probably "
        "lies in; an interval that crosses 0 means the data cannot yet rule out no effect.",
    ),
]
