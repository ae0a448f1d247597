"""Execute the report notebooks with papermill and write offline HTML with nbconvert.

One job is one report (a notebook and its parameters). Jobs run in a pool of worker
processes; each worker keeps one in-process HTML exporter, and every report gets a
fresh kernel, started and warmed one report ahead (see `pipeline.render.kernels`).
A report whose notebook fails is recorded with papermill's cell, error name and
message; the other reports still render.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import jinja2
import pandas as pd
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
from tqdm import tqdm

from pipeline.config import REPO_ROOT, WINDOW_ORDER, DistrictConfig
from pipeline.errors import RenderError
from pipeline.render.kernels import ENGINE_NAME, KernelStartError, WarmKernels, shutdown
from pipeline.render.pages import TermTables, letters_folder, school_links, write_school_pages
from pipeline.reports.theme import TEMPLATES_DIR, stylesheet
from pipeline.stages import store

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
KERNEL_NAME = "tierwise"
SCHOOL_NOTEBOOKS: tuple[str, ...] = ("specialist", "principal")


@dataclass(frozen=True)
class ReportJob:
    label: str
    notebook: Path
    output: Path
    parameters: dict = field(default_factory=dict)


@dataclass
class ReportResult:
    label: str
    output: Path
    ok: bool
    seconds: float
    error: str = ""


class DropStderr(Preprocessor):
    """Warnings printed to stderr are for the analyst's log, not the report."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code":
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
        return cell, resources


def html_exporter() -> HTMLExporter:
    """nbconvert's HTML exporter with code hidden and the offline Tierwise template."""
    exporter = HTMLExporter(template_name="tierwise", extra_template_basedirs=[str(TEMPLATES_DIR)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove-cell"}, enabled=True), enabled=True
    )
    exporter.register_preprocessor(DropStderr(), enabled=True)
    return exporter


def kernel_name() -> str:
    """The project's kernel spec when installed (``make`` installs it into .venv), else
    the running interpreter's own ``python3`` kernel."""
    from jupyter_client.kernelspec import find_kernel_specs

    return KERNEL_NAME if KERNEL_NAME in find_kernel_specs() else "python3"


def execute_report(job: ReportJob, exporter: HTMLExporter, kernels: WarmKernels) -> ReportResult:
    """Run one notebook in a fresh kernel and write its HTML; never raises."""
    import papermill as pm

    started = time.perf_counter()
    try:
        km = kernels.take()
    except KernelStartError as err:
        return ReportResult(job.label, job.output, False, time.perf_counter() - started, str(err))
    try:
        nb = pm.execute_notebook(
            str(job.notebook),
            None,
            parameters=job.parameters,
            engine_name=ENGINE_NAME,
            kernel_name=kernels.kernel_name,
            progress_bar=False,
            request_save_on_cell_execute=False,
            cwd=str(REPO_ROOT),
            km=km,
        )
        for index, cell in enumerate(nb.cells):
            cell.id = f"cell-{index}"  # papermill's injected cell gets a random id
        body, _ = exporter.from_notebook_node(nb)
        job.output.parent.mkdir(parents=True, exist_ok=True)
        partial = job.output.with_suffix(".html.partial")
        partial.write_text(body, encoding="utf-8")
        partial.replace(job.output)
        return ReportResult(job.label, job.output, True, time.perf_counter() - started)
    except pm.PapermillExecutionError as err:
        error = f"cell {err.cell_index}: {err.ename}: {err.evalue}"
    except Exception as err:  # noqa: BLE001 - one report's failure must not stop the rest
        error = f"{type(err).__name__}: {err}"
    finally:
        shutdown(km)
    return ReportResult(job.label, job.output, False, time.perf_counter() - started, error)


_WORKER: dict = {}


def _worker_init(fork_kernels: bool = True) -> None:
    """Per worker process: one HTML exporter and one warm-kernel queue, reused."""
    kernels = WarmKernels(kernel_name(), cwd=REPO_ROOT, fork=fork_kernels)
    atexit.register(kernels.close)
    _WORKER["exporter"] = html_exporter()
    _WORKER["kernels"] = kernels


def _worker_run(job: ReportJob) -> ReportResult:
    return execute_report(job, _WORKER["exporter"], _WORKER["kernels"])


def run_jobs(
    jobs: list[ReportJob], workers: int = 0, progress: bool = True, fork_kernels: bool = True
) -> list[ReportResult]:
    """Render every job, ``workers`` at a time (0 = one per core); results in job order.

    ``fork_kernels``: fork each kernel from a template process that has the imports
    (:mod:`pipeline.render.zygote`); False starts every kernel from scratch (slower).
    """
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(jobs), desc="Rendering reports", unit="report", disable=not progress)
    results: dict[int, ReportResult] = {}
    if workers == 1 or len(jobs) <= 1:
        _worker_init(fork_kernels)
        try:
            for k, job in enumerate(jobs):
                results[k] = _worker_run(job)
                bar.update()
        finally:
            _WORKER.pop("kernels").close()
    else:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)),
            mp_context=get_context("spawn"),
            initializer=_worker_init,
            initargs=(fork_kernels,),
        ) as pool:
            futures = {pool.submit(_worker_run, job): k for k, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    return [results[k] for k in range(len(jobs))]


def school_jobs(
    processed: Path,
    reports: Path,
    config_dir: Path,
    school_year: str,
    window: str,
    school_ids: list[str],
    generated_at: str,
    notebooks: tuple[str, ...] = ("specialist",),
) -> list[ReportJob]:
    term_reports = reports / school_year / window
    return [
        ReportJob(
            label=f"{school_id} {notebook}",
            notebook=NOTEBOOKS_DIR / f"{notebook}.ipynb",
            output=term_reports / "schools" / school_id / f"{notebook}.html",
            parameters={
                "school_id": school_id,
                "school_year": school_year,
                "window": window,
                "processed_dir": str(processed.resolve()),
                "config_dir": str(config_dir.resolve()),
                "generated_at": generated_at,
            },
        )
        for school_id in school_ids
        for notebook in notebooks
    ]


def district_job(
    processed: Path,
    reports: Path,
    config_dir: Path,
    school_year: str,
    window: str,
    generated_at: str,
) -> ReportJob:
    """The term's district report, ``reports/<year>/<window>/district.html``."""
    return ReportJob(
        label="district",
        notebook=NOTEBOOKS_DIR / "district.ipynb",
        output=reports / school_year / window / "district.html",
        parameters={
            "school_year": school_year,
            "window": window,
            "processed_dir": str(processed.resolve()),
            "config_dir": str(config_dir.resolve()),
            "reports_dir": str(reports.resolve()),
            "generated_at": generated_at,
        },
    )


def _report_link(term_reports: Path, ok: set, relative: str, text: str) -> dict:
    path = term_reports / relative
    return (
        {"text": text, "href": relative}
        if path in ok or path.exists()
        else {"text": "not rendered"}
    )


def _page(template: str, **context) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, keep_trailing_newline=True
    )
    css = stylesheet()
    return env.get_template(template).render(css=jinja2.filters.Markup(css), **context)


def _program_sections(programs, config: DistrictConfig) -> list[dict]:
    """The district-wide program effectiveness table for the term index page."""
    from pipeline.reports.programs import COMPARED_WITH, NOT_AN_EFFECT, summary_table
    from pipeline.reports.words import confidence_level
    from pipeline.stats.scopes import DISTRICT

    if programs is None or programs.empty:
        return []
    district = programs[programs["scope"] == DISTRICT]
    table = summary_table(district, config).drop(columns=["Scope"])
    return [
        {
            "title": "Programs district-wide",
            "lead": "Each intervention program across all schools: students served, the change "
            "since fall, and the effect: growth beyond students at the same fall level, "
            f"{COMPARED_WITH}, with {confidence_level(config)}% intervals clustered by school. "
            f'Without a comparison group the change reads "{NOT_AN_EFFECT}". Small groups '
            'read "n too small".',
            "headers": list(table.columns),
            "rows": [[{"text": str(v)} for v in row] for row in table.itertuples(index=False)],
        }
    ]


def write_term_index(
    reports: Path,
    school_year: str,
    window: str,
    schools: list[tuple[str, str]],
    results: list[ReportResult],
    config: DistrictConfig,
    generated_at: str,
    programs=None,
    config_dir: Path | None = None,
) -> Path:
    """``reports/<year>/<window>/index.html``: a link to every school's reports, and the
    district-wide program table when ``programs`` (``effectiveness.parquet``) is given."""
    term_reports = reports / school_year / window
    ok = {r.output for r in results if r.ok}
    printable, downloads = school_links(config_dir or REPO_ROOT / "config")

    def links(school_id: str, pairs: list[tuple[str, str]]) -> dict:
        folder = term_reports / "schools" / school_id
        found = [
            {"text": text, "href": f"schools/{school_id}/{name}"}
            for text, name in pairs
            if (folder / name).exists()
        ]
        return {"links": found} if found else {"text": "not rendered"}

    rows = [
        [
            {"text": school_id},
            {"text": school_name},
            _report_link(term_reports, ok, f"schools/{school_id}/specialist.html", "Specialist"),
            _report_link(term_reports, ok, f"schools/{school_id}/principal.html", "Principal"),
            links(school_id, printable),
            links(school_id, downloads),
        ]
        for school_id, school_name in schools
    ]
    sections = _district_and_school_sections(term_reports, ok, rows)
    quality = _quality_section(term_reports)
    if quality is not None:
        sections.append(quality)
    page = _page(
        "index.html.j2",
        title=f"{config.district_name}: {window.capitalize()} {school_year}",
        subtitle=f"Screening reports for {len(schools)} schools.",
        failures=[r for r in results if not r.ok],
        sections=sections + _program_sections(programs, config),
        footer=f"Generated by Tierwise on {generated_at}.",
    )
    path = term_reports / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _district_and_school_sections(term_reports: Path, ok: set, rows: list) -> list[dict]:
    """The index's district report link and its table of schools."""
    return [
        {
            "title": "District",
            "lead": "Data quality first, then the schools side by side and how the programs "
            "are working district-wide. Names no student.",
            "headers": ["Report"],
            "rows": [[_report_link(term_reports, ok, "district.html", "District report")]],
        },
        {
            "title": "Schools",
            "lead": "The specialist report lists the students who need support, the reasons "
            "for their tier and their groups: share it only with the school's intervention "
            "staff, like the printable rosters, student pages, family letters and downloads "
            "beside it. The principal report shows the same picture at school level and names "
            "no student.",
            "headers": [
                "School ID",
                "School",
                "Specialist report",
                "Principal report",
                "Printable pages",
                "Downloads",
            ],
            "rows": rows,
        },
    ]


def _quality_section(term_reports: Path) -> dict | None:
    """The index's links to the data-quality pages, when ingest wrote them."""
    if not (term_reports / "data-quality" / "index.html").exists():
        return None
    docs = term_reports / "data-quality" / "data-docs" / "index.html"
    return {
        "title": "Data quality",
        "lead": "What was read from each export, which rows were set aside "
        "(quarantined) and why. Check it before sharing the reports.",
        "headers": ["Report"],
        "rows": [
            [{"text": "Data-quality summary", "href": "data-quality/index.html"}],
            [
                {
                    "text": "Every check in detail (Great Expectations Data Docs)",
                    "href": "data-quality/data-docs/index.html",
                }
            ]
            if docs.exists()
            else [{"text": "Data Docs not built (quality.data_docs is off)"}],
        ],
    }


def write_root_index(reports: Path, config: DistrictConfig, generated_at: str) -> Path:
    """``reports/index.html``: every term that has an index, newest first."""
    terms = [
        (year.name, window)
        for year in sorted(reports.glob("*-*"), reverse=True)
        for window in reversed(WINDOW_ORDER)
        if (year / window / "index.html").exists()
    ]
    rows = [
        [{"text": year}, {"text": window.capitalize(), "href": f"{year}/{window}/index.html"}]
        for year, window in terms
    ]
    page = _page(
        "index.html.j2",
        title=f"{config.district_name}: Tierwise reports",
        subtitle="Pick a screening window.",
        failures=[],
        sections=[
            {"title": "Terms", "lead": "", "headers": ["School year", "Window"], "rows": rows}
        ],
        footer=f"Generated by Tierwise on {generated_at}.",
    )
    path = reports / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def render_term(
    processed: Path,
    reports: Path,
    config_dir: Path,
    config: DistrictConfig,
    school_year: str,
    window: str,
    workers: int = 0,
    school_ids: list[str] | None = None,
    progress: bool = True,
    notebooks: list[str] | None = None,
) -> list[ReportResult]:
    """Render every school's reports for a term, then the term and root index pages.

    ``notebooks`` limits the run to those notebooks' reports (by file stem), so that a
    changed notebook re-renders only its own reports.
    """
    schools = _schools(processed, school_year, window, school_ids)
    generated_at = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    jobs = school_jobs(
        processed,
        reports,
        config_dir,
        school_year,
        window,
        list(schools["school_id"]),
        generated_at,
        notebooks=SCHOOL_NOTEBOOKS,
    )
    if not school_ids:
        # The longest report first, so it runs beside the schools' rather than after them.
        district = district_job(processed, reports, config_dir, school_year, window, generated_at)
        jobs.insert(0, district)
    if notebooks:
        jobs = [job for job in jobs if job.notebook.stem in notebooks]
    # The printable pages are Jinja2, not notebooks: a side thread writes them while the
    # worker processes run the notebooks.
    with ThreadPoolExecutor(max_workers=1) as side:
        pages = None
        if not notebooks:
            pages = side.submit(
                render_pages,
                processed,
                reports,
                config_dir,
                config,
                school_year,
                window,
                schools,
                generated_at,
            )
        results = run_jobs(jobs, workers=workers or config.render.workers, progress=progress)
        results += pages.result() if pages is not None else []
    pairs = list(schools.itertuples(index=False, name=None))
    programs = store.read_optional(processed, school_year, window, "effectiveness")
    write_term_index(
        reports, school_year, window, pairs, results, config, generated_at, programs, config_dir
    )
    write_root_index(reports, config, generated_at)
    return results


def _schools(processed: Path, school_year: str, window: str, school_ids: list[str] | None):
    """The term's schools (id and name, by id), only ``school_ids`` when given; an
    unknown id stops the run with a :class:`RenderError`."""
    students = store.read_table(processed, school_year, window, "students")
    schools = (
        students[["school_id", "school_name"]].drop_duplicates("school_id").sort_values("school_id")
    )
    if school_ids:
        unknown = sorted(set(school_ids) - set(schools["school_id"]))
        if unknown:
            raise RenderError(f"unknown school id(s): {', '.join(unknown)}")
        schools = schools[schools["school_id"].isin(school_ids)]
    return schools


def render_pages(
    processed: Path,
    reports: Path,
    config_dir: Path,
    config: DistrictConfig,
    school_year: str,
    window: str,
    schools: pd.DataFrame,
    generated_at: str,
) -> list[ReportResult]:
    """Each school's printable pages and downloads (:mod:`pipeline.render.pages`), one
    result per school; a school whose pages fail is recorded and the others still render."""
    tables = TermTables(processed, school_year, window, config)
    letters = letters_folder(config_dir)
    results = []
    for school_id in schools["school_id"]:
        started = time.perf_counter()
        folder = reports / school_year / window / "schools" / school_id
        label, output = f"{school_id} printable pages", folder / "groups.html"
        try:
            write_school_pages(tables, school_id, folder, letters, generated_at)
            results.append(ReportResult(label, output, True, time.perf_counter() - started))
        except Exception as err:  # noqa: BLE001 - one school's failure must not stop the rest
            error = f"{type(err).__name__}: {err}"
            results.append(ReportResult(label, output, False, time.perf_counter() - started, error))
    return results


def failure_summary(results: list[ReportResult]) -> str:
    failed = [r for r in results if not r.ok]
    lines = [f"  {r.label}: {r.error}" for r in failed]
    return f"{len(failed)} of {len(results)} reports failed:\n" + "\n".join(lines)
