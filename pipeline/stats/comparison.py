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

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from pipeline import fast
from pipeline.config import WINDOW_ORDER
from pipeline.stats.pooling import _ALL_NAMES, _KEYS, _NAMES, pool_grades, pooling_se  # noqa: F401
from pipeline.stats.scopes import DISTRICT, with_scopes

# Fewest schools for cluster-robust errors (config: effectiveness.min_cluster_schools).
MIN_CLUSTERS = 8


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
    min_clusters: int = MIN_CLUSTERS,
) -> pd.DataFrame:
    """Growth of each program's students beyond that of students at the same fall level
    with no intervention in the subject, per program x scope: ``comparison_*`` in score
    units and ``effect_sd*`` in district fall-SD units, each the inverse-variance pooled
    estimate of :func:`effects_by_grade` (see :func:`pool_grades`). Every program x scope
    with scored students has a row; where nothing is comparable ``n_compared`` is 0 and
    the estimates are missing.

    ``scores``: :func:`pipeline.stats.outcomes.outcome_scores`; ``enrolments``: student_id,
    program, subject, school_id (one row per student x program); ``strata``: the columns
    that define "the same fall level" (a study without percentiles drops ``fall_level``);
    ``treated``: the enrolled students' scores with both pre and post, per scope
    (:func:`treated_scores`; computed when None).
    """
    cells = effects_by_grade(scores, enrolments, level, strata, treated, min_clusters)
    pooled = pool_grades(cells, level)
    if treated is None:
        treated = treated_scores(scores, enrolments)
    keys = treated[_KEYS].drop_duplicates()
    out = keys.merge(pooled, on=_KEYS, how="left")
    for count in ("n_compared", "n_comparison"):
        out[count] = out[count].fillna(0).astype(int)
    return out.sort_values(_KEYS).reset_index(drop=True)


def effects_by_grade(
    scores: pd.DataFrame,
    enrolments: pd.DataFrame,
    level: float = 0.95,
    strata: tuple[str, ...] = ("measure", "grade", "fall_level"),
    treated: pd.DataFrame | None = None,
    min_clusters: int = MIN_CLUSTERS,
) -> pd.DataFrame:
    """Per program x scope x subject x measure x grade: the growth of the program's
    students beyond comparable students' (:func:`regression_effect`), in score units
    (``diff``, ``se``, ``df``) and SD units (``effect_sd``, ``effect_sd_se``), with
    ``n_compared`` / ``n_comparison``. A fall level counts only where it has at least two
    students on either side."""
    if treated is None:
        treated = treated_scores(scores, enrolments)
    strata = list(strata)
    cell = [s for s in strata if s in ("measure", "grade")]
    within = [s for s in strata if s not in cell]
    control = _comparison_group(scores, enrolments, strata).dropna(subset=[*strata, "change"])
    control = with_scopes(control)
    control = control[control["scope"].isin(treated["scope"].unique())]
    # Each comparison group's columns as arrays once: the district's is every program's.
    read = ["school_id", *_FIT_COLUMNS, *within]
    controls = fast.arrays_by_group(control, ["scope", "subject", *cell], read)
    rows = []
    treated = treated.dropna(subset=strata)
    cells = fast.arrays_by_group(treated, ["program", "scope", "subject", *cell], read)
    for key, mine in cells.items():
        other = controls.get(key[1:])
        if other is None:
            continue
        by_school = key[1] == DISTRICT
        fit = _effect(mine, other, within, by_school, level, min_clusters)
        if fit is not None:
            rows.append(
                {**dict(zip(["program", "scope", "subject", *cell], key, strict=True)), **fit}
            )
    columns = [*_KEYS, *cell, *_CELL_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


_CELL_COLUMNS = [
    "n_compared",
    "n_comparison",
    "n_schools",
    "diff",
    "se",
    "df",
    "effect_sd",
    "effect_sd_se",
    "se_hc",
    "influence",
    "clustered",
    "sd_scale",
    "n_params",
]


def regression_effect(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    within: list[str],
    by_school: bool,
    level: float = 0.95,
    min_clusters: int = MIN_CLUSTERS,
) -> dict | None:
    """One grade x measure: the coefficient of being served in the least-squares fit
    (statsmodels OLS) of growth on served (0/1), the fall level (``within``), the fall
    score in fall SDs, and, district-wide (``by_school``), the school::

        change_i = a + effect served_i + b pre_i / fall_sd + level_i + school_i + e_i

    Adjusting for the fall score removes the bias of serving the lower scorers of a fall
    level more often (selection on an observed score). District-wide the standard errors
    are cluster-robust by school (``cov_type="cluster"``: Liang & Zeger 1986; Cameron &
    Miller 2015, J. Human Resources 50(2):317-372) with G - 1 degrees of freedom, since
    students of one school share teachers; within one school, and district-wide with fewer
    than ``min_clusters`` schools (where cluster-robust errors are far too small: Cameron
    & Miller 2015, section VI), they are heteroskedasticity-robust HC3 (MacKinnon & White
    1985; the small-sample choice of Long & Ervin 2000) with n - k, the school fixed
    effects absorbing each school's shift. The cluster-robust fit absorbs the school
    effects instead of fitting one column per school (:func:`_absorbed_design`: the same
    numbers, in a fraction of the time with hundreds of schools). Returns None when the
    fit has too few degrees of freedom left or served is not identified apart from the
    school."""
    read = ["school_id", *_FIT_COLUMNS, *within]
    mine, other = _arrays(treated, read), _arrays(control, read)
    return _effect(mine, other, within, by_school, level, min_clusters)


def _arrays(frame: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    return {column: frame[column].to_numpy() for column in columns}


def _effect(
    treated: dict[str, np.ndarray],
    control: dict[str, np.ndarray],
    within: list[str],
    by_school: bool,
    level: float,
    min_clusters: int,
) -> dict | None:
    """:func:`regression_effect` of the two groups' columns as arrays."""
    both = {k: np.r_[treated[k], control[k]] for k in treated}
    served = np.r_[np.ones(len(treated["school_id"])), np.zeros(len(control["school_id"]))]
    kept = _comparable_levels(both, served, within)
    if kept is None:
        return None
    both, served = {k: v[kept] for k, v in both.items()}, served[kept]
    schools = pd.factorize(both["school_id"])[0]
    n_schools = int(schools.max()) + 1
    clustered = by_school and n_schools >= max(min_clusters, 2)
    if clustered:
        design, n_params = _absorbed_design(both, served, within, schools)
    else:
        design = _design(both, served, within, schools if by_school else None)
        n_params = design.shape[1]
    if len(served) - n_params < MIN_RESIDUAL_DF or design is None:
        return None
    n_compared = int(served.sum())
    out = {"n_compared": n_compared, "n_comparison": len(served) - n_compared}
    out["n_schools"] = n_schools
    fit = _served_coefficient(both, design, schools, clustered, n_params)
    if fit is None:
        return None
    out.update(fit)
    out["df"] = n_schools - 1 if clustered else len(served) - n_params
    out["clustered"] = clustered
    out["n_params"] = n_params
    return out


def _served_coefficient(
    both: dict[str, np.ndarray],
    design: np.ndarray,
    schools: np.ndarray,
    clustered: bool,
    n_params: int,
) -> dict | None:
    """The served coefficient and its SE in score and SD units, the HC1 SE and the
    schools' influence sums (:func:`_influence`); None when an outcome is missing.
    Clustered, ``design`` is :func:`_absorbed_design`'s (fitted by :func:`_absorbed_fit`);
    else :func:`_design`'s (statsmodels OLS, HC3)."""
    out: dict = {}
    fall_sd = both["fall_sd"].astype(float)
    # Within a grade x measure the fall SD is one number: the SD-unit fit is the score-unit
    # fit divided by it (fitted separately only when it is not).
    one_sd = np.isfinite(fall_sd).all() and np.ptp(fall_sd) == 0 and fall_sd[0] > 0
    for column, est, se in (("change", "diff", "se"), ("change_sd", "effect_sd", "effect_sd_se")):
        if column == "change_sd" and one_sd:
            out[est], out[se] = out["diff"] / fall_sd[0], out["se"] / fall_sd[0]
            continue
        y = both[column].astype(float)
        if not np.isfinite(y).all():
            return None
        fit = _absorbed_fit if clustered else _hc3_fit
        out[est], out[se], row, resid = fit(y, design, schools, n_params)
        if column == "change":
            out["se_hc"], out["influence"] = _influence(row, resid, n_params, both["school_id"])
    out["sd_scale"] = float(fall_sd[0]) if one_sd else np.nan
    return out


def _hc3_fit(
    y: np.ndarray, design: np.ndarray, schools: np.ndarray, n_params: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The served coefficient (column 1 of :func:`_design`), its HC3 SE, its row of
    ``(X'X)^-1 X'`` and the residuals (statsmodels OLS)."""
    model = sm.OLS(y, design)
    # Collinear nuisance columns (a school with one fall level, say) leave the served
    # coefficient identified; statsmodels' pseudo-inverse handles them, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        fit = model.fit(cov_type="HC3")
    row = (np.linalg.pinv(design.T @ design) @ design.T)[1]
    return float(fit.params[1]), float(fit.bse[1]), row, fit.resid


def _absorbed_fit(
    y: np.ndarray, design: np.ndarray, schools: np.ndarray, n_params: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The served coefficient (column 0 of :func:`_absorbed_design`) with the school fixed
    effects absorbed, its CR1 SE by school, its row of ``(X'X)^-1 X'`` and the residuals:
    by Frisch-Waugh-Lovell all four equal the school-dummy fit's (statsmodels OLS,
    ``cov_type="cluster"``), whose SE is ``sqrt(c sum_s (sum_(i in s) row_i e_i)^2)`` with
    ``c = G / (G - 1) (N - 1) / (N - K)``, K the dummy design's ``n_params`` columns
    (statsmodels ``cov_cluster``: K counts the columns, collinear ones too)."""
    y = _within_schools(y[:, None], schools)[:, 0]
    pinv = np.linalg.pinv(design)
    resid = y - design @ (pinv @ y)
    row = pinv[0]
    by_school = np.bincount(schools, weights=row * resid)
    g, n = len(by_school), len(y)
    cr1 = g / (g - 1) * (n - 1) / (n - n_params)
    return float(row @ y), float(np.sqrt(cr1 * np.sum(by_school**2))), row, resid


def _influence(
    row: np.ndarray, resid: np.ndarray, n_params: int, school_ids: np.ndarray
) -> tuple[float, pd.Series]:
    """The served coefficient's HC1 standard error (the stable weight for pooling) and
    each school's sum of the coefficient's influence ``e_1' (X'X)^-1 x_i u_i``, from which
    the cluster-robust variance of a combination of grades follows (:func:`pool_grades`);
    ``row`` is the coefficient's row of ``(X'X)^-1 X'``, HC1's k is ``n_params``."""
    contribution = row * resid
    n = len(resid)
    se_hc = float(np.sqrt(np.sum(contribution**2) * n / max(n - n_params, 1)))
    return se_hc, pd.Series(contribution).groupby(school_ids).sum()


# Fewest residual degrees of freedom of a grade's fit (fewer: no estimate for the grade).
MIN_RESIDUAL_DF = 3
_FIT_COLUMNS = ["pre", "fall_sd", "change", "change_sd"]


def _comparable_levels(
    both: dict[str, np.ndarray], served: np.ndarray, within: list[str]
) -> np.ndarray | None:
    """Which students are in a fall level (``within``) with at least two students on each
    side (served and not); None when no level has. Counted with numpy: a state's
    districts have twelve thousand school x grade cells, each a few hundred students."""
    if not within:
        ok = served.sum() >= 2 and (served == 0).sum() >= 2
        return np.ones(len(served), dtype=bool) if ok else None
    codes = [pd.factorize(both[column])[0] for column in within]
    level = codes[0] if len(codes) == 1 else fast.group_codes(*codes)
    known = np.all([code >= 0 for code in codes], axis=0)  # a missing level is no level
    size = int(level.max(initial=0)) + 1
    on_side = [np.bincount(level[known & (served == side)], minlength=size) for side in (1, 0)]
    comparable = (on_side[0] >= 2) & (on_side[1] >= 2)
    kept = known & comparable[np.where(known, level, 0)]
    return kept if kept.any() else None


def _design(
    both: dict[str, np.ndarray], served: np.ndarray, within: list[str], schools: np.ndarray | None
) -> np.ndarray:
    """Columns: intercept, served, the centred fall score in fall SDs, one indicator per
    fall level and (when ``schools`` are given) school but the first (the intercept's)."""
    columns = [np.ones_like(served), served, _fall_score(both)]
    codes = [pd.factorize(both[f])[0] for f in within]
    if schools is not None:
        codes.append(schools)
    for code in codes:
        columns += [(code == k).astype(float) for k in range(1, int(code.max()) + 1)]
    design = np.column_stack(columns)
    # A constant column (a single fall score, say) adds nothing the intercept has not.
    varying = np.r_[True, True, design[:, 2:].std(axis=0) > 0]
    return design[:, varying]


def _fall_score(both: dict[str, np.ndarray]) -> np.ndarray:
    """The fall score in fall SDs (in points where the SD is not positive), centred."""
    pre = both["pre"].astype(float)
    fall_sd = both["fall_sd"].astype(float)
    pre = np.where(fall_sd > 0, pre / np.where(fall_sd > 0, fall_sd, 1), pre)
    return pre - pre.mean()


def _absorbed_design(
    both: dict[str, np.ndarray], served: np.ndarray, within: list[str], schools: np.ndarray
) -> tuple[np.ndarray | None, int]:
    """:func:`_design` with the school fixed effects absorbed (Frisch-Waugh-Lovell:
    Davidson & MacKinnon 2004, Econometric Theory and Methods, section 2.4): served, the
    fall score and the fall-level indicators, each minus its school's mean, without the
    columns that vanish so (a level constant within each school); and K, the number of
    columns of the dummy design, ``2 + [the fall score varies] + sum_levels (L - 1) +
    (G - 1)``. The design is None when served is not identified apart from the school
    and level (every school's students served, or none, within each level)."""
    pre = _fall_score(both)
    codes = [pd.factorize(both[f])[0] for f in within]
    n_params = 2 + int(pre.std() > 0) + sum(int(code.max()) for code in codes)
    n_params += int(schools.max())
    columns = [served, pre] + [
        (code == k).astype(float) for code in codes for k in range(1, int(code.max()) + 1)
    ]
    x = np.column_stack(columns)
    demeaned = _within_schools(x, schools)
    size = np.maximum(np.abs(x).max(axis=0), 1.0)
    kept = np.abs(demeaned).max(axis=0) > _VANISHED * size
    kept[0] = True
    design = demeaned[:, kept]
    others = np.linalg.matrix_rank(design[:, 1:]) if design.shape[1] > 1 else 0
    identified = np.linalg.matrix_rank(design) > others
    return (design if identified else None), n_params


# A demeaned column this small relative to the column is zero but for rounding.
_VANISHED = 1e-10


def _within_schools(x: np.ndarray, schools: np.ndarray) -> np.ndarray:
    """Each column of ``x`` minus its mean within each school."""
    return x - pd.DataFrame(x).groupby(schools).transform("mean").to_numpy()


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
    wanted = ["school_id", "subject", *strata, "pre", "fall_sd", "change", "change_sd"]
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
    of :func:`stratified_difference`. One score per child and measure: the latest window
    (a child followed over time counts once, not once per time point)."""
    scores = screenings.merge(students[["student_id", "school_id", "grade"]], on="student_id")
    scores = _latest_window(scores)
    treated = enrolments[["student_id", "program", "subject"]].merge(
        scores, on=["student_id", "subject"]
    )
    control = scores[scores["student_id"].isin(set(comparison_ids))]
    return stratified_difference(treated, control, ["program", "subject", *by], [], "score", level)


def _latest_window(scores: pd.DataFrame) -> pd.DataFrame:
    """Each student's score on each measure in the latest window they have one in."""
    order = scores["window"].map({w: k for k, w in enumerate(WINDOW_ORDER)}).fillna(-1)
    ranked = scores.assign(_order=order).sort_values("_order", kind="stable")
    latest = ranked.drop_duplicates(["student_id", "measure"], keep="last")
    return latest.drop(columns="_order")
