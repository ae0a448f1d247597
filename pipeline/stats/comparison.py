"""Growth against a comparison group: the difference in mean growth between a program's
students and students at the same starting level who received no intervention.

Within each stratum (outcome measure x grade x fall level, by default) the difference of
means has variance ``s_t^2 / n_t + s_c^2 / n_c`` (Welch). Strata are combined with weights
``w = n_t / sum n_t`` (the program's own mix: the effect on the treated)::

    diff = sum w (mean_t - mean_c)        SE^2 = sum w^2 (s_t^2 / n_t + s_c^2 / n_c)

and the interval uses Student's t with Welch-Satterthwaite degrees of freedom
``df = SE^4 / sum w^4 ((s_t^2 / n_t)^2 / (n_t - 1) + (s_c^2 / n_c)^2 / (n_c - 1))``
(Satterthwaite 1946; with one stratum this is Welch's t interval). Strata with fewer than
two students on either side are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline import fast
from pipeline.stats.scopes import with_scopes

_KEYS = ["program", "scope", "subject"]
# The comparison columns of each estimator: in score units and in fall-SD units.
_NAMES = {
    "change": {
        "diff": "comparison_diff",
        "se": "comparison_se",
        "ci_low": "comparison_ci_low",
        "ci_high": "comparison_ci_high",
    },
    "change_sd": {
        "diff": "effect_sd",
        "se": "effect_sd_se",
        "ci_low": "effect_sd_ci_low",
        "ci_high": "effect_sd_ci_high",
    },
}


def stratified_difference(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    group_keys: list[str],
    strata: list[str],
    column: str,
    level: float = 0.95,
) -> pd.DataFrame:
    """Difference in mean ``column`` between ``treated`` and ``control`` within strata,
    combined with the treated counts as weights; SE from the per-stratum Welch variances.

    ``treated`` carries ``group_keys + strata``; ``control`` carries the strata and any of
    the group keys it is matched on (those it shares with ``treated`` other than e.g.
    ``program``). Strata with fewer than two students on either side are left out.
    Returns ``group_keys, n_compared, n_comparison, diff, se, df, ci_low, ci_high``.
    """
    return _stratified_differences(treated, control, group_keys, strata, [column], level)[column]


def _stratified_differences(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    group_keys: list[str],
    strata: list[str],
    columns: list[str],
    level: float = 0.95,
) -> dict[str, pd.DataFrame]:
    """:func:`stratified_difference` of each of ``columns``, grouping each side once."""
    shared = [k for k in group_keys if k in control.columns]
    t = _moments(treated, group_keys + strata, columns, "t_")
    c = _moments(control, shared + strata, columns, "c_")
    return {
        column: _combined_difference(t[column], c[column], shared, group_keys, strata, level)
        for column in columns
    }


def _moments(
    frame: pd.DataFrame, keys: list[str], columns: list[str], prefix: str
) -> dict[str, pd.DataFrame]:
    """Per column: n, mean and variance per group of ``keys`` (one grouping for all)."""
    # count, mean and var skip missing values: as after dropna, once the groups with none
    # left are dropped (without copying the frame).
    g = frame.groupby(keys, observed=True)[columns]
    count, mean, var = g.count(), g.mean(), g.var(ddof=1)
    out = {}
    for column in columns:
        moments = pd.DataFrame(
            {
                f"{prefix}n": count[column],
                f"{prefix}mean": mean[column],
                f"{prefix}var": var[column],
            }
        )
        out[column] = moments[moments[f"{prefix}n"] > 0].reset_index()
    return out


def _combined_difference(
    t: pd.DataFrame,
    c: pd.DataFrame,
    shared: list[str],
    group_keys: list[str],
    strata: list[str],
    level: float,
) -> pd.DataFrame:
    """:func:`stratified_difference` from the two sides' :func:`_moments`."""
    m = t.merge(c, on=shared + strata, how="inner")
    m = m[(m["t_n"] >= 2) & (m["c_n"] >= 2)]
    w = m["t_n"].astype(float)
    a, b = m["t_var"] / m["t_n"], m["c_var"] / m["c_n"]
    m = m.assign(
        _w=w,
        _wd=w * (m["t_mean"] - m["c_mean"]),
        _wv=w**2 * (a + b),
        # Welch-Satterthwaite: each variance term over its degrees of freedom.
        _sat=w**4 * (a**2 / (m["t_n"] - 1) + b**2 / (m["c_n"] - 1)),
    )
    sums = m.groupby(group_keys, observed=True)[["_w", "_wd", "_wv", "_sat", "t_n", "c_n"]].sum()
    diff = sums["_wd"] / sums["_w"]
    se = np.sqrt(sums["_wv"]) / sums["_w"]
    dof = (sums["_wv"] ** 2 / sums["_sat"]).where(sums["_sat"] > 0)
    tcrit = stats.t.ppf(0.5 + level / 2, dof)
    out = pd.DataFrame(
        {
            "n_compared": sums["t_n"],
            "n_comparison": sums["c_n"],
            "diff": diff,
            "se": se,
            "df": dof,
            "ci_low": diff - tcrit * se,
            "ci_high": diff + tcrit * se,
        }
    )
    return out.reset_index()


def growth_comparison(
    scores: pd.DataFrame,
    enrolments: pd.DataFrame,
    level: float = 0.95,
    strata: tuple[str, ...] = ("measure", "grade", "fall_level"),
    treated: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Growth of each program's students minus that of students at the same fall level
    with no intervention in the subject, per program x scope: ``comparison_*`` in score
    units and ``effect_sd*`` in district fall-SD units (see the module docstring).

    ``scores``: :func:`pipeline.stats.outcomes.outcome_scores`; ``enrolments``: student_id,
    program, subject, school_id (one row per student x program); ``strata``: the columns
    that define "the same fall level" (a study without percentiles drops ``fall_level``);
    ``treated``: the enrolled students' scores with both pre and post, per scope
    (:func:`treated_scores`; computed when None).
    """
    if treated is None:
        treated = treated_scores(scores, enrolments)
    strata = list(strata)
    control = with_scopes(_comparison_group(scores, enrolments, strata)).dropna(subset=strata)
    differences = _stratified_differences(
        treated.dropna(subset=strata), control, _KEYS, strata, list(_NAMES), level
    )
    score_units = differences["change"].drop(columns="df").rename(columns=_NAMES["change"])
    sd_units = differences["change_sd"].drop(columns=["n_compared", "n_comparison", "df"])
    return score_units.merge(sd_units.rename(columns=_NAMES["change_sd"]), on=_KEYS, how="outer")


def treated_scores(scores: pd.DataFrame, enrolments: pd.DataFrame) -> pd.DataFrame:
    """The outcome scores of each program's students with both pre and post, per scope."""
    # A student's phases in one program (intervention rows) count once.
    enrolled = enrolments[["student_id", "program", "subject"]].drop_duplicates()
    treated = with_scopes(enrolled.merge(scores, on=["student_id", "subject"], how="inner"))
    return treated.dropna(subset=["pre", "post"])


def _comparison_group(
    scores: pd.DataFrame, enrolments: pd.DataFrame, strata: list[str]
) -> pd.DataFrame:
    """The outcome scores of students with no intervention in the subject (the columns
    compared only)."""
    enrolled = pd.MultiIndex.from_frame(enrolments[["student_id", "subject"]].drop_duplicates())
    # Only rows of an enrolled student can be enrolled in the subject: look those up.
    ids = enrolled.get_level_values("student_id").unique()
    maybe = np.flatnonzero(fast.isin_text(scores["student_id"], ids))
    candidates = pd.MultiIndex.from_frame(scores[["student_id", "subject"]].take(maybe))
    is_enrolled = np.zeros(len(scores), dtype=bool)
    is_enrolled[maybe[candidates.isin(enrolled)]] = True
    wanted = ["school_id", "subject", *strata, "change", "change_sd"]
    return scores[[c for c in scores.columns if c in wanted]][~is_enrolled]


def program_vs_comparison(
    screenings: pd.DataFrame,
    students: pd.DataFrame,
    enrolments: pd.DataFrame,
    comparison_ids: pd.Series,
    by: tuple[str, ...] = ("measure", "grade"),
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean score of each program's students minus the comparison group's, per ``by``
    (e.g. a post-only experiment such as Project STAR, per grade), with the Welch interval
    of :func:`stratified_difference`."""
    scores = screenings.merge(students[["student_id", "school_id", "grade"]], on="student_id")
    treated = enrolments[["student_id", "program", "subject"]].merge(
        scores, on=["student_id", "subject"]
    )
    control = scores[scores["student_id"].isin(set(comparison_ids))]
    return stratified_difference(treated, control, ["program", "subject", *by], [], "score", level)
