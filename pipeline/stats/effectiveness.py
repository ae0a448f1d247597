"""Is it working? Intervention effectiveness per program x school and district-wide.

Every statistic is a closed-form group computation (no per-student loop) and carries its
n; below ``privacy.min_cell_size`` it is missing and ``note`` says "n too small".

Statistics, per program and scope (a ``school_id`` or ``"district"``):

* **served** (``n``), **dosage** (mean of sessions attended / planned) and the share at or
  above the fidelity threshold (80 %);
* **pre/post change** on the subject's outcome screening measure (fall -> current window), in
  score units, and **Hedges' g for paired pre/post scores** with its confidence interval,
  after Borenstein, Hedges, Higgins & Rothstein (2009), *Introduction to Meta-Analysis*,
  ch. 4, "matched groups" (eqs. 4.25-4.28 and 4.18-4.20)::

      S_within = S_diff / sqrt(2 (1 - r))        r = corr(pre, post)
      d        = mean_diff / S_within
      V_d      = (1/n + d^2 / (2 n)) * 2 (1 - r)
      J        = 1 - 3 / (4 df - 1),  df = n - 1
      g = J d,  SE_g = J sqrt(V_d),  CI = g -/+ z SE_g

* **moved up**: the share of served students who started in Tier 2 or 3 and now sit in a
  less intensive tier;
* **on track**: the share of monitored students whose progress decision is "continue" or
  "raise the goal"; median ROI against the median typical ROI of the same students;
* **comparison** (the only statistic called an *effect*): growth (current minus fall)
  against students at the same fall level who received no intervention in the subject,
  "compared with similar students who had no intervention (not a controlled
  experiment)". Per grade x measure, the coefficient of being served in a least-squares
  fit of growth on served, the fall level, the fall score and (district-wide) the school,
  with cluster-robust standard errors by school district-wide (Liang & Zeger 1986;
  Cameron & Miller 2015) and HC3 within a school; the grades are pooled by inverse-
  variance weights ``d = sum w_g d_g / sum w_g``, ``w_g = 1 / SE_g^2``,
  ``SE = (sum w_g)^(-1/2)`` (:mod:`pipeline.stats.comparison`). ``comparison_diff`` is in
  score units; ``effect_sd`` in SDs of the district's fall scores of the student's grade
  and measure (sample SD, ddof = 1): the scale the synthetic district plants effects on.
  ``n_compared`` counts the served students with comparable students at their fall level;
  where it is 0, ``has_comparison`` is False and the report shows the change since fall,
  which is not an effect. Pre/post g alone includes the growth every student makes over
  a term; the comparison does not.

The outcome scores come from :mod:`pipeline.stats.outcomes`; the "effectiveness of
support" table (:func:`transitions`, :mod:`pipeline.stats.transitions`) counts students by
fall tier x current tier, by whether they received an intervention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.stats.comparison import (
    growth_comparison,
    program_vs_comparison,
    stratified_difference,
    treated_scores,
)
from pipeline.stats.outcomes import OUTCOME_COLUMNS, outcome_scores
from pipeline.stats.scopes import DISTRICT, NO_COMPARISON, TOO_SMALL, with_scopes
from pipeline.stats.transitions import TRANSITION_COLUMNS, transitions

__all__ = [
    "DISTRICT",
    "EFFECTIVENESS_COLUMNS",
    "NO_COMPARISON",
    "OUTCOME_COLUMNS",
    "TOO_SMALL",
    "TRANSITION_COLUMNS",
    "growth_comparison",
    "hedges_g_paired",
    "outcome_scores",
    "program_effectiveness",
    "program_vs_comparison",
    "stratified_difference",
    "suppress_small",
    "transitions",
]

_PREPOST = ["mean_pre", "mean_post", "mean_change", "sd_change"]
_G = ["hedges_g", "g_se", "g_ci_low", "g_ci_high"]
_COMPARISON = [
    "comparison_diff",
    "comparison_se",
    "comparison_ci_low",
    "comparison_ci_high",
    "effect_sd",
    "effect_sd_se",
    "effect_sd_ci_low",
    "effect_sd_ci_high",
]
EFFECTIVENESS_COLUMNS = [
    "program",
    "scope",
    "subject",
    "window",
    "n",
    "dosage_mean",
    "fidelity_share",
    "n_scored",
    *_PREPOST,
    *_G,
    "n_moved_base",
    "moved_up_share",
    "n_monitored",
    "on_track_share",
    "median_roi",
    "median_typical_roi",
    "n_compared",
    "n_comparison",
    *_COMPARISON,
    "has_comparison",
    "suppressed",
    "note",
]
_KEYS = ["program", "scope", "subject"]


def program_effectiveness(
    screenings: pd.DataFrame,
    students: pd.DataFrame,
    interventions: pd.DataFrame,
    config: DistrictConfig,
    window: str,
    fall_tiers: pd.DataFrame,
    current_tiers: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per program x scope (each school, and ``"district"``): see the module
    docstring for every statistic. ``fall_tiers`` / ``current_tiers`` come from
    :func:`pipeline.rules.tiers.assign_tiers`; ``decisions`` from
    :func:`pipeline.stats.progress.progress_decisions`."""
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=EFFECTIVENESS_COLUMNS)
    level = config.effectiveness.confidence
    enrol = _enrolments(interventions, students)
    scores = outcome_scores(screenings, students, config, window)
    treated = treated_scores(scores, enrol)  # the scored students, shared by two statistics
    parts = [
        _pre_post(treated, level),
        _tier_movement(enrol, fall_tiers, current_tiers),
        _monitoring(decisions),
        growth_comparison(
            scores,
            enrol,
            level,
            treated=treated,
            min_clusters=config.effectiveness.min_cluster_schools,
        ),
    ]
    out = _served(enrol, config.effectiveness.fidelity_threshold)
    for part in parts:
        out = out.merge(part, on=_KEYS, how="left")
    out = out.assign(window=window).reindex(columns=EFFECTIVENESS_COLUMNS)
    return suppress_small(out, config.privacy.min_cell_size, window)


def _enrolments(interventions: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """One row per student x program (the last), with school, grade and ``dosage``:
    sessions attended / planned (missing without a plan)."""
    enrol = interventions.merge(
        students[["student_id", "school_id", "grade"]], on="student_id", how="inner"
    )
    planned = enrol.get("sessions_planned", pd.Series(np.nan, index=enrol.index)).astype("Float64")
    attended = enrol.get("sessions_attended", pd.Series(np.nan, index=enrol.index))
    # A student's phases in one program (several log rows) add up.
    by_student = [enrol["student_id"], enrol["program"]]
    planned = planned.groupby(by_student).transform("sum").where(planned.notna())
    attended = attended.astype("Float64").groupby(by_student).transform("sum")
    dosage = (attended.astype("Float64") / planned.where(planned > 0)).astype(float)
    return enrol.assign(dosage=dosage).drop_duplicates(["student_id", "program"], keep="last")


def _served(enrol: pd.DataFrame, fidelity_threshold: float) -> pd.DataFrame:
    """Per program x scope x subject: students served (``n``), mean dosage and the share
    at or above the fidelity threshold (of those with a dosage)."""
    faithful = (enrol["dosage"] >= fidelity_threshold).astype(float)
    served = with_scopes(enrol.assign(_fid=faithful.where(enrol["dosage"].notna())))
    return (
        served.groupby(_KEYS, observed=True)
        .agg(
            n=("student_id", "nunique"),
            dosage_mean=("dosage", "mean"),
            fidelity_share=("_fid", "mean"),
        )
        .reset_index()
    )


def _pre_post(treated: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per program x scope x subject: pre, post and change means, SD of the change, and
    Hedges' g for paired scores (:func:`hedges_g_paired`) with the pre/post correlation
    ``r = cov(pre, post) / (sd_pre sd_post)``."""
    agg = (
        treated.assign(_pp=treated["pre"] * treated["post"])
        .groupby(_KEYS, observed=True)
        .agg(
            n_scored=("change", "count"),
            mean_pre=("pre", "mean"),
            mean_post=("post", "mean"),
            mean_change=("change", "mean"),
            sd_change=("change", "std"),
            _sd_pre=("pre", "std"),
            _sd_post=("post", "std"),
            _mpp=("_pp", "mean"),
        )
        .reset_index()
    )
    n = agg["n_scored"]
    # Sample covariance from the mean of the products: (E[xy] - E[x] E[y]) n / (n - 1).
    cov = (agg["_mpp"] - agg["mean_pre"] * agg["mean_post"]) * n / (n - 1).where(n > 1)
    r = cov / (agg["_sd_pre"] * agg["_sd_post"])
    g = hedges_g_paired(n, agg["mean_change"], agg["sd_change"], r, level)
    return agg.assign(
        hedges_g=g["g"].to_numpy(),
        g_se=g["se"].to_numpy(),
        g_ci_low=g["ci_low"].to_numpy(),
        g_ci_high=g["ci_high"].to_numpy(),
    ).drop(columns=["_sd_pre", "_sd_post", "_mpp"])


def hedges_g_paired(
    n: pd.Series | np.ndarray,
    mean_diff: pd.Series | np.ndarray,
    sd_diff: pd.Series | np.ndarray,
    r: pd.Series | np.ndarray,
    level: float = 0.95,
) -> pd.DataFrame:
    """Hedges' g for paired pre/post scores with SE and CI (Borenstein, Hedges, Higgins &
    Rothstein 2009, *Introduction to Meta-Analysis*, ch. 4, eqs. 4.25-4.28, 4.18-4.20)::

        S_within = S_diff / sqrt(2 (1 - r));  d = mean_diff / S_within
        V_d = (1/n + d^2 / (2 n)) 2 (1 - r);  J = 1 - 3 / (4 (n - 1) - 1)
        g = J d;  SE_g = J sqrt(V_d);  CI = g -/+ z SE_g

    Vectorized over groups; ``r`` is the pre/post correlation. Missing where n < 3, r = 1
    or the change does not vary.
    """
    n = np.asarray(n, dtype=float)
    mean_diff, sd_diff = np.asarray(mean_diff, dtype=float), np.asarray(sd_diff, dtype=float)
    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (n >= 3) & (r < 1) & (sd_diff > 0)
        s_within = sd_diff / np.sqrt(2 * (1 - r))
        d = mean_diff / s_within
        v_d = (1 / n + d**2 / (2 * n)) * 2 * (1 - r)
        j = 1 - 3 / (4 * (n - 1) - 1)
        g = np.where(ok, j * d, np.nan)
        se = np.where(ok, j * np.sqrt(v_d), np.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame({"g": g, "se": se, "ci_low": g - z * se, "ci_high": g + z * se})


def _tier_movement(
    enrol: pd.DataFrame, fall_tiers: pd.DataFrame, current_tiers: pd.DataFrame
) -> pd.DataFrame:
    """Per program x scope x subject: of the served students who started in Tier 2 or 3
    (``n_moved_base``), the share now in a less intensive tier (``moved_up_share``)."""
    moves = (
        enrol[["student_id", "program", "subject", "school_id"]]
        .merge(_tier_as(fall_tiers, "fall_tier"), on=["student_id", "subject"])
        .merge(_tier_as(current_tiers, "now_tier"), on=["student_id", "subject"])
        .dropna(subset=["fall_tier", "now_tier"])
    )
    moves = moves[moves["fall_tier"] >= 2]
    return (
        with_scopes(moves.assign(_up=(moves["now_tier"] < moves["fall_tier"]).astype(float)))
        .groupby(_KEYS, observed=True)
        .agg(n_moved_base=("_up", "count"), moved_up_share=("_up", "mean"))
        .reset_index()
    )


def _tier_as(tiers: pd.DataFrame, name: str) -> pd.DataFrame:
    return tiers[["student_id", "subject", "tier"]].rename(columns={"tier": name})


def _monitoring(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Per program x scope x subject, of the monitored students (progress decisions with
    a program): the share on track, the median ROI and the median typical ROI."""
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=[*_KEYS, "n_monitored", "on_track_share"])
    dec = decisions.dropna(subset=["program"])
    # A student's phases in one program count once: the last (decisions are by phase).
    dec = dec.drop_duplicates(["student_id", "measure", "program"], keep="last")
    dec = with_scopes(dec.assign(_ok=dec["on_track"].astype("Float64").astype(float)))
    return (
        dec.groupby(_KEYS, observed=True)
        .agg(
            n_monitored=("_ok", "count"),
            on_track_share=("_ok", "mean"),
            median_roi=("roi", "median"),
            median_typical_roi=("expected_growth", "median"),
        )
        .reset_index()
    )


def suppress_small(out: pd.DataFrame, min_n: int, window: str) -> pd.DataFrame:
    """Blank every statistic whose n is below ``min_n`` and say why in ``note``."""
    out = out.copy()
    notes = pd.DataFrame(index=out.index)
    fill = lambda c: out[c].fillna(0).astype(float)  # noqa: E731
    rules = [
        ("n", ["dosage_mean", "fidelity_share"], "served"),
        ("n_scored", _PREPOST + _G, "pre/post"),
        ("n_moved_base", ["moved_up_share"], "tier movement"),
        ("n_monitored", ["on_track_share", "median_roi", "median_typical_roi"], "on track"),
    ]
    suppressed = pd.Series(False, index=out.index)
    for count, columns, label in rules:
        small = fill(count) < min_n
        had = fill(count) > 0
        out.loc[small, columns] = np.nan
        notes[label] = np.where(small & had, f"{label}: {TOO_SMALL}", "")
        suppressed |= small & had
    small = (fill("n_compared") < min_n) | (fill("n_comparison") < min_n)
    had = fill("n_compared") > 0
    out.loc[small, _COMPARISON] = np.nan
    notes["comparison"] = np.where(
        small & had,
        f"comparison: {TOO_SMALL}",
        np.where(had, "", f"comparison: {NO_COMPARISON}"),
    )
    out["has_comparison"] = had & ~small
    suppressed |= small & had
    if window == WINDOW_ORDER[0]:
        notes["window"] = "fall: no post-test yet"
    out["note"] = notes.apply(lambda row: "; ".join(v for v in row if v), axis=1)
    out["suppressed"] = suppressed
    for column in ("n", "n_scored", "n_moved_base", "n_monitored", "n_compared", "n_comparison"):
        out[column] = out[column].fillna(0).astype(int)
    return out.sort_values(["subject", "program", "scope"]).reset_index(drop=True)
