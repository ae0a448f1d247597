"""Several measures of one subject combine into the subject's tier by a named rule
(DESIGN.md, "Risk and tiers"; ``subjects.<subject>.combine`` in ``config/district.yml``).

Per student x subject the measures with a tier are ranked from the most intensive (ties
in config order, then in row order); a rule says which ranked measure decides:

* ``composite_first``: the composite measure when the student has one, otherwise the
  most intensive;
* ``most_intensive``: the first;
* ``two_of_three``: the second, the highest tier that at least two measures reach (a
  single measure decides alone).

The deciding measure's row is the subject's row; its reason gets the rule's note in front.
A new rule is one more entry in :data:`COMBINE_RULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.rules import reasons
from pipeline.rules.keys import MeasureKeys, config_order, measure_keys

if TYPE_CHECKING:  # the config validates rule names against COMBINE_RULES
    from pipeline.config import DistrictConfig


class CombineRule(NamedTuple):
    """``decides``: of the ranked measures (columns rank, n, is_composite, has_composite),
    the one that decides; ``note``: its note (composite decides, n measures, subject)."""

    decides: Callable[[pd.DataFrame], np.ndarray]
    note: Callable[[bool, int, str], str]


COMBINE_RULES: dict[str, CombineRule] = {
    "composite_first": CombineRule(
        decides=lambda m: np.where(m["has_composite"], m["is_composite"], m["rank"] == 0),
        note=lambda composite, n, subject: (
            reasons.COMPOSITE_DECIDES if composite else reasons.most_intensive_of(n, subject)
        ),
    ),
    "most_intensive": CombineRule(
        decides=lambda m: (m["rank"] == 0).to_numpy(),
        note=lambda composite, n, subject: reasons.most_intensive_of(n, subject),
    ),
    "two_of_three": CombineRule(
        decides=lambda m: (m["rank"] == np.where(m["n"] >= 2, 1, 0)).to_numpy(),
        note=lambda composite, n, subject: reasons.two_of(n, subject),
    ),
}
DEFAULT_RULE = "most_intensive"  # for a subject the config does not name


def combine_tiers(per_measure: pd.DataFrame, config: DistrictConfig) -> pd.DataFrame:
    """One row per student x subject: the deciding measure's row, by the subject's rule."""
    return combine(per_measure, measure_keys(per_measure), config).drop(columns="_pair")


def combine(per_measure: pd.DataFrame, keys: MeasureKeys, config: DistrictConfig):
    """:func:`combine_tiers`, with each row's student x subject code in ``_pair``.

    Student x subject pairs whose measures have no tier at all keep one row (their
    first), tier missing, after the decided rows."""
    ranked = rank_measures(per_measure, keys, config)
    rule = ranked["rule"]
    decides = np.zeros(len(ranked), dtype=bool)
    for name, combine_rule in COMBINE_RULES.items():
        decides |= (rule == name).to_numpy() & combine_rule.decides(ranked)
    decided = ranked[decides]
    untiered = _untiered_rows(ranked, keys)
    out = per_measure.take(np.r_[decided["row"], untiered]).reset_index(drop=True)
    n = len(decided)
    reason = out["reason"].to_numpy(dtype=object).copy()
    reason[:n] = _with_notes(decided, reason[:n], keys, per_measure)
    subject_rule = {s: r.combine for s, r in config.subjects.items()}
    combine_names = np.r_[
        decided["rule"].astype(object), out["subject"].iloc[n:].map(subject_rule).to_numpy(object)
    ]
    used = _measures_used(ranked, keys, config)
    measures_used = np.r_[used[decided["pair"]], np.full(len(untiered), "", dtype=object)]
    # A decided row is on watch only at Tier 1 (its tier is known).
    on_watch = out["on_watch"].to_numpy(dtype=bool).copy()
    on_watch[:n] &= decided["tier"].to_numpy() == 1
    return out.assign(
        reason=pd.Series(reason, dtype=object),
        on_watch=pd.array(on_watch, dtype="boolean"),
        combine=pd.Series(combine_names, dtype=object),
        measures_used=pd.Series(measures_used, dtype=object),
        _pair=np.r_[decided["pair"], keys.pair[untiered]],
    )


def _untiered_rows(ranked: pd.DataFrame, keys: MeasureKeys) -> np.ndarray:
    """The first row of each student x subject none of whose measures has a tier."""
    tiered = np.bincount(ranked["pair"], minlength=keys.pair.max(initial=-1) + 1) > 0
    rows = np.flatnonzero(~tiered[keys.pair])
    return rows[~pd.Series(keys.pair[rows]).duplicated().to_numpy()]


def rank_measures(per_measure: pd.DataFrame, keys: MeasureKeys, config) -> pd.DataFrame:
    """The rows with a tier (``row``), per student x subject (``pair``) from the most
    intensive, ties in config order, then in row order, with what a rule reads: the
    subject's ``rule``, ``rank`` and ``n`` among the pair's measures, ``is_composite``
    (the subject's composite measure) and ``has_composite`` (the pair has one)."""
    order = keys.measure.map(config_order(config.measures), float, np.nan)
    tiers = per_measure["tier"].to_numpy(dtype=float, na_value=np.nan)
    rows = np.flatnonzero(~np.isnan(tiers))
    rows = rows[np.lexsort((order[rows], -tiers[rows], keys.pair[rows]))]
    pair = keys.pair[rows]
    rank, n = fast.rank_in_runs(pair)
    names = list(COMBINE_RULES)
    rule_of = {s: names.index(r.combine) for s, r in config.subjects.items()}
    rule = keys.subject.map(rule_of, np.int64, names.index(DEFAULT_RULE))[rows]
    code_of = {m: k for k, m in enumerate(keys.measure.uniques)}
    composite_of = {s: code_of.get(r.composite, -2) for s, r in config.subjects.items()}
    composite = keys.subject.map(composite_of, np.int64, -2)[rows]
    is_composite = composite == keys.measure.codes[rows]
    return pd.DataFrame(
        {
            "row": rows,
            "pair": pair,
            "tier": tiers[rows],
            "rule": pd.Categorical.from_codes(rule, categories=names),
            "rank": rank,
            "n": n,
            "is_composite": is_composite,
            "has_composite": fast.any_in_runs(pair, is_composite),
        }
    )


def _with_notes(decided: pd.DataFrame, reason: np.ndarray, keys: MeasureKeys, per_measure):
    """The rule's note before each decided row's reason: a note per distinct rule,
    composite, number of measures and subject; joined per distinct note and reason."""
    rows = decided["row"].to_numpy()
    kinds = pd.DataFrame(
        {
            "rule": decided["rule"].cat.codes.to_numpy(),
            "composite": decided["is_composite"].to_numpy(),
            "n": decided["n"].to_numpy(),
            "subject": keys.subject.codes[rows],
        }
    )
    kind, first = fast.distinct_rows(kinds, list(kinds.columns))
    each = decided.iloc[first]
    subject = per_measure["subject"].take(each["row"])
    notes = [
        COMBINE_RULES[rule].note(bool(composite), int(n), subject)
        for rule, composite, n, subject in zip(
            each["rule"], each["is_composite"], each["n"], subject, strict=True
        )
    ]
    decision = keys.decision
    if decision is None:
        decision, _ = pd.factorize(per_measure["reason"])
    note = np.array(notes, dtype=object)[kind]
    return fast.concat_once(note, reason, kind, decision[rows])


def _measures_used(ranked: pd.DataFrame, keys: MeasureKeys, config) -> np.ndarray:
    """Per student x subject code: its measures with a tier, in config order (then row
    order), joined with ", "."""
    order = keys.measure.map(config_order(config.measures), float, np.nan)
    rows = np.sort(ranked["row"].to_numpy())
    rows = rows[np.lexsort((order[rows], keys.pair[rows]))]
    pair = keys.pair[rows]
    lists = fast.join_runs(pair, keys.measure.text(rows), ", ")
    by_pair = np.full(keys.pair.max(initial=-1) + 1, "", dtype=object)
    by_pair[pair[fast.runs(pair)[1]]] = lists
    return by_pair
