"""Read the raw inputs into the canonical tables.

This module reads the canonical CSV layout (``students.csv``, ``screenings.csv``,
``interventions.csv``, ``progress.csv``) and types every column. A value that cannot be
read stops with an :class:`IngestError` naming the file, the column, the row (as a
spreadsheet shows it: the header is row 1) and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.schema import CANONICAL, Table

MISSING_VALUES = ["", "N/A", "N/A*", "NA", "--", "n/a", "null", "NULL"]
GRADE_WORDS = {
    "PK": -1,
    "PRE-K": -1,
    "PREK": -1,
    "K": 0,
    "KG": 0,
    "KINDERGARTEN": 0,
    "ONE": 1,
    "TWO": 2,
    "THREE": 3,
    "FOUR": 4,
    "FIVE": 5,
    "SIX": 6,
    "SEVEN": 7,
    "EIGHT": 8,
    "NINE": 9,
    "TEN": 10,
    "ELEVEN": 11,
    "TWELVE": 12,
}
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}


class IngestError(Exception):
    """An input file cannot be read as its layout promises."""

    def __init__(
        self,
        file: Path | str,
        message: str,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ):
        self.file, self.column, self.row, self.value = str(file), column, row, value
        where = [self.file]
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        detail = f"{column} {value!r} {message}" if value is not None and column else message
        self.message = message
        super().__init__(f"{', '.join(where)}: {detail}")


@dataclass
class Term:
    school_year: str
    window: str


def parse_grade(value: object) -> int | None:
    """'K' -> 0, 'PK' -> -1, 'Two' -> 2, '3' -> 3, '03' -> 3; None when unreadable."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().upper().removeprefix("GRADE ").strip()
    if text in GRADE_WORDS:
        return GRADE_WORDS[text]
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _first_bad(file: Path, frame: pd.DataFrame, column: str, bad: pd.Series, why: str):
    position = int(np.flatnonzero(bad.to_numpy())[0])
    raise IngestError(
        file,
        why,
        column=column,
        row=int(frame["source_row"].iloc[position]),
        value=frame[column].iloc[position],
    )


def type_table(frame: pd.DataFrame, table: Table, file: Path) -> pd.DataFrame:
    """Type the columns of a canonical table read as strings; stop on the first bad value."""
    missing = [c for c in table.required if c not in frame.columns]
    if missing:
        raise IngestError(
            file, f"required column(s) missing: {', '.join(missing)}", column=missing[0]
        )
    out = frame.copy()
    for column in table.required:
        if column in table.optional:
            continue
        empty = out[column].isna()
        if empty.any():
            _first_bad(file, out, column, empty, "is empty but required")
    for column in table.integers:
        if column not in out:
            continue
        if column == "grade":
            parsed = out[column].map(parse_grade)
        else:
            parsed = pd.to_numeric(out[column], errors="coerce")
        bad = parsed.isna() & out[column].notna()
        if bad.any():
            _first_bad(file, out, column, bad, "is not a whole number")
        out[column] = pd.array(parsed, dtype="Int64")
    for column in table.numbers:
        if column not in out:
            continue
        parsed = pd.to_numeric(out[column], errors="coerce")
        bad = parsed.isna() & out[column].notna()
        if bad.any():
            _first_bad(file, out, column, bad, "is not a number")
        out[column] = parsed.astype("Float64")
    for column in table.dates:
        if column not in out:
            continue
        parsed = pd.to_datetime(out[column], errors="coerce", format="%Y-%m-%d")
        bad = parsed.isna() & out[column].notna()
        if bad.any():
            _first_bad(file, out, column, bad, "is not a date (expected YYYY-MM-DD)")
        out[column] = parsed.astype("datetime64[s]")
    for column in table.booleans:
        if column not in out:
            continue
        lowered = out[column].str.strip().str.lower()
        mapped = lowered.map(
            lambda v: True if v in TRUE_WORDS else False if v in FALSE_WORDS else None
        )
        bad = mapped.isna() & lowered.notna()
        if bad.any():
            _first_bad(file, out, column, bad, "is not yes/no")
        out[column] = pd.array(mapped, dtype="boolean")
    return out


def read_csv_as_text(path: Path) -> pd.DataFrame:
    """Read every column as text, keep leading zeros, record each row's line number."""
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=MISSING_VALUES,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError as err:
        raise IngestError(path, "the file is empty (no header row)") from err
    except UnicodeDecodeError:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=MISSING_VALUES, encoding="cp1252"
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    # The header is row 1, so the first data row is row 2, as a spreadsheet shows it.
    return frame.assign(source_file=path.name, source_row=np.arange(2, len(frame) + 2))


def read_canonical(raw_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Read the canonical CSV layout from ``raw_dir`` into typed canonical tables."""
    raw = Path(raw_dir)
    tables: dict[str, pd.DataFrame] = {}
    for name, table in CANONICAL.items():
        path = raw / f"{name}.csv"
        if not path.exists():
            if name in ("students", "screenings"):
                raise IngestError(path, f"not found: the {name} table is required")
            tables[name] = type_table(
                pd.DataFrame(columns=[*table.required, "source_file", "source_row"]), table, path
            )
            continue
        tables[name] = type_table(read_csv_as_text(path), table, path)
    return tables


def latest_term_in(screenings: pd.DataFrame) -> Term:
    """The latest school year present, and its latest window."""
    if screenings.empty:
        raise IngestError("screenings", "no screening rows: cannot tell which term to report")
    year = max(screenings["school_year"].dropna().unique())
    windows = set(screenings.loc[screenings["school_year"] == year, "window"])
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
    return {
        "students": tables["students"],
        "screenings": screenings[
            (screenings["school_year"] == term.school_year)
            & screenings["window"].isin(windows_so_far)
        ].reset_index(drop=True),
        "interventions": interventions[
            (interventions["start_date"] <= cutoff) & (interventions["start_date"] >= start)
        ].reset_index(drop=True),
        "progress": progress[
            (progress["date"] <= cutoff) & (progress["date"] >= start)
        ].reset_index(drop=True),
    }
