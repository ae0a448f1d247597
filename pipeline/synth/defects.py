"""Planted data defects, counted in ``_truth.json`` so the quality stage can be checked.

Kinds: duplicate screening (same student, measure and window, earlier date), unknown
student id, score outside the measure's valid range, percentile outside 1-99, a
screening dated outside its window, and a roster grade written out as a word.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth.spec import SynthSpec

SCREENING_DEFECTS = (
    "duplicate_screening",
    "unknown_student",
    "score_out_of_range",
    "percentile_out_of_range",
    "date_outside_window",
)
GRADE_WORDS = {"1": "One", "2": "Two", "3": "Three", "4": "Four", "5": "Five"}


def inject_defects(
    tables: dict[str, pd.DataFrame], spec: SynthSpec, rng: np.random.Generator
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Plant data defects at ``spec.defect_rate`` of screening rows; report their counts."""
    counts = dict.fromkeys([*SCREENING_DEFECTS, "grade_as_word"], 0)
    if spec.defect_rate <= 0:
        return tables, counts
    tables["screenings"] = _screening_defects(tables["screenings"], spec, rng, counts)
    tables["students"] = _grades_as_words(tables["students"], spec, rng, counts)
    return tables, counts


def _screening_defects(
    screenings: pd.DataFrame, spec: SynthSpec, rng: np.random.Generator, counts: dict
) -> pd.DataFrame:
    """The five screening defects, each on its own ``defect_rate / 5`` of the rows."""
    screenings = screenings.copy()
    screenings["percentile"] = screenings["percentile"].astype("Int64")
    n_each = max(1, int(round(len(screenings) * spec.defect_rate / 5)))
    picks = rng.choice(len(screenings), size=5 * n_each, replace=False)
    dup, unknown, score_bad, pct_bad, date_bad = np.split(picks, 5)

    duplicates = screenings.iloc[dup].copy()
    duplicates["date"] = (pd.to_datetime(duplicates["date"]) - pd.Timedelta(days=2)).dt.strftime(
        "%Y-%m-%d"
    )
    # A re-entered score a little lower (never above the original, so never past the
    # measure's maximum: the row is a duplicate and nothing else).
    duplicates["score"] = duplicates["score"] - np.abs(rng.integers(-5, 6, len(duplicates)))
    duplicates["score"] = duplicates["score"].clip(lower=0)
    counts["duplicate_screening"] = len(duplicates)

    screenings.loc[screenings.index[unknown], "student_id"] = [
        f"9{k:06d}" for k in range(len(unknown))
    ]
    counts["unknown_student"] = len(unknown)
    screenings.loc[screenings.index[score_bad], "score"] = 999
    counts["score_out_of_range"] = len(score_bad)
    pct_rows = screenings.index[pct_bad][screenings["percentile"].iloc[pct_bad].notna().to_numpy()]
    screenings.loc[pct_rows, "percentile"] = 100 + rng.integers(1, 50, len(pct_rows))
    counts["percentile_out_of_range"] = len(pct_rows)
    screenings.loc[screenings.index[date_bad], "date"] = f"{spec.first_year + 1}-07-15"
    counts["date_outside_window"] = len(date_bad)
    # Duplicates go at the end, as re-uploaded rows do.
    return pd.concat([screenings, duplicates], ignore_index=True)


def _grades_as_words(
    students: pd.DataFrame, spec: SynthSpec, rng: np.random.Generator, counts: dict
) -> pd.DataFrame:
    """Grades 1-5 of ``defect_rate / 4`` of the students written as words ("Two")."""
    students = students.copy()
    students["grade"] = students["grade"].astype(str)
    candidates = np.flatnonzero(students["grade"].isin(list(GRADE_WORDS)).to_numpy())
    n_word = min(len(candidates), max(1, int(round(len(students) * spec.defect_rate / 4))))
    chosen = students.index[rng.choice(candidates, size=n_word, replace=False)]
    students.loc[chosen, "grade"] = students.loc[chosen, "grade"].map(GRADE_WORDS)
    counts["grade_as_word"] = int(n_word)
    return students
