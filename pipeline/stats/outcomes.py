"""The outcome of an intervention: per student and subject, the score on the subject's
outcome screening measure in fall (``pre``) and in the current window (``post``).

* **Outcome measure**: the first measure of ``effectiveness.outcome_measures[subject]``
  the student has a fall score on, preferring one with a score in the window too.
* **One screening per student x measure x window**: the latest dated; of two on one date
  the later row (a re-upload) wins, and an undated one wins over dated ones (missing dates
  sort last).
* **Change** = post - pre, in score units and in SD units: over the district SD of fall
  scores of the student's grade and measure (sample SD, ddof = 1).
* **Fall level**: the percentile band (tier) of the outcome measure's fall percentile,
  with the measure's percentile preset: the "same starting level" comparisons match on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.rules.tiers import tier_from_percentile

# The screening columns :func:`outcome_scores` reads.
OUTCOME_COLUMNS = ["student_id", "measure", "subject", "window", "date", "score", "percentile"]
_KEYS = ["student_id", "measure", "window"]


def latest_screenings(screenings: pd.DataFrame, student: np.ndarray | None = None) -> pd.DataFrame:
    """One screening per student x measure x window (see the module docstring), in date
    order. ``student``: each row's student as an integer code, when the caller has one
    (integer codes are found again faster than the id text)."""
    if student is None:
        student = pd.factorize(screenings["student_id"])[0]
    keys = pd.DataFrame(
        {
            "student": student,
            "measure": pd.factorize(screenings["measure"])[0],
            "window": pd.factorize(screenings["window"])[0],
        }
    )
    # numpy sorts missing dates (NaT) last, as sort_values does; stable: re-uploads last.
    order = np.argsort(screenings["date"].to_numpy(), kind="stable")
    latest = ~keys.take(order).duplicated(keep="last").to_numpy()
    return screenings.take(order[latest])


def outcome_scores(
    screenings: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, window: str
) -> pd.DataFrame:
    """Per student x subject: the outcome measure, fall score (``pre``), ``window`` score
    (``post``), ``change``, the district fall SD of the grade x measure (``fall_sd``),
    ``change_sd`` and the ``fall_level`` (see the module docstring)."""
    scores = _outcome_screenings(screenings, students, config, window)
    fall = scores[scores["window"] == "fall"]
    current = scores[scores["window"] == window] if window != "fall" else scores.iloc[0:0]
    best = _preferred(_pre_post(fall, current), config.effectiveness.outcome_measures)
    best = best.merge(_fall_sd(fall), on=["measure", "grade"], how="left")
    change = (best["post"] - best["pre"]).astype(float)
    return best.assign(
        pre=best["pre"].astype(float),
        post=best["post"].astype(float),
        change=change,
        change_sd=change / best["fall_sd"].where(best["fall_sd"] > 0).astype(float),
        fall_level=_fall_level(best, config),
    ).reset_index(drop=True)


def _outcome_screenings(
    screenings: pd.DataFrame, students: pd.DataFrame, config: DistrictConfig, window: str
) -> pd.DataFrame:
    """The latest screening of each rostered student on each outcome measure in fall and
    in ``window``, with the student's school and grade."""
    measures = sorted({m for ms in config.effectiveness.outcome_measures.values() for m in ms})
    outcome = screenings["measure"].isin(measures) & screenings["window"].isin(["fall", window])
    columns = [c for c in screenings.columns if c in OUTCOME_COLUMNS]
    rostered, student = fast.join_roster(screenings[columns][outcome], students)
    return latest_screenings(rostered, student).reset_index(drop=True)


def _pre_post(fall: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Each fall score (``pre``, with ``fall_percentile``) beside the same student's score
    on the measure in the current window (``post``; missing when there is none)."""
    pre = fall[["student_id", "measure", "subject", "school_id", "grade", "score", "percentile"]]
    pre = pre.rename(columns={"score": "pre", "percentile": "fall_percentile"})
    post = current[["student_id", "measure", "score"]].rename(columns={"score": "post"})
    return pre.merge(post, on=["student_id", "measure"], how="left")


def _preferred(both: pd.DataFrame, preferences: dict[str, list[str]]) -> pd.DataFrame:
    """Per student x subject, the row of the most preferred outcome measure, among those
    with a post score when there are any."""
    ranked = both.assign(_rank=_preference_rank(both, preferences), _has=both["post"].notna())
    ranked = ranked[ranked["_rank"].notna()].sort_values(
        ["student_id", "subject", "_has", "_rank"], ascending=[True, True, False, True]
    )
    best = ranked.drop_duplicates(["student_id", "subject"], keep="first")
    return best.drop(columns=["_rank", "_has"])


def _preference_rank(scores: pd.DataFrame, preferences: dict[str, list[str]]) -> pd.Series:
    """Each row's place in its subject's list of outcome measures (0: first); missing
    where the measure is not an outcome measure of the subject."""
    rank = pd.Series(np.nan, index=scores.index)
    for subject, measures in preferences.items():
        place = fast.map_distinct(scores["measure"], {m: k for k, m in enumerate(measures)})
        rank = rank.mask((scores["subject"] == subject).to_numpy(), place)
    return rank


def _fall_sd(fall: pd.DataFrame) -> pd.DataFrame:
    """The district SD of fall scores per measure x grade (``fall_sd``, ddof = 1)."""
    return fall.groupby(["measure", "grade"])["score"].std(ddof=1).rename("fall_sd").reset_index()


def _fall_level(best: pd.DataFrame, config: DistrictConfig) -> pd.Series:
    """The tier band of each fall percentile, with its measure's percentile preset."""
    bands = {
        name: config.percentile_bands[m.percentile_preset]
        for name, m in config.measures.items()
        if m.percentile_preset in config.percentile_bands
    }
    tier3_below = fast.map_distinct(best["measure"], {m: b[0] for m, b in bands.items()})
    tier2_below = fast.map_distinct(best["measure"], {m: b[1] for m, b in bands.items()})
    return tier_from_percentile(best["fall_percentile"], tier3_below, tier2_below)
