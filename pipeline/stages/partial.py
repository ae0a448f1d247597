"""Partial terms: a school that has not screened in the term's window yet.

Mid-window runs are the normal case (September, January, May): some schools have
screened, others not yet. A school with no screening in the window keeps its latest
earlier window's tiers (judged by that window's cuts), and its reports say so ("No spring
screening for this school yet; showing winter"); the other schools are unaffected.
``screening_windows`` records, per school, which window its tiers come from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.ingest.terms import Term
from pipeline.rules.tiers import assign_tiers
from pipeline.stages import store

SHOWN_COLUMNS = ["school_id", "window_shown"]
NONE_YET = ""  # window_shown of a school with no screening in this window or before


def _screened_schools(screenings: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """(school_id, window) pairs with at least one screening."""
    schools = students[["student_id", "school_id"]].astype({"student_id": "str"})
    joined = screenings[["student_id", "window"]].astype("str").merge(schools, on="student_id")
    return joined[["school_id", "window"]].drop_duplicates()


def tiers_with_earlier_windows(
    tiers: pd.DataFrame,
    processed: Path,
    term: Term,
    students: pd.DataFrame,
    config: DistrictConfig,
    overrides: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``tiers`` with each school that has no screening in the term's window given the
    tiers of its latest earlier screened window; and ``screening_windows`` (school_id,
    window_shown) for every school. Nothing more is read when every school has screened."""
    window = term.window
    schools = sorted(students["school_id"].astype("str").unique())
    shown = dict.fromkeys(schools, window)
    now = set(tiers.loc[tiers["measure"].notna(), "school_id"].astype("str").unique())
    earlier = WINDOW_ORDER[: WINDOW_ORDER.index(window)]
    if now >= set(schools):
        return tiers, _shown(shown)
    path = store.term_dir(processed, term.school_year, window) / "screenings.parquet"
    screenings = pd.read_parquet(path, filters=[("window", "in", earlier or [window])])
    screenings = screenings.drop(columns=["school_year"], errors="ignore")
    pairs = _screened_schools(screenings, students)
    for school in (s for s in schools if s not in now):
        done = set(pairs.loc[pairs["school_id"] == school, "window"])
        before = [w for w in earlier if w in done]
        shown[school] = before[-1] if before else NONE_YET
    late = [s for s in schools if shown[s] not in (window, NONE_YET)]
    if not late:
        return tiers, _shown(shown)
    parts = [tiers[~tiers["school_id"].astype("str").isin(late)]]
    for used in sorted({shown[s] for s in late}, key=WINDOW_ORDER.index):
        ids = [s for s in late if shown[s] == used]
        theirs = students[students["school_id"].astype("str").isin(ids)]
        rows = screenings[screenings["window"] == used]
        rows = rows[rows["student_id"].isin(theirs["student_id"])]
        parts.append(assign_tiers(rows, theirs, config, used, overrides=overrides))
    return pd.concat(parts, ignore_index=True), _shown(shown)


def _shown(shown: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"school_id": list(shown), "window_shown": list(shown.values())}, columns=SHOWN_COLUMNS
    )


def screening_note(
    processed: Path | str, school_year: str, window: str, school_id: str
) -> str | None:
    """ "No spring screening for this school yet; showing winter." for a school whose
    tiers come from an earlier window, else None."""
    table = store.read_optional(processed, school_year, window, "screening_windows")
    if table is None:
        return None
    row = table[table["school_id"].astype("str") == str(school_id)]
    if row.empty or row["window_shown"].iloc[0] == window:
        return None
    shown = row["window_shown"].iloc[0]
    if shown == NONE_YET:
        return (
            f"No {window} screening for this school yet: tiers and groups fill in once it "
            "has screened (team overrides are shown meanwhile)."
        )
    return (
        f"No {window} screening for this school yet; showing {shown}. "
        "Run the reports again once the school has screened."
    )
