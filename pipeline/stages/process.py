"""The `process` stage: from a term's canonical tables to the tables the reports read.

Each step is a pure function in its own module (tiers, groups, progress,
effectiveness); this module only reads its inputs from and writes its outputs to
``data/processed/<year>/<window>/``, sharing the steps between two processes.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.config import DistrictConfig
from pipeline.errors import InputError
from pipeline.groups.form import GROUP_INPUTS
from pipeline.ingest.terms import Term
from pipeline.rules.tiers import assign_tiers, validate_overrides
from pipeline.stages import store
from pipeline.stages.partial import tiers_with_earlier_windows

# The columns of the tier tables that effectiveness and transitions read.
TIER_KEYS = ["student_id", "school_id", "subject", "tier"]
# The roster columns that tiers, progress decisions and effectiveness read (the rest, such
# as the subgroups, only the district context and the reports).
ROSTER = ["student_id", "school_id", "grade"]
# The columns of the probes that the progress decisions read.
PROBE_COLUMNS = ["student_id", "date", "measure", "score"]
# The tables the stage writes, in the order it reports them.
TABLES = [
    "tiers",
    "fall_tiers",
    "progress_decisions",
    "effectiveness",
    "transitions",
    "groups",
    "unserved",
    "district_context",
]


def run_process(
    processed: Path,
    raw: Path,
    config: DistrictConfig,
    term: Term,
    config_dir: Path | str | None = None,
) -> dict[str, int]:
    """Compute every processed table for ``term``; returns rows written per table.

    Two processes share the work, each step reading its inputs from the tables written
    before it; a step is a pure function of those, so where it runs cannot change a table.
    A side process computes the progress decisions and the fall tiers while this one
    computes the term's tiers, and then effectiveness and transitions while this one
    forms groups (their solves in a process pool) and the district context.
    """
    from pipeline.stats.district import COUNT_COLUMNS

    year, window = term.school_year, term.window
    written: dict[str, int] = {}
    with _Side() as side:
        side.submit(_progress_and_fall_tiers, processed, config, term, config_dir)
        students = store.read_table(processed, year, window, "students")
        screenings = _read_screenings(processed, term, [window])
        overrides = _read_hand_made(raw, "overrides.csv", validate_overrides, students)
        tiers = assign_tiers(screenings, students, config, window, overrides=overrides)
        del screenings
        # A school that has not screened in this window yet keeps its latest window's tiers.
        tiers, shown = tiers_with_earlier_windows(
            tiers, processed, term, students, config, overrides
        )
        _write(shown, processed, term, "screening_windows", written)
        _write(tiers, processed, term, "tiers", written)
        if window == "fall":  # the fall tiers the reports compare with are the term's own
            _write(tiers, processed, term, "fall_tiers", written)
        side.submit(_effectiveness, processed, config, term)
        # Groups and the district context read a few columns of the tiers: the rest is freed.
        grouped, counted = tiers[GROUP_INPUTS], tiers[COUNT_COLUMNS]
        del tiers
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="groups") as background:
            grouping = background.submit(_groups, processed, raw, config, term, grouped)
            del grouped
            written.update(_district_context(processed, config, term, students, counted))
            del counted
            written.update(grouping.result())
        for result in side.results():
            written.update(result)
    return {name: written[name] for name in TABLES}


def _progress_and_fall_tiers(
    processed: Path, config: DistrictConfig, term: Term, config_dir: Path | str | None
) -> dict[str, int]:
    """The progress decisions (``progress_decisions``) and, after a fall window, the fall
    tiers the reports compare with (``fall_tiers``)."""
    year, window = term.school_year, term.window
    written: dict[str, int] = {}
    students = _read_roster(processed, term)
    interventions = store.read_table(processed, year, window, "interventions")
    decisions = _progress(processed, config, term, students, interventions)
    _write(decisions, processed, term, "progress_decisions", written)
    del decisions, interventions
    if window != "fall":
        fall = assign_tiers(_read_screenings(processed, term, ["fall"]), students, config, "fall")
        _write(fall, processed, term, "fall_tiers", written)
    return written


def _effectiveness(processed: Path, config: DistrictConfig, term: Term) -> dict[str, int]:
    """Program effectiveness and transitions (``effectiveness``, ``transitions``) from the
    written tiers, fall tiers and progress decisions."""
    import pandas as pd

    from pipeline.stats.effectiveness import OUTCOME_COLUMNS, program_effectiveness, transitions

    year, window = term.school_year, term.window
    folder = store.term_dir(processed, year, window)
    students = _read_roster(processed, term)
    interventions = store.read_table(processed, year, window, "interventions")
    decisions = store.read_table(processed, year, window, "progress_decisions")
    tiers, fall_tiers = (
        pd.read_parquet(folder / f"{name}.parquet", columns=TIER_KEYS)
        for name in ("tiers", "fall_tiers")
    )
    # Only the outcome measures' scores of fall and this window count.
    outcome = sorted({m for ms in config.effectiveness.outcome_measures.values() for m in ms})
    screenings = pd.read_parquet(
        folder / "screenings.parquet",
        columns=OUTCOME_COLUMNS,
        filters=[("window", "in", sorted({"fall", window})), ("measure", "in", outcome)],
    )
    effectiveness = program_effectiveness(
        screenings, students, interventions, config, window, fall_tiers, tiers, decisions
    )
    del screenings
    moves = transitions(fall_tiers, tiers, interventions, config.privacy.min_cell_size)
    written: dict[str, int] = {}
    _write(effectiveness, processed, term, "effectiveness", written)
    _write(moves, processed, term, "transitions", written)
    return written


class _Side:
    """Steps run one after another in one worker process, started now, while the caller
    goes on; each step is computed here instead if the worker cannot start or dies."""

    def __init__(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._steps: list[tuple] = []
        self._pool = None
        if multiprocessing.current_process().daemon or os.environ.get("TIERWISE_SIDE") == "0":
            return  # a daemonic process may not start processes of its own
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        self._pool = ProcessPoolExecutor(1, mp_context=context)

    def __enter__(self) -> _Side:
        return self

    def __exit__(self, kind, error, trace) -> None:
        """On an error here, the worker is stopped rather than waited for."""
        if self._pool is None:
            return
        if error is not None:
            for worker in list(getattr(self._pool, "_processes", {}).values()):
                worker.terminate()
        self._pool.shutdown(wait=error is None, cancel_futures=True)

    def submit(self, step, *args) -> None:
        if self._pool is None:
            self._steps.append((None, {}, step, args, step(*args)))
            return
        # Starting the worker (on the first submit) takes a second: not on this thread,
        # and each submit after the one before (the worker runs them in that order).
        submitted: dict = {}
        before = self._steps[-1][0] if self._steps else None

        def send() -> None:
            if before is not None:
                before.join()
            submitted["future"] = self._pool.submit(step, *args)

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        self._steps.append((thread, submitted, step, args, None))

    def results(self) -> list[dict[str, int]]:
        """Each step's result, in the order submitted."""
        from concurrent.futures.process import BrokenProcessPool

        results, broken = [], False
        for thread, submitted, step, args, result in self._steps:
            if thread is not None:
                thread.join()
                try:
                    if broken or "future" not in submitted:
                        raise BrokenProcessPool
                    result = submitted["future"].result()
                except BrokenProcessPool:
                    # The worker could not start (e.g. the caller's script, which a spawned
                    # worker imports, has no ``if __name__ == "__main__":``) or died.
                    broken = True
                    result = step(*args)
            results.append(result)
        return results


def _district_context(processed, config, term, students, tiers) -> dict[str, int]:
    """The district figures every principal report shares (``district_context``), once
    per term rather than once per report, from the term's tiers (``COUNT_COLUMNS``)."""
    from pipeline.stats.district import district_context_table

    table = district_context_table(students, tiers, config.privacy.min_cell_size)
    store.write_table(table, processed, term.school_year, term.window, "district_context")
    return {"district_context": len(table)}


def _progress(processed, config, term, students, interventions):
    """Progress decisions per student x measure from the canonical probes (``progress``)."""
    import pandas as pd

    from pipeline.stats.progress import progress_decisions

    # The columns the decisions read (not the lineage: a state's 9 million probes).
    path = store.term_dir(processed, term.school_year, term.window) / "progress.parquet"
    probes = pd.read_parquet(path, columns=PROBE_COLUMNS)
    return progress_decisions(probes, students, interventions, config, term.school_year)


def _write(frame, processed: Path, term: Term, name: str, written: dict[str, int]) -> None:
    store.write_table(frame, processed, term.school_year, term.window, name)
    written[name] = len(frame)


def _read_screenings(processed: Path, term: Term, windows: list[str] | None = None):
    """The screenings the process stage reads: those of the term's window and of fall
    (tiers, change since fall; or only ``windows``), without ``school_year`` (one value
    per term folder).

    At a million students this reads 2 of 3 windows and 10 of 11 columns (half the memory).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    path = store.term_dir(processed, term.school_year, term.window) / "screenings.parquet"
    columns = [c for c in pq.read_schema(path).names if c != "school_year"]
    windows = windows or sorted({"fall", term.window})
    return pd.read_parquet(path, columns=columns, filters=[("window", "in", windows)])


def _read_roster(processed: Path, term: Term):
    """The students table's :data:`ROSTER` columns."""
    import pandas as pd

    path = store.term_dir(processed, term.school_year, term.window) / "students.parquet"
    return pd.read_parquet(path, columns=ROSTER)


def _read_hand_made(raw: Path, name: str, validate, *args):
    """A hand-made CSV in ``raw`` (overrides.csv, staff.csv) validated, or None if absent.

    A bad value stops the run with an :class:`InputError` naming file, column and row.
    """
    import pandas as pd

    path = Path(raw) / name
    if not path.exists():
        return None
    try:
        text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        return validate(text, str(path), *args)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV: {err}") from err


def _groups(processed, raw, config, term, tiers) -> dict[str, int]:
    """Intervention groups and the unserved list (``groups``, ``unserved``) from the tiers,
    with the interventionists of ``staff.csv`` (or ``grouping.default_staff``)."""
    from pipeline.groups.form import form_groups
    from pipeline.groups.staff import validate_staff

    staff = _read_hand_made(raw, "staff.csv", validate_staff, config)
    groups, unserved = form_groups(tiers, config, staff)
    year, window = term.school_year, term.window
    store.write_table(groups, processed, year, window, "groups")
    store.write_table(unserved, processed, year, window, "unserved")
    return {"groups": len(groups), "unserved": len(unserved)}
