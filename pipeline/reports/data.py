"""What a report reads: a school's or a term's processed tables, through
:mod:`pipeline.stages.store` (the only reader of ``data/processed/``), and the config
they were computed with. The views take these and compute nothing from files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.config import REPO_ROOT, DistrictConfig, load_config
from pipeline.stages import store
from pipeline.stats import district

# The tables of a term a report shows when the stage that writes them has run.
OPTIONAL_TABLES = (
    "rd",
    "groups",
    "unserved",
    "effectiveness",
    "progress_decisions",
    "quarantine",
    "ledger",
    "district_context",
    "staff_capacity",
)
# The data-quality report, relative to a term's reports folder (written by ingest).
DATA_DOCS = "data-quality/index.html"


def from_root(path: str | Path) -> Path:
    """Relative paths are taken from the repository root, wherever the kernel runs."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def resolve_term(processed_dir: str | Path, school_year: str, window: str) -> tuple[str, str]:
    """The term a notebook renders: as given, or the latest processed one when blank."""
    if school_year and window:
        return school_year, window
    return store.latest_term(processed_dir)


def _unknown_school(school_id: str, students: pd.DataFrame) -> LookupError:
    known = ", ".join(sorted(students["school_id"].unique())[:20])
    return LookupError(f"school_id {school_id!r} has no students (known: {known})")


# --- one school (the specialist report) ------------------------------------------------


@dataclass
class SchoolData:
    """One school's slice of a term's processed tables, and the config behind them."""

    school_id: str
    school_name: str
    school_year: str
    window: str
    district_name: str
    students: pd.DataFrame
    tiers: pd.DataFrame
    config: DistrictConfig | None = None


def load_school(
    processed_dir: str | Path,
    school_year: str,
    window: str,
    school_id: str,
    config_dir: str | Path = "config",
) -> SchoolData:
    """Read the term's processed tables and keep only ``school_id``'s students."""
    processed_dir, config_dir = from_root(processed_dir), from_root(config_dir)
    year, term_window = resolve_term(processed_dir, school_year, window)
    students = store.read_table(processed_dir, year, term_window, "students")
    mine = students[students["school_id"] == str(school_id)]
    if mine.empty:
        raise _unknown_school(school_id, students)
    tiers = store.read_table(processed_dir, year, term_window, "tiers")
    config = load_config(config_dir)
    return SchoolData(
        school_id=str(school_id),
        school_name=str(mine["school_name"].iloc[0]),
        school_year=year,
        window=term_window,
        district_name=config.district_name,
        students=mine.reset_index(drop=True),
        tiers=tiers[tiers["school_id"] == str(school_id)].reset_index(drop=True),
        config=config,
    )


@dataclass
class GroupingData:
    """One school's recommended groups and its unserved students (``formed``: whether
    the process stage formed groups this term)."""

    groups: pd.DataFrame
    unserved: pd.DataFrame
    formed: bool = True


def load_grouping(processed_dir: str | Path, school: SchoolData) -> GroupingData:
    """``groups`` and ``unserved``, this school's rows (empty when not formed)."""
    processed_dir = from_root(processed_dir)
    groups, unserved = (
        store.read_optional(processed_dir, school.school_year, school.window, name)
        for name in ("groups", "unserved")
    )
    return GroupingData(
        _rows_of(groups, "school_id", school.school_id),
        _rows_of(unserved, "school_id", school.school_id),
        formed=groups is not None,
    )


def _rows_of(frame: pd.DataFrame | None, column: str, value: str) -> pd.DataFrame:
    """``frame``'s rows whose ``column`` is ``value`` (none of an absent table)."""
    if frame is None:
        frame = pd.DataFrame(columns=[column])
    return frame[frame[column] == value].reset_index(drop=True)


@dataclass
class MonitoringData:
    """One school's progress decisions, probe points, program effectiveness and tier
    movement; ``effectiveness`` holds the school's rows and the district's (empty frames
    for a table the term lacks; ``decided``: whether the term has progress decisions)."""

    decisions: pd.DataFrame
    points: pd.DataFrame
    effectiveness: pd.DataFrame
    transitions: pd.DataFrame
    decided: bool = True
    # Every phase's decision (``decisions`` holds the current phase's) and the decisions
    # as of each data meeting (``progress_history``).
    phases: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_monitoring(processed_dir: str | Path, school: SchoolData) -> MonitoringData:
    """Read the term's progress decisions (``progress_decisions``), probes, effectiveness
    and transitions, and keep this school's rows (and the district's)."""
    from pipeline.stats.progress import aimline_points

    processed_dir = from_root(processed_dir)

    def read(name: str) -> pd.DataFrame | None:
        return store.read_optional(processed_dir, school.school_year, school.window, name)

    decisions = read("progress_decisions")
    decided = decisions is not None
    decisions = pd.DataFrame() if decisions is None else decisions
    points, phases, history = pd.DataFrame(), decisions, pd.DataFrame()
    if not decisions.empty:
        names = school.students[["student_id", "first_name", "last_name"]]
        phases = decisions[decisions["school_id"] == school.school_id].merge(names, on="student_id")
        decisions = phases[phases["current"]] if "current" in phases else phases
        history = read("progress_history")
        if history is not None and len(history):
            history = history[history["school_id"] == school.school_id]
        probes = read("progress")
        probes = pd.DataFrame() if probes is None else probes
        probes = probes[probes["student_id"].isin(decisions["student_id"])]
        if not probes.empty:
            points = aimline_points(probes, phases)
    scopes = [school.school_id, "district"]
    effectiveness, moves = (read(name) for name in ("effectiveness", "transitions"))
    return MonitoringData(
        decisions,
        points,
        _in_scopes(effectiveness, scopes),
        _in_scopes(moves, scopes),
        decided=decided,
        phases=phases,
        history=pd.DataFrame() if history is None else history,
    )


def _in_scopes(frame: pd.DataFrame | None, scopes: list[str]) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame()
    return frame[frame["scope"].isin(scopes)] if len(frame) else frame


# --- a term (the principal and district reports) ---------------------------------------


@dataclass
class TermData:
    """A term's processed tables for the whole district (the district report reads them
    all; the principal report reads one school's rows and the district's counts)."""

    school_year: str
    window: str
    config: DistrictConfig
    students: pd.DataFrame
    tiers: pd.DataFrame
    fall_tiers: pd.DataFrame | None
    interventions: pd.DataFrame
    optional: dict[str, pd.DataFrame | None] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.config.privacy.min_cell_size

    def table(self, name: str) -> pd.DataFrame | None:
        return self.optional.get(name)

    def schools(self) -> pd.DataFrame:
        return district.school_names(self.students)

    def school_name(self, school_id: str) -> str:
        """The school's name; a clear error for an id not in the roster."""
        mine = self.students[self.students["school_id"] == str(school_id)]
        if mine.empty:
            raise _unknown_school(school_id, self.students)
        return str(mine["school_name"].iloc[0])


def load_term(
    processed_dir: str | Path,
    school_year: str,
    window: str,
    config_dir: str | Path = "config",
    fall_for: str | None = None,
) -> TermData:
    """Read a term's processed tables; tables a stage has not written are ``None``.

    Fall tiers (for the change since fall) are the ones the process stage compared with
    (``fall_tiers``); for school ``fall_for`` only when given (a principal report needs no
    other school's fall), else for the district."""
    processed, config_dir = from_root(processed_dir), from_root(config_dir)
    year, term_window = resolve_term(processed, school_year, window)
    config = load_config(config_dir)
    students = store.read_table(processed, year, term_window, "students")
    tiers = store.read_table(processed, year, term_window, "tiers")
    fall = (
        tiers
        if term_window == "fall"
        else store.read_optional(processed, year, term_window, "fall_tiers")
    )
    if fall is not None and fall_for is not None:
        fall = fall[fall["school_id"] == fall_for]
    fall = None if fall is None or fall.empty else fall
    interventions = store.read_table(processed, year, term_window, "interventions")
    optional = {n: store.read_optional(processed, year, term_window, n) for n in OPTIONAL_TABLES}
    return TermData(year, term_window, config, students, tiers, fall, interventions, optional)


def data_docs_href(reports_dir: str | Path, school_year: str, window: str) -> str | None:
    """The link to the term's data-quality report when ingest wrote one."""
    path = Path(reports_dir) / school_year / window / DATA_DOCS
    return DATA_DOCS if path.exists() else None
