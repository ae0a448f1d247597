"""The raw folder's exports, each read and mapped through its profile.

Every ``.csv`` / ``.xlsx`` file in the raw folder is read as text
(:mod:`pipeline.ingest.read`), matched to a profile in ``config/profiles/`` by its
header (or the profile named with ``--profile``) and mapped to canonical records
(:mod:`pipeline.ingest.mapping`); :mod:`pipeline.quality.run` then checks them: rows that
break a rule go to the quarantine with the rule and the value, the rest become the
canonical tables.

**Severity.** A file that cannot be read, an unknown or ambiguous layout, or a missing
column the profile needs stops the run with an :class:`InputError` naming the file and
the column. A bad value in a row quarantines that row; the run goes on.

**Roster rule.** The students table is the roster files (layouts of the ``students``
table, e.g. ``students.csv``) plus, when ``quality.roster_from_vendor_files`` is on (the
default), one line per student found in a vendor file that carries roster columns
(grade, school) and whose id is in no roster file: a roster file always wins, and among
vendor files the first file (by name) that names a student wins, using its latest row
by date. A vendor line for a student already known is counted as skipped ("already in
the roster"). Every screening, probe and enrolment must then name a student on that
roster, or it is quarantined.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np

from pipeline.config import DistrictConfig
from pipeline.errors import InputError
from pipeline.ingest.mapping import MappedFile, apply_profile
from pipeline.ingest.profiles import (
    Profile,
    ProfileError,
    detect_profile,
    load_profiles,
    normalise_header,
)
from pipeline.ingest.read import read_export

DATA_SUFFIXES = (".csv", ".txt", ".xlsx")


def input_files(raw: Path | str, ignore: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The data files in ``raw`` (by name), leaving out names matching ``ignore`` globs."""
    raw = Path(raw)
    if not raw.is_dir():
        raise InputError(raw, "not a folder of input files")
    patterns = ["_*", ".*", "~$*", *ignore]
    return sorted(
        p
        for p in raw.iterdir()
        if p.is_file()
        and p.suffix.lower() in DATA_SUFFIXES
        and not any(fnmatch.fnmatch(p.name.lower(), pat.lower()) for pat in patterns)
    )


def input_profiles(profiles_dir: Path | str, config: DistrictConfig) -> dict[str, Profile]:
    """The profiles exports are read with; a profile that cannot be used is reported as
    an input problem of the profiles folder."""
    try:
        return load_profiles(profiles_dir, config)
    except ProfileError as err:
        raise InputError(profiles_dir, err.why) from err


def _forced_profile(name: str, forced: dict[str, str] | None) -> str | None:
    """The profile named for a file with --profile (``NAME`` or ``GLOB=NAME``)."""
    for pattern, profile in (forced or {}).items():
        if pattern == "*" or fnmatch.fnmatch(name.lower(), pattern.lower()):
            return profile
    return None


def _named_profile(
    path: Path, named: str, header: list[str], profiles: dict[str, Profile]
) -> Profile:
    """The profile named with --profile, which must exist and fit the file's header."""
    if named not in profiles:
        raise InputError(path, f"no profile named {named!r} (known: {', '.join(sorted(profiles))})")
    profile = profiles[named]
    present = {c.casefold() for c in header}
    missing = [h for h in profile.detect.headers if h.casefold() not in present]
    if missing:
        raise InputError(
            path,
            f"profile {named!r} needs column(s) {', '.join(repr(m) for m in missing)}, "
            "which the file lacks",
            column=missing[0],
        )
    return profile


def map_file(
    path: Path,
    profiles: dict[str, Profile],
    config: DistrictConfig,
    forced: dict[str, str] | None = None,
) -> MappedFile:
    """Read one file and map it through its profile (detected unless named); rows that
    cannot be read as rows of its header (ragged rows) go with it, to be quarantined."""
    named = _forced_profile(path.name, forced)
    chosen = [profiles[named]] if named in profiles else profiles.values()
    table = read_export(path, signatures(chosen))
    text = table.frame
    header = [c for c in text.columns if c != "source_row"]
    if named is not None:
        profile = _named_profile(path, named, header, profiles)
    else:
        profile = detect_profile(path, header, profiles)
    mapped = apply_profile(text, profile, config, path)
    mapped.layout = table.layout
    if not table.rejected.empty:
        mapped.rejected = table.rejected
        mapped.data_rows += len(table.rejected)
        mapped.source_rows = np.concatenate([mapped.source_rows, table.rejected["source_row"]])
    return mapped


def signatures(profiles) -> list[frozenset[str]]:
    """Each profile's header signature, normalised as headers are compared."""
    return [frozenset(normalise_header(h) for h in p.detect.headers) for p in profiles]


def read_inputs(
    raw: Path | str,
    config: DistrictConfig,
    profiles_dir: Path | str,
    forced: dict[str, str] | None = None,
) -> list[MappedFile]:
    """Every data file in ``raw`` mapped to canonical records (no checks yet)."""
    profiles = input_profiles(profiles_dir, config)
    files = input_files(raw, config.quality.ignore_files)
    if not files:
        raise InputError(raw, "no input files (.csv or .xlsx) found")
    mapped = [map_file(path, profiles, config, forced) for path in files]
    names = [m.file for m in mapped]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(raw, f"two inputs share a name: {', '.join(duplicates)}")
    return mapped
