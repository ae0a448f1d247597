"""The ``tierwise`` command line's arguments: one parser per subcommand
(:func:`build_parser`); :mod:`pipeline.cli` runs what they ask for."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.config import WINDOW_ORDER


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
        default=0.01,
        help="share of screening rows given a planted defect, shown in the "
        "data-quality report (default: 0.01)",
    )
    group.add_argument(
        "--scenario",
        choices=["easy", "clustered", "selection", "by_grade"],
        default="easy",
        help="enrolment scenario of the planted truth (pipeline.synth.scenarios; default: easy)",
    )


def _profile_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        dest="profiles",
        action="append",
        metavar="[GLOB=]NAME",
        help="read files with this profile instead of detecting it: NAME for every file, "
        "or GLOB=NAME for matching files (repeatable), e.g. --profile 'star*.csv=star_reading'",
    )


def forced_profiles(values: list[str] | None) -> dict[str, str]:
    forced: dict[str, str] = {}
    for value in values or []:
        pattern, _, name = value.rpartition("=")
        forced[pattern or "*"] = name
    return forced


def _workers_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="reports rendered at once (default: one per CPU core)",
    )


Subcommands = argparse._SubParsersAction  # what add_subparsers returns


def _demo_data_command(sub: Subcommands) -> None:
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


def _ingest_command(sub: Subcommands) -> None:
    ingest = sub.add_parser(
        "ingest",
        help="read --raw into the canonical tables",
        description="Read the raw exports, type every column and write "
        "the term's canonical tables to --processed/<year>/<window>/.",
    )
    _common(ingest)
    _term(ingest)
    _profile_arg(ingest)


def _inspect_command(sub: Subcommands) -> None:
    inspect = sub.add_parser(
        "inspect",
        help="show the profile that reads FILE and its first canonical rows",
        description="Detect the layout of one export (or use --profile), map it and print "
        "the first canonical rows, what would be skipped and any roster lines, so a new "
        "export can be checked before a run. Nothing is written.",
    )
    inspect.add_argument("file", type=Path, metavar="FILE", help="a .csv or .xlsx export")
    _common(inspect)
    inspect.add_argument(
        "--profile", dest="profiles", action="append", metavar="NAME", help="profile to use"
    )
    inspect.add_argument("--rows", type=int, default=10, help="rows to show (default: 10)")


def _process_command(sub: Subcommands) -> None:
    process = sub.add_parser(
        "process",
        help="compute tiers from the canonical tables",
        description="Assign tiers (with reasons) and write tiers.parquet "
        "beside the term's canonical tables.",
    )
    _common(process)
    _term(process)


def _render_command(sub: Subcommands) -> None:
    render = sub.add_parser(
        "render",
        help="render the per-school HTML reports",
        description="Execute the report notebooks for every school with "
        "papermill and write self-contained HTML under --reports.",
    )
    _common(render)
    _term(render)
    _workers_arg(render)
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


def _reports_command(sub: Subcommands) -> None:
    reports = sub.add_parser(
        "reports",
        help="run every stage: ingest, process, render",
        description="Run the whole pipeline. When --raw holds no input "
        "files, the demo district is generated into it first.",
    )
    _common(reports)
    _term(reports)
    _demo_args(reports)
    _workers_arg(reports)


def _study_command(sub: Subcommands) -> None:
    study = sub.add_parser(
        "study",
        help="reproduce a published analysis: SPEC from config/real/analyses/",
        description="Run every analysis of a study spec on the public research files and "
        "write DIR/<name>.csv per analysis, one row per estimated quantity (stratum, term, "
        "estimate, se, ci_low, ci_high, n, n_groups, df, p, kind).",
    )
    study.add_argument("spec", type=Path, metavar="SPEC", help="a study spec (.yml)")
    study.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the CSVs")
    study.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data/real"),
        metavar="DIR",
        help="folder of the research files (default: ../shared/data/real)",
    )
    _common(study)


def _validate_command(sub: Subcommands) -> None:
    validate = sub.add_parser(
        "validate",
        help="check the pipeline against a synthetic district's planted truth",
        description="monitoring: compare a term's processed tables with --raw/_truth.json and "
        "print the figures. effects: run the estimators over many seeds of small synthetic "
        "districts and print, per planted quantity, the bias and the coverage of the 95%% "
        "intervals. Exit status 1 when a figure misses its bar.",
    )
    validate.add_argument(
        "--suite",
        choices=["monitoring", "effects"],
        required=True,
        help="monitoring: progress decisions of a processed term; effects: program effects "
        "and RD over many seeds",
    )
    validate.add_argument(
        "--seeds", type=int, default=200, help="effects: seeds per scenario (default: 200)"
    )
    validate.add_argument(
        "--first-seed", type=int, default=1, help="effects: the first seed (default: 1)"
    )
    validate.add_argument(
        "--scenario",
        default="all",
        choices=["all", "easy", "clustered", "selection", "by_grade"],
        help="effects: enrolment scenario (default: all)",
    )
    validate.add_argument("--out", type=Path, help="effects: also write every seed's estimates")
    _common(validate)
    _term(validate)


def build_parser() -> argparse.ArgumentParser:
    """The ``tierwise`` command line: one subcommand per stage (see the module's doc)."""
    parser = argparse.ArgumentParser(
        prog="tierwise",
        description="Tierwise: MTSS / RTI screening reports from vendor exports.",
        epilog="Run `tierwise COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (
        _demo_data_command,
        _ingest_command,
        _inspect_command,
        _process_command,
        _render_command,
        _reports_command,
        _study_command,
        _validate_command,
    ):
        add_command(sub)
    return parser
