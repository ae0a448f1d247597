"""Read the raw exports into the canonical tables, through the layout profiles.

Every ``.csv`` / ``.xlsx`` file in the raw folder is read as text, matched to a profile
in ``config/profiles/`` by its header (or the profile named with ``--profile``), mapped
to canonical records, then checked by :mod:`pipeline.quality.run` (Great Expectations):
rows that break a rule go to the quarantine with the rule and the value, the rest
become the canonical tables.

Reading is forgiving where exports differ and strict where meaning is at stake: UTF-8
with or without a byte-order mark, Windows-1252 (Excel's "CSV"), ``.xlsx``; quoted
fields with commas and newlines; trailing empty columns; "", "N/A", "N/A*", "--" as
missing; every cell is read as text, so ids keep their leading zeros.

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

Row numbers are spreadsheet row numbers: the header is row 1, the first data row row 2.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.errors import InputError
from pipeline.ingest.profiles import (
    DetectionError,
    LayoutError,
    MappedFile,
    Profile,
    ProfileError,
    apply_profile,
    detect_profile,
    load_profiles,
    parse_grade,
)

__all__ = [
    "InputError",
    "Term",
    "latest_term_in",
    "slice_term",
    "parse_grade",
    "read_text_table",
    "read_header",
    "input_files",
    "map_file",
    "read_inputs",
]

MISSING_VALUES = ["", "N/A", "N/A*", "NA", "--", "n/a", "null", "NULL", "#N/A"]
DATA_SUFFIXES = (".csv", ".txt", ".xlsx")
HEAD_BYTES = 1 << 16
BLOCK_BYTES = 1 << 24  # Arrow reads a CSV in blocks of this size, parsed in parallel


@dataclass
class Term:
    school_year: str
    window: str


# --------------------------------------------------------------------------- reading


def _encoding(head: bytes) -> str:
    """UTF-8 (BOM or not) when the bytes decode as UTF-8, else Windows-1252."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if err.start < len(head) - 4:
            return "cp1252"
    return "utf-8"


def _header_from_text(text: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except StopIteration:
        return []


def read_header(path: Path | str) -> list[str]:
    """The column names of a file, without reading its rows."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        try:
            frame = pd.read_excel(path, dtype=str, nrows=0, engine="openpyxl")
        except Exception as err:  # noqa: BLE001 - any unreadable workbook is a stop
            raise InputError(path, f"not a readable .xlsx workbook ({err})") from err
        return [str(c).strip() for c in frame.columns]
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    return [h.strip() for h in _header_from_text(head.decode(_encoding(head), errors="replace"))]


def _drop_empty_unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """Trailing or stray columns without a header and without values carry nothing."""
    unnamed = [
        c
        for c in frame.columns
        if (str(c).strip() == "" or re.fullmatch(r"Unnamed: \d+(\.\d+)?", str(c)))
        and frame[c].isna().all()
    ]
    return frame.drop(columns=unnamed)


def _tidy_categories(column: pd.Series, tokens: set[str]) -> pd.Series:
    """Strip and blank a dictionary-encoded column through its distinct values."""
    categories = pd.Series(column.cat.categories, dtype="str")
    text = categories.str.strip()
    text = text.where(~text.isin(tokens), None)
    if text.notna().all() and (text == categories).all():
        return column  # nothing to strip or blank (the usual case): keep the codes
    value_codes, uniques = pd.factorize(text, use_na_sentinel=True)
    codes = column.cat.codes.to_numpy()
    row_codes = np.r_[value_codes, -1][codes] if len(codes) else codes
    categories = pd.Index(uniques, dtype="str")
    return pd.Series(pd.Categorical.from_codes(row_codes, categories), index=column.index)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip cell whitespace, read missing-value tokens as NA, number rows, drop blank rows."""
    frame = frame.copy(deep=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = _drop_empty_unnamed(frame)
    tokens = set(MISSING_VALUES)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = _tidy_categories(frame[column], tokens)
            continue
        text = frame[column].astype("str").str.strip()
        frame[column] = text.where(~text.isin(tokens), None)
    # The header is row 1, so the first data row is row 2, as a spreadsheet shows it.
    frame["source_row"] = np.arange(2, len(frame) + 2, dtype="int64")
    blank = frame.drop(columns=["source_row"]).isna().all(axis=1)
    return frame[~blank].reset_index(drop=True) if blank.any() else frame


def _arrow_csv(
    path: Path, header: list[str], encoding: str, newlines: bool, plain: frozenset[str]
) -> pa.Table:
    text = pa.dictionary(pa.int32(), pa.string())
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=encoding, use_threads=True, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=newlines, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() if name in plain else text for name in header},
            null_values=MISSING_VALUES,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


# A column whose sampled values are mostly distinct (this share or more) is read as text
# and numbered once over the whole file.
MOSTLY_DISTINCT = 0.5


def mostly_distinct(head: str, header: list[str]) -> frozenset[str]:
    """The columns whose values in the first rows of the file (``head``: its first bytes,
    as text) are mostly distinct, such as the student ids of an export with one row per
    student and window.

    Arrow gives each block of a file its own dictionary; uniting those of a column that
    repeats little across a block costs more than numbering the column's values once
    (a state's 18 million screenings: 3.2 s against 2.1 s, and a faster read)."""
    lines = head.lstrip("\ufeff").splitlines(keepends=True)[1:-1]  # the last may be cut
    try:
        rows = [r for r in csv.reader(lines) if len(r) == len(header)]
    except csv.Error:
        return frozenset()
    if len(rows) < 100:
        return frozenset()
    return frozenset(
        name
        for name, values in zip(header, zip(*rows, strict=True), strict=True)
        if len(set(values)) >= MOSTLY_DISTINCT * len(rows)
    )


def _read_csv_fast(path: Path, header: list[str], encoding: str, head: str = "") -> pd.DataFrame:
    """Every column dictionary-encoded by Arrow's reader: a categorical of its distinct
    texts (exports repeat values; a state's 18 million screenings name nine measures).

    Arrow first cuts the file into blocks at newlines, which is cheap: a quoted newline
    is still read right inside a block, and a block boundary that falls inside quotes
    leaves a row Arrow rejects (a column count or chunker mismatch). Only then is the
    file read again with quote-aware block splitting (a serial pass over the file).

    The columns :func:`mostly_distinct` finds in ``head`` are read as text and numbered
    once; the categories are the same either way (in order of first appearance)."""
    plain = mostly_distinct(head, header)
    try:
        table = _arrow_csv(path, header, encoding, False, plain)
    except pa.ArrowInvalid as err:
        if "utf8" in str(err).lower():
            raise
        table = _arrow_csv(path, header, encoding, True, plain)
    encoded = {name: table.column(name).dictionary_encode() for name in plain}
    table = table.drop_columns(list(plain)).unify_dictionaries()
    columns = {name: encoded[name] if name in plain else table.column(name) for name in header}
    if any(len(c) == 0 or c.num_chunks == 0 for c in columns.values()):
        frame = pa.table(columns).to_pandas()
        for column in frame.columns:  # categories as the text dtype of the other readers
            categories = pd.Index(frame[column].cat.categories, dtype="str")
            frame[column] = frame[column].cat.set_categories(categories)
        return frame
    return pd.DataFrame({name: _categorical(column) for name, column in columns.items()})


def _categorical(column: pa.ChunkedArray) -> pd.Series:
    """A dictionary-encoded column (one dictionary for all chunks) as a categorical of
    ``str`` categories, its codes the dictionary indices as they are (no recoding)."""
    import pyarrow.compute as pc

    indices = pa.concat_arrays([chunk.indices for chunk in column.chunks])
    codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
    categories = pd.Index(pd.array(column.chunks[0].dictionary, dtype="str"))
    dtype = pd.CategoricalDtype(categories)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False))


def _read_csv_robust(path: Path, encoding: str) -> pd.DataFrame:
    return pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        na_values=MISSING_VALUES,
        encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        skip_blank_lines=False,
    )


def read_text_table(path: Path | str) -> pd.DataFrame:
    """Every cell of a CSV or XLSX file as text (NA when missing), with ``source_row``."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        try:
            frame = pd.read_excel(
                path, dtype=str, engine="openpyxl", keep_default_na=False, na_values=MISSING_VALUES
            )
        except Exception as err:  # noqa: BLE001
            raise InputError(path, f"not a readable .xlsx workbook ({err})") from err
        if frame.columns.empty:
            raise InputError(path, "the file is empty (no header row)")
        frame = frame.apply(lambda s: s.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True))
        return _tidy(frame)
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head.lstrip(b"\xef\xbb\xbf").strip():
        raise InputError(path, "the file is empty (no header row)")
    encoding = _encoding(head)
    header = [h.strip() for h in _header_from_text(head.decode(encoding, errors="replace"))]
    clean_header = all(h and not h.startswith("Unnamed") for h in header) and len(
        set(header)
    ) == len(header)
    frame = None
    if clean_header:
        try:
            frame = _read_csv_fast(
                path,
                header,
                "utf8" if encoding == "utf-8" else encoding,
                head.decode(encoding, errors="replace"),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as err:
            if "utf8" in str(err).lower() or isinstance(err, UnicodeDecodeError):
                encoding = "cp1252"
            frame = None
    if frame is None:
        try:
            frame = _read_csv_robust(path, encoding)
        except UnicodeDecodeError:
            frame = _read_csv_robust(path, "cp1252")
        except pd.errors.EmptyDataError as err:
            raise InputError(path, "the file is empty (no header row)") from err
        except pd.errors.ParserError as err:
            raise InputError(path, f"not a readable CSV file: {err}") from err
    return _tidy(frame)


# --------------------------------------------------------------------------- inputs


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


def _forced_profile(name: str, forced: dict[str, str] | None) -> str | None:
    """The profile named for a file with --profile (``NAME`` or ``GLOB=NAME``)."""
    for pattern, profile in (forced or {}).items():
        if pattern == "*" or fnmatch.fnmatch(name.lower(), pattern.lower()):
            return profile
    return None


def map_file(
    path: Path,
    profiles: dict[str, Profile],
    config: DistrictConfig,
    forced: dict[str, str] | None = None,
) -> MappedFile:
    """Read one file and map it through its profile (detected unless named)."""
    text = read_text_table(path)
    header = [c for c in text.columns if c != "source_row"]
    named = _forced_profile(path.name, forced)
    if named is not None:
        if named not in profiles:
            raise InputError(
                path, f"no profile named {named!r} (known: {', '.join(sorted(profiles))})"
            )
        profile = profiles[named]
        missing = [
            h for h in profile.detect.headers if h.casefold() not in {c.casefold() for c in header}
        ]
        if missing:
            raise InputError(
                path,
                f"profile {named!r} needs column(s) {', '.join(repr(m) for m in missing)}, "
                "which the file lacks",
                column=missing[0],
            )
    else:
        try:
            profile = detect_profile(path.name, header, profiles)
        except DetectionError as err:
            raise InputError(path, str(err).split(": ", 1)[1]) from err
    try:
        return apply_profile(text, profile, config, path.name)
    except LayoutError as err:
        raise InputError(path, "not found (the profile reads it)", column=err.column) from err


def read_inputs(
    raw: Path | str,
    config: DistrictConfig,
    profiles_dir: Path | str,
    forced: dict[str, str] | None = None,
) -> list[MappedFile]:
    """Every data file in ``raw`` mapped to canonical records (no checks yet)."""
    try:
        profiles = load_profiles(profiles_dir, config)
    except ProfileError as err:
        raise InputError(profiles_dir, str(err).split(": ", 1)[-1]) from err
    files = input_files(raw, config.quality.ignore_files)
    if not files:
        raise InputError(raw, "no input files (.csv or .xlsx) found")
    mapped = [map_file(path, profiles, config, forced) for path in files]
    names = [m.file for m in mapped]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(raw, f"two inputs share a name: {', '.join(duplicates)}")
    return mapped


# --------------------------------------------------------------------------- terms


def latest_term_in(screenings: pd.DataFrame) -> Term:
    """The latest school year present, and its latest window."""
    known = (
        screenings.dropna(subset=["school_year", "window"]) if not screenings.empty else screenings
    )
    if known.empty:
        raise InputError("screenings", "no screening rows: cannot tell which term to report")
    year = max(known["school_year"].unique())
    windows = set(known.loc[known["school_year"] == year, "window"].unique())
    window = max((w for w in windows if w in WINDOW_ORDER), key=WINDOW_ORDER.index)
    return Term(year, window)


def slice_term(
    tables: dict[str, pd.DataFrame], term: Term, config: DistrictConfig
) -> dict[str, pd.DataFrame]:
    """The tables as known at the end of ``term``: that year's screenings up to its window,
    interventions and probes dated up to the window's last day."""
    windows_so_far = WINDOW_ORDER[: WINDOW_ORDER.index(term.window) + 1]
    _, last_day = config.window_dates(term.school_year, term.window)
    first_day, _ = config.window_dates(term.school_year, "fall")
    cutoff = pd.Timestamp(last_day)
    start = pd.Timestamp(first_day) - pd.Timedelta(days=31)
    screenings = tables["screenings"]
    progress = tables["progress"]
    interventions = tables["interventions"]

    def rows(frame: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
        # Usually every row is in the term: no copy of a large table then.
        return frame.reset_index(drop=True) if keep.all() else frame[keep].reset_index(drop=True)

    return {
        "students": tables["students"],
        "screenings": rows(
            screenings,
            (screenings["school_year"] == term.school_year)
            & screenings["window"].isin(windows_so_far),
        ),
        "interventions": rows(
            interventions,
            (interventions["start_date"] <= cutoff) & (interventions["start_date"] >= start),
        ),
        "progress": rows(progress, (progress["date"] <= cutoff) & (progress["date"] >= start)),
    }
