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
* **comparison**: growth (current minus fall) against students at the same fall level who
  received no intervention in the subject. Students are stratified by outcome measure,
  grade and fall level (the percentile band of the outcome measure's fall percentile);
  within each stratum the difference of mean growth has variance ``s_p^2/n_p + s_c^2/n_c``;
  strata are combined with weights ``n_p / sum n_p`` (the program's own mix, i.e. the
  effect on the treated); the interval uses Student's t with Welch-Satterthwaite degrees of
  freedom. ``comparison_diff`` is in score units; ``effect_sd`` is the same
  estimator on growth divided by the district SD of fall scores of the student's grade and
  measure (sample SD, ddof = 1): the scale the synthetic district plants effects on.
  Pre/post g alone includes the growth every student makes over a term; the comparison
  does not.

The "effectiveness of support" table (:func:`transitions`) counts students by fall tier x
current tier, by whether they received an intervention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline import fast
from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.rules.tiers import tier_from_percentile

DISTRICT = "district"
TOO_SMALL = "n too small"

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
    "suppressed",
    "note",
]
TRANSITION_COLUMNS = [
    "scope",
    "subject",
    "received_intervention",
    "fall_tier",
    "current_tier",
    "n",
    "n_fall_tier",
    "share",
    "note",
]


def hedges_g_paired(
    n: pd.Series | np.ndarray,
    mean_diff: pd.Series | np.ndarray,
    sd_diff: pd.Series | np.ndarray,
    r: pd.Series | np.ndarray,
    level: float = 0.95,
) -> pd.DataFrame:
    """Hedges' g for paired pre/post scores with SE and CI (Borenstein et al. 2009, ch. 4).

    Vectorized over groups; ``r`` is the pre/post correlation. Missing where n < 3 or r = 1.
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


def _with_scopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row twice: once for its school, once for the district."""
    return pd.concat(
        [frame.assign(scope=frame["school_id"]), frame.assign(scope=DISTRICT)], ignore_index=True
    )


def _latest(screenings: pd.DataFrame) -> pd.DataFrame:
    """One screening per student x measure x window: the latest dated (re-uploads win)."""
    return screenings.sort_values("date", kind="stable").drop_duplicates(
        ["student_id", "measure", "window"], keep="last"
    )


def _latest_by_codes(screenings: pd.DataFrame, student: np.ndarray) -> pd.DataFrame:
    """:func:`_latest` with each row's student given as an integer code (``student``):
    the duplicates are found on integer codes rather than on the id strings."""
    measure, measures = pd.factorize(screenings["measure"])
    window, windows = pd.factorize(screenings["window"])
    key = (
        (student.astype(np.int64) * (len(measures) + 1) + measure + 1) * (len(windows) + 1)
        + window
        + 1
    )
    order = np.argsort(screenings["date"].to_numpy(), kind="stable")
    if screenings["date"].isna().any():  # sort_values puts missing dates last
        return _latest(screenings)
    keep = order[~pd.Series(key[order]).duplicated(keep="last").to_numpy()]
    return screenings.take(keep)


# The screening columns :func:`outcome_scores` reads.
OUTCOME_COLUMNS = ["student_id", "measure", "subject", "window", "date", "score", "percentile"]


def outcome_scores(
    screenings: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, window: str
) -> pd.DataFrame:
    """Per student x subject: the outcome measure, fall score (``pre``), ``window`` score
    (``post``), ``change``, the district fall SD of the grade x measure, ``change_sd`` and
    the fall level (tier band of the outcome measure's fall percentile)."""
    prefs = config.effectiveness.outcome_measures
    rank = {(s, m): k for s, ms in prefs.items() for k, m in enumerate(ms)}
    measures = sorted({m for ms in prefs.values() for m in ms})
    columns = OUTCOME_COLUMNS
    outcome = screenings["measure"].isin(measures) & screenings["window"].isin(["fall", window])
    scr, student = fast.join_roster(
        screenings[[c for c in screenings.columns if c in columns]][outcome], students
    )
    scr = _latest_by_codes(scr, student).reset_index(drop=True)
    fall = scr[scr["window"] == "fall"]
    sd = fall.groupby(["measure", "grade"])["score"].std(ddof=1).rename("fall_sd").reset_index()
    pre = fall[["student_id", "measure", "subject", "school_id", "grade", "score", "percentile"]]
    pre = pre.rename(columns={"score": "pre", "percentile": "fall_percentile"})
    post = scr[scr["window"] == window][["student_id", "measure", "score"]].rename(
        columns={"score": "post"}
    )
    if window == "fall":
        post = post.iloc[0:0]
    both = pre.merge(post, on=["student_id", "measure"], how="left")
    # Preference rank of each row's (subject, measure), looked up per distinct pair.
    subject, subjects = pd.factorize(both["subject"])
    measure, measure_names = pd.factorize(both["measure"])
    ranks = np.full((len(subjects) + 1, len(measure_names) + 1), 99.0)  # last: missing
    for (sub, m), k in rank.items():
        if sub in subjects and m in measure_names:
            ranks[subjects.get_loc(sub), measure_names.get_loc(m)] = k
    both = both.assign(_rank=ranks[subject, measure], _has=both["post"].notna())
    both = both[both["_rank"] < 99].sort_values(
        ["student_id", "subject", "_has", "_rank"], ascending=[True, True, False, True]
    )
    best = both.drop_duplicates(["student_id", "subject"], keep="first").drop(
        columns=["_rank", "_has"]
    )
    best = best.merge(sd, on=["measure", "grade"], how="left")
    bands = {
        name: config.percentile_bands[m.percentile_preset]
        for name, m in config.measures.items()
        if m.percentile_preset in config.percentile_bands
    }
    code, names = pd.factorize(best["measure"])

    def per_measure(values: dict) -> pd.Series:  # best["measure"].map(values).astype(float)
        looked_up = np.array([values.get(m, np.nan) for m in names] + [np.nan], dtype=float)
        return pd.Series(looked_up[code], index=best.index)

    cut3 = per_measure({m: b[0] for m, b in bands.items()})
    cut2 = per_measure({m: b[1] for m, b in bands.items()})
    level = tier_from_percentile(best["fall_percentile"], cut3, cut2)
    change = (best["post"] - best["pre"]).astype(float)
    return best.assign(
        pre=best["pre"].astype(float),
        post=best["post"].astype(float),
        change=change,
        change_sd=change / best["fall_sd"].where(best["fall_sd"] > 0).astype(float),
        fall_level=level,
    ).reset_index(drop=True)


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
    Returns ``group_keys, n_compared, n_comparison, diff, se, ci_low, ci_high``.
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


def _enrolments(interventions: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    enrol = interventions.merge(
        students[["student_id", "school_id", "grade"]], on="student_id", how="inner"
    )
    planned = enrol.get("sessions_planned", pd.Series(np.nan, index=enrol.index)).astype("Float64")
    attended = enrol.get("sessions_attended", pd.Series(np.nan, index=enrol.index))
    dosage = (attended.astype("Float64") / planned.where(planned > 0)).astype(float)
    return enrol.assign(dosage=dosage).drop_duplicates(["student_id", "program"], keep="last")


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
    min_n = config.privacy.min_cell_size
    enrol = _enrolments(interventions, students)
    scores = outcome_scores(screenings, students, config, window)
    keys = ["program", "scope", "subject"]

    faithful = (enrol["dosage"] >= config.effectiveness.fidelity_threshold).astype(float)
    served = _with_scopes(enrol.assign(_fid=faithful.where(enrol["dosage"].notna())))
    base = (
        served.groupby(keys, observed=True)
        .agg(
            n=("student_id", "nunique"),
            dosage_mean=("dosage", "mean"),
            fidelity_share=("_fid", "mean"),
        )
        .reset_index()
    )

    # Pre/post on the outcome measure.
    treated = _with_scopes(
        enrol[["student_id", "program", "subject"]].merge(
            scores, on=["student_id", "subject"], how="inner"
        )
    )
    scored = treated.dropna(subset=["pre", "post"])
    pp = scored.assign(_pp=scored["pre"] * scored["post"])
    agg = (
        pp.groupby(keys, observed=True)
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
    cov = (
        (agg["_mpp"] - agg["mean_pre"] * agg["mean_post"])
        * agg["n_scored"]
        / (agg["n_scored"] - 1).where(agg["n_scored"] > 1)
    )
    r = cov / (agg["_sd_pre"] * agg["_sd_post"])
    g = hedges_g_paired(agg["n_scored"], agg["mean_change"], agg["sd_change"], r, level)
    agg = agg.assign(
        hedges_g=g["g"].to_numpy(),
        g_se=g["se"].to_numpy(),
        g_ci_low=g["ci_low"].to_numpy(),
        g_ci_high=g["ci_high"].to_numpy(),
    ).drop(columns=["_sd_pre", "_sd_post", "_mpp"])

    # Movement between tiers.
    moves = (
        enrol[["student_id", "program", "subject", "school_id"]]
        .merge(
            fall_tiers[["student_id", "subject", "tier"]].rename(columns={"tier": "fall_tier"}),
            on=["student_id", "subject"],
        )
        .merge(
            current_tiers[["student_id", "subject", "tier"]].rename(columns={"tier": "now_tier"}),
            on=["student_id", "subject"],
        )
        .dropna(subset=["fall_tier", "now_tier"])
    )
    moves = moves[moves["fall_tier"] >= 2]
    moved = (
        _with_scopes(moves.assign(_up=(moves["now_tier"] < moves["fall_tier"]).astype(float)))
        .groupby(keys, observed=True)
        .agg(n_moved_base=("_up", "count"), moved_up_share=("_up", "mean"))
        .reset_index()
    )

    # Progress monitoring of the program's students.
    if decisions is not None and not decisions.empty:
        dec = decisions.dropna(subset=["program"])
        dec = _with_scopes(dec.assign(_ok=dec["on_track"].astype("Float64").astype(float)))
        pm = (
            dec.groupby(keys, observed=True)
            .agg(
                n_monitored=("_ok", "count"),
                on_track_share=("_ok", "mean"),
                median_roi=("roi", "median"),
                median_typical_roi=("expected_growth", "median"),
            )
            .reset_index()
        )
    else:
        pm = pd.DataFrame(columns=[*keys, "n_monitored", "on_track_share"])

    comp = _growth_comparison(scores, enrol, scored, level)  # the scored students once

    out = base
    for part in (agg, moved, pm, comp):
        out = out.merge(part, on=keys, how="left")
    out = out.assign(window=window).reindex(columns=EFFECTIVENESS_COLUMNS)
    return suppress_small(out, min_n, window)


def growth_comparison(
    scores: pd.DataFrame,
    enrolments: pd.DataFrame,
    level: float = 0.95,
    strata: tuple[str, ...] = ("measure", "grade", "fall_level"),
) -> pd.DataFrame:
    """Growth of each program's students minus that of students at the same fall level
    (outcome measure x grade x fall level) with no intervention in the subject, per
    program x scope: ``comparison_*`` in score units and ``effect_sd*`` in district fall-SD
    units (see the module docstring). ``scores``: :func:`outcome_scores`; ``enrolments``:
    student_id, program, subject, school_id (one row per student x program). ``strata``:
    the columns that define "the same fall level" (a study without percentiles drops
    ``fall_level``)."""
    return _growth_comparison(scores, enrolments, None, level, strata)


def _growth_comparison(
    scores: pd.DataFrame,
    enrolments: pd.DataFrame,
    treated: pd.DataFrame | None,
    level: float = 0.95,
    strata: tuple[str, ...] = ("measure", "grade", "fall_level"),
) -> pd.DataFrame:
    """:func:`growth_comparison`; ``treated``: the enrolled students' scores with both
    pre and post, per scope (computed when None)."""
    keys = ["program", "scope", "subject"]
    enrol = enrolments
    if treated is None:
        treated = _with_scopes(
            enrol[["student_id", "program", "subject"]].merge(
                scores, on=["student_id", "subject"], how="inner"
            )
        ).dropna(subset=["pre", "post"])
    enrolled_subjects = enrol[["student_id", "subject"]].drop_duplicates()
    strata = list(strata)
    enrolled = pd.MultiIndex.from_frame(enrolled_subjects)
    # Students with no intervention in the subject; only the columns compared are kept.
    ids = enrolled.get_level_values("student_id").unique()
    maybe = np.flatnonzero(fast.isin_text(scores["student_id"], ids))
    candidates = pd.MultiIndex.from_frame(scores[["student_id", "subject"]].take(maybe))
    is_enrolled = np.zeros(len(scores), dtype=bool)
    is_enrolled[maybe[candidates.isin(enrolled)]] = True
    wanted = ["school_id", "subject", *strata, "change", "change_sd"]
    control = _with_scopes(scores[[c for c in scores.columns if c in wanted]][~is_enrolled])
    treated_c = treated.dropna(subset=strata)
    control = control.dropna(subset=strata)
    differences = _stratified_differences(
        treated_c, control, keys, strata, ["change", "change_sd"], level
    )
    diff, diff_sd = differences["change"], differences["change_sd"]
    comp = (
        diff.drop(columns="df")
        .rename(
            columns={
                "diff": "comparison_diff",
                "se": "comparison_se",
                "ci_low": "comparison_ci_low",
                "ci_high": "comparison_ci_high",
            }
        )
        .merge(
            diff_sd.drop(columns=["n_compared", "n_comparison", "df"]).rename(
                columns={
                    "diff": "effect_sd",
                    "se": "effect_sd_se",
                    "ci_low": "effect_sd_ci_low",
                    "ci_high": "effect_sd_ci_high",
                }
            ),
            on=keys,
            how="outer",
        )
    )

    return comp


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
        np.where(fill("n_compared") == 0, "comparison: no comparable students", ""),
    )
    suppressed |= small & had
    if window == WINDOW_ORDER[0]:
        notes["window"] = "fall: no post-test yet"
    out["note"] = notes.apply(lambda row: "; ".join(v for v in row if v), axis=1)
    out["suppressed"] = suppressed
    for column in ("n", "n_scored", "n_moved_base", "n_monitored", "n_compared", "n_comparison"):
        out[column] = out[column].fillna(0).astype(int)
    return out.sort_values(["subject", "program", "scope"]).reset_index(drop=True)


def transitions(
    fall_tiers: pd.DataFrame,
    current_tiers: pd.DataFrame,
    interventions: pd.DataFrame,
    min_cell_size: int,
) -> pd.DataFrame:
    """The "effectiveness of support" table: students by fall tier x current tier, per
    scope and subject, split by whether they received an intervention in the subject.

    ``share`` is the count over the fall-tier row total; it is missing (``note`` "n too
    small") when that row has fewer than ``min_cell_size`` students.
    """
    pairs = fall_tiers[["student_id", "school_id", "subject", "tier"]].merge(
        current_tiers[["student_id", "subject", "tier"]],
        on=["student_id", "subject"],
        suffixes=("_fall", "_now"),
    )
    pairs = pairs.dropna(subset=["tier_fall", "tier_now"])
    received = (
        interventions[["student_id", "subject"]].drop_duplicates().assign(_r=True)
        if interventions is not None and len(interventions)
        else pd.DataFrame({"student_id": [], "subject": [], "_r": []})
    )
    pairs = pairs.merge(received, on=["student_id", "subject"], how="left")
    pairs = pairs.assign(received_intervention=pairs["_r"].notna().astype(bool))
    keys = ["scope", "subject", "received_intervention", "fall_tier", "current_tier"]
    counts = (
        _with_scopes(pairs)
        .rename(columns={"tier_fall": "fall_tier", "tier_now": "current_tier"})
        .groupby(keys, observed=True)
        .size()
        .rename("n")
        .reset_index()
    )
    counts["n_fall_tier"] = counts.groupby(keys[:-1], observed=True)["n"].transform("sum")
    small = counts["n_fall_tier"] < min_cell_size
    counts["share"] = (counts["n"] / counts["n_fall_tier"]).where(~small)
    counts["note"] = np.where(small, TOO_SMALL, "")
    counts = counts.astype({"fall_tier": int, "current_tier": int})
    return counts[TRANSITION_COLUMNS].sort_values(keys).reset_index(drop=True)


def _fmt(value: float, digits: int = 2, percent: bool = False) -> str:
    if pd.isna(value):
        return ""
    return f"{value * 100:.0f}%" if percent else f"{value:.{digits}f}"


def _with_ci(est: pd.Series, low: pd.Series, high: pd.Series, digits: int = 2) -> pd.Series:
    text = [
        "" if pd.isna(e) else f"{e:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
        for e, lo, hi in zip(est, low, high, strict=True)
    ]
    return pd.Series(text, index=est.index)


def summary_table(effectiveness: pd.DataFrame, scope_labels: dict[str, str] | None = None):
    """The program effectiveness table as report text: one row per program x scope, every
    statistic with its n, "n too small" where it was suppressed."""
    e = effectiveness
    if e.empty:
        return pd.DataFrame()

    label_of = {
        "n": "served",
        "n_scored": "pre/post",
        "n_moved_base": "tier movement",
        "n_monitored": "on track",
        "n_compared": "comparison",
    }

    def shown(column: str, n_column: str, text: pd.Series) -> pd.Series:
        why = f"{label_of[n_column]}: {TOO_SMALL}"
        small = e[column].isna() & e["note"].str.contains(why, regex=False)
        return text.mask(small, TOO_SMALL)

    labels = scope_labels or {}
    roi = [
        "" if pd.isna(m) else f"{m:.2f} vs {t:.2f}" if pd.notna(t) else f"{m:.2f}"
        for m, t in zip(e["median_roi"], e["median_typical_roi"], strict=True)
    ]
    return pd.DataFrame(
        {
            "Program": e["program"],
            "Subject": e["subject"].str.capitalize(),
            "Scope": e["scope"].map(lambda s: labels.get(s, "District" if s == DISTRICT else s)),
            "Served": e["n"],
            "Attended (mean)": shown(
                "dosage_mean", "n", e["dosage_mean"].map(lambda v: _fmt(v, percent=True))
            ),
            "At 80% fidelity": shown(
                "fidelity_share", "n", e["fidelity_share"].map(lambda v: _fmt(v, percent=True))
            ),
            "With fall and current scores": e["n_scored"],
            "Mean change (points)": shown("mean_change", "n_scored", e["mean_change"].map(_fmt)),
            "Pre/post g [95% CI]": shown(
                "hedges_g", "n_scored", _with_ci(e["hedges_g"], e["g_ci_low"], e["g_ci_high"])
            ),
            "Moved up a tier": shown(
                "moved_up_share",
                "n_moved_base",
                e["moved_up_share"].map(lambda v: _fmt(v, percent=True)),
            ),
            "Monitored": e["n_monitored"],
            "On track (monitored)": shown(
                "on_track_share",
                "n_monitored",
                e["on_track_share"].map(lambda v: _fmt(v, percent=True)),
            ),
            "Median ROI vs typical": shown(
                "median_roi", "n_monitored", pd.Series(roi, index=e.index)
            ),
            "Growth vs comparison (points) [95% CI]": shown(
                "comparison_diff",
                "n_compared",
                _with_ci(e["comparison_diff"], e["comparison_ci_low"], e["comparison_ci_high"], 1),
            ),
            "Effect (SD) [95% CI]": shown(
                "effect_sd",
                "n_compared",
                _with_ci(e["effect_sd"], e["effect_sd_ci_low"], e["effect_sd_ci_high"]),
            ),
            "Compared with": e["n_comparison"],
            "Note": e["note"],
        }
    )


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
