"""Weekly progress-monitoring probes from each enrolled student's start to end date.

Reading is monitored on the screening measure itself (its growth and planted effect
carry over); math on a computation CBM whose slope gets the same planted effect in that
measure's own SD units. A probe is missed now and then.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth.interventions import Service
from pipeline.synth.norms import NormTables, score_at_z
from pipeline.synth.scores import SubjectScores
from pipeline.synth.spec import WINDOW_WEEK

MATH_PROBE = "math_cbm_dcpm"
MISSED_SHARE = 0.1


def probes(
    students: pd.DataFrame,
    service: Service,
    scores: SubjectScores,
    subject: str,
    norms: NormTables,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The probes of one subject's enrolled students, weekly from start to end date."""
    idx, start, end = service.enrolled, service.start, service.end
    if subject == "reading":
        measures = scores.measure[idx]
    else:
        measures = np.full(idx.size, MATH_PROBE, dtype=object)
    n_weeks = np.floor((end - start).dt.days.to_numpy() / 7).astype(int) + 1
    start_week = rng.integers(2, 4, idx.size)  # weeks since the fall screening
    same = measures == scores.measure[idx]
    base_score = np.where(same, scores.fall_true[idx], 0.0)
    slope = (scores.growth[idx] + service.effect_raw[idx]) / WINDOW_WEEK["spring"]
    noise = np.where(measures == "dibels8_orf_wrc", 9.0, 5.0)
    grades = students["grade"].iloc[idx].to_numpy()
    effect = service.effect
    _math_probe_model(measures, grades, idx, scores.z, effect, norms, base_score, slope, noise, rng)
    owner = np.repeat(np.arange(idx.size), n_weeks)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)
    weeks_since_fall = start_week[owner] + offset
    score = base_score[owner] + slope[owner] * weeks_since_fall
    score = score + rng.normal(0, 1, owner.size) * noise[owner]
    probe_dates = start.to_numpy()[owner] + (7 * offset).astype("timedelta64[D]")
    keep = rng.random(owner.size) > MISSED_SHARE
    return pd.DataFrame(
        {
            "student_id": students["student_id"].to_numpy()[idx[owner[keep]]],
            "date": pd.DatetimeIndex(probe_dates[keep]).strftime("%Y-%m-%d"),
            "measure": measures[owner[keep]],
            "score": np.round(np.clip(score[keep], 0, None)).astype(int),
        }
    )


def _math_probe_model(
    measures: np.ndarray,
    grades: np.ndarray,
    idx: np.ndarray,
    z: np.ndarray,
    effect: np.ndarray,
    norms: NormTables,
    base_score: np.ndarray,
    slope: np.ndarray,
    noise: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Baseline, weekly slope and noise of the math CBM probes (in place): the norm
    score at the student's standing, about 0.45 digits a week plus the planted effect
    in the CBM's own SD (its interquartile range / 1.349)."""
    by_measure_grade = pd.DataFrame({"m": measures, "g": grades}).groupby(["m", "g"]).indices
    for (measure, grade), rows in by_measure_grade.items():
        if measure != MATH_PROBE:
            continue
        table = norms[(measure, int(grade))]
        sd = float(table[0, 3] - table[0, 1]) / 1.349  # IQR -> SD
        base_score[rows] = score_at_z(table, np.zeros(rows.size), z[idx[rows]])
        slope[rows] = (
            0.45 + rng.normal(0, 0.12, rows.size) + effect[idx[rows]] * sd / WINDOW_WEEK["spring"]
        )
        noise[rows] = 2.5
