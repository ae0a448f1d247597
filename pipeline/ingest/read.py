"""Reading one export file as text: every cell a string (NA when missing), rows numbered.

Reading is forgiving where exports differ and strict where meaning is at stake: UTF-8
with or without a byte-order mark, Windows-1252 (Excel's "CSV"), ``.xlsx``; quoted
fields with commas and newlines; trailing empty columns; "", "N/A", "N/A*", "--" as
missing; every cell is read as text, so ids keep their leading zeros. A file that cannot
be read stops the run with an :class:`InputError` naming it.

Row numbers are spreadsheet row numbers: the header is row 1, the first data row row 2.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.errors import InputError

MISSING_VALUES = ["", "N/A", "N/A*", "NA", "--", "n/a", "null", "NULL", "#N/A"]
HEAD_BYTES = 1 << 16
BLOCK_BYTES = 1 << 24  # Arrow reads a CSV in blocks of this size, parsed in parallel


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
    return _tidy(_read_xlsx(path) if path.suffix.lower() == ".xlsx" else _read_csv(path))


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_excel(
            path, dtype=str, engine="openpyxl", keep_default_na=False, na_values=MISSING_VALUES
        )
    except Exception as err:  # noqa: BLE001 - any unreadable workbook is a stop
        raise InputError(path, f"not a readable .xlsx workbook ({err})") from err
    if frame.columns.empty:
        raise InputError(path, "the file is empty (no header row)")
    # A number cell read as text ends in ".0"; the export had an integer there.
    return frame.apply(lambda s: s.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True))


def _read_csv(path: Path) -> pd.DataFrame:
    """Arrow's fast reader when the header is clean, else (or when Arrow refuses the
    file) pandas' reader; Windows-1252 when the text is no UTF-8."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head.lstrip(b"\xef\xbb\xbf").strip():
        raise InputError(path, "the file is empty (no header row)")
    encoding = _encoding(head)
    text = head.decode(encoding, errors="replace")
    header = [h.strip() for h in _header_from_text(text)]
    clean_header = all(h and not h.startswith("Unnamed") for h in header) and len(
        set(header)
    ) == len(header)
    if clean_header:
        try:
            return _read_csv_fast(path, header, "utf8" if encoding == "utf-8" else encoding, text)
        except (pa.ArrowInvalid, UnicodeDecodeError) as err:
            if "utf8" in str(err).lower() or isinstance(err, UnicodeDecodeError):
                encoding = "cp1252"
    try:
        return _read_csv_robust(path, encoding)
    except UnicodeDecodeError:
        return _read_csv_robust(path, "cp1252")
    except pd.errors.EmptyDataError as err:
        raise InputError(path, "the file is empty (no header row)") from err
    except pd.errors.ParserError as err:
        raise InputError(path, f"not a readable CSV file: {err}") from err
