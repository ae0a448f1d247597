"""Tier decisions: which students need support, how intensive, in which skill, and why.

:func:`assign_tiers` composes the rules of DESIGN.md's "Risk and tiers" and "Skill focus":

1. each measure's tier by its rule, with its reason (:mod:`pipeline.rules.measure`);
2. the subject's tier by its named combine rule (:mod:`pipeline.rules.combine`);
3. a team's override wins (:mod:`pipeline.rules.overrides`);
4. Tier 2 and 3 get a skill focus (:mod:`pipeline.rules.focus`).

Every decision carries the rule that produced it (``rule_id``) and a sentence a specialist
understands (``reason``, :mod:`pipeline.rules.reasons`): "ORF 31 wcpm is below 55, the
grade 3 fall cut for Below Benchmark: Well Below Benchmark (Tier 3)".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.rules import reasons
from pipeline.rules.combine import combine, combine_tiers
from pipeline.rules.domains import domain_rows_of, with_domain_focus
from pipeline.rules.focus import focus_by_pair, skill_focus
from pipeline.rules.keys import measure_keys
from pipeline.rules.labels import DIAGNOSTIC
from pipeline.rules.measure import (
    DECISION_INPUTS,
    level_from_cuts,
    measure_tiers,
    measure_tiers_coded,
    tier_from_percentile,
)
from pipeline.rules.overrides import OverrideError, apply_overrides, validate_overrides

# The names other modules and tests import from here.
__all__ = [
    "DIAGNOSTIC",
    "TEXT_COLUMNS",
    "TIER_COLUMNS",
    "OverrideError",
    "apply_overrides",
    "assign_tiers",
    "combine_tiers",
    "level_from_cuts",
    "measure_tiers",
    "skill_focus",
    "tier_from_percentile",
    "validate_overrides",
]

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


def assign_tiers(
    screenings: pd.DataFrame,
    students: pd.DataFrame,
    config: DistrictConfig,
    window: str,
    *,
    overrides: pd.DataFrame | None = None,
    domain_scores: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per student x subject for ``window``: tier, rule_id, reason and focus.

    Each measure gets its own tier by its rule (:func:`measure_tiers`); the subject's
    combine rule picks the deciding measure (:func:`combine_tiers`), whose ``measure``,
    ``score`` and ``percentile`` the row carries; ``overrides`` (validated
    ``overrides.csv``) win; Tier 2 and 3 rows get a skill focus (:func:`skill_focus`),
    from their domain scores where any is at risk (:func:`with_domain_focus`; the domain
    rows come from ``screenings`` unless ``domain_scores(need)`` gives those of the pairs
    ``need``, as the process stage's store read does). Rows are sorted by school, subject
    and student.
    """
    decided, focus = _decided_and_focus(screenings, students, config, window, overrides)
    if decided is None:
        return pd.DataFrame(columns=TIER_COLUMNS)
    tiers = _in_report_order(_with_focus(decided, focus))
    if domain_scores is None:
        domain_scores = partial(domain_rows_of, screenings, config=config)
    return with_domain_focus(tiers, domain_scores, config, window)


def _decided_and_focus(screenings, students, config, window, overrides):
    """The subject rows after combining and overrides (with their student x subject code
    ``_pair``) and the focus of each code; the per-measure rows are freed on return."""
    columns = [*TIER_COLUMNS, *DECISION_INPUTS]
    per_measure, student, decision = measure_tiers_coded(
        screenings, students, config, window, columns
    )
    if per_measure.empty:
        return None, None
    keys = measure_keys(per_measure, student, decision)
    focus = focus_by_pair(per_measure, keys, config).drop(columns=["student_id", "subject"])
    combined = combine(per_measure, keys, config)
    return apply_overrides(combined, overrides, students), focus


def _with_focus(decided: pd.DataFrame, focus: pd.DataFrame) -> pd.DataFrame:
    """Tier 2 and 3 rows get their pair's focus, or a diagnostic when no skill measure is
    below its cut (rows an override added have no pair: no focus); Tier 1 rows none."""
    pair = decided.pop("_pair").fillna(-1).astype(np.int64)
    out = decided.assign(**focus.reindex(pair).set_axis(decided.index))
    needs = out["tier"].fillna(1).ge(2)
    out["focus"] = out["focus"].where(needs, None)
    no_focus = needs & out["focus"].isna()
    out.loc[no_focus, "focus"] = DIAGNOSTIC
    out.loc[no_focus, "focus_reason"] = reasons.GIVE_A_DIAGNOSTIC
    out.loc[~needs, ["focus_measure", "focus_reason"]] = None
    out.loc[~needs, "focus_score"] = np.nan
    return out


def _in_report_order(out: pd.DataFrame) -> pd.DataFrame:
    """:data:`TIER_COLUMNS` with their dtypes, sorted by school, subject, student (as
    ``sort_values``: stable, missing last); text as pandas "string"."""
    out["on_watch"] = out["on_watch"].fillna(False).astype(bool)
    out["override"] = out["override"].fillna(False).astype(bool)
    out["tier"] = out["tier"].astype("Int64")
    out["computed_tier"] = out["computed_tier"].astype("Int64")
    out["grade"] = out["grade"].astype(int)
    out = out.reindex(columns=TIER_COLUMNS)
    ranks = [fast.sort_rank(out[column]) for column in ("student_id", "subject", "school_id")]
    order = np.lexsort(ranks)
    # Text columns are converted straight into the sorted order (no sorted object copy).
    text = {column: fast.as_string(out.pop(column), order) for column in TEXT_COLUMNS}
    return out.take(order).reset_index(drop=True).assign(**text).reindex(columns=TIER_COLUMNS)
