"""The printable pages and downloads beside each school's specialist report, rendered
straight from the processed tables with Jinja2 (no notebook: they are lists, not
analysis, and render in milliseconds):

``schools/<id>/groups.html``    one printed page per group (a roster for the interventionist)
``schools/<id>/students.html``  one printed page per student the team discusses
``schools/<id>/letters.html``   one family letter per student needing support, first language
``schools/<id>/letters-<language>.html``  the same letters in every other language
``schools/<id>/downloads/``     the support list, groups and unserved students, CSV and XLSX

The term's tables are read once; each school's slice feeds the views in
:mod:`pipeline.reports.rosters`, :mod:`pipeline.reports.student_pages` and
:mod:`pipeline.reports.letters`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2
import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.errors import ConfigError
from pipeline.reports import letters, rosters, student_pages
from pipeline.reports.data import GroupingData, MonitoringData, SchoolData
from pipeline.reports.theme import TEMPLATES_DIR, stylesheet
from pipeline.stages import store

# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): = + - @, tab, CR.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DOWNLOADS = ("support", "groups", "unserved")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula get a leading apostrophe, so a spreadsheet
    shows them as text and runs nothing."""

    def safe(value: object) -> object:
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value

    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(safe) for c in text})


def write_xlsx(table: pd.DataFrame, path: Path, sheet: str) -> None:
    """One sheet, streamed (openpyxl's write-only mode is several times faster)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    rows = book.create_sheet(sheet)
    rows.append([str(c) for c in table.columns])
    for record in table.astype(object).where(table.notna(), None).itertuples(index=False):
        rows.append(list(record))
    book.save(path)


def write_downloads(folder: Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Each table as ``<name>.csv`` and ``<name>.xlsx``, neutralised."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        safe = neutralise(table)
        safe.to_csv(folder / f"{name}.csv", index=False)
        write_xlsx(safe, folder / f"{name}.xlsx", name)
        written += [folder / f"{name}.csv", folder / f"{name}.xlsx"]
    return written


class TermTables:
    """A term's processed tables, read once, sliced per school."""

    def __init__(self, processed: Path, school_year: str, window: str, config: DistrictConfig):
        def optional(name: str) -> pd.DataFrame:
            table = store.read_optional(processed, school_year, window, name)
            return pd.DataFrame() if table is None else table

        self.school_year, self.window, self.config = school_year, window, config
        self.students = store.read_table(processed, school_year, window, "students")
        self.tiers = store.read_table(processed, school_year, window, "tiers")
        self.screenings = optional("screenings")
        self.interventions = optional("interventions")
        self.fall_tiers = store.read_optional(processed, school_year, window, "fall_tiers")
        self.groups = store.read_optional(processed, school_year, window, "groups")
        self.unserved = optional("unserved")
        self.decisions = store.read_optional(processed, school_year, window, "progress_decisions")
        self.history = optional("progress_history")
        self.probes = optional("progress")
        # The rows of each school's students in the tables keyed by student only.
        school_of = dict(zip(self.students["student_id"], self.students["school_id"], strict=True))
        self.rows_of = {
            name: _rows_per_school(getattr(self, name), school_of)
            for name in ("screenings", "interventions")
        }

    def school(self, school_id: str) -> rosters.PrintableData:
        from pipeline.stats.progress import aimline_points

        students = self.students[self.students["school_id"] == school_id].reset_index(drop=True)
        school = SchoolData(
            school_id,
            str(students["school_name"].iloc[0]),
            self.school_year,
            self.window,
            self.config.district_name,
            students,
            self.tiers[self.tiers["school_id"] == school_id].reset_index(drop=True),
            self.config,
        )
        grouping = GroupingData(
            _of_school(self.groups, school_id),
            _of_school(self.unserved, school_id),
            self.groups is not None,
        )
        # Every phase's decision, the current phase's, and the data-meeting history, as
        # reports.data.load_monitoring reads them.
        phases = _of_school(self.decisions, school_id)
        decisions, points = phases, pd.DataFrame()
        if len(phases):
            names = students[["student_id", "first_name", "last_name"]]
            phases = phases.merge(names, on="student_id")
            decisions = phases[phases["current"]] if "current" in phases else phases
            probes = self.probes[self.probes["student_id"].isin(decisions["student_id"])]
            points = aimline_points(probes, phases) if len(probes) else points
        empty = pd.DataFrame()
        monitoring = MonitoringData(
            decisions,
            points,
            empty,
            empty,
            self.decisions is not None,
            phases=phases,
            history=_of_school(self.history, school_id),
        )
        fall = self.fall_tiers
        return rosters.PrintableData(
            school,
            grouping,
            monitoring,
            self._of_students("screenings", school_id),
            self._of_students("interventions", school_id),
            None if fall is None else fall[fall["school_id"] == school_id],
        )

    def _of_students(self, name: str, school_id: str) -> pd.DataFrame:
        """The rows of table ``name`` whose student is in the school (in table order)."""
        frame = getattr(self, name)
        rows = self.rows_of[name].get(school_id)
        return frame if not len(frame) else frame.take([] if rows is None else rows)


def _rows_per_school(frame: pd.DataFrame, school_of: dict) -> dict:
    """school -> positions of the rows of ``frame`` whose ``student_id`` is enrolled there."""
    if not len(frame):
        return {}
    schools = frame["student_id"].map(school_of)
    return schools.groupby(schools, sort=False).indices


def _of_school(frame: pd.DataFrame | None, school_id: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame() if frame is None else frame
    return frame[frame["school_id"] == school_id].reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def page_environment() -> jinja2.Environment:
    """The printable pages' templates (one environment: each template compiled once)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "pages"), autoescape=True, trim_blocks=True
    )


def letter_files(words: dict) -> dict[str, str]:
    """language -> file name: the first language is ``letters.html``."""
    languages = list(words["languages"])
    return {
        lang: "letters.html" if k == 0 else f"letters-{lang}.html"
        for k, lang in enumerate(languages)
    }


def write_school_pages(
    tables: TermTables, school_id: str, folder: Path, letters_dir: Path, generated_at: str
) -> list[Path]:
    """Every printable page and download of one school; returns the files written."""
    data = tables.school(school_id)
    env = page_environment()
    css = jinja2.filters.Markup(stylesheet())
    heading = {
        "school": data.school.school_name,
        "term": f"{data.school.window.capitalize()} {data.school.school_year}",
        "generated_at": generated_at,
        "css": css,
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    pages = {
        "groups.html": ("groups.html.j2", {"groups": rosters.group_pages(data)}),
        "students.html": ("students.html.j2", {"students": student_pages.student_pages(data)}),
    }
    words = letters.load_letter_words(letters_dir)
    letter_env = letters.letter_environment(letters_dir)
    contexts = letters.letter_contexts(data)
    date = generated_at.split(" ")[0]
    for language, name in letter_files(words).items():
        bodies = [
            jinja2.filters.Markup(letters.render_letter(letter_env, words, language, c, data, date))
            for c in contexts
        ]
        pages[name] = (
            "letters.html.j2",
            {"letters": bodies, "language": language, "words": words["languages"][language]},
        )
    for name, (template, context) in pages.items():
        (folder / name).write_text(
            env.get_template(template).render(**heading, **context), encoding="utf-8"
        )
        written.append(folder / name)
    downloads = {
        "support": rosters.support_download(data.school),
        "groups": rosters.groups_download(data.grouping, data.school),
        "unserved": rosters.unserved_download(data.grouping, data.school),
    }
    return written + write_downloads(folder / "downloads", downloads)


def letters_folder(config_dir: Path) -> Path:
    """The district's letter templates; the packaged ones when its config has none."""
    from pipeline.config.models import PACKAGE_CONFIG_DIR

    own = Path(config_dir) / "letters"
    return own if own.exists() else PACKAGE_CONFIG_DIR / "letters"


def school_links(config_dir: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(text, file) of a school's printable pages and of its downloads, for the index."""
    try:
        words = letters.load_letter_words(letters_folder(config_dir))
        files = letter_files(words)
    except ConfigError:  # the render records the letters' error per school
        words, files = {"languages": {}}, {}
    printable = [("Group rosters", "groups.html"), ("Student pages", "students.html")] + [
        (f"Family letters ({words['languages'][lang].get('name', lang)})", name)
        for lang, name in files.items()
    ]
    downloads = [
        (f"{name.capitalize()} {ext.upper()}", f"downloads/{name}.{ext}")
        for name in DOWNLOADS
        for ext in ("csv", "xlsx")
    ]
    return printable, downloads


def write_pages(
    processed: Path,
    reports: Path,
    config_dir: Path,
    config: DistrictConfig,
    school_year: str,
    window: str,
    school_ids: list[str],
    generated_at: str,
) -> list[Path]:
    """The printable pages and downloads of every school in ``school_ids``."""
    tables = TermTables(processed, school_year, window, config)
    term_reports = reports / school_year / window
    written = []
    for school_id in school_ids:
        folder = term_reports / "schools" / school_id
        written += write_school_pages(
            tables, school_id, folder, letters_folder(config_dir), generated_at
        )
    return written
