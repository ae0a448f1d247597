"""Regression discontinuity at the tier cut: the effect of being served, for students near
the cut, district-wide.

Students whose fall percentile on the subject's outcome measure is below the Tier 2 cut
(the measure's percentile band, e.g. the 25th) are eligible for intervention; students at
or above it are not. Staff capacity leaves some eligible students out and teams serve a
few others, so eligibility changes the chance of being served without fixing it: a
**fuzzy** discontinuity, with eligibility as the instrument for receipt (Hahn, Todd & Van
der Klaauw 2001). The estimate is the jump in growth at the cut over the jump in the share
served::

    effect = (lim growth just below - lim growth just above)
             / (lim share served just below - lim share served just above)

* **Running variable**: the fall score's distance below the cut score of its grade and
  measure (the midpoint between the highest score below the cut percentile and the lowest
  at or above it), in SDs of the district's fall scores of that grade and measure; so the
  grades pool on one scale, and eligible students sit at > 0.
* **Outcome**: growth since fall in the same SDs (``change_sd``), the scale of the other
  effects.
* **Estimator**: ``rdrobust`` (Calonico, Cattaneo & Titiunik 2014, Econometrica
  82(6):2295-2326; Calonico, Cattaneo, Farrell & Titiunik 2017, Stata J. 17(2):372-404):
  local linear fits with a triangular kernel, MSE-optimal bandwidth, and the robust
  bias-corrected interval, with heteroskedasticity-robust HC3 variances.
* **Grades pooled, each on its own line**: each grade x measure keeps its own intercept
  and slope in the local fits (:func:`cell_terms`, covariates of the fit: Calonico,
  Cattaneo, Farrell & Titiunik 2019, Rev. Econ. Stat. 101(3):442-451). Growth in SDs
  differs by grade and measure (kindergarten letter naming grows about twice as many fall
  SDs as oral reading fluency) and so does each grade's share of the students at each
  distance from the cut (the grade-1 fall ORF cut sits a few words above the floor): one
  pooled line bends where the mix of grades changes, and the bend is read as a jump (the
  reading estimate came out about 0.04 SD low in the synthetic district's validation).
  The indicators and indicator x distance are continuous at the cut, so the jump
  estimated is the same quantity: the average effect of the students at the cut, each
  grade counting with its students near its cut score on this scale.

Diagnostics (:func:`rd_table`), all of which must pass before a report shows the estimate:
the first stage (the jump in the share served is at least ``rd.min_first_stage`` and its
interval excludes 0); enough students on each side within the bandwidth; no bunching at
the cut (``rddensity``: Cattaneo, Jansson & Ma 2020, JASA 115:1449-1455); no jump at the
cut in the students' characteristics (``rd.covariates``); and no jump at placebo cuts
(``rd.placebo_cuts``, each tested on its own side of the real cut). A test fails when its
p-value is below ``rd.alpha`` over the number of tests of its kind.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig

# rdrobust's variance: HC3 from the local fit's residuals (MacKinnon & White 1985). The
# nearest-neighbour default recomputes neighbours for every covariate of the fit: 3x slower.
VARIANCE = "hc3"

RD_COLUMNS = [
    "subject",
    "term",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p",
    "n_below",
    "n_above",
    "bandwidth",
    "passes",
    "shown",
    "note",
]


def running_variable(scores: pd.DataFrame, config: DistrictConfig) -> pd.DataFrame:
    """The students of ``scores`` (:func:`pipeline.stats.outcomes.outcome_scores`) with a
    fall percentile and SD, with ``distance`` (fall SDs below the cut score of their grade
    and measure) and ``eligible`` (fall percentile below the Tier 2 cut)."""
    cut = {
        name: float(config.percentile_bands[m.percentile_preset][1])
        for name, m in config.measures.items()
        if m.percentile_preset in config.percentile_bands
    }
    s = scores.dropna(subset=["pre", "fall_percentile", "fall_sd"])
    s = s[s["fall_sd"] > 0].assign(_cut=lambda f: fast.map_distinct(f["measure"], cut))
    s = s.dropna(subset=["_cut"])
    s = s.assign(eligible=s["fall_percentile"].astype(float) < s["_cut"])
    keys = ["measure", "grade"]
    below = s[s["eligible"]].groupby(keys)["pre"].max().rename("_below")
    above = s[~s["eligible"]].groupby(keys)["pre"].min().rename("_above")
    s = s.merge(pd.concat([below, above], axis=1).dropna().reset_index(), on=keys)
    # A grade whose scores are not ordered like its percentiles has no cut score.
    s = s[s["_below"] < s["_above"]]
    cut_score = (s["_below"] + s["_above"]) / 2
    return s.assign(distance=(cut_score - s["pre"]) / s["fall_sd"]).drop(
        columns=["_cut", "_below", "_above"]
    )


def rd_sample(
    scores: pd.DataFrame, enrolments: pd.DataFrame, subject: str, config: DistrictConfig
) -> pd.DataFrame:
    """One subject's students with ``distance``, ``eligible``, ``served`` (in any program
    of the subject) and growth ``change_sd``."""
    mine = running_variable(scores[scores["subject"] == subject], config)
    mine = mine.dropna(subset=["change_sd"])
    served_ids = enrolments.loc[enrolments["subject"] == subject, "student_id"].unique()
    return mine.assign(served=fast.isin_text(mine["student_id"], served_ids).astype(float))


def rd_effect(
    scores: pd.DataFrame,
    enrolments: pd.DataFrame,
    subject: str,
    config: DistrictConfig,
    diagnostics: bool = True,
    students: pd.DataFrame | None = None,
) -> dict:
    """The fuzzy RD estimate of one subject (``estimate``, ``se``, ``ci_low``,
    ``ci_high``: robust bias-corrected; ``bandwidth``; ``n_below`` / ``n_above`` within
    it); with ``diagnostics`` also the table of :func:`rd_table` (``table``). Empty when
    too few students sit on either side of the cut."""
    sample = rd_sample(scores, enrolments, subject, config)
    if min((sample["distance"] > 0).sum(), (sample["distance"] < 0).sum()) < 20:
        return {}
    covs = cell_terms(sample)
    main = _rdrobust(
        sample["change_sd"], sample["distance"], config, fuzzy=sample["served"], covs=covs
    )
    if main is None:
        return {}
    if diagnostics:
        if students is not None:
            sample = sample.merge(students, on="student_id", how="left", suffixes=("", "_r"))
        main["table"] = rd_table(sample, main, subject, config)
    return main


def cell_terms(sample: pd.DataFrame, distance: pd.Series | None = None) -> np.ndarray | None:
    """Each grade x measure's own intercept and slope, as covariates of the local fits: an
    indicator per cell and the indicator x ``distance`` (the first cell is the reference;
    no slope for a cell with one distance); None when the sample is one cell. A cell with
    nobody within a bandwidth leaves its columns 0 there: rdrobust's ``covs_drop`` (on by
    default) then solves with a pseudo-inverse, as a placebo cut past a grade's last
    score needs."""
    x = (sample["distance"] if distance is None else distance).to_numpy(dtype=float)
    cell = sample.groupby(["measure", "grade"], sort=True).ngroup().to_numpy()
    others = np.arange(1, cell.max() + 1)
    if others.size == 0:
        return None
    indicators = (cell[:, None] == others[None, :]).astype(float)
    spread = pd.Series(x).groupby(cell).nunique().reindex(others).to_numpy() > 1
    return np.hstack([indicators, indicators[:, spread] * x[:, None]])


def _rdrobust(
    y: pd.Series,
    x: pd.Series,
    config: DistrictConfig,
    fuzzy: pd.Series | None = None,
    covs: np.ndarray | None = None,
    bandwidths: tuple[float, float] | None = None,
) -> dict | None:
    """``rdrobust`` with the MSE-optimal bandwidth (or the given main and bias
    ``bandwidths``); the robust bias-corrected estimate, SE, interval and p-value. The
    jump is oriented so that below the cut minus above it is positive (``distance`` grows
    below the cut, so rdrobust's right side is below)."""
    from rdrobust import rdrobust

    level = 100 * config.effectiveness.confidence
    try:
        # rdrobust prints notes ("Mass points detected") on stdout: keep them out of reports.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            fit = rdrobust(
                np.asarray(y, dtype=float),
                np.asarray(x, dtype=float),
                c=0.0,
                fuzzy=None if fuzzy is None else np.asarray(fuzzy, dtype=float),
                covs=covs,
                h=None if bandwidths is None else bandwidths[0],
                b=None if bandwidths is None else bandwidths[1],
                level=level,
                vce=VARIANCE,
            )
    except Exception:  # noqa: BLE001 - rdrobust raises plain errors on degenerate data
        return None
    robust = "Robust"
    return {
        "estimate": float(fit.coef.loc["Bias-Corrected"].iloc[0]),
        "se": float(fit.se.loc[robust].iloc[0]),
        "ci_low": float(fit.ci.loc[robust].iloc[0]),
        "ci_high": float(fit.ci.loc[robust].iloc[1]),
        "p": float(fit.pv.loc[robust].iloc[0]),
        "bandwidth": float(fit.bws.iloc[0, 0]),
        "bias_bandwidth": float(fit.bws.iloc[1, 0]),
        "n_above": int(fit.N_h[0]),
        "n_below": int(fit.N_h[1]),
    }


def rd_table(
    sample: pd.DataFrame, main: dict, subject: str, config: DistrictConfig
) -> pd.DataFrame:
    """One row per quantity: the ``effect`` and each diagnostic (``first_stage``,
    ``students``, ``density``, ``balance: <covariate>``, ``placebo: <cut>``) with
    whether it ``passes``; ``shown`` is True on every row when all pass."""
    rd = config.effectiveness.rd
    rows = [{"term": "effect", **_fields(main), "passes": True, "note": ""}]
    # The first stage at the estimate's own bandwidths: the jump its ratio divides by.
    bandwidths = (main["bandwidth"], main["bias_bandwidth"])
    covs = cell_terms(sample)
    first = _rdrobust(
        sample["served"], sample["distance"], config, covs=covs, bandwidths=bandwidths
    )
    ok = first is not None and first["estimate"] >= rd.min_first_stage and first["ci_low"] > 0
    rows.append(_check("first_stage", first, ok, "share served jumps at the cut"))
    enough = min(main["n_below"], main["n_above"]) >= rd.min_students
    rows.append(
        {
            "term": "students",
            "n_below": main["n_below"],
            "n_above": main["n_above"],
            "passes": enough,
            "note": f"at least {rd.min_students} students on each side within the bandwidth",
        }
    )
    rows.append(_density(sample["distance"], rd.alpha))
    rows += _balance(sample, config)
    rows += _placebos(sample, config)
    table = pd.DataFrame(rows).assign(subject=subject)
    table["passes"] = table["passes"].astype(bool)
    return table.assign(shown=bool(table["passes"].all())).reindex(columns=RD_COLUMNS)


def _fields(fit: dict | None) -> dict:
    keys = ("estimate", "se", "ci_low", "ci_high", "p", "bandwidth", "n_below", "n_above")
    return {k: fit[k] for k in keys} if fit else {}


def _check(term: str, fit: dict | None, ok: bool, note: str) -> dict:
    return {"term": term, **_fields(fit), "passes": bool(ok), "note": note}


def _density(distance: pd.Series, alpha: float) -> dict:
    """The manipulation test: is the density of the running variable continuous at 0?"""
    from rddensity import rddensity

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            test = rddensity(X=np.asarray(distance, dtype=float), c=0.0).test
        p = float(test["p_jk"])
    except Exception:  # noqa: BLE001 - degenerate data: the test cannot speak
        p = float("nan")
    note = "no bunching of fall scores at the cut (rddensity)"
    return {"term": "density", "p": p, "passes": bool(p >= alpha), "note": note}


def _balance(sample: pd.DataFrame, config: DistrictConfig) -> list[dict]:
    """No jump at the cut in each roster covariate (a sharp RD on the covariate)."""
    rd = config.effectiveness.rd
    present = [c for c in rd.covariates if c in sample.columns]
    rows = []
    for covariate in present:
        values = pd.to_numeric(sample[covariate].astype("Float64"), errors="coerce")
        keep = values.notna()
        fit = _rdrobust(values[keep], sample["distance"][keep], config)
        ok = fit is None or fit["p"] >= rd.alpha / len(present)
        rows.append(_check(f"balance: {covariate}", fit, ok, "no jump at the cut"))
    return rows


def _placebos(sample: pd.DataFrame, config: DistrictConfig) -> list[dict]:
    """No jump in growth at each placebo cut (``cut`` fall SDs from the real one, rounded
    to whole score points in each grade), fitted on its own side of the real cut."""
    rd = config.effectiveness.rd
    rows = []
    for cut in rd.placebo_cuts:
        # ``distance`` > 0 is below the real cut; a placebo below it uses those students.
        side = sample[sample["distance"] > 0] if cut > 0 else sample[sample["distance"] < 0]
        # Moved by whole score points, so the placebo cut too falls between two scores.
        points = np.round(cut * side["fall_sd"]) / side["fall_sd"]
        shifted = side["distance"] - points
        fit = _rdrobust(side["change_sd"], shifted, config, covs=cell_terms(side, shifted))
        ok = fit is None or fit["p"] >= rd.alpha / len(rd.placebo_cuts)
        rows.append(_check(f"placebo: {cut:+g} SD", fit, ok, "no jump away from the cut"))
    return rows


def rd_estimates(
    scores: pd.DataFrame,
    enrolments: pd.DataFrame,
    students: pd.DataFrame,
    config: DistrictConfig,
) -> pd.DataFrame:
    """``rd.parquet``: :func:`rd_table` for every subject with an outcome measure (empty
    when rdrobust / rddensity are not installed: they are GPL-3.0, see the README)."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("rdrobust", "rddensity")):
        return pd.DataFrame(columns=RD_COLUMNS)
    tables = []
    for subject in config.effectiveness.outcome_measures:
        found = rd_effect(scores, enrolments, subject, config, students=students)
        if "table" in found:
            tables.append(found["table"])
    if not tables:
        return pd.DataFrame(columns=RD_COLUMNS)
    return pd.concat(tables, ignore_index=True)
