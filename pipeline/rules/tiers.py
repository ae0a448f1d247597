"""Tier decisions: which students need support, how intensive, in which skill, and why.

Per measure, one of four rules (``config/district.yml``, ``measures.<name>.tier_rule``):

* ``benchmark``: a cut-score table in ``config/benchmarks/`` (the DIBELS 8 goals):
  Above / At Benchmark -> Tier 1, Below Benchmark -> Tier 2, Well Below -> Tier 3;
* ``percentile``: bands such as the default 10/25 (< 10 -> Tier 3, < 25 -> Tier 2), Star
  10/25/40 (a third cut flags Tier 1 students "on watch"), FastBridge 15/40;
* ``score_bands``: raw-score cuts (a SAEBRS-style total, a BESS T-score);
* ``vendor_level``: the vendor's own label (BESS Normal / Elevated / Extremely Elevated).

Several measures of one subject combine by the subject's rule (``composite_first``,
``most_intensive``, ``two_of_three``); a team override (``overrides.csv``) wins. Every
decision carries the rule that produced it (``rule_id``) and a sentence a specialist
understands (``reason``): "ORF 31 wcpm is below 55, the grade 3 fall cut for Below
Benchmark: Well Below Benchmark (Tier 3)".

Skill focus (DESIGN.md): reading follows the ladder phonemic awareness -> phonics ->
fluency -> comprehension, and the focus is the lowest rung at risk; math and behaviour
name every domain at risk. When the data cannot tell, the focus is ``needs_diagnostic``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline import fast
from pipeline.config import SKILLS, DistrictConfig
from pipeline.contract import OVERRIDES
from pipeline.errors import InputError
from pipeline.rules.domains import with_domain_focus
from pipeline.rules.labels import DIAGNOSTIC, FOCUS_LABELS, LEVEL_LABELS, TIER_LABELS, grade_label  # noqa: F401

LEVEL_TIER = {"above": 1, "benchmark": 1, "below": 2, "well_below": 3}
# Reading is a ladder (the lowest rung at risk is the focus); math and behaviour are
# domains (every domain at risk is named).
LADDERS: dict[str, tuple[str, ...]] = {
    "reading": ("phonemic_awareness", "phonics", "fluency", "comprehension"),
}
DOMAINS: dict[str, tuple[str, ...]] = {
    "math": ("computation", "concepts"),
    "behavior": ("externalizing", "internalizing"),
}
# Columns other modules read; kept in this order, extended only at the end.
TIER_COLUMNS = [
    "student_id",
    "school_id",
    "grade",
    "subject",
    "measure",
    "score",
    "percentile",
    "tier",
    "rule_id",
    "reason",
    "source_file",
    "source_row",
    "level",
    "combine",
    "measures_used",
    "on_watch",
    "focus",
    "focus_measure",
    "focus_score",
    "focus_reason",
    "override",
    "computed_tier",
    "decided_by",
    "decided_on",
]
# The text columns of the output (pandas "string": missing is <NA>).
TEXT_COLUMNS = [
    "rule_id",
    "reason",
    "level",
    "combine",
    "measures_used",
    "focus",
    "focus_measure",
    "focus_reason",
    "decided_by",
    "decided_on",
]
OVERRIDE_COLUMNS = OVERRIDES.required
# The columns a per-measure decision reads.
DECISION_INPUTS = ["measure", "grade", "score", "percentile", "vendor_level"]
WINDOW_WORDS = {"fall": "fall", "winter": "winter", "spring": "spring"}


class OverrideError(InputError):
    """``overrides.csv`` holds a row that cannot be applied; the message names row and value."""


def tier_from_percentile(
    percentile: pd.Series, tier3_below: float | pd.Series, tier2_below: float | pd.Series
) -> pd.Series:
    """Percentile bands: below ``tier3_below`` -> 3, below ``tier2_below`` -> 2, else 1.

    With the default bands (10, 25): 9.9 -> 3, 10 -> 2, 24.9 -> 2, 25 -> 1. Missing
    percentiles give a missing tier. Cuts may be scalars or per-row Series.
    """
    values = percentile.astype("Float64")
    tier = pd.Series(
        np.select(
            [values.lt(tier3_below).fillna(False), values.lt(tier2_below).fillna(False)],
            [3, 2],
            default=1,
        ),
        index=percentile.index,
        dtype="Int64",
    )
    return tier.mask(values.isna())


def level_from_cuts(score: pd.Series, cuts: pd.DataFrame) -> pd.Series:
    """Benchmark level of each score given per-row cuts (columns above, benchmark, below).

    A cut holds the lowest score of its level; a missing cut means the level does not
    exist (no Above band for LNF). Below every cut -> ``well_below``; no cuts -> missing.
    """
    value = score.astype("Float64")
    at_least = {level: value.ge(cuts[level]).fillna(False) for level in LEVEL_LABELS}
    has_cuts = cuts[["above", "benchmark", "below"]].notna().any(axis=1)
    level = np.select(
        [at_least["above"], at_least["benchmark"], at_least["below"]],
        ["above", "benchmark", "below"],
        default="well_below",
    )
    out = pd.Series(level, index=score.index, dtype="object")
    return out.where(has_cuts & value.notna(), None)


def _fmt(value: object) -> str:
    if value is None or pd.isna(value):
        return "missing"
    return f"{float(value):g}"


def _score_text(score: pd.Series, unit: pd.Series) -> pd.Series:
    text = score.map(_fmt)
    return text + unit.map(lambda u: "" if not u else (u if u == "%" else f" {u}"))


def _grade_word(grade: pd.Series) -> pd.Series:
    return grade.map(grade_label)


def measure_tiers(
    screenings: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, window: str
) -> pd.DataFrame:
    """One row per student x measure in ``window``: tier, level, rule_id, reason, on_watch.

    Only measures with a tier rule other than ``none`` appear. Students not on the roster
    are left out (the ingest stage quarantines them).
    """
    return _measure_tiers(screenings, students, config, window)[0]


def _measure_tiers(
    screenings: pd.DataFrame,
    students: pd.DataFrame,
    config: DistrictConfig,
    window: str,
    columns: list[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """:func:`measure_tiers` keeping only the screening ``columns`` (default: all), each
    row's position in ``students`` and a code per row for its decision (same code, same
    tier, level, rule_id, reason and on_watch)."""
    used = {n: m for n, m in config.measures.items() if m.tier_rule != "none"}
    keep = (screenings["window"] == window) & screenings["measure"].isin(list(used))
    if columns is not None:
        screenings = screenings[[c for c in screenings.columns if c in columns]]
    frame, student = fast.join_roster(screenings[keep], students)
    for column in ("percentile", "vendor_level", "source_file", "source_row"):
        if column not in frame.columns:
            frame[column] = pd.NA
    frame = frame.reset_index(drop=True)
    # A decision depends on these columns only: decide each distinct combination once
    # (a few thousand at state scale, against millions of rows) and copy it to its rows.
    code, first = fast.distinct_rows(frame, DECISION_INPUTS)
    decided = _decide(frame.take(first).reset_index(drop=True), config, used, window)
    return frame.assign(**decided.take(code).set_axis(frame.index)), student, code


def _decide(frame: pd.DataFrame, config: DistrictConfig, used: dict, window: str) -> pd.DataFrame:
    """tier, level, rule_id, reason and on_watch of each row of ``frame``."""
    if frame.empty:  # the text steps below cannot concatenate empty non-text columns
        return pd.DataFrame(
            {
                "tier": pd.Series(dtype="Int64"),
                "level": pd.Series(dtype=object),
                "rule_id": pd.Series(dtype=object),
                "reason": pd.Series(dtype=object),
                "on_watch": pd.Series(dtype=bool),
            },
            index=frame.index,
        )
    measure = frame["measure"]
    rule = measure.map({n: m.tier_rule for n, m in used.items()})
    name = measure.map({n: m.name_in_text for n, m in used.items()})
    unit = measure.map({n: m.short_unit for n, m in used.items()})
    score = frame["score"].astype("Float64")
    score_text = _score_text(score, unit)
    grade_text = "grade " + _grade_word(frame["grade"]) + " " + window
    tier = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    level = pd.Series(None, index=frame.index, dtype="object")
    rule_id = pd.Series(None, index=frame.index, dtype="object")
    reason = pd.Series(None, index=frame.index, dtype="object")
    on_watch = pd.Series(False, index=frame.index)

    # Benchmark cut-score tables.
    bench = rule.eq("benchmark")
    if bench.any():
        table = config.benchmark_table()
        table = table[table["window"] == window]
        cuts = table.pivot_table(
            index=["benchmark", "measure", "grade"],
            columns="level",
            values="min_score",
            aggfunc="first",
        ).reindex(columns=list(LEVEL_LABELS))
        keys = pd.MultiIndex.from_arrays(
            [
                measure.map({n: m.benchmark for n, m in used.items()}),
                measure,
                frame["grade"].astype(int),
            ]
        )
        row_cuts = cuts.reindex(keys).set_axis(frame.index)
        lvl = level_from_cuts(score, row_cuts).where(bench, None)
        found = lvl.notna()
        below_cut, goal, above_cut = (
            row_cuts[c].map(_fmt) for c in ("below", "benchmark", "above")
        )
        text = np.select(
            [lvl.eq("well_below"), lvl.eq("below"), lvl.eq("benchmark"), lvl.eq("above")],
            [
                name
                + " "
                + score_text
                + " is below "
                + below_cut
                + ", the "
                + grade_text
                + " cut for Below Benchmark: Well Below Benchmark (Tier 3)",
                name
                + " "
                + score_text
                + " is below "
                + goal
                + ", the "
                + grade_text
                + " benchmark goal, and at or above the Below Benchmark cut "
                + below_cut
                + ": Below Benchmark (Tier 2)",
                name
                + " "
                + score_text
                + " is at or above "
                + goal
                + ", the "
                + grade_text
                + " benchmark goal: At Benchmark (Tier 1)",
                name
                + " "
                + score_text
                + " is at or above "
                + above_cut
                + ", the "
                + grade_text
                + " cut for Above Benchmark (Tier 1)",
            ],
            default="",
        )
        tier = tier.mask(found, lvl.map(LEVEL_TIER).astype("Int64"))
        level = level.mask(found, lvl)
        rule_id = rule_id.mask(
            found,
            "benchmark:"
            + pd.Series(keys.get_level_values(0), index=frame.index).astype(str)
            + ":"
            + lvl.fillna("").astype(str),
        )
        reason = reason.mask(found, pd.Series(text, index=frame.index))

    # Vendor labels (BESS Normal / Elevated / Extremely Elevated).
    vendor = rule.eq("vendor_level")
    if vendor.any():
        label = frame["vendor_level"].astype("string").str.strip()
        maps = {
            n: {k.strip().casefold(): v for k, v in m.level_tiers.items()} for n, m in used.items()
        }
        mapped = pd.Series(
            [
                maps.get(m, {}).get(str(lab).casefold()) if v and not pd.isna(lab) else None
                for m, lab, v in zip(measure, label, vendor, strict=True)
            ],
            index=frame.index,
            dtype="object",
        )
        found = mapped.notna()
        tier = tier.mask(found, mapped.astype("Int64"))
        level = level.mask(found, label.astype(object))
        rule_id = rule_id.mask(found, "vendor_level:" + measure)
        reason = reason.mask(
            found,
            name
            + " "
            + score_text
            + ": the vendor's level '"
            + label.fillna("")
            + "' means Tier "
            + mapped.map(lambda t: "" if t is None else str(t)),
        )

    # Raw-score bands (SAEBRS-style totals, T-scores), as the rule or the fallback.
    band_fallback = measure.map({n: m.fallback == "score_bands" for n, m in used.items()})
    bands = (rule.eq("score_bands") | (tier.isna() & band_fallback.astype(bool))) & score.notna()
    if bands.any():
        spec = {n: m.score_bands for n, m in used.items() if m.score_bands is not None}
        t3 = measure.map({n: b.tier3 for n, b in spec.items()}).astype("Float64")
        t2 = measure.map({n: b.tier2 for n, b in spec.items()}).astype("Float64")
        high = measure.map({n: b.risk == "high" for n, b in spec.items()}).fillna(False)
        low_tier = pd.Series(
            np.select([score.lt(t3).fillna(False), score.lt(t2).fillna(False)], [3, 2], 1),
            index=frame.index,
        )
        high_tier = pd.Series(
            np.select([score.ge(t3).fillna(False), score.ge(t2).fillna(False)], [3, 2], 1),
            index=frame.index,
        )
        band_tier = low_tier.where(~high.astype(bool), high_tier)
        t3s, t2s = t3.map(_fmt), t2.map(_fmt)
        text = np.select(
            [
                ~high.astype(bool) & band_tier.eq(3),
                ~high.astype(bool) & band_tier.eq(2),
                ~high.astype(bool) & band_tier.eq(1),
                high.astype(bool) & band_tier.eq(3),
                high.astype(bool) & band_tier.eq(2),
            ],
            [
                name + " " + score_text + " is below " + t3s + ", the Tier 3 cut (Tier 3)",
                name
                + " "
                + score_text
                + " is below "
                + t2s
                + ", the Tier 2 cut, and at or above "
                + t3s
                + " (Tier 2)",
                name + " " + score_text + " is at or above " + t2s + ", the Tier 2 cut (Tier 1)",
                name + " " + score_text + " is at or above " + t3s + ", the Tier 3 cut (Tier 3)",
                name
                + " "
                + score_text
                + " is at or above "
                + t2s
                + ", the Tier 2 cut, and below "
                + t3s
                + " (Tier 2)",
            ],
            default=name + " " + score_text + " is below " + t2s + ", the Tier 2 cut (Tier 1)",
        )
        tier = tier.mask(bands, band_tier.astype("Int64"))
        rule_id = rule_id.mask(bands, "score_bands:" + measure)
        reason = reason.mask(bands, pd.Series(text, index=frame.index))

    # Percentile bands: the rule itself, or the fallback where the above found nothing.
    fallback = measure.map({n: m.fallback == "percentile" for n, m in used.items()})
    use_pct = (rule.eq("percentile") | (tier.isna() & fallback.astype(bool))) & rule.ne("none")
    if use_pct.any():
        preset = measure.map({n: m.percentile_preset for n, m in used.items()})
        cuts = preset.map(config.percentile_bands)
        t3 = cuts.str[0].astype(float)
        t2 = cuts.str[1].astype(float)
        watch = cuts.map(lambda c: c[2] if len(c) > 2 else np.nan).astype(float)
        pct = frame["percentile"].astype("Float64")
        pct_tier = tier_from_percentile(pct, t3, t2)
        pct_text = pct.map(_fmt)
        watching = pct_tier.eq(1).fillna(False) & pct.lt(watch).fillna(False)
        prefix = name + " percentile " + pct_text
        text = np.select(
            [
                pct_tier.eq(3).fillna(False),
                pct_tier.eq(2).fillna(False),
                watching,
                pct_tier.eq(1).fillna(False),
            ],
            [
                prefix + " is below " + t3.map(_fmt) + " (Tier 3)",
                prefix
                + " is at or above "
                + t3.map(_fmt)
                + " and below "
                + t2.map(_fmt)
                + " (Tier 2)",
                prefix
                + " is at or above "
                + t2.map(_fmt)
                + " and below "
                + watch.map(_fmt)
                + " (Tier 1, on watch)",
                prefix + " is at or above " + t2.map(_fmt) + " (Tier 1)",
            ],
            default="",
        )
        found = use_pct & pct_tier.notna()
        fell_back = found & rule.ne("percentile")
        text = pd.Series(text, index=frame.index).mask(
            fell_back, text + " (no " + grade_text + " cut score in the benchmark table)"
        )
        tier = tier.mask(found, pct_tier)
        rule_id = rule_id.mask(found, "percentile:" + preset)
        reason = reason.mask(found, text)
        on_watch = on_watch | (found & watching)

    missing = tier.isna()
    reason = reason.mask(
        missing,
        name + " " + score_text + ": no cut score for " + grade_text + " and no percentile, "
        "so no tier",
    )
    return pd.DataFrame(
        {
            "tier": tier,
            "level": level,
            "rule_id": rule_id,
            "reason": reason,
            "on_watch": on_watch.astype(bool),
        }
    )


class _Keys(NamedTuple):
    """Integer codes of per-measure rows, so that group work is integer arithmetic:
    ``pair`` (>= 0) per student x subject, ``subject`` / ``measure`` into their uniques;
    ``decision`` (optional): rows with one code have one reason."""

    pair: np.ndarray
    subject: np.ndarray
    subjects: pd.Index
    measure: np.ndarray
    measures: pd.Index
    decision: np.ndarray | None = None

    def lookup(self, by: str, mapping: dict, dtype=object, missing=None) -> np.ndarray:
        """``frame[by].map(mapping)`` as an array (``missing`` where not in ``mapping``)."""
        if by == "subject":
            code, uniques = self.subject, self.subjects
        else:
            code, uniques = self.measure, self.measures
        values = [mapping.get(u, missing) for u in uniques] + [missing]
        return np.array(values, dtype=dtype)[code]  # code -1 (missing) takes the last


def _keys(
    frame: pd.DataFrame, student: np.ndarray | None = None, decision: np.ndarray | None = None
) -> _Keys:
    """:class:`_Keys` of ``frame``; ``student``: a code per row (e.g. its roster position)."""
    if student is None:
        student, _ = pd.factorize(frame["student_id"])
    subject, subjects = pd.factorize(frame["subject"])
    measure, measures = pd.factorize(frame["measure"])
    pair = (student.astype(np.int64) + 1) * (len(subjects) + 1) + subject + 1
    return _Keys(pair, subject, subjects, measure, measures, decision)


def _objects(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object)


def combine_tiers(per_measure: pd.DataFrame, config: DistrictConfig) -> pd.DataFrame:
    """One row per student x subject: the deciding measure's row, by the subject's rule."""
    return _combine(per_measure, _keys(per_measure), config).drop(columns="_pair")


def _config_order(config: DistrictConfig) -> dict[str, int]:
    return {n: k for k, n in enumerate(config.measures)}


def _combine(per_measure: pd.DataFrame, keys: _Keys, config: DistrictConfig) -> pd.DataFrame:
    """:func:`combine_tiers`, with each row's student x subject code in ``_pair``."""
    pair = keys.pair
    order = keys.lookup("measure", _config_order(config), float, np.nan)
    tiers = per_measure["tier"].to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(tiers)
    rows = np.flatnonzero(known)
    # Per student x subject the most intensive first, ties in config order, then in row
    # order (lexsort is stable).
    ranked = rows[np.lexsort((order[rows], -tiers[rows], pair[rows]))]
    run, start = fast.runs(pair[ranked])
    n_known = np.diff(np.r_[start, len(ranked)])[run]
    rank = np.arange(len(ranked)) - start[run]
    # Subject rules and "is the subject's composite" looked up per distinct value.
    subject, subjects, measure, measures = keys[1:5]
    rules = {s: r.combine for s, r in config.subjects.items()}
    rule = np.array([rules.get(s, "most_intensive") for s in subjects] + ["most_intensive"])
    rule = rule.astype(object)[subject[ranked]]
    composites = [config.subjects[s].composite if s in config.subjects else None for s in subjects]
    composite_of = np.array([[c == m for m in measures] for c in [*composites, None]], dtype=bool)
    is_composite = composite_of.reshape(-1, len(measures))[subject[ranked], measure[ranked]]
    has_composite = np.bincount(run, weights=is_composite, minlength=len(start))[run] > 0
    # composite_first: the composite row; most_intensive: the first; two_of_three: the
    # second (the highest tier two measures reach), or the only one.
    chosen = np.where(
        (rule == "composite_first") & has_composite,
        is_composite,
        np.where((rule == "two_of_three") & (n_known >= 2), rank == 1, rank == 0),
    )
    chosen_rows = ranked[chosen]
    n = len(chosen_rows)
    # Student x subject pairs with measures but no tier at all keep one row, tier missing.
    has_tier = np.zeros(pair.max(initial=0) + 1, dtype=bool)
    has_tier[pair[rows]] = True
    rest_rows = np.flatnonzero(~known & ~has_tier[pair])
    rest_rows = rest_rows[~pd.Series(pair[rest_rows]).duplicated().to_numpy()]
    # The decided rows then the rest, in one copy (rather than two tables and a concat).
    out = per_measure.take(np.r_[chosen_rows, rest_rows]).reset_index(drop=True)
    decided = out.iloc[:n]
    # The note before the reason depends on the subject (and so its rule), whether the
    # composite decides and the number of measures: built per distinct combination.
    n_dec, most = n_known[chosen], n_known.max(initial=0) + 1
    kind = ((subject[ranked[chosen]].astype(np.int64) + 1) * 2 + is_composite[chosen]) * most
    code, _ = pd.factorize(kind + n_dec)
    first = np.flatnonzero(~pd.Series(code).duplicated().to_numpy())
    kinds = pd.DataFrame(
        {
            "rule": rule[chosen][first],
            "composite": is_composite[chosen][first],
            "n": n_dec[first],
            "subject": decided["subject"].take(first).to_numpy(),
        }
    )
    note = np.select(
        [
            kinds["rule"].eq("composite_first") & kinds["composite"],
            kinds["rule"].eq("two_of_three") & kinds["n"].ge(2),
            kinds["n"].ge(2),
        ],
        [
            "The composite decides (composite first): ",
            "At least two of " + kinds["n"].astype(str) + " " + kinds["subject"] + " measures "
            "reach this tier (two of three): ",
            "Most intensive of " + kinds["n"].astype(str) + " " + kinds["subject"] + " measures: ",
        ],
        default="",
    ).astype(object)
    # Object columns stay object (pandas would otherwise convert every text to "str").
    # The reason is the note and the measure's reason: joined per distinct pair of codes.
    decision = keys.decision
    if decision is None:
        decision, _ = pd.factorize(per_measure["reason"])
    width = int(decision.max(initial=0)) + 2
    text, _ = pd.factorize(code * width + decision[ranked[chosen]] + 1)
    text_first = np.flatnonzero(~pd.Series(text).duplicated().to_numpy())
    reason = out["reason"].to_numpy(dtype=object).copy()
    reason[:n] = (note[code[text_first]] + reason[text_first])[text]
    subject_rule = {s: r.combine for s, r in config.subjects.items()}
    combine = np.r_[rule[chosen], out["subject"].iloc[n:].map(subject_rule).to_numpy(object)]
    # measures_used: every measure with a tier, in config order (then row order).
    by_order = rows[np.lexsort((order[rows], pair[rows]))]
    used_pair = pair[by_order]
    used = _measure_lists(used_pair, measure[by_order], measures)
    where = np.searchsorted(used_pair[fast.runs(used_pair)[1]], pair[chosen_rows])
    measures_used = np.r_[used[where], np.full(len(rest_rows), "", dtype=object)]
    # A decided row is on watch only at Tier 1 (its tier is known).
    on_watch = out["on_watch"].to_numpy(dtype=bool).copy()
    on_watch[:n] &= tiers[chosen_rows] == 1
    return out.assign(
        reason=_objects(reason),
        on_watch=pd.array(on_watch, dtype="boolean"),
        combine=_objects(combine),
        measures_used=_objects(measures_used),
        _pair=pair[np.r_[chosen_rows, rest_rows]],
    )


def _measure_lists(keys: np.ndarray, measure: np.ndarray, measures: pd.Index) -> np.ndarray:
    """``", ".join`` of the measure names (``measures[measure]``) over each run of equal
    sorted ``keys``; each distinct list is joined once (a list is coded as the digits of
    a number in base ``len(measures) + 1``)."""
    run, start = fast.runs(keys)
    base = len(measures) + 1
    longest = int(np.diff(np.r_[start, len(keys)]).max(initial=0))
    if not len(keys) or (measure < 0).any() or base**longest >= 2**53:  # not exact as floats
        names = pa.DictionaryArray.from_arrays(
            pa.array(measure), pa.array(np.asarray(measures, dtype=object), pa.string())
        ).dictionary_decode()
        return fast.join_runs(keys, names, ", ")
    digit = (np.arange(len(keys)) - start[run]).astype(float)
    number = np.bincount(run, weights=(measure + 1) * float(base) ** digit, minlength=len(start))
    code, uniques = pd.factorize(number)
    texts = []
    for value in uniques.astype(np.int64).tolist():
        names = []
        while value:
            value, d = divmod(value, base)
            names.append(measures[d - 1])
        texts.append(", ".join(names))
    return np.array(texts, dtype=object)[code]


def skill_focus(per_measure: pd.DataFrame, config: DistrictConfig) -> pd.DataFrame:
    """Per student x subject: focus, focus_measure, focus_score and focus_reason.

    Reading: the lowest rung of the ladder with a measure at Tier 2 or 3. Fluency or
    comprehension at risk with no data on the rung below (no decoding measure for a low
    ORF, no ORF for a low Maze) cannot tell where the gap is: ``needs_diagnostic``.
    Math and behaviour: every domain at risk, joined with " + ". No skill measure at
    risk: ``needs_diagnostic``.
    """
    return _skill_focus(per_measure, _keys(per_measure), config).reset_index(drop=True)


def _skill_focus(per_measure: pd.DataFrame, keys: _Keys, config: DistrictConfig):
    """:func:`skill_focus` indexed by the student x subject code of :func:`_keys`."""
    pair = keys.pair
    ids = ["student_id", "subject"]
    columns = [*ids, "focus", "focus_measure", "focus_score", "focus_reason"]
    skill_of = {n: m.skill for n, m in config.measures.items() if m.skill is not None}
    skills = keys.lookup("measure", skill_of)
    rows = np.flatnonzero(pd.notna(skills))
    if not len(rows):
        return pd.DataFrame(columns=columns, index=pd.Index([], dtype=np.int64))
    order = keys.lookup("measure", _config_order(config), float, np.nan)
    rung_of = {s: k for ladder in LADDERS.values() for k, s in enumerate(ladder)}
    rung_of.update({s: k for domains in DOMAINS.values() for k, s in enumerate(domains)})
    width = max(rung_of.values()) + 2  # rungs are 0 .. width - 2; a missing rung: width - 1
    rung = keys.lookup("measure", {n: rung_of.get(s) for n, s in skill_of.items()}, float, np.nan)
    tiers = per_measure["tier"].to_numpy(dtype=float, na_value=np.nan)
    risky = rows[np.nan_to_num(tiers[rows], nan=1) >= 2]
    # Per student x subject: lowest rung, then most intensive, then config order.
    risky = risky[np.lexsort((order[risky], -tiers[risky], rung[risky], pair[risky]))]
    _, start = fast.runs(pair[risky])
    first = risky[start]
    is_ladder = keys.lookup("subject", dict.fromkeys(LADDERS, True), bool, False)
    ladder = is_ladder[first]
    # The rung below the focus rung has a measure (any tier) for the student?
    rung_code = np.nan_to_num(rung, nan=width - 1).astype(np.int64)
    have = np.zeros((pair.max() + 1) * width, dtype=bool)
    have[pair[rows] * width + rung_code[rows]] = True
    below = pair[first] * width + rung_code[first] - 1
    below_present = np.where(rung[first] >= 2, have[below], True)
    unclear = ladder & ~below_present
    reasons = per_measure["reason"].to_numpy(dtype=object)
    focus = skills[first].copy()
    focus_reason = np.empty(len(first), dtype=object)
    # Math and behaviour: every domain at risk (each once), and every reason.
    domain = risky[~is_ladder[risky]]
    skill_code = keys.lookup("measure", {n: SKILLS.index(s) for n, s in skill_of.items()}, int, -1)
    once = domain[
        ~pd.Series(pair[domain] * len(SKILLS) + skill_code[domain]).duplicated().to_numpy()
    ]
    focus[~ladder] = fast.join_runs(pair[once], skills[once], " + ")
    focus_reason[~ladder] = "At risk: " + fast.join_runs(pair[domain], reasons[domain], "; ")
    below_name = {
        2: "no decoding measure (NWF, WRF or ORF accuracy)",
        3: "no oral reading fluency score",
    }
    missing_rung = np.array(
        [below_name.get(r, "no measure of the rung below") for r in range(width)], dtype=object
    )[np.nan_to_num(rung[first], nan=width - 1).astype(np.int64)]
    focus_reason[unclear] = (
        reasons[first][unclear]
        + "; but "
        + missing_rung[unclear]
        + " tells whether the gap is lower on the reading ladder"
    )
    clear = ladder & ~unclear
    focus_reason[clear] = "Lowest rung at risk: " + reasons[first][clear]
    focus[unclear] = DIAGNOSTIC
    result = pd.DataFrame(
        {
            "focus": pd.Series(focus, dtype=object),
            "focus_measure": per_measure["measure"].take(first).reset_index(drop=True),
            "focus_score": per_measure["score"].take(first).astype(float).reset_index(drop=True),
            "focus_reason": pd.Series(focus_reason, dtype=object),
        }
    ).set_axis(pair[first])
    # Every student x subject with a skill measure, in order of appearance.
    seen = rows[~pd.Series(pair[rows]).duplicated().to_numpy()]
    out = per_measure[ids].take(seen).set_axis(pair[seen]).join(result, how="left")
    out.loc[out["focus"].isna(), "focus_reason"] = "No skill measure is below its cut"
    return out


def apply_overrides(
    tiers: pd.DataFrame, overrides: pd.DataFrame, students: pd.DataFrame
) -> pd.DataFrame:
    """A team's documented override wins: its tier, ``rule_id = "override"`` and its reason.

    The computed tier stays in ``computed_tier`` and is quoted in the reason. An override
    for a student x subject without a screening adds a row.
    """
    out = tiers.assign(
        override=False, computed_tier=tiers["tier"], decided_by=None, decided_on=None
    )
    if overrides is None or overrides.empty:
        return out
    latest = (
        overrides.sort_values(["student_id", "subject", "date"])
        .drop_duplicates(["student_id", "subject"], keep="last")
        .set_index(["student_id", "subject"])
    )
    key, hit_keys, hit = _override_hits(out, latest.index)
    missing = latest.index.difference(key)
    if len(missing):
        extra = (
            pd.DataFrame(list(missing), columns=["student_id", "subject"])
            .merge(students[["student_id", "school_id", "grade"]], on="student_id")
            .assign(reason="No screening score in this window", measures_used="")
        )
        out = pd.concat([out, extra.assign(override=False)], ignore_index=True)
        key, hit_keys, hit = _override_hits(out, latest.index)
    chosen = latest.reindex(hit_keys)
    computed = out.loc[hit, "tier"]
    was = np.where(
        computed.isna(), "no computed tier", "computed Tier " + computed.astype("string").fillna("")
    )
    out.loc[hit, "reason"] = (
        "Team override by "
        + chosen["decided_by"].to_numpy()
        + " on "
        + chosen["date"].astype(str).to_numpy()
        + ": "
        + chosen["reason"].to_numpy()
        + " ("
        + was
        + ": "
        + out.loc[hit, "reason"].fillna("").to_numpy()
        + ")"
    )
    out.loc[hit, "tier"] = chosen["tier"].astype("Int64").to_numpy()
    out.loc[hit, "rule_id"] = "override"
    out.loc[hit, "override"] = True
    out.loc[hit, "decided_by"] = chosen["decided_by"].to_numpy()
    out.loc[hit, "decided_on"] = chosen["date"].astype(str).to_numpy()
    return out


def _override_hits(
    frame: pd.DataFrame, overridden: pd.MultiIndex
) -> tuple[pd.MultiIndex, pd.MultiIndex, np.ndarray]:
    """The (student_id, subject) keys of the rows of ``frame`` whose student has an
    override, the keys of the rows with one (in row order) and a mask of those rows.

    Only the few overridden students' rows are indexed, not every row.
    """
    ids = overridden.get_level_values("student_id").unique()
    rows = np.flatnonzero(fast.isin_text(frame["student_id"], ids))
    candidates = pd.MultiIndex.from_frame(frame[["student_id", "subject"]].take(rows))
    found = candidates.isin(overridden)
    hit = np.zeros(len(frame), dtype=bool)
    hit[rows[found]] = True
    return candidates, candidates[found], hit


def validate_overrides(frame: pd.DataFrame, file: str, students: pd.DataFrame) -> pd.DataFrame:
    """Type ``overrides.csv`` (read as text); raise :class:`OverrideError` naming the row.

    Columns: student_id, subject (reading | math | behavior), tier (1-3), reason,
    decided_by, date (ISO). Row numbers are as a spreadsheet shows them (header = 1).
    """
    missing = [c for c in OVERRIDE_COLUMNS if c not in frame.columns]
    if missing:
        raise OverrideError(file, f"missing column(s) {', '.join(missing)}")
    out = frame[list(OVERRIDE_COLUMNS)].copy()
    for column in OVERRIDE_COLUMNS:
        out[column] = out[column].astype("string").str.strip()
    rows = pd.Series(np.arange(len(out)) + 2, index=out.index)

    def fail(bad: pd.Series, column: str, why: str) -> None:
        if bad.any():
            first = bad.to_numpy().argmax()
            value = out[column].iloc[first]
            raise OverrideError(file, why, column, int(rows.iloc[first]), value)

    for column in ("student_id", "reason", "decided_by"):
        fail(out[column].isna() | out[column].eq(""), column, "is blank (required)")
    fail(
        ~out["subject"].isin(["reading", "math", "behavior"]),
        "subject",
        "is not a subject (reading, math, behavior)",
    )
    tier = pd.to_numeric(out["tier"], errors="coerce")
    fail(~tier.isin([1, 2, 3]), "tier", "is not a tier (1, 2 or 3)")
    date = pd.to_datetime(out["date"], errors="coerce", format="%Y-%m-%d")
    fail(date.isna(), "date", "is not an ISO date such as 2025-10-02")
    # Look the few override ids up in the roster, not the roster up in the overrides
    # (Series.isin against a million ids takes seconds).
    roster = students["student_id"]
    on_roster = roster[roster.isin(out["student_id"].dropna().unique())].unique()
    fail(~out["student_id"].isin(on_roster), "student_id", "is not on the roster")
    return out.assign(tier=tier.astype("Int64"), date=date.dt.date.astype(str))


def assign_tiers(
    screenings: pd.DataFrame,
    students: pd.DataFrame,
    config: DistrictConfig,
    window: str,
    *,
    overrides: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per student x subject for ``window``: tier, rule_id, reason and focus.

    Each measure gets its own tier by its rule (:func:`measure_tiers`); the subject's
    combine rule picks the deciding measure (:func:`combine_tiers`), whose ``measure``,
    ``score`` and ``percentile`` the row carries; ``overrides`` (validated
    ``overrides.csv``) win; Tier 2 and 3 rows get a skill focus (:func:`skill_focus`).
    """
    columns = [*TIER_COLUMNS, *DECISION_INPUTS]
    per_measure, student, decision = _measure_tiers(screenings, students, config, window, columns)
    if per_measure.empty:
        return pd.DataFrame(columns=TIER_COLUMNS)
    keys = _keys(per_measure, student, decision)
    focus = _skill_focus(per_measure, keys, config).drop(columns=["student_id", "subject"])
    combined = _combine(per_measure, keys, config)
    del per_measure, keys  # freed before the table is assembled, sorted and converted
    decided = apply_overrides(combined, overrides, students)
    del combined
    # By student x subject code (rows an override added have none: no focus).
    looked_up = focus.reindex(decided.pop("_pair").fillna(-1).astype(np.int64))
    out = decided.assign(**looked_up.set_axis(decided.index))
    needs = out["tier"].fillna(1).ge(2)
    out["focus"] = out["focus"].where(needs, None)
    no_focus = needs & out["focus"].isna()
    out.loc[no_focus, "focus"] = DIAGNOSTIC
    out.loc[no_focus, "focus_reason"] = (
        "No skill-level measure is below its cut, so the screening cannot tell which skill "
        "to teach: give a diagnostic"
    )
    out.loc[~needs, ["focus_measure", "focus_reason"]] = None
    out.loc[~needs, "focus_score"] = np.nan
    out["on_watch"] = out["on_watch"].fillna(False).astype(bool)
    out["override"] = out["override"].fillna(False).astype(bool)
    out["tier"] = out["tier"].astype("Int64")
    out["computed_tier"] = out["computed_tier"].astype("Int64")
    out["grade"] = out["grade"].astype(int)
    out = out.reindex(columns=TIER_COLUMNS)
    # Sorted by school, subject, student (as sort_values: stable, missing last), then text.
    keys = [fast.sort_rank(out[column]) for column in ("student_id", "subject", "school_id")]
    order = np.lexsort(keys)
    # Text columns are converted straight into the sorted order (no sorted object copy).
    text = {column: fast.as_string(out.pop(column), order) for column in TEXT_COLUMNS}
    out = out.take(order).reset_index(drop=True).assign(**text).reindex(columns=TIER_COLUMNS)
    return with_domain_focus(out, screenings, config, window)
