"""One measure's tier: from a cut-score table, the vendor's label, raw-score bands or
percentile bands, with the reason that produced it (DESIGN.md, "Risk and tiers").

Per measure, one rule (``config/district.yml``, ``measures.<name>.tier_rule``):

* ``benchmark``: a cut-score table in ``config/benchmarks/`` (the DIBELS 8 goals):
  Above / At Benchmark -> Tier 1, Below Benchmark -> Tier 2, Well Below -> Tier 3;
* ``percentile``: bands such as the default 10/25 (< 10 -> Tier 3, < 25 -> Tier 2), Star
  10/25/40 (a third cut flags Tier 1 students "on watch"), FastBridge 15/40;
* ``score_bands``: raw-score cuts (a SAEBRS-style total, a BESS T-score);
* ``vendor_level``: the vendor's own label (BESS Normal / Elevated / Extremely Elevated).

Where the table or the label has nothing for a student, the measure's ``fallback``
(percentile or score bands) decides. The rules run in that order, each on the rows the
ones before left undecided (or on its own measures' rows).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.rules import reasons
from pipeline.rules.labels import LEVEL_LABELS

LEVEL_TIER = {"above": 1, "benchmark": 1, "below": 2, "well_below": 3}
# The columns a per-measure decision reads.
DECISION_INPUTS = ["measure", "grade", "score", "percentile", "vendor_level"]
DECISION_COLUMNS = ["tier", "level", "rule_id", "reason", "on_watch"]


def tier_from_percentile(
    percentile: pd.Series, tier3_below: float | pd.Series, tier2_below: float | pd.Series
) -> pd.Series:
    """Percentile bands: below ``tier3_below`` -> 3, below ``tier2_below`` -> 2, else 1.

    With the default bands (10, 25): 9.9 -> 3, 10 -> 2, 24.9 -> 2, 25 -> 1. Missing
    percentiles give a missing tier. Cuts may be scalars or per-row Series.
    """
    values = percentile.astype("Float64")
    below3 = values.lt(tier3_below).fillna(False)
    below2 = values.lt(tier2_below).fillna(False)
    tier = pd.Series(np.select([below3, below2], [3, 2], default=1), index=percentile.index)
    return tier.astype("Int64").mask(values.isna())


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


def measure_tiers(
    screenings: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, window: str
) -> pd.DataFrame:
    """One row per student x measure in ``window``: tier, level, rule_id, reason, on_watch.

    Only measures with a tier rule other than ``none`` appear. Students not on the roster
    are left out (the ingest stage quarantines them).
    """
    return measure_tiers_coded(screenings, students, config, window)[0]


def measure_tiers_coded(
    screenings: pd.DataFrame,
    students: pd.DataFrame,
    config: DistrictConfig,
    window: str,
    columns: list[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """:func:`measure_tiers` keeping only the screening ``columns`` (default: all), with
    each row's position in ``students`` and a code per row for its decision (rows with
    one code have one tier, level, rule_id, reason and on_watch)."""
    keep = (screenings["window"] == window) & screenings["measure"].isin(config.tiered_measures())
    if columns is not None:
        screenings = screenings[[c for c in screenings.columns if c in columns]]
    frame, student = fast.join_roster(screenings[keep], students)
    for column in ("percentile", "vendor_level", "source_file", "source_row"):
        if column not in frame.columns:
            frame[column] = pd.NA
    frame = frame.reset_index(drop=True)
    # A decision depends on DECISION_INPUTS only: a few thousand distinct combinations
    # at state scale against millions of rows, each decided once and copied to its rows.
    code, first = fast.distinct_rows(frame, DECISION_INPUTS)
    decided = decide(frame.take(first).reset_index(drop=True), config, window)
    return frame.assign(**decided.take(code).set_axis(frame.index)), student, code


class _Rows(NamedTuple):
    """What every rule reads about the rows it decides (row-aligned Series)."""

    measure: pd.Series
    rule: pd.Series  # the measure's tier_rule
    name: pd.Series  # "ORF"
    score: pd.Series  # Float64
    score_text: pd.Series  # "31 wcpm"
    where: pd.Series  # "grade 3 fall"
    window: str


def decide(frame: pd.DataFrame, config: DistrictConfig, window: str) -> pd.DataFrame:
    """Tier, level, rule_id, reason and on_watch of each row of ``frame`` (columns
    :data:`DECISION_INPUTS`): each rule in turn, then "no tier" where none decided."""
    decision = pd.DataFrame(
        {
            "tier": pd.Series(pd.NA, index=frame.index, dtype="Int64"),
            "level": pd.Series(None, index=frame.index, dtype=object),
            "rule_id": pd.Series(None, index=frame.index, dtype=object),
            "reason": pd.Series(None, index=frame.index, dtype=object),
            "on_watch": pd.Series(False, index=frame.index, dtype=bool),
        }
    )
    if frame.empty:
        return decision
    rows = _rows(frame, config, window)
    for rule in (benchmark_tiers, vendor_level_tiers, score_band_tiers, percentile_tiers):
        found, values = rule(frame, rows, decision["tier"], config)
        for column, value in values.items():
            decision[column] = decision[column].mask(found, value)
    missing = decision["tier"].isna()
    no_tier = _each(reasons.no_tier, rows.name, rows.score_text, rows.where, where=missing)
    decision["reason"] = decision["reason"].mask(missing, no_tier)
    decision["on_watch"] = decision["on_watch"].astype(bool)
    return decision


def _rows(frame: pd.DataFrame, config: DistrictConfig, window: str) -> _Rows:
    measure = frame["measure"]
    measures = config.measures
    score = frame["score"].astype("Float64")
    unit = measure.map({n: m.short_unit for n, m in measures.items()})
    return _Rows(
        measure=measure,
        rule=measure.map({n: m.tier_rule for n, m in measures.items()}),
        name=measure.map({n: m.name_in_text for n, m in measures.items()}),
        score=score,
        score_text=_each(reasons.score_with_unit, score, unit),
        where=_each(reasons.grade_and_window, frame["grade"], pd.Series(window, frame.index)),
        window=window,
    )


def benchmark_tiers(frame: pd.DataFrame, rows: _Rows, tier: pd.Series, config: DistrictConfig):
    """Cut-score tables: the level the score reaches among its grade and window's cuts."""
    bench = rows.rule.eq("benchmark")
    if not bench.any():
        return bench, {}
    table = rows.measure.map({n: m.benchmark for n, m in config.measures.items()})
    keys = pd.MultiIndex.from_arrays([table, rows.measure, frame["grade"].astype(int)])
    cuts = _cut_table(config, rows.window).reindex(keys).set_axis(frame.index)
    level = level_from_cuts(rows.score, cuts).where(bench, None)
    found = level.notna()
    cut_text = [cuts[level].map(reasons.number) for level in ("above", "benchmark", "below")]
    reason = _each(
        reasons.benchmark, rows.name, rows.score_text, rows.where, level, *cut_text, where=found
    )
    rule_id = _each("benchmark:{}:{}".format, table, level, where=found)
    tiers = level.map(LEVEL_TIER).astype("Int64")
    return found, {"tier": tiers, "level": level, "rule_id": rule_id, "reason": reason}


def _cut_table(config: DistrictConfig, window: str) -> pd.DataFrame:
    """The window's cuts, one row per benchmark x measure x grade, a column per level."""
    table = config.benchmark_table()
    return (
        table[table["window"] == window]
        .pivot_table(
            index=["benchmark", "measure", "grade"],
            columns="level",
            values="min_score",
            aggfunc="first",
        )
        .reindex(columns=list(LEVEL_LABELS))
    )


def vendor_level_tiers(frame: pd.DataFrame, rows: _Rows, tier: pd.Series, config):
    """The vendor's own label, mapped by the measure's ``level_tiers`` (any case)."""
    vendor = rows.rule.eq("vendor_level")
    if not vendor.any():
        return vendor, {}
    label = frame["vendor_level"].astype("string").str.strip()
    tier_of = {
        n: {k.strip().casefold(): v for k, v in m.level_tiers.items()}
        for n, m in config.measures.items()
    }
    mapped = pd.Series(
        [
            tier_of.get(m, {}).get(str(lab).casefold()) if v and not pd.isna(lab) else None
            for m, lab, v in zip(rows.measure, label, vendor, strict=True)
        ],
        index=frame.index,
        dtype="object",
    )
    found = mapped.notna()
    reason = _each(reasons.vendor_level, rows.name, rows.score_text, label, mapped, where=found)
    return found, {
        "tier": mapped.astype("Int64"),
        "level": label.astype(object),
        "rule_id": "vendor_level:" + rows.measure,
        "reason": reason,
    }


def score_band_tiers(frame: pd.DataFrame, rows: _Rows, tier: pd.Series, config):
    """Raw-score cuts, as the measure's rule or as the fallback where no rule decided."""
    measures = config.measures
    fallback = rows.measure.map({n: m.fallback == "score_bands" for n, m in measures.items()})
    bands = rows.rule.eq("score_bands") | (tier.isna() & fallback.astype(bool))
    bands &= rows.score.notna()
    if not bands.any():
        return bands, {}
    spec = {n: m.score_bands for n, m in measures.items() if m.score_bands is not None}
    tier3 = rows.measure.map({n: b.tier3 for n, b in spec.items()}).astype("Float64")
    tier2 = rows.measure.map({n: b.tier2 for n, b in spec.items()}).astype("Float64")
    high = rows.measure.map({n: b.risk == "high" for n, b in spec.items()})
    high = high.fillna(False).astype(bool)
    score = rows.score
    low_risk_tier = np.select(
        [score.lt(tier3).fillna(False), score.lt(tier2).fillna(False)], [3, 2], 1
    )
    high_risk_tier = np.select(
        [score.ge(tier3).fillna(False), score.ge(tier2).fillna(False)], [3, 2], 1
    )
    band_tier = pd.Series(np.where(high, high_risk_tier, low_risk_tier), index=frame.index)
    cuts = (tier3.map(reasons.number), tier2.map(reasons.number))
    reason = _each(
        reasons.score_bands, rows.name, rows.score_text, band_tier, *cuts, high, where=bands
    )
    return bands, {
        "tier": band_tier.astype("Int64"),
        "rule_id": "score_bands:" + rows.measure,
        "reason": reason,
    }


def percentile_tiers(frame: pd.DataFrame, rows: _Rows, tier: pd.Series, config):
    """Percentile bands, as the measure's rule or as the fallback where no rule decided; a
    third cut puts Tier 1 students below it on watch."""
    measures = config.measures
    fallback = rows.measure.map({n: m.fallback == "percentile" for n, m in measures.items()})
    use = rows.rule.eq("percentile") | (tier.isna() & fallback.astype(bool))
    if not use.any():
        return use, {}
    preset = rows.measure.map({n: m.percentile_preset for n, m in measures.items()})
    cuts = preset.map(config.percentile_bands)
    tier3, tier2 = cuts.str[0].astype(float), cuts.str[1].astype(float)
    watch = cuts.map(lambda c: c[2] if len(c) > 2 else np.nan).astype(float)
    percentile = frame["percentile"].astype("Float64")
    pct_tier = tier_from_percentile(percentile, tier3, tier2)
    on_watch = pct_tier.eq(1).fillna(False) & percentile.lt(watch).fillna(False)
    found = use & pct_tier.notna()
    cut_text = [cut.map(reasons.number) for cut in (tier3, tier2, watch)]
    value = percentile.map(reasons.number)
    reason = _each(reasons.percentile, rows.name, value, pct_tier, *cut_text, on_watch, where=found)
    fell_back = found & rows.rule.ne("percentile")
    instead = _each(reasons.instead_of_cut, reason, rows.where, where=fell_back)
    return found, {
        "tier": pct_tier,
        "rule_id": "percentile:" + preset,
        "reason": reason.mask(fell_back, instead),
        "on_watch": on_watch,
    }


def _each(sentence, *columns: pd.Series, where: pd.Series | None = None) -> pd.Series:
    """``sentence`` of each row's values (None outside ``where``); the rows are distinct
    decisions, a few thousand at state scale."""
    index = columns[0].index
    rows = np.flatnonzero(where.to_numpy(dtype=bool)) if where is not None else slice(None)
    values = [column.to_numpy(dtype=object)[rows] for column in columns]
    out = np.full(len(index), None, dtype=object)
    out[rows] = [sentence(*row) for row in zip(*values, strict=True)]
    return pd.Series(out, index=index, dtype=object)
