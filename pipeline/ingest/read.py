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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline import fast
from pipeline.errors import InputError
from pipeline.ingest.profiles import normalise_header
from pipeline.ingest.sniff import (
    HEADER_SEARCH_ROWS,
    Layout,
    decode,
    detect_encoding,
    find_layout,
    first_rows,
    fits_signature,
)

MISSING_VALUES = ["", "N/A", "N/A*", "NA", "--", "n/a", "null", "NULL", "#N/A"]
HEAD_BYTES = 1 << 16
BLOCK_BYTES = 1 << 24  # Arrow reads a CSV in blocks of this size, parsed in parallel


def _header_from_text(text: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except (StopIteration, csv.Error):
        return []


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
    for column in [c for c in frame.columns if c != "source_row"]:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = _tidy_categories(frame[column], tokens)
            continue
        text = frame[column].astype("str").str.strip()
        frame[column] = text.where(~text.isin(tokens), None)
    if "source_row" not in frame:
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
    encoded = {name: fast.dictionary_encode(table.column(name)) for name in plain}
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


@dataclass
class TextTable:
    """A file's text: the cells (``frame``, with ``source_row``), the rows that cannot be
    read as rows of the header's columns (``rejected``: source_row, value, reason) and
    how the file was laid out."""

    frame: pd.DataFrame
    rejected: pd.DataFrame
    layout: Layout | None = None


def no_rejected_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_row": pd.Series([], dtype="int64"),
            "value": pd.Series([], dtype="str"),
            "reason": pd.Series([], dtype="str"),
        }
    )


def _unique_names(header: list[str]) -> list[str]:
    """Header names as pandas makes them: blanks 'Unnamed: k', repeats 'name.1'."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    for k, raw in enumerate(header):
        name = raw.strip() or f"Unnamed: {k}"
        if seen[name]:
            name = f"{name}.{seen[name]}"
        seen[raw.strip() or f"Unnamed: {k}"] += 1
        names.append(name)
    return names


def _rows_as_table(rows: list[list[str]], layout: Layout, path: Path) -> TextTable:
    """Rows split by the csv module: the header's columns, each row numbered as a
    spreadsheet shows it; a row with more non-empty fields than the header is rejected
    with its number (the others are read), a shorter row is filled with missing cells."""
    if len(rows) <= layout.header_index:
        raise InputError(path, "the file is empty (no header row)")
    header = _unique_names(rows[layout.header_index])
    width = len(header)
    body, numbers, rejected = [], [], []
    for number, row in enumerate(rows[layout.header_index + 1 :], start=layout.header_index + 2):
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            rejected.append(
                {
                    "source_row": number,
                    "value": layout.delimiter.join(row)[:200],
                    "reason": f"row {number} has {len(row)} fields where the header has {width}",
                }
            )
            continue
        body.append(row[:width] + [""] * (width - len(row)))
        numbers.append(number)
    columns = list(zip(*body, strict=True)) if body else [()] * width
    frame = pd.DataFrame(
        {name: pd.Series(values, dtype="str") for name, values in zip(header, columns, strict=True)}
    )
    frame["source_row"] = np.asarray(numbers, dtype="int64")
    out = pd.DataFrame(rejected) if rejected else no_rejected_rows()
    return TextTable(frame, out.astype({"source_row": "int64"}), layout)


def _split_text(path: Path, text: str, layout: Layout) -> list[list[str]]:
    lines = io.StringIO(text.lstrip("\ufeff"), newline="")  # a lone \r ends a line too
    reader = csv.reader(lines, delimiter=layout.delimiter)
    try:
        return list(reader)
    except csv.Error as err:
        raise InputError(
            path, f"not a readable CSV file near line {reader.line_num}: {err}", row=None
        ) from err


def _read_csv_rows(path: Path, layout: Layout) -> TextTable:
    """Any layout, read by the csv module from the decoded text (the slower, exact path)."""
    data = path.read_bytes()
    encoding = layout.encoding
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        if not encoding.startswith("utf-8"):
            text = decode(path, data, encoding)  # raises, naming the byte
        encoding = "cp1252"  # the first bytes were UTF-8, the rest is not
        text = decode(path, data, encoding)
    layout = Layout(encoding, layout.delimiter, layout.header_index)
    return _rows_as_table(_split_text(path, text, layout), layout, path)


def read_text_table(path: Path | str) -> pd.DataFrame:
    """Every cell of a CSV or XLSX file as text (NA when missing), with ``source_row``."""
    return read_export(path).frame


def read_export(path: Path | str, signatures: Iterable[frozenset[str]] = ()) -> TextTable:
    """A CSV or XLSX file as text; ``signatures`` (each profile's header columns,
    normalised) find a header below title lines."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        table = _read_xlsx(path, list(signatures))
    else:
        table = _read_csv(path, list(signatures))
    table.frame = _tidy(table.frame)
    return table


def _read_xlsx(path: Path, signatures: list[frozenset[str]]) -> TextTable:
    try:
        cells = pd.read_excel(
            path,
            dtype=str,
            engine="openpyxl",
            header=None,
            keep_default_na=False,
            na_values=MISSING_VALUES,
        )
    except Exception as err:  # noqa: BLE001 - any unreadable workbook is a stop
        raise InputError(path, f"not a readable .xlsx workbook ({err})") from err
    if cells.empty:
        raise InputError(path, "the file is empty (no header row)")
    top = [[str(c) for c in row if pd.notna(c)] for row in cells.head(HEADER_SEARCH_ROWS).values]
    fits = [k for k, row in enumerate(top) if fits_signature(row, signatures, normalise_header)]
    start = fits[0] if fits else 0
    header = _unique_names(["" if pd.isna(c) else str(c) for c in cells.iloc[start]])
    frame = cells.iloc[start + 1 :].reset_index(drop=True)
    frame.columns = header
    # A number cell read as text ends in ".0"; the export had an integer there.
    frame = frame.apply(lambda s: s.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True))
    frame["source_row"] = np.arange(start + 2, start + 2 + len(frame), dtype="int64")
    return TextTable(frame, no_rejected_rows(), Layout("xlsx", ",", start))


def sniff_layout(path: Path, signatures: Iterable[frozenset[str]] = ()) -> Layout:
    """The encoding, delimiter and header row of a text file (see :mod:`sniff`)."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head.lstrip(b"\xef\xbb\xbf").strip():
        raise InputError(path, "the file is empty (no header row)")
    encoding = detect_encoding(path, head)
    text = head.decode(encoding, errors="replace")
    if not text.lstrip("\ufeff").strip():
        raise InputError(path, "the file is empty (no header row)")
    return find_layout(text, encoding, signatures, normalise_header)


def _read_csv(path: Path, signatures: list[frozenset[str]]) -> TextTable:
    """Arrow's fast reader for a comma-separated UTF-8 or Windows-1252 file with a clean
    header on its first line; the csv module's reader for any other layout, or when
    Arrow refuses the file (a ragged row, a quote never closed)."""
    layout = sniff_layout(path, signatures)
    if layout.plain and layout.encoding in ("utf-8", "utf-8-sig", "cp1252"):
        with path.open("rb") as handle:
            text = handle.read(HEAD_BYTES).decode(layout.encoding, errors="replace")
        header = [h.strip() for h in _header_from_text(text)]
        clean_header = all(h and not h.startswith("Unnamed") for h in header) and len(
            set(header)
        ) == len(header)
        if clean_header:
            arrow = "cp1252" if layout.encoding == "cp1252" else "utf8"
            try:
                frame = _read_csv_fast(path, header, arrow, text)
                return TextTable(frame, no_rejected_rows(), layout)
            except (pa.ArrowInvalid, UnicodeDecodeError):
                pass  # read again, row by row
    return _read_csv_rows(path, layout)


def read_header(path: Path | str, signatures: Iterable[frozenset[str]] = ()) -> list[str]:
    """The column names of a file, without reading its rows."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return [c for c in _read_xlsx(path, list(signatures)).frame.columns if c != "source_row"]
    layout = sniff_layout(path, signatures)
    with path.open("rb") as handle:
        text = handle.read(HEAD_BYTES).decode(layout.encoding, errors="replace")
    rows = first_rows(text.lstrip("\ufeff"), layout.delimiter, layout.header_index + 1)
    return [h.strip() for h in rows[layout.header_index]] if rows else []
