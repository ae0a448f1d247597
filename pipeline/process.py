"""The `process` stage: from a term's canonical tables to the tables the reports read.

Each step is a pure function in its own module (tiers, groups, progress,
effectiveness); this module only reads its inputs from and writes its outputs to
``data/processed/<year>/<window>/``, in order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline import store
from pipeline.config import DistrictConfig
from pipeline.ingest import IngestError, Term
from pipeline.tiers import InputRowError, assign_tiers, validate_overrides

# The columns of the tier tables that effectiveness and transitions read.
TIER_KEYS = ["student_id", "school_id", "subject", "tier"]


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
    interventions = store.read_table(processed, year, window, "interventions")
    written: dict[str, int] = {}
    # Progress before the screenings are read: its probes are gone by then (memory at 1M).
    decisions = _progress(processed, config, term, students, interventions, config_dir)
    screenings = _read_screenings(processed, term)

    overrides = _read_hand_made(raw, "overrides.csv", validate_overrides, students)
    tiers = assign_tiers(screenings, students, config, window, overrides=overrides)
    _write(tiers, processed, term, "tiers", written)
    # Groups need only the tiers: they are formed in the background (their solves in a
    # process pool) while this process computes fall tiers, effectiveness and
    # transitions, so both cores work. Each step is a pure function: same tables.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="groups") as background:
        grouping = background.submit(_groups, processed, raw, config, term, tiers)
        written.update(
            _after_tiers(
                processed, config, term, students, interventions, screenings, tiers, decisions
            )
        )
        del screenings, tiers
        written.update(grouping.result())
    written.update(_district_context(processed, term, config_dir))
    return written


def _after_tiers(processed, config, term, students, interventions, screenings, tiers, decisions):
    """Fall tiers, program effectiveness and transitions (and the progress decisions)."""
    from pipeline.effectiveness import program_effectiveness, transitions

    window = term.window
    written: dict[str, int] = {}
    fall_tiers = tiers if window == "fall" else None
    # The later steps read only a few columns of the tier tables: the rest is freed.
    tiers = tiers[TIER_KEYS]
    if fall_tiers is None:
        fall_tiers = assign_tiers(screenings, students, config, "fall")
    _write(fall_tiers, processed, term, "fall_tiers", written)  # the reports' change since fall
    fall_tiers = fall_tiers[TIER_KEYS]
    effectiveness = program_effectiveness(
        screenings, students, interventions, config, window, fall_tiers, tiers, decisions
    )
    del screenings
    moves = transitions(fall_tiers, tiers, interventions, config.privacy.min_cell_size)
    del fall_tiers, tiers
    # progress_decisions: progress.parquet is the canonical probe table.
    _write(decisions, processed, term, "progress_decisions", written)
    _write(effectiveness, processed, term, "effectiveness", written)
    _write(moves, processed, term, "transitions", written)
    return written


def _district_context(processed, term, config_dir) -> dict[str, int]:
    """The district figures every principal report shares (``district_context``), once
    per term rather than once per report."""
    from pipeline import report_school

    config_dir = config_dir or Path(__file__).resolve().parent.parent / "config"
    data = report_school.load_term(processed, term.school_year, term.window, config_dir)
    data.optional.pop("district_context", None)  # a stale one from an earlier run
    table = report_school.district_context_table(data)
    store.write_table(table, processed, term.school_year, term.window, "district_context")
    return {"district_context": len(table)}


def _progress(processed, config, term, students, interventions, config_dir):
    """Progress decisions per student x measure from the canonical probes (``progress``)."""
    from pipeline.progress import load_benchmark_goals, load_growth_norms, progress_decisions

    config_dir = (
        Path(config_dir) if config_dir else Path(__file__).resolve().parent.parent / "config"
    )
    probes = store.read_table(processed, term.school_year, term.window, "progress")
    return progress_decisions(
        probes,
        students,
        interventions,
        config,
        load_growth_norms(config_dir, config),
        term.school_year,
        load_benchmark_goals(config_dir, config),
    )


def _write(frame, processed: Path, term: Term, name: str, written: dict[str, int]) -> None:
    store.write_table(frame, processed, term.school_year, term.window, name)
    written[name] = len(frame)


def _read_screenings(processed: Path, term: Term):
    """The screenings the process stage reads: those of the term's window and of fall
    (tiers, change since fall), without ``school_year`` (one value per term folder).

    At a million students this reads 2 of 3 windows and 10 of 11 columns (half the memory).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    path = store.term_dir(processed, term.school_year, term.window) / "screenings.parquet"
    columns = [c for c in pq.read_schema(path).names if c != "school_year"]
    windows = sorted({"fall", term.window})
    return pd.read_parquet(path, columns=columns, filters=[("window", "in", windows)])


def _read_hand_made(raw: Path, name: str, validate, *args):
    """A hand-made CSV in ``raw`` (overrides.csv, staff.csv) validated, or None if absent.

    A bad value stops the run with an :class:`IngestError` naming file, column and row.
    """
    import pandas as pd

    path = Path(raw) / name
    if not path.exists():
        return None
    try:
        text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        return validate(text, str(path), *args)
    except InputRowError as err:
        raise IngestError(path, err.why, column=err.column, row=err.row, value=err.value) from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise IngestError(path, f"not a readable CSV: {err}") from err


def _groups(processed, raw, config, term, tiers) -> dict[str, int]:
    """Intervention groups and the unserved list (``groups``, ``unserved``) from the tiers,
    with the interventionists of ``staff.csv`` (or ``grouping.default_staff``)."""
    from pipeline.groups import form_groups, validate_staff

    staff = _read_hand_made(raw, "staff.csv", validate_staff, config)
    groups, unserved = form_groups(tiers, config, staff)
    year, window = term.school_year, term.window
    store.write_table(groups, processed, year, window, "groups")
    store.write_table(unserved, processed, year, window, "unserved")
    return {"groups": len(groups), "unserved": len(unserved)}
