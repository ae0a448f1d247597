"""The `process` stage: from a term's canonical tables to the tables the reports read.

Each step is a pure function in its own module (tiers, groups, progress,
effectiveness); this module only reads its inputs from and writes its outputs to
``data/processed/<year>/<window>/``.

How the work is shared (the whole story): the steps form a small graph on one
standard-library ``ProcessPoolExecutor`` of two workers, one per core, each with one BLAS
thread; this process only hands out the steps and collects what they wrote. The term's
tiers (with the district context) and the progress decisions go first, then the regression
discontinuity and the fall tiers (which read only the canonical tables), each taken by the
first worker free. The groups need the tiers and the decisions (a student in a running
group keeps it unless their progress decision says change), effectiveness and transitions
also the fall tiers; by then both workers run the RD and the fall tiers, and the first to
finish takes effectiveness, the longest step at scale, if the fall tiers are written, else
the groups (at a million students: 9 s less than groups first). Two steps at a time, not
three: the third would only share a core, and hold its memory beside the other two. A step
reads its inputs from the tables written before it and is a pure function of them, so
where it runs cannot change a table: ``workers=0`` runs every step here, one after
another, and gives the same tables (tests/test_process.py).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from functools import partial
from pathlib import Path

from pipeline.config import DistrictConfig
from pipeline.errors import InputError
from pipeline.groups.form import GROUP_INPUTS
from pipeline.ingest.terms import Term
from pipeline.rules.domains import DOMAIN_INPUTS, domain_rows_of
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
    "screening_windows",
    "fall_tiers",
    "progress_decisions",
    "progress_history",
    "effectiveness",
    "transitions",
    "rd",
    "groups",
    "unserved",
    "staff_capacity",
    "district_context",
]
# Worker processes beside this one: the graph has at most two steps ready at once.
WORKERS = 2


def run_process(
    processed: Path,
    raw: Path,
    config: DistrictConfig,
    term: Term,
    workers: int = WORKERS,
) -> dict[str, int]:
    """Compute every processed table for ``term``; returns rows written per table.

    ``workers`` processes run the steps as their inputs are written (see the module
    docstring); 0 runs everything in this process.
    """
    written: dict[str, int] = {}
    with _executor(workers) as pool:
        tiers = pool.submit(_term_tiers, processed, raw, config, term)
        progress = pool.submit(_progress_decisions, processed, config, term)
        rd = pool.submit(_regression_discontinuity, processed, config, term)
        # After a fall window the reports compare with the fall tiers; in fall, the term's.
        fall = pool.submit(_fall_tiers, processed, config, term) if term.window != "fall" else None
        written.update(tiers.result())
        written.update(progress.result())
        # Groups read the tiers and the progress decisions (who keeps a running group),
        # effectiveness also the fall tiers. Both workers now run the RD and the fall tiers:
        # the first to finish takes effectiveness (the longest step at scale) if the fall
        # tiers are written by then, else the groups.
        if fall is not None:
            wait([fall, rd], return_when=FIRST_COMPLETED)
        first = fall is None or not fall.done()
        groups = pool.submit(_groups, processed, raw, config, term) if first else None
        if fall is not None:
            written.update(fall.result())
        effectiveness = pool.submit(_effectiveness, processed, config, term)
        groups = groups or pool.submit(_groups, processed, raw, config, term)
        for step in (groups, effectiveness, rd):
            written.update(step.result())
    return {name: written[name] for name in TABLES}


def _executor(workers: int) -> Executor:
    """A pool of ``workers`` processes, or one that runs each step as it is submitted
    (``workers=0``, or inside a daemonic process, which may not start processes)."""
    if workers and not multiprocessing.current_process().daemon:
        return ProcessPoolExecutor(workers, initializer=_one_blas_thread)
    return _Here()


def _one_blas_thread() -> None:
    """In each worker: one BLAS thread. Two steps already run at once on the two cores; a
    BLAS that also threads (the regression discontinuity's fits) only adds CPU time."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class _Here(Executor):
    """An executor that runs each step at once, in this process."""

    def submit(self, step, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(step(*args, **kwargs))
        except BaseException as error:  # handed to the caller by .result(), as a pool does
            future.set_exception(error)
        return future


def _term_tiers(processed: Path, raw: Path, config: DistrictConfig, term: Term):
    """The term's tiers (``tiers``; in fall also ``fall_tiers``), the table of which window
    each school shows (``screening_windows``) and the district context."""
    students = store.read_table(processed, term.school_year, term.window, "students")
    tiers, shown = _tiers(processed, raw, config, term, students)
    written: dict[str, int] = {}
    _write(shown, processed, term, "screening_windows", written)
    _write(tiers, processed, term, "tiers", written)
    if term.window == "fall":
        _write(tiers, processed, term, "fall_tiers", written)
    written.update(_district_context(processed, config, term, students, tiers))
    return written


def _tiers(processed: Path, raw: Path, config: DistrictConfig, term: Term, students):
    """The term's tiers from its screenings, with the team's overrides (``overrides.csv``);
    a school that has not screened in this window yet keeps its latest window's tiers
    (and the table of which window each school shows, ``screening_windows``)."""
    window = term.window
    screenings = _read_screenings(processed, term, [window], config.tiered_measures())
    overrides = _read_hand_made(raw, "overrides.csv", validate_overrides, students)
    scores = partial(_domain_scores, processed, term, config, window)
    tiers = assign_tiers(
        screenings, students, config, window, overrides=overrides, domain_scores=scores
    )
    return tiers_with_earlier_windows(tiers, processed, term, students, config, overrides)


def _progress_decisions(processed: Path, config: DistrictConfig, term: Term) -> dict[str, int]:
    """The progress decisions and their history (``progress_decisions``,
    ``progress_history``)."""
    written: dict[str, int] = {}
    students = _read_roster(processed, term)
    interventions = store.read_table(processed, term.school_year, term.window, "interventions")
    decisions, history = _progress(processed, config, term, students, interventions)
    _write(decisions, processed, term, "progress_decisions", written)
    _write(history, processed, term, "progress_history", written)
    return written


def _fall_tiers(processed: Path, config: DistrictConfig, term: Term) -> dict[str, int]:
    """The fall tiers the reports compare with (``fall_tiers``), after a later window."""
    screenings = _read_screenings(processed, term, ["fall"], config.tiered_measures())
    scores = partial(_domain_scores, processed, term, config, "fall")
    fall = assign_tiers(
        screenings, _read_roster(processed, term), config, "fall", domain_scores=scores
    )
    written: dict[str, int] = {}
    _write(fall, processed, term, "fall_tiers", written)
    return written


def _effectiveness(processed: Path, config: DistrictConfig, term: Term) -> dict[str, int]:
    """Program effectiveness and transitions (``effectiveness``, ``transitions``) from the
    written tiers, fall tiers and progress decisions."""
    import pandas as pd

    from pipeline.stats.effectiveness import program_effectiveness, transitions

    year, window = term.school_year, term.window
    folder = store.term_dir(processed, year, window)
    students = _read_roster(processed, term)
    interventions = store.read_table(processed, year, window, "interventions")
    decisions = store.read_table(processed, year, window, "progress_decisions")
    tiers, fall_tiers = (
        pd.read_parquet(folder / f"{name}.parquet", columns=TIER_KEYS)
        for name in ("tiers", "fall_tiers")
    )
    screenings = _outcome_screenings(processed, config, term)
    effectiveness = program_effectiveness(
        screenings, students, interventions, config, window, fall_tiers, tiers, decisions
    )
    moves = transitions(fall_tiers, tiers, interventions, config.privacy.min_cell_size)
    written: dict[str, int] = {}
    _write(effectiveness, processed, term, "effectiveness", written)
    _write(moves, processed, term, "transitions", written)
    return written


def _regression_discontinuity(processed: Path, config: DistrictConfig, term: Term):
    """``rd``: the district's regression-discontinuity estimate at the tier cut per subject
    with its diagnostics (:func:`pipeline.stats.rd.rd_estimates`), from the canonical
    tables alone (no tiers, no decisions)."""
    from pipeline.stats.outcomes import outcome_scores
    from pipeline.stats.rd import rd_estimates

    year, window = term.school_year, term.window
    students = store.read_table(processed, year, window, "students")
    interventions = store.read_table(processed, year, window, "interventions")
    scores = outcome_scores(
        _outcome_screenings(processed, config, term), students[ROSTER], config, window
    )
    written: dict[str, int] = {}
    _write(rd_estimates(scores, interventions, students, config), processed, term, "rd", written)
    return written


def _outcome_screenings(processed: Path, config: DistrictConfig, term: Term):
    """The outcome measures' scores of fall and the term's window (what effects read)."""
    import pandas as pd

    from pipeline.stats.effectiveness import OUTCOME_COLUMNS

    outcome = sorted({m for ms in config.effectiveness.outcome_measures.values() for m in ms})
    return pd.read_parquet(
        store.term_dir(processed, term.school_year, term.window) / "screenings.parquet",
        columns=OUTCOME_COLUMNS,
        filters=[("window", "in", sorted({"fall", term.window})), ("measure", "in", outcome)],
    )


def _district_context(processed, config, term, students, tiers) -> dict[str, int]:
    """The district figures every principal report shares (``district_context``), once
    per term rather than once per report, from the term's tiers (their ``COUNT_COLUMNS``)."""
    from pipeline.stats.district import COUNT_COLUMNS, district_context_table

    counted = tiers[COUNT_COLUMNS]
    table = district_context_table(students, counted, config.privacy.min_cell_size)
    store.write_table(table, processed, term.school_year, term.window, "district_context")
    return {"district_context": len(table)}


def _progress(processed, config, term, students, interventions):
    """Progress decisions per student x measure x phase and their history at each data
    meeting, from the canonical probes (``progress``)."""
    import pandas as pd

    from pipeline.stats.progress import progress_tables

    # The columns the decisions read (not the lineage: a state's 9 million probes).
    path = store.term_dir(processed, term.school_year, term.window) / "progress.parquet"
    probes = pd.read_parquet(path, columns=PROBE_COLUMNS)
    return progress_tables(probes, students, interventions, config, term.school_year)


def _write(frame, processed: Path, term: Term, name: str, written: dict[str, int]) -> None:
    store.write_table(frame, processed, term.school_year, term.window, name)
    written[name] = len(frame)


def _read_screenings(
    processed: Path, term: Term, windows: list[str] | None = None, measures: list[str] | None = None
):
    """The screenings the process stage reads: those of the term's window and of fall
    (tiers, change since fall; or only ``windows``), of every measure or only
    ``measures``, without ``school_year`` (one value per term folder).

    At a million students the tiers read one window's 6 of 13 million rows (the measures
    with a tier rule) and 10 of 11 columns.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    path = store.term_dir(processed, term.school_year, term.window) / "screenings.parquet"
    columns = [c for c in pq.read_schema(path).names if c != "school_year"]
    filters = [("window", "in", windows or sorted({"fall", term.window}))]
    if measures is not None:
        filters.append(("measure", "in", measures))
    return pd.read_parquet(path, columns=columns, filters=filters)


def _domain_scores(processed: Path, term: Term, config: DistrictConfig, window: str, need):
    """The domain scores of ``window`` (:data:`~pipeline.rules.domains.DOMAIN_INPUTS`) of
    the student x subject pairs of ``need`` (student_id, subject), in file order: only the
    rows of the window's domain measures and of these students are read (at a million
    students, 7 of 13 million rows a window are domain scores, 2.2 million of them these
    students'), and :func:`~pipeline.rules.domains.domain_rows_of` keeps those of the
    Tier 2 and 3 pairs whose focus reads them."""
    import pandas as pd

    every = [name for names in config.domain_measures().values() for name in names]
    path = store.term_dir(processed, term.school_year, term.window) / "screenings.parquet"
    ids = need["student_id"].unique().tolist()
    filters = [("window", "==", window), ("measure", "in", every)]
    if ids:  # (Arrow cannot type an empty list of ids; domain_rows_of keeps no row then)
        filters.append(("student_id", "in", ids))
    scores = pd.read_parquet(path, columns=DOMAIN_INPUTS, filters=filters)
    return domain_rows_of(scores, need, config)


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


def _groups(processed, raw, config, term) -> dict[str, int]:
    """Intervention groups and the unserved list (``groups``, ``unserved``) from the
    written tiers, with the interventionists of ``staff.csv`` (or
    ``grouping.default_staff``) and the students enrolled in the term, who keep their
    group unless their progress decision says change; and the capacity the groups were
    formed with (``staff_capacity``)."""
    import pandas as pd

    from pipeline.groups.form import form_groups
    from pipeline.groups.running import current_enrolments
    from pipeline.groups.staff import capacity_table, staff_for_schools, validate_staff

    folder = store.term_dir(processed, term.school_year, term.window)
    tiers = pd.read_parquet(folder / "tiers.parquet", columns=GROUP_INPUTS)

    staff = _read_hand_made(raw, "staff.csv", validate_staff, config)
    year, window = term.school_year, term.window
    enrolled = current_enrolments(
        store.read_optional(processed, year, window, "interventions"),
        _read_roster(processed, term),
        store.read_optional(processed, year, window, "progress_decisions"),
        config,
        config.window_dates(year, window),
    )
    groups, unserved = form_groups(tiers, config, staff, enrolled=enrolled)
    store.write_table(groups, processed, year, window, "groups")
    store.write_table(unserved, processed, year, window, "unserved")
    # The capacity the groups were formed with, for the principal's staffing figure.
    people = staff_for_schools(staff, sorted(tiers["school_id"].astype(str).unique()), config)
    source = "grouping.default_staff" if staff is None else "staff.csv"
    capacity = capacity_table(people, groups, source)
    store.write_table(capacity, processed, year, window, "staff_capacity")
    return {"groups": len(groups), "unserved": len(unserved), "staff_capacity": len(capacity)}
