"""The `ingest` stage: the raw exports in, the term's canonical tables, the quarantine,
the ledger and the data-quality pages out.

Reading and mapping is :mod:`pipeline.ingest`, the checks :mod:`pipeline.quality`; this
module only picks the term and writes what they return.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import DistrictConfig
from pipeline.errors import InputError
from pipeline.ingest.inputs import read_inputs
from pipeline.ingest.terms import Term, latest_term_in, slice_term
from pipeline.quality import run as quality
from pipeline.reports.theme import stylesheet
from pipeline.stages import store


@dataclass
class Ingested:
    """What one ingest run wrote, for the command line's summary."""

    term: Term
    files: int
    rows: dict[str, int]
    quarantined: int
    skipped: int
    read_seconds: float
    check_seconds: float
    page: Path


def pick_term(screenings, year: str | None = None, window: str | None = None) -> Term:
    """``year`` and ``window`` where given, else the latest in the accepted screenings."""
    latest = latest_term_in(screenings)
    year = year or latest.school_year
    if window:
        return Term(year, window)
    if year == latest.school_year:
        return latest
    return latest_term_in(screenings[screenings["school_year"] == year])


def _read_and_check(
    raw: Path, config: DistrictConfig, profiles_dir: Path, forced: dict[str, str] | None
) -> tuple[quality.QualityResult, int, float]:
    """The checked tables, the number of files read and the seconds reading took (the
    mapped records are freed on return: the tables hold what was accepted)."""
    started = time.perf_counter()
    # Importing GX takes seconds of its own: do it while the exports are read.
    with ThreadPoolExecutor(1, thread_name_prefix="import-gx") as background:
        gx_import = background.submit(quality.gx)
        mapped = read_inputs(raw, config, profiles_dir, forced)
        read_seconds = time.perf_counter() - started
        gx_import.result()
    result = quality.run_quality(mapped, config, release=True, encoded_text=True)
    return result, len(mapped), read_seconds


def run_ingest(
    raw: Path,
    processed: Path,
    reports: Path,
    config: DistrictConfig,
    profiles_dir: Path,
    forced: dict[str, str] | None = None,
    year: str | None = None,
    window: str | None = None,
) -> Ingested:
    """Read every export through its profile, check it, write the term's tables, the
    quarantine, the ledger and the data-quality report."""
    result, files, read_seconds = _read_and_check(raw, config, profiles_dir, forced)
    tables = result.tables
    try:
        term = pick_term(tables["screenings"], year, window)
    except InputError:
        term = None
    # The quarantine and ledger are written even when the run then stops, for review.
    review = store.term_dir(processed, term.school_year, term.window) if term else processed
    quality.write_quarantine(result, review)
    quality.check_ceiling(result.ledger, config, result.quarantine)
    if term is None:
        raise InputError(raw, "no accepted screening rows: cannot tell which term to report")
    sliced = slice_term(tables, term, config)
    if sliced["screenings"].empty:
        raise InputError(raw, f"no screenings for {term.window} {term.school_year}")
    year, window = term.school_year, term.window
    # The screenings are most of the writing: the other tables and the data-quality pages
    # are written meanwhile (Arrow releases the GIL while it encodes a file).
    with ThreadPoolExecutor(1, thread_name_prefix="write-screenings") as beside:
        screenings = beside.submit(
            store.write_canonical, sliced["screenings"], processed, year, window, "screenings"
        )
        for name, frame in sliced.items():
            if name != "screenings":
                store.write_canonical(frame, processed, year, window, name)
        page = quality.write_reports(
            result,
            reports / year / window / "data-quality",
            f"{config.district_name}: data quality, {window} {year}",
            stylesheet(),
            data_docs=config.quality.data_docs,
        )
        screenings.result()
    return Ingested(
        term=term,
        files=files,
        rows={name: len(frame) for name, frame in sliced.items()},
        quarantined=len(result.quarantine),
        skipped=int(result.ledger["skipped"].sum()),
        read_seconds=read_seconds,
        check_seconds=sum(result.seconds.values()),
        page=page,
    )
