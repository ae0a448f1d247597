"""The ``tierwise`` command: the pipeline's stages as subcommands, as the Makefile calls them.

tierwise demo-data    write the synthetic demo district into data/raw/
tierwise ingest       read data/raw/ into the canonical tables (data/processed/)
tierwise process      tiers from the canonical tables
tierwise render       execute the report notebooks and write HTML (reports/)
tierwise reports      all of the above (demo data only when data/raw/ is empty)
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from pipeline import store
from pipeline.config import WINDOW_ORDER, ConfigError, DistrictConfig, load_config
from pipeline.ingest import IngestError, Term, latest_term_in, read_canonical, slice_term


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("locations")
    group.add_argument(
        "--raw",
        type=Path,
        default=Path("data/raw"),
        help="folder of input exports (default: data/raw)",
    )
    group.add_argument(
        "--processed",
        type=Path,
        default=Path("data/processed"),
        help="folder for processed tables (default: data/processed)",
    )
    group.add_argument(
        "--reports",
        type=Path,
        default=Path("reports"),
        help="folder for rendered reports (default: reports)",
    )
    group.add_argument(
        "--config",
        type=Path,
        default=Path("config"),
        help="folder holding district.yml (default: config)",
    )


def _term(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("term")
    group.add_argument("--year", help="school year such as 2025-2026 (default: latest in the data)")
    group.add_argument(
        "--window", choices=WINDOW_ORDER, help="screening window (default: latest in that year)"
    )


def _demo_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("demo district")
    group.add_argument("--schools", type=int, default=8, help="number of schools (default: 8)")
    group.add_argument(
        "--students-per-grade",
        type=int,
        default=60,
        help="students per grade per school, K-5 (default: 60)",
    )
    group.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    group.add_argument(
        "--defect-rate",
        type=float,
        default=0.0,
        help="share of screening rows given a planted defect (default: 0)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierwise",
        description="Tierwise: MTSS / RTI screening reports from vendor exports.",
        epilog="Run `tierwise COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo-data",
        help="write the synthetic demo district into --raw",
        description="Generate a synthetic district (students, screenings, "
        "interventions, progress probes) with planted truth in _truth.json. "
        "Same seed, same files.",
    )
    _common(demo)
    _demo_args(demo)
    demo.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when --raw already holds input files (what `make reports` uses)",
    )

    ingest = sub.add_parser(
        "ingest",
        help="read --raw into the canonical tables",
        description="Read the raw exports, type every column and write "
        "the term's canonical tables to --processed/<year>/<window>/.",
    )
    _common(ingest)
    _term(ingest)

    process = sub.add_parser(
        "process",
        help="compute tiers from the canonical tables",
        description="Assign tiers (with reasons) and write tiers.parquet "
        "beside the term's canonical tables.",
    )
    _common(process)
    _term(process)

    render = sub.add_parser(
        "render",
        help="render the per-school HTML reports",
        description="Execute the report notebooks for every school with "
        "papermill and write self-contained HTML under --reports.",
    )
    _common(render)
    _term(render)
    render.add_argument(
        "--workers",
        type=int,
        default=0,
        help="reports rendered at once (default: one per CPU core)",
    )
    render.add_argument(
        "--notebook",
        action="append",
        dest="notebooks",
        metavar="NAME",
        help="render only this notebook's reports, e.g. specialist (repeatable)",
    )
    render.add_argument(
        "--school",
        action="append",
        dest="only_schools",
        metavar="SCHOOL_ID",
        help="render only this school (repeatable)",
    )

    reports = sub.add_parser(
        "reports",
        help="run every stage: ingest, process, render",
        description="Run the whole pipeline. When --raw holds no input "
        "files, the demo district is generated into it first.",
    )
    _common(reports)
    _term(reports)
    _demo_args(reports)
    reports.add_argument(
        "--workers",
        type=int,
        default=0,
        help="reports rendered at once (default: one per CPU core)",
    )
    return parser


def _say(message: str) -> None:
    print(f"tierwise: {message}", flush=True)


def cmd_demo_data(args, config: DistrictConfig) -> int:
    from pipeline.synth import SynthSpec, write_district

    if getattr(args, "if_empty", False) and not _raw_is_empty(args.raw):
        return 0

    spec = SynthSpec(
        schools=args.schools,
        students_per_grade=args.students_per_grade,
        seed=args.seed,
        defect_rate=args.defect_rate,
    )
    truth = write_district(spec, args.raw)
    _say(
        f"wrote a demo district of {truth['students']} students in {truth['schools']} "
        f"schools to {args.raw}/ (seed {spec.seed})"
    )
    return 0


def _pick_term(args, screenings) -> Term:
    latest = latest_term_in(screenings)
    year = args.year or latest.school_year
    if args.window:
        return Term(year, args.window)
    if year == latest.school_year:
        return latest
    return latest_term_in(screenings[screenings["school_year"] == year])


def cmd_ingest(args, config: DistrictConfig) -> Term:
    tables = read_canonical(args.raw)
    term = _pick_term(args, tables["screenings"])
    sliced = slice_term(tables, term, config)
    if sliced["screenings"].empty:
        raise IngestError(
            args.raw / "screenings.csv", f"no screenings for {term.window} {term.school_year}"
        )
    for name, frame in sliced.items():
        store.write_table(frame, args.processed, term.school_year, term.window, name)
    counts = ", ".join(f"{len(f)} {n}" for n, f in sliced.items())
    _say(f"ingested {term.window} {term.school_year}: {counts}")
    return term


def _processed_term(args) -> Term:
    if args.year and args.window:
        return Term(args.year, args.window)
    year, window = store.latest_term(args.processed)
    return Term(args.year or year, args.window or window)


def cmd_process(args, config: DistrictConfig, term: Term | None = None) -> Term:
    from pipeline.process import run_process

    term = term or _processed_term(args)
    written = run_process(args.processed, args.raw, config, term, config_dir=args.config)
    counts = ", ".join(f"{n} {name}" for name, n in written.items())
    _say(f"processed {term.window} {term.school_year}: {counts}")
    return term


def cmd_render(args, config: DistrictConfig, term: Term | None = None) -> int:
    from pipeline.render import failure_summary, render_term

    term = term or _processed_term(args)
    started = time.perf_counter()
    results = render_term(
        args.processed,
        args.reports,
        args.config,
        config,
        term.school_year,
        term.window,
        workers=args.workers,
        school_ids=getattr(args, "only_schools", None),
        notebooks=getattr(args, "notebooks", None),
    )
    seconds = time.perf_counter() - started
    ok = sum(r.ok for r in results)
    index = args.reports / term.school_year / term.window / "index.html"
    _say(
        f"rendered {ok} of {len(results)} reports in {seconds:.1f} s "
        f"({seconds / max(1, len(results)):.1f} s per report); open {index}"
    )
    if ok < len(results):
        print(failure_summary(results), file=sys.stderr)
        return 1
    return 0


def _raw_is_empty(raw: Path) -> bool:
    return not any(p.suffix.lower() in (".csv", ".xlsx") for p in raw.glob("*") if p.is_file())


def cmd_reports(args, config: DistrictConfig) -> int:
    if _raw_is_empty(args.raw):
        _say(f"{args.raw}/ holds no input files: generating the demo district first")
        cmd_demo_data(args, config)
    term = cmd_ingest(args, config)
    cmd_process(args, config, term)
    return cmd_render(args, config, term)


COMMANDS = {
    "demo-data": cmd_demo_data,
    "ingest": lambda a, c: (cmd_ingest(a, c), 0)[1],
    "process": lambda a, c: (cmd_process(a, c), 0)[1],
    "render": cmd_render,
    "reports": cmd_reports,
}


def _peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        config = load_config(args.config)
        code = COMMANDS[args.command](args, config)
    except (ConfigError, IngestError, LookupError, FileNotFoundError) as err:
        print(f"tierwise: error: {err}", file=sys.stderr)
        return 2
    # One machine-readable line per stage; `make bench` reads it.
    _say(
        f"{args.command} took {time.perf_counter() - started:.2f} s, "
        f"peak memory {_peak_memory_mb():.0f} MB"
    )
    return code
