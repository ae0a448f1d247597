"""Screening scores: screening dates, reading and math scores around the norms, behaviour.

Per student and subject, a latent standing ``z`` (standard normal, shifted by school and
subgroup, shared in part across subjects) fixes the student's norm percentile; the true
fall score is the norm score at that percentile and true growth to spring is the norm
growth at that percentile plus individual noise. Scores are observed with measurement
error. An enrolled student's true score also gains the program's planted effect
(:mod:`pipeline.synth.interventions`), accruing linearly in weeks since fall.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.synth.norms import NormTables, percentile_of, score_at_z
from pipeline.synth.spec import WINDOW_WEEK, WINDOWS, SynthSpec

# Scores are clipped to this range before the fall percentiles are read.
SCORE_RANGE = (0.0, 400.0)
# The student's standing in a subject: 0.75 of the shared part, 0.6 of its own.
SHARED_WEIGHT, OWN_WEIGHT = 0.75, 0.6


@dataclass(frozen=True)
class SubjectModel:
    """How one screened subject is drawn: its measure per grade, growth noise and error."""

    subject: str
    measure_of_grade: Callable[[int], str]
    growth_sd: float
    error_sd: float


@dataclass
class SubjectScores:
    """One subject's draws for every student (arrays in roster order)."""

    measure: np.ndarray
    z: np.ndarray  # latent standing
    fall_true: np.ndarray
    growth: np.ndarray  # true typical growth, fall to spring
    fall_percentile: np.ndarray  # of the observed fall score: decides risk
    fall_sd: np.ndarray  # SD of the observed fall scores of the grade and measure
    observed: dict[str, np.ndarray]  # window -> observed score (fall first, then the others)


def screening_dates(
    students: pd.DataFrame, spec: SynthSpec, rng: np.random.Generator
) -> dict[str, pd.Series]:
    """Each student's screening date per window: the school screens within ten days of a
    fixed date, each student within five days of the school's start."""
    first = spec.first_year
    base = {
        "fall": pd.Timestamp(first, 9, 8),
        "winter": pd.Timestamp(first + 1, 1, 12),
        "spring": pd.Timestamp(first + 1, 5, 4),
    }
    schools = students["school_id"].unique()
    out = {}
    for window, day in base.items():
        school_offset = pd.Series(rng.integers(0, 10, schools.size), index=schools)
        days = students["school_id"].map(school_offset).to_numpy() + rng.integers(
            0, 5, len(students)
        )
        out[window] = pd.Series(day + pd.to_timedelta(days, unit="D"), index=students.index)
    return out


def measure_grade_groups(students: pd.DataFrame, measure: np.ndarray) -> dict:
    """Row positions of the students per (measure, grade), in sorted order."""
    return students.groupby([measure, students["grade"]]).indices


def draw_subject(
    model: SubjectModel,
    students: pd.DataFrame,
    base: np.ndarray,
    shared: np.ndarray,
    norms: NormTables,
    rng: np.random.Generator,
) -> SubjectScores:
    """Standing, true fall score and growth, and the observed fall score with its
    percentile and the grade's fall SD (the scale effects are planted in)."""
    n = len(students)
    z = base + SHARED_WEIGHT * shared + OWN_WEIGHT * rng.normal(0, 1, n)
    z = z / np.sqrt(SHARED_WEIGHT**2 + OWN_WEIGHT**2 + 0.1)
    measure, fall_true, growth = _true_scores(students, model, z, norms, rng)
    fall, percentile, sd = _observe_fall(students, measure, fall_true, model, norms, rng)
    return SubjectScores(measure, z, fall_true, growth, percentile, sd, {"fall": fall})


def _true_scores(
    students: pd.DataFrame,
    model: SubjectModel,
    z: np.ndarray,
    norms: NormTables,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each student's measure, true fall score and true typical growth (fall -> spring)."""
    n = len(students)
    fall_true = np.empty(n)
    spring_true = np.empty(n)
    measure = np.array([model.measure_of_grade(g) for g in students["grade"]], dtype=object)
    for (name, grade), idx in measure_grade_groups(students, measure).items():
        table = norms[(name, int(grade))]
        fall_true[idx] = score_at_z(table, np.zeros(idx.size), z[idx])
        spring_true[idx] = score_at_z(
            table, np.full(idx.size, float(WINDOW_WEEK["spring"])), z[idx]
        )
    growth = spring_true - fall_true + rng.normal(0, model.growth_sd, n)
    return measure, fall_true, growth


def _observe_fall(
    students: pd.DataFrame,
    measure: np.ndarray,
    fall_true: np.ndarray,
    model: SubjectModel,
    norms: NormTables,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The observed fall score, its percentile and the SD of the grade's observed fall
    scores: the score decides risk, the SD is the scale the effect is planted in."""
    n = len(students)
    fall = fall_true + rng.normal(0, model.error_sd, n)
    percentile, sd = np.empty(n), np.empty(n)
    for (name, grade), idx in measure_grade_groups(students, measure).items():
        mine = np.round(np.clip(fall[idx], *SCORE_RANGE))
        fall[idx] = mine
        percentile[idx] = percentile_of(norms[(name, int(grade))], np.zeros(idx.size), mine)
        sd[idx] = np.std(np.round(mine), ddof=1)
    return fall, percentile, sd


def observe_later_windows(
    scores: SubjectScores, effect_raw: np.ndarray, error_sd: float, rng: np.random.Generator
) -> None:
    """Winter and spring scores: true growth and the planted effect, both accruing
    linearly in weeks since fall, observed with measurement error."""
    n = scores.fall_true.size
    for window in WINDOWS[1:]:
        week = WINDOW_WEEK[window]
        true = scores.fall_true + scores.growth * week / WINDOW_WEEK["spring"]
        true = true + effect_raw * week / WINDOW_WEEK["spring"]
        scores.observed[window] = true + rng.normal(0, error_sd, n)


def screening_rows(
    scores: SubjectScores,
    subject: str,
    students: pd.DataFrame,
    dates: dict[str, pd.Series],
    norms: NormTables,
    spec: SynthSpec,
) -> list[pd.DataFrame]:
    """One screening per student and window, with its national percentile."""
    frames = []
    groups = measure_grade_groups(students, scores.measure)
    for window in WINDOWS:
        score = np.round(np.clip(scores.observed[window], 0, None))
        week = float(WINDOW_WEEK[window])
        percentile = np.empty(len(students))
        for (name, grade), idx in groups.items():
            table = norms[(name, int(grade))]
            percentile[idx] = percentile_of(table, np.full(idx.size, week), score[idx])
        percentile = percentile.astype(int)
        frames.append(
            _screenings(students, spec, window, dates, scores.measure, subject, score, percentile)
        )
    return frames


def behavior_rows(
    students: pd.DataFrame,
    base: np.ndarray,
    dates: dict[str, pd.Series],
    spec: SynthSpec,
    rng: np.random.Generator,
) -> list[pd.DataFrame]:
    """A SAEBRS-like behaviour screener (0-57, higher is better); no national percentile."""
    n = len(students)
    behavior_z = base * 0.5 + rng.normal(0, 1, n)
    frames = []
    for window in WINDOWS:
        score = np.clip(np.round(44 + 6 * (behavior_z + rng.normal(0, 0.4, n))), 0, 57)
        no_percentile = pd.array([pd.NA] * n, dtype="Int64")
        frames.append(
            _screenings(
                students, spec, window, dates, "saebrs_total", "behavior", score, no_percentile
            )
        )
    return frames


def _screenings(
    students: pd.DataFrame,
    spec: SynthSpec,
    window: str,
    dates: dict[str, pd.Series],
    measure: np.ndarray | str,
    subject: str,
    score: np.ndarray,
    percentile: np.ndarray | pd.api.extensions.ExtensionArray,
) -> pd.DataFrame:
    """The canonical screenings rows of one window."""
    return pd.DataFrame(
        {
            "student_id": students["student_id"],
            "school_year": spec.school_year,
            "window": window,
            "date": dates[window].dt.strftime("%Y-%m-%d"),
            "measure": measure,
            "subject": subject,
            "score": score.astype(int),
            "percentile": percentile,
            "vendor_level": "",
        }
    )
