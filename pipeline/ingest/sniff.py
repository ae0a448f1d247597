"""What kind of text a file holds, before any profile is matched: its encoding, its
delimiter and the line its header is on.

Exports arrive as Excel and the vendors' systems write them: UTF-8 with or without a
byte-order mark, Excel's "Unicode Text" (UTF-16 with a BOM, tab-separated), Windows-1252
("CSV" from an older Excel), semicolons where the decimal separator is a comma, pipes from
SIS extracts, and a title line or two above the header in vendor report exports. The
header is the first of the file's first lines in which some profile's signature columns
appear, read with one of the delimiters; a file no signature fits is read with the
delimiter that splits its first lines most consistently, so its "unknown layout" error
lists the columns it really has.

A file that is no text at all (a workbook or a binary file renamed ``.csv``) stops with an
:class:`InputError` saying what it looks like and what to do.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEADER_SEARCH_ROWS = 20  # the header is looked for among this many first rows
# Shares of control characters above this mean binary content, not text (tab, line
# breaks, form feed and the old DOS end-of-file mark \x1a are text).
CONTROL_SHARE = 0.01
TEXT_CONTROLS = "\t\n\r\f\v\x1a"
SIGNATURES_OF_BINARY = {
    b"PK\x03\x04": "an Excel workbook (.xlsx) or another zip archive saved under a text "
    "name: rename it to .xlsx, or save it from Excel as CSV",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls): open it in Excel and save it as "
    ".xlsx or CSV",
    b"%PDF": "a PDF document, not a data export: export the data as CSV",
}


@dataclass(frozen=True)
class Layout:
    """How a text file is laid out: Python codec, delimiter, header row (0-based)."""

    encoding: str
    delimiter: str = ","
    header_index: int = 0

    @property
    def plain(self) -> bool:
        """A comma-separated file with its header on the first line (the usual case)."""
        return self.delimiter == "," and self.header_index == 0

    def describe(self) -> str:
        where = f", header on row {self.header_index + 1}" if self.header_index else ""
        if self.encoding == "xlsx":
            return f"an Excel workbook{where}"
        return f"{DELIMITER_NAMES[self.delimiter]}-separated {self.encoding}{where}"


def _binary(path: Path, head: bytes) -> None:
    for magic, what in SIGNATURES_OF_BINARY.items():
        if head.startswith(magic):
            raise InputError(path, f"this is {what}")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise InputError(
            path,
            f"binary content, not text (a NUL byte at byte {nul}): export the data as CSV "
            "(UTF-8, or Excel's 'Unicode Text')",
        )


def detect_encoding(path: Path, head: bytes) -> str:
    """The Python codec of a file from its first bytes: ``utf-16`` (BOM), ``utf-8-sig``,
    ``utf-8`` or ``cp1252``; binary content raises :class:`InputError`."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    _binary(path, head)
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if err.start >= len(head) - 4:
            text = head[: err.start].decode(encoding)
        else:
            encoding = "cp1252"
            text = decode(path, head, encoding)
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in TEXT_CONTROLS)
    if text and controls > CONTROL_SHARE * len(text):
        raise InputError(
            path,
            f"binary content, not text ({controls} control characters in its first "
            f"{len(text)}): export the data as CSV",
        )
    return encoding


def decode(path: Path, data: bytes, encoding: str) -> str:
    """``data`` as text, or an :class:`InputError` naming the first byte that is not."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        byte = data[err.start : err.start + 1].hex()
        raise InputError(
            path,
            f"not text in {encoding} (byte 0x{byte} at byte {err.start}): save the file as "
            "CSV UTF-8, or as Excel's 'Unicode Text'",
        ) from err


def first_rows(text: str, delimiter: str, limit: int = HEADER_SEARCH_ROWS) -> list[list[str]]:
    """The first rows of ``text`` split with ``delimiter`` (fewer where the text is cut)."""
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def fits_signature(row: list[str], signatures: Iterable[frozenset[str]], normalise) -> bool:
    """Whether the names in ``row`` hold every column of some profile's signature."""
    names = {normalise(c) for c in row}
    return any(signature <= names for signature in signatures)


def _most_consistent(text: str) -> tuple[str, int]:
    """The delimiter splitting the first rows into the same number (>1) of fields most
    often, and the first row with that number (comma when none splits them)."""
    best = (0, ",", 0)
    for delimiter in DELIMITERS:
        rows = first_rows(text, delimiter)
        widths = [len(row) for row in rows if row]
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if width > 1 and count > best[0]:
            best = (count, delimiter, next(k for k, row in enumerate(rows) if len(row) == width))
    return best[1], best[2]


def find_layout(
    head_text: str, encoding: str, signatures: Iterable[frozenset[str]], normalise
) -> Layout:
    """Delimiter and header row: the earliest row in which a profile signature fits
    (``normalise``: how header names are compared), else the most consistent split."""
    signatures = list(signatures)
    text = head_text.lstrip("\ufeff")
    found: list[tuple[int, int, str]] = []
    for rank, delimiter in enumerate(DELIMITERS):
        for k, row in enumerate(first_rows(text, delimiter)):
            if len(row) > 1 and fits_signature(row, signatures, normalise):
                found.append((k, rank, delimiter))
                break
    if found:
        k, _, delimiter = min(found)
        return Layout(encoding, delimiter, k)
    if first_rows(text, ",", 1) and len(first_rows(text, ",", 1)[0]) > 1:
        return Layout(encoding, ",", 0)  # a comma header no profile knows: as it is
    delimiter, k = _most_consistent(text)
    return Layout(encoding, delimiter, k)
