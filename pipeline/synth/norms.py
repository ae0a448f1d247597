"""Norm tables the synthetic scores are drawn around, and the score <-> percentile maps.

A table is, per (measure, grade), an array of shape (3 windows, 5 percentiles): the
scores at the 10th, 25th, 50th, 75th and 90th national percentile in fall, winter and
spring. ORF follows Hasbrouck & Tindal (2017); the others are simple illustrative tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.synth.spec import WINDOW_WEEK, WINDOWS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
NORMS_DIR = CONFIG_DIR / "norms"
NORM_PERCENTILES = np.array([10, 25, 50, 75, 90])

NormTables = dict[tuple[str, int], np.ndarray]


def _orf_norms() -> pd.DataFrame:
    """H&T 2017 ORF quantiles by grade and window; grade 1 fall extrapolated back."""
    norms = pd.read_csv(NORMS_DIR / "hasbrouck_tindal_2017_orf.csv")
    g1 = norms["grade"] == 1
    # No published grade-1 fall norms: step back from winter at the winter-spring pace.
    fall_g1 = norms.loc[g1, "winter"] - 0.55 * (norms.loc[g1, "spring"] - norms.loc[g1, "winter"])
    norms.loc[g1, "fall"] = fall_g1.clip(lower=1).round()
    return norms


def quantile_tables() -> NormTables:
    """(measure, grade) -> array of shape (3 windows, 5 percentiles) of scores."""
    tables: NormTables = {}
    z = stats.norm.ppf(NORM_PERCENTILES / 100)
    orf = _orf_norms()
    for grade, rows in orf.groupby("grade"):
        rows = rows.sort_values("percentile")
        tables[("dibels8_orf_wrc", int(grade))] = rows[list(WINDOWS)].to_numpy().T
    # Kindergarten letter naming: skewed, floor at 0 (illustrative, not a published norm).
    tables[("dibels8_lnf", 0)] = np.array(
        [[2, 8, 18, 30, 42], [14, 25, 36, 48, 58], [22, 33, 45, 55, 65]], dtype=float
    )
    for grade in range(0, 9):
        # MAP-like math RIT: normal, mean rising about 10 points a grade.
        fall_mean, growth, sd = 140 + 11 * grade, 16 - grade, 13 + 0.6 * grade
        means = np.array([fall_mean, fall_mean + 0.55 * growth, fall_mean + growth])
        tables[("map_math_rit", grade)] = means[:, None] + sd * z[None, :]
        # Computation CBM (digits correct): ~0.5 digits a week of growth.
        cbm_fall, cbm_sd = 8 + 5 * grade, 5 + grade
        cbm = np.array([cbm_fall, cbm_fall + 8, cbm_fall + 16])
        tables[("math_cbm_dcpm", grade)] = (cbm[:, None] + cbm_sd * z[None, :]).clip(min=0)
    return tables


def reading_measure(grade: int) -> str:
    """Letter naming in kindergarten, oral reading fluency from grade 1."""
    return "dibels8_lnf" if grade <= 0 else "dibels8_orf_wrc"


def math_measure(grade: int) -> str:
    return "map_math_rit"


def _interp_window(table: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Quantile scores at any week, linear between the window weeks: (n, 5)."""
    weeks = np.array([WINDOW_WEEK[w] for w in WINDOWS], dtype=float)
    out = np.empty((week.size, table.shape[1]))
    for k in range(table.shape[1]):
        out[:, k] = np.interp(week, weeks, table[:, k])
    return out


def score_at_z(table: np.ndarray, week: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Score at standing ``z``: piecewise-linear in z through the norm points."""
    zq = stats.norm.ppf(NORM_PERCENTILES / 100)
    q = _interp_window(table, week)
    idx = np.clip(np.searchsorted(zq, z) - 1, 0, len(zq) - 2)
    rows = np.arange(z.size)
    lo, hi = q[rows, idx], q[rows, idx + 1]
    frac = (z - zq[idx]) / (zq[idx + 1] - zq[idx])
    return lo + frac * (hi - lo)


def percentile_of(table: np.ndarray, week: np.ndarray, score: np.ndarray) -> np.ndarray:
    """National percentile (1-99) of a score: the inverse of :func:`score_at_z`."""
    zq = stats.norm.ppf(NORM_PERCENTILES / 100)
    q = _interp_window(table, week)
    j = np.clip((score[:, None] >= q[:, 1:-1]).sum(axis=1), 0, len(zq) - 2)
    rows = np.arange(score.size)
    lo, hi = q[rows, j], q[rows, j + 1]
    width = np.where(hi > lo, hi - lo, 1.0)
    z = zq[j] + (score - lo) / width * (zq[j + 1] - zq[j])
    return np.clip(np.round(stats.norm.cdf(z) * 100), 1, 99)
