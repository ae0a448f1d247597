"""The ``tierwise`` command: the pipeline's stages as subcommands, as the Makefile calls them.

tierwise demo-data    write the synthetic demo district into data/raw/
tierwise ingest       read data/raw/ into the canonical tables (data/processed/), with
                      the quarantine, the ledger and the data-quality report
tierwise inspect      show which profile reads a file, and its first canonical rows
tierwise process      tiers from the canonical tables
tierwise render       execute the report notebooks and write HTML (reports/)
tierwise reports      all of the above (demo data only when data/raw/ is empty)
tierwise study        reproduce a published analysis from a spec in config/real/analyses/
tierwise validate     check the pipeline against a synthetic district's planted truth
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from pipeline.arguments import build_parser, forced_profiles
from pipeline.config import DistrictConfig, load_config
from pipeline.errors import TierwiseError
from pipeline.ingest.terms import Term
from pipeline.stages import store


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
        scenario=getattr(args, "scenario", "easy"),
    )
    truth = write_district(spec, args.raw)
    _say(
        f"wrote a demo district of {truth['students']} students in {truth['schools']} "
        f"schools to {args.raw}/ (seed {spec.seed})"
    )
    return 0


def _profiles_dir(args) -> Path:
    return args.config / "profiles"


def cmd_ingest(args, config: DistrictConfig) -> Term:
    """Read every export through its profile, check it, write the term's tables, the
    quarantine, the ledger and the data-quality report."""
    from pipeline.stages.ingest import run_ingest

    done = run_ingest(
        args.raw,
        args.processed,
        args.reports,
        config,
        _profiles_dir(args),
        forced_profiles(getattr(args, "profiles", None)),
        args.year,
        args.window,
    )
    counts = ", ".join(f"{n} {name}" for name, n in done.rows.items())
    _say(
        f"ingested {done.term.window} {done.term.school_year} from {done.files} files: "
        f"{counts}; {done.quarantined} rows quarantined, {done.skipped} skipped "
        f"(read {done.read_seconds:.1f} s, checks {done.check_seconds:.1f} s); see {done.page}"
    )
    return done.term


def cmd_inspect(args, config: DistrictConfig) -> int:
    """Print the profile that reads a file and its first canonical rows."""
    import pandas as pd

    from pipeline.ingest.inputs import input_profiles, map_file
    from pipeline.ingest.profiles import profile_summary

    profiles = input_profiles(_profiles_dir(args), config)
    forced = {"*": args.profiles[-1]} if args.profiles else None
    mapped = map_file(args.file, profiles, config, forced)
    print(f"{args.file}: {mapped.data_rows} data rows, read as {profile_summary(mapped.profile)}")
    if mapped.layout is not None:
        print(f"Text: {mapped.layout.describe()}")
    if mapped.rejected is not None and not mapped.rejected.empty:
        print(f"{len(mapped.rejected)} row(s) will be quarantined as ragged, e.g. ", end="")
        print(mapped.rejected["reason"].iloc[0])
    if mapped.profile.pii:
        print(f"PII columns (kept out of name-free reports): {', '.join(mapped.profile.pii)}")
    shown = [c for c in mapped.records.columns if not c.startswith("_")]
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        table = mapped.profile.table
        print(f"\nFirst {args.rows} of {len(mapped.records)} canonical {table} records:")
        print(mapped.records[shown].head(args.rows).to_string(index=False))
        unreadable = [c for c in mapped.records.columns if c.startswith("_raw_")]
        for column in unreadable:
            bad = mapped.records[mapped.records[column].notna()]
            print(
                f"\n{len(bad)} value(s) of {column[5:]} could not be read (they will be "
                f"quarantined), e.g. row {bad['source_row'].iloc[0]}: {bad[column].iloc[0]!r}"
            )
        if not mapped.skipped.empty:
            print(f"\n{len(mapped.skipped)} candidate records skipped:")
            print(mapped.skipped["reason"].value_counts().to_string())
        if mapped.students is not None:
            print(f"\n{len(mapped.students)} roster lines (students named in the file):")
            cols = [c for c in mapped.students.columns if not c.startswith("_")]
            print(mapped.students[cols].head(args.rows).to_string(index=False))
    return 0


def _processed_term(args) -> Term:
    if args.year and args.window:
        return Term(args.year, args.window)
    year, window = store.latest_term(args.processed)
    return Term(args.year or year, args.window or window)


def cmd_process(args, config: DistrictConfig, term: Term | None = None) -> Term:
    from pipeline.stages.process import run_process

    term = term or _processed_term(args)
    written = run_process(args.processed, args.raw, config, term)
    counts = ", ".join(f"{n} {name}" for name, n in written.items())
    _say(f"processed {term.window} {term.school_year}: {counts}")
    return term


def cmd_render(args, config: DistrictConfig, term: Term | None = None) -> int:
    from pipeline.render.engine import failure_summary, render_term

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


def cmd_study(args, config: DistrictConfig) -> int:
    """Write one CSV per analysis of a published study spec."""
    from pipeline.stages.study import run_study

    for path in run_study(args.spec, args.out, args.data):
        _say(f"wrote {path}")
    return 0


def cmd_validate(args, config: DistrictConfig) -> int:
    """Print the suite's figures; 1 when one misses its bar."""
    if args.suite == "effects":
        from pipeline.validate import effects

        return effects.run(args, config)
    from pipeline.stats.validate_monitoring import validate_monitoring

    term = _processed_term(args)
    folder = store.term_dir(args.processed, term.school_year, term.window)
    lines, ok = validate_monitoring(args.raw, folder)
    for line in lines:
        _say(f"{args.suite}: {line}")
    return 0 if ok else 1


COMMANDS = {
    "demo-data": cmd_demo_data,
    "ingest": lambda a, c: (cmd_ingest(a, c), 0)[1],
    "inspect": cmd_inspect,
    "process": lambda a, c: (cmd_process(a, c), 0)[1],
    "render": cmd_render,
    "reports": cmd_reports,
    "study": cmd_study,
    "validate": cmd_validate,
}


def _peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _write_log(processed: Path, command: str) -> Path:
    """The current exception's traceback in ``<processed>/logs/`` (or the temp folder
    when that cannot be written); returns the log's path."""
    import tempfile
    import traceback

    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in (Path(processed) / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"tierwise-{command}-{stamp}.log"
            path.write_text(traceback.format_exc(), encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(no log written)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        config = load_config(args.config)
        code = COMMANDS[args.command](args, config)
    except TierwiseError as err:
        print(f"tierwise: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug: one line here, the traceback in a log
        log = _write_log(args.processed, args.command)
        print(
            f"tierwise: unexpected error: {type(err).__name__}: {err} (details: {log})",
            file=sys.stderr,
        )
        return 3
    # One machine-readable line per stage; `make bench` reads it.
    _say(
        f"{args.command} took {time.perf_counter() - started:.2f} s, "
        f"peak memory {_peak_memory_mb():.0f} MB"
    )
    return code
