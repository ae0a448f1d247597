"""Domain scores beside each math and behaviour screening, so math and behaviour focus show.

MAP Growth reports a RIT score and an adjective per instructional area ("goal"); SAEBRS
reports Social, Academic and Emotional Behavior sub-scales that add up to the total.
Each student has lasting strengths and weaknesses (a computation and a concepts
deviation in math; an externalizing and an internalizing one in behaviour), so the same
domains stay weak across windows. Drawn from their own random stream (the district's
seed and a salt), so everything drawn before stays exactly as it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.synth.spec import SynthSpec

DOMAIN_SEED_SALT = 43
# MAP Growth math goals: measure, and which lasting deviation it follows.
MAP_GOALS = {
    "map_math_goal_number": "e_computation",
    "map_math_goal_algebra": "e_computation",
    "map_math_goal_measurement": "e_concepts",
    "map_math_goal_geometry": "e_concepts",
}
# A goal's standing: this much of the overall standing, of the lasting deviation, of noise.
GOAL_OVERALL, GOAL_LASTING, GOAL_NOISE = 0.75, 0.55, 0.35
# RIT points per SD of a goal's standing around the overall RIT.
GOAL_RIT_SD = 12.0
# NWEA's goal adjectives by the goal's percentile: Low < 21, LoAvg 21-40, Avg 41-60,
# HiAvg 61-80, High > 80.
ADJECTIVE_CUTS = (21, 41, 61, 81)
ADJECTIVES = ("Low", "LoAvg", "Avg", "HiAvg", "High")
# SAEBRS sub-scales and their maximum (6, 6 and 7 items scored 0-3); the total is 0-57.
SAEBRS_SCALES = {"saebrs_social": 18, "saebrs_academic": 18, "saebrs_emotional": 21}
# How strongly the lasting deviations steer which sub-scale the points below the maximum
# are lost on.
SAEBRS_STEER = 0.8


def domain_scores(
    students: pd.DataFrame, screenings: pd.DataFrame, spec: SynthSpec
) -> pd.DataFrame:
    """MAP Growth goal scores beside every ``map_math_rit`` screening and SAEBRS sub-scales
    beside every ``saebrs_total`` screening (canonical screenings rows)."""
    rng = np.random.default_rng([spec.seed, DOMAIN_SEED_SALT])
    lasting = pd.DataFrame(
        rng.normal(0, 1, (len(students), 4)),
        columns=["e_computation", "e_concepts", "e_externalizing", "e_internalizing"],
        index=students["student_id"],
    )
    math = screenings[screenings["measure"] == "map_math_rit"].join(lasting, on="student_id")
    behavior = screenings[screenings["measure"] == "saebrs_total"].join(lasting, on="student_id")
    return pd.concat([_map_goals(math, rng), _saebrs_scales(behavior, rng)], ignore_index=True)


def _map_goals(math: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Four goal RIT scores and adjectives per MAP math test."""
    z = stats.norm.ppf(math["percentile"].astype(float).clip(1, 99).to_numpy() / 100)
    frames = []
    for measure, deviation in MAP_GOALS.items():
        noise = rng.normal(0, 1, len(math))
        zg = GOAL_OVERALL * z + GOAL_LASTING * math[deviation].to_numpy() + GOAL_NOISE * noise
        zg = zg / np.hypot(np.hypot(GOAL_OVERALL, GOAL_LASTING), GOAL_NOISE)
        percentile = np.clip(np.round(stats.norm.cdf(zg) * 100), 1, 99)
        rit = np.clip(
            np.round(math["score"].to_numpy(dtype=float) + GOAL_RIT_SD * (zg - z)), 100, 350
        )
        adjective = np.array(ADJECTIVES)[np.searchsorted(ADJECTIVE_CUTS, percentile, side="right")]
        frames.append(_rows(math, measure, "math", rit, adjective))
    return pd.concat(frames, ignore_index=True)


def _saebrs_scales(behavior: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Social, Academic and Emotional Behavior that add up to each SAEBRS total: the points
    below the maximum are lost on the sub-scales in proportion to their size, steered by
    the student's lasting externalizing and internalizing deviations."""
    total = behavior["score"].to_numpy(dtype=float)
    lost = sum(SAEBRS_SCALES.values()) - total
    steer = np.column_stack(
        [
            behavior["e_externalizing"].to_numpy(),
            0.7 * behavior["e_externalizing"].to_numpy(),
            behavior["e_internalizing"].to_numpy(),
        ]
    ) + rng.normal(0, 0.4, (len(behavior), 3))
    size = np.array(list(SAEBRS_SCALES.values()), dtype=float)
    share = size * np.exp(SAEBRS_STEER * steer)
    share = share / share.sum(axis=1, keepdims=True)
    loss = np.minimum(np.floor(lost[:, None] * share), size)
    # The points the rounding left: on the sub-scales with room, largest share first.
    for k in np.argsort(-share, axis=1).T:
        rows = np.arange(len(behavior))
        room = size[k] - loss[rows, k]
        add = np.minimum(room, lost - loss.sum(axis=1))
        loss[rows, k] += add
    scores = size - loss
    return pd.concat(
        [
            _rows(behavior, measure, "behavior", scores[:, k], np.full(len(behavior), ""))
            for k, measure in enumerate(SAEBRS_SCALES)
        ],
        ignore_index=True,
    )


def _rows(base: pd.DataFrame, measure: str, subject: str, score, level) -> pd.DataFrame:
    """Canonical screenings rows beside ``base``'s (same student, term and date)."""
    return pd.DataFrame(
        {
            "student_id": base["student_id"].to_numpy(),
            "school_year": base["school_year"].to_numpy(),
            "window": base["window"].to_numpy(),
            "date": base["date"].to_numpy(),
            "measure": measure,
            "subject": subject,
            "score": np.asarray(score).astype(int),
            "percentile": pd.array([pd.NA] * len(base), dtype="Int64"),
            "vendor_level": level,
        }
    )
