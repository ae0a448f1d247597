"""The term a run reports on, and the tables as known at the end of it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.errors import InputError


@dataclass
class Term:
    """A school year ("2025-2026") and a screening window in it ("fall")."""

    school_year: str
    window: str


def latest_term_in(screenings: pd.DataFrame) -> Term:
    """The latest school year present, and its latest window."""
    known = (
        screenings.dropna(subset=["school_year", "window"]) if not screenings.empty else screenings
    )
    if known.empty:
        raise InputError("screenings", "no screening rows: cannot tell which term to report")
    year = max(known["school_year"].unique())
    windows = set(known.loc[known["school_year"] == year, "window"].unique())
    window = max((w for w in windows if w in WINDOW_ORDER), key=WINDOW_ORDER.index)
    return Term(year, window)


def slice_term(
    tables: dict[str, pd.DataFrame], term: Term, config: DistrictConfig
) -> dict[str, pd.DataFrame]:
    """The tables as known at the end of ``term``: that year's screenings up to its window,
    interventions and probes dated up to the window's last day."""
    windows_so_far = WINDOW_ORDER[: WINDOW_ORDER.index(term.window) + 1]
    _, last_day = config.window_dates(term.school_year, term.window)
    first_day, _ = config.window_dates(term.school_year, "fall")
    cutoff = pd.Timestamp(last_day)
    start = pd.Timestamp(first_day) - pd.Timedelta(days=31)
    screenings = tables["screenings"]
    progress = tables["progress"]
    interventions = tables["interventions"]

    def rows(frame: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
        # Usually every row is in the term: no copy of a large table then.
        return frame.reset_index(drop=True) if keep.all() else frame[keep].reset_index(drop=True)

    return {
        "students": tables["students"],
        "screenings": rows(
            screenings,
            (screenings["school_year"] == term.school_year)
            & screenings["window"].isin(windows_so_far),
        ),
        "interventions": rows(
            interventions,
            (interventions["start_date"] <= cutoff) & (interventions["start_date"] >= start),
        ),
        "progress": rows(progress, (progress["date"] <= cutoff) & (progress["date"] >= start)),
    }
