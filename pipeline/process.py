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


def run_process(
    processed: Path,
    raw: Path,
    config: DistrictConfig,
    term: Term,
    config_dir: Path | str | None = None,
) -> dict[str, int]:
    """Compute every processed table for ``term``; returns rows written per table."""
    year, window = term.school_year, term.window
    students = store.read_table(processed, year, window, "students")
    screenings = store.read_table(processed, year, window, "screenings")
    written: dict[str, int] = {}

    tiers = assign_tiers(screenings, students, config, window)
    store.write_table(tiers, processed, year, window, "tiers")
    written["tiers"] = len(tiers)
    written.update(
        _progress_and_effectiveness(
            processed, config, term, students, screenings, tiers, config_dir
        )
    )
    return written


def _progress_and_effectiveness(
    processed, config, term, students, screenings, tiers, config_dir
) -> dict[str, int]:
    """Progress decisions (``progress_decisions.parquet``: ``progress.parquet`` is the
    canonical probe table), then ``effectiveness.parquet`` and ``transitions.parquet``."""
    from pipeline.effectiveness import program_effectiveness, transitions
    from pipeline.progress import load_benchmark_goals, load_growth_norms, progress_decisions

    year, window = term.school_year, term.window
    config_dir = (
        Path(config_dir) if config_dir else Path(__file__).resolve().parent.parent / "config"
    )
    probes = store.read_table(processed, year, window, "progress")
    interventions = store.read_table(processed, year, window, "interventions")
    decisions = progress_decisions(
        probes,
        students,
        interventions,
        config,
        load_growth_norms(config_dir, config),
        year,
        load_benchmark_goals(config_dir, config),
    )
    fall_tiers = tiers if window == "fall" else assign_tiers(screenings, students, config, "fall")
    effectiveness = program_effectiveness(
        screenings, students, interventions, config, window, fall_tiers, tiers, decisions
    )
    moves = transitions(fall_tiers, tiers, interventions, config.privacy.min_cell_size)
    out = {
        "progress_decisions": decisions,
        "effectiveness": effectiveness,
        "transitions": moves,
    }
    for name, frame in out.items():
        store.write_table(frame, processed, year, window, name)
    return {name: len(frame) for name, frame in out.items()}
