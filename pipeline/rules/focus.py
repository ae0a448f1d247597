"""Skill focus (DESIGN.md, "Skill focus"): what a student at Tier 2 or 3 should be taught.

Reading follows the ladder phonemic awareness -> phonics -> fluency -> comprehension and
the focus is the lowest rung at risk; fluency or comprehension at risk with no data on the
rung below (no decoding measure for a low ORF, no ORF for a low Maze) cannot tell where
the gap is: ``needs_diagnostic``. Math and behaviour name every domain at risk, joined
with " + ". No skill measure at risk: ``needs_diagnostic``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.rules import reasons
from pipeline.rules.keys import MeasureKeys, config_order, measure_keys
from pipeline.rules.labels import DIAGNOSTIC

# Reading is a ladder (the lowest rung at risk is the focus); math and behaviour are
# domains (every domain at risk is named).
LADDERS: dict[str, tuple[str, ...]] = {
    "reading": ("phonemic_awareness", "phonics", "fluency", "comprehension"),
}
DOMAINS: dict[str, tuple[str, ...]] = {
    "math": ("computation", "concepts"),
    "behavior": ("externalizing", "internalizing"),
}
FOCUS_COLUMNS = ["focus", "focus_measure", "focus_score", "focus_reason"]


def skill_focus(per_measure: pd.DataFrame, config: DistrictConfig) -> pd.DataFrame:
    """Per student x subject with a skill measure: focus, focus_measure, focus_score and
    focus_reason (the module's rules)."""
    return focus_by_pair(per_measure, measure_keys(per_measure), config).reset_index(drop=True)


def focus_by_pair(per_measure: pd.DataFrame, keys: MeasureKeys, config: DistrictConfig):
    """:func:`skill_focus` indexed by the student x subject code ``keys.pair``, in order of
    each pair's first skill measure."""
    ids = ["student_id", "subject"]
    skill_of = {n: m.skill for n, m in config.measures.items() if m.skill is not None}
    skills = keys.measure.map(skill_of)
    rows = np.flatnonzero(pd.notna(skills))
    if not len(rows):
        return pd.DataFrame(columns=[*ids, *FOCUS_COLUMNS], index=pd.Index([], dtype=np.int64))
    rung_of = {s: k for ladder in LADDERS.values() for k, s in enumerate(ladder)}
    rung_of.update({s: k for domains in DOMAINS.values() for k, s in enumerate(domains)})
    rung = keys.measure.map({n: rung_of.get(s) for n, s in skill_of.items()}, float, np.nan)
    order = keys.measure.map(config_order(config.measures), float, np.nan)
    tiers = per_measure["tier"].to_numpy(dtype=float, na_value=np.nan)
    risky = rows[np.nan_to_num(tiers[rows], nan=1) >= 2]
    # Per student x subject: lowest rung, then most intensive, then config order.
    risky = risky[np.lexsort((order[risky], -tiers[risky], rung[risky], keys.pair[risky]))]
    first = risky[fast.runs(keys.pair[risky])[1]]
    is_ladder = keys.subject.map(dict.fromkeys(LADDERS, True), bool, False)
    focus, focus_reason = _ladder_focus(per_measure, keys, rows, first, skills, rung)
    on_ladder = is_ladder[first]
    domain = risky[~is_ladder[risky]]
    focus[~on_ladder], focus_reason[~on_ladder] = _domains_at_risk(
        domain, keys.pair[domain], skills[domain], per_measure["reason"]
    )
    result = pd.DataFrame(
        {
            "focus": pd.Series(focus, dtype=object),
            "focus_measure": per_measure["measure"].take(first).reset_index(drop=True),
            "focus_score": per_measure["score"].take(first).astype(float).reset_index(drop=True),
            "focus_reason": pd.Series(focus_reason, dtype=object),
        }
    ).set_axis(keys.pair[first])
    # Every student x subject with a skill measure, in order of appearance.
    seen = rows[~pd.Series(keys.pair[rows]).duplicated().to_numpy()]
    out = per_measure[ids].take(seen).set_axis(keys.pair[seen]).join(result, how="left")
    out.loc[out["focus"].isna(), "focus_reason"] = reasons.NOTHING_BELOW_CUT
    return out


def _ladder_focus(per_measure, keys: MeasureKeys, rows, first, skills, rung):
    """Focus and reason of each pair's lowest rung at risk (``first``): the rung, or a
    diagnostic when fluency or comprehension is at risk and the rung below has no measure
    (of any tier) for the student."""
    rung_code = np.nan_to_num(rung, nan=-1).astype(np.int64)
    below = (keys.pair[first], rung_code[first] - 1)
    below_measured = np.where(
        rung[first] >= 2, fast.pairs_in(below, (keys.pair[rows], rung_code[rows])), True
    )
    is_ladder = keys.subject.map(dict.fromkeys(LADDERS, True), bool, False)[first]
    unclear = is_ladder & ~below_measured
    why = per_measure["reason"].to_numpy(dtype=object)[first]
    focus = skills[first].copy()
    focus[unclear] = DIAGNOSTIC
    focus_reason = np.empty(len(first), dtype=object)
    focus_reason[unclear] = [
        reasons.rung_below_missing(reason, int(r))
        for reason, r in zip(why[unclear], rung[first][unclear], strict=True)
    ]
    clear = is_ladder & ~unclear
    focus_reason[clear] = reasons.LOWEST_RUNG + why[clear]
    return focus, focus_reason


def _domains_at_risk(rows: np.ndarray, pair: np.ndarray, skills: np.ndarray, reason: pd.Series):
    """Per pair (``pair`` sorted): every domain at risk, each once, joined with " + ", and
    every reason at risk, joined with "; "."""
    once = ~pd.DataFrame({"pair": pair, "skill": skills}).duplicated().to_numpy()
    focus = fast.join_runs(pair[once], skills[once], " + ")
    why = fast.join_runs(pair, reason.to_numpy(dtype=object)[rows], "; ")
    return focus, reasons.DOMAINS_AT_RISK + why
