"""The `process` stage: from a term's canonical tables to the tables the reports read.

Each step is a pure function in its own module (tiers, groups, progress,
effectiveness); this module only reads its inputs from and writes its outputs to
``data/processed/<year>/<window>/``, in order.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import store
from pipeline.config import DistrictConfig
from pipeline.ingest import Term
from pipeline.tiers import assign_tiers


def run_process(processed: Path, raw: Path, config: DistrictConfig, term: Term) -> dict[str, int]:
    """Compute every processed table for ``term``; returns rows written per table."""
    year, window = term.school_year, term.window
    students = store.read_table(processed, year, window, "students")
    screenings = store.read_table(processed, year, window, "screenings")
    written: dict[str, int] = {}

    tiers = assign_tiers(screenings, students, config, window)
    store.write_table(tiers, processed, year, window, "tiers")
    written["tiers"] = len(tiers)
    return written
