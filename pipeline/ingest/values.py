"""Reading a field's values: raw text in, canonical values out, once per distinct text.

Exports repeat values (a million scores are a few hundred numbers) and a dictionary-
encoded column hands its distinct values over for free, so each distinct text is read
once and the result spread over the rows. A text that cannot be read is kept beside the
values (``bad``), so the quality stage can quarantine its row and show the value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import WINDOW_ORDER, DistrictConfig
from pipeline.contract import CANONICAL
from pipeline.ingest.dates import WindowSpans, spreadsheet_dates

GRADE_WORDS = {
    "PK": -1,
    "PRE-K": -1,
    "PREK": -1,
    "PRE-KINDERGARTEN": -1,
    "PREKINDERGARTEN": -1,
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
# Every profile understands these window labels; a profile's own `values.window` adds more.
DEFAULT_WINDOW_VALUES = {
    "fall": "fall",
    "winter": "winter",
    "spring": "spring",
    "boy": "fall",
    "moy": "winter",
    "eoy": "spring",
    "fall*": "fall",
    "winter*": "winter",
    "spring*": "spring",
    "autumn*": "fall",
}
SUBJECT_WORDS = {"behaviour": "behavior", "ela": "reading", "mathematics": "math"}
# ISO 8601 is tried last: what a spreadsheet's date cells become when read as text.
LAST_DATE_FORMAT = "ISO8601"

FieldKind = Literal["text", "grade", "number", "integer", "date", "boolean", "window", "year"]
Lookup = Callable[[str], tuple[bool, Any]]


# --------------------------------------------------------------------------- one value


def parse_grade(value: object) -> int | None:
    """'K' -> 0, 'PK' -> -1, 'Two' -> 2, '3' -> 3, '03' -> 3, 'Grade 4' -> 4; else None."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().upper().removeprefix("GRADE").strip()
    if text in GRADE_WORDS:
        return GRADE_WORDS[text]
    text = re.sub(r"(ST|ND|RD|TH)$", "", text)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def parse_boolean(value: object) -> bool | None:
    """'Yes', 'Y', 'true', '1' -> True; 'No', 'N', 'false', '0' -> False; else None."""
    low = str(value).strip().casefold()
    return True if low in TRUE_WORDS else False if low in FALSE_WORDS else None


def normalise_school_year(value: object) -> str | None:
    """'2025-2026', '2025-26', '2025/2026', 'Fall 2025-2026' -> '2025-2026'."""
    if value is None or value is pd.NA:
        return None
    match = re.search(r"(\d{4})\s*[-/–]\s*(\d{2}|\d{4})\b", str(value))
    if not match:
        return None
    first, second = int(match.group(1)), match.group(2)
    second_year = int(second) if len(second) == 4 else (first // 100) * 100 + int(second)
    return f"{first}-{second_year}" if second_year == first + 1 else None


def slugify(value: object) -> str | None:
    """'North Elementary' -> 'north-elementary' (ids from names)."""
    if value is None or value is pd.NA:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", str(value).casefold()).strip("-")
    return slug or None


def split_name(value: object, part: str) -> str | None:
    """'Last, First' or 'First Middle Last'; a single word is the first name."""
    if value is None or value is pd.NA:
        return None
    text = " ".join(str(value).split())
    if "," in text:
        last, first = (s.strip() for s in text.split(",", 1))
    elif " " in text:
        first, last = text.rsplit(" ", 1)
    else:
        first, last = text, ""
    chosen = first if part == "first" else last
    return chosen or None


def lookup(mapping: dict[str, Any]) -> Lookup:
    """A case-insensitive lookup with glob patterns ("Fall*") after exact keys: the
    function returns (found, value)."""
    exact = {str(k).strip().casefold(): v for k, v in mapping.items()}
    globs = [(k, v) for k, v in exact.items() if any(ch in k for ch in "*?[")]

    def find(text: str) -> tuple[bool, Any]:
        key = text.strip().casefold()
        if key in exact:
            return True, exact[key]
        for pattern, value in globs:
            if fnmatch.fnmatchcase(key, pattern):
                return True, value
        return False, None

    return find


# --------------------------------------------------------------------------- dates


def school_year_of(dates: pd.Series) -> pd.Series:
    """The school year a date falls in: August-December start one, January-July end one."""
    year = dates.dt.year
    first = year.where(dates.dt.month >= 8, year - 1)
    text = first.astype("Int64").astype("str") + "-" + (first + 1).astype("Int64").astype("str")
    return text.where(dates.notna(), None).astype("str")


def window_of(dates: pd.Series, school_years: pd.Series, config: DistrictConfig) -> pd.Series:
    """The configured window a date falls in (None outside every window)."""
    out = pd.Series(None, index=dates.index, dtype="str")
    for year in school_years.dropna().unique():
        in_year = school_years == year
        for window in WINDOW_ORDER:
            if window not in config.windows:
                continue
            try:
                start, end = config.window_dates(str(year), window)
            except ValueError:
                continue
            hit = (
                in_year & (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end)) & out.isna()
            )
            out[hit] = window
    return out


def parse_dates(
    text: pd.Series, formats: list[str], windows: WindowSpans | None = None
) -> pd.Series:
    """Dates (day precision) from distinct texts, trying each format on what is left,
    then the shapes spreadsheets write (:func:`spreadsheet_dates`)."""
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    for fmt in formats:
        todo = parsed.isna()
        if not todo.any():
            break
        if fmt.upper() == "ISO8601":
            attempt = pd.to_datetime(text[todo], errors="coerce", format="ISO8601", utc=True)
            attempt = attempt.dt.tz_localize(None)
        else:
            attempt = pd.to_datetime(text[todo], errors="coerce", format=fmt)
        parsed[todo] = attempt.dt.floor("D").astype("datetime64[s]")
    todo = parsed.isna() & text.notna()
    if todo.any():
        parsed[todo] = spreadsheet_dates(text[todo], windows).astype("datetime64[s]")
    return parsed


# --------------------------------------------------------------------------- tokens


def blank_tokens(raw: pd.Series, tokens: list[str]) -> pd.Series:
    """The raw text with the given tokens (case- and space-insensitive) as missing."""
    if not tokens:
        return raw
    folded = {str(t).strip().casefold() for t in tokens}
    hit = fast.on_uniques(raw, lambda v: str(v).strip().casefold() in folded).fillna(False)
    return raw.where(~hit.astype(bool), None)


def skip_reason(raw_values: list[pd.Series], tokens: dict[str, str]) -> pd.Series:
    """The reason of the first skip token found in a block's value cells (or None)."""
    reason = pd.Series(None, index=raw_values[0].index, dtype="str")
    if not tokens:
        return reason
    find = lookup(tokens)
    for raw in raw_values:
        found = fast.on_uniques(raw, lambda v: find(str(v))[1])
        reason = reason.fillna(found.astype("str"))
    return reason


# --------------------------------------------------------------------------- a field


def field_kind(name: str) -> FieldKind:
    """How a canonical field's text is read, from the contract's column types."""
    if name == "grade":
        return "grade"
    if name == "window":
        return "window"
    if name == "school_year":
        return "year"
    for table in CANONICAL.values():
        kind = table.kind(name)
        if kind != "text":
            return kind  # type: ignore[return-value]
    return "text"


@dataclass(frozen=True)
class Reading:
    """How one field's distinct texts are read: its name, value map and options."""

    name: str
    find: Lookup | None  # the profile's value map for the field (None: no map)
    date_formats: list[str]
    split_name: Literal["first", "last"] | None = None
    slug: bool = False
    clip: tuple[float, float] | None = None
    decimal: str = "."  # the profile's decimal separator
    windows: WindowSpans | None = None  # for dates with two readings

    def mapped(self, value: object, fallback: Callable[[object], object]) -> object:
        """The value map's translation of ``value``, else ``fallback(value)``."""
        if self.find is not None:
            hit, out = self.find(str(value))
            if hit:
                return out
        return fallback(value)

    def each(self, text: pd.Series, fallback: Callable[[object], object]) -> pd.Series:
        """:meth:`mapped` of every text."""
        return fast.on_uniques(text, lambda v: self.mapped(v, fallback))


def _same(value: object) -> object:
    return value


def _grades(text: pd.Series, how: Reading) -> pd.Series:
    values = how.each(text, parse_grade)
    return pd.Series(pd.array(pd.to_numeric(values, errors="coerce"), dtype="Int64"))


# Percentiles vendors write above 99 and below 1; read as the 99 and 1 they stand for.
PERCENTILE_BOUNDS = {"99+": "99", ">99": "99", "<1": "1"}
DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
THOUSANDS_LIKE = re.compile(r"^\s*-?\d{1,3},\d{3}\s*$")


def decimal_commas(text: pd.Series, decimal: str) -> pd.Series:
    """ "12,5" as "12.5" where the profile's decimal separator is a comma, or where no value
    of the column with a comma could be a thousands separator ("1,250" could be either:
    then the column is left as it is, and such values are quarantined as unreadable)."""
    commas = text.str.match(DECIMAL_COMMA).fillna(False).astype(bool)
    if not commas.any():
        return text
    if decimal != "," and text[commas].str.match(THOUSANDS_LIKE).any():
        return text
    return text.where(~commas, text.str.replace(",", ".", regex=False))


def _numbers(text: pd.Series, how: Reading, integer: bool = False) -> pd.Series:
    text = text if how.find is None else how.each(text, _same)
    if how.name == "percentile":
        bounds = text.astype("str").str.replace(" ", "", regex=False).map(PERCENTILE_BOUNDS)
        text = text.where(bounds.isna(), bounds)
    text = decimal_commas(text.astype("str"), how.decimal)
    values = pd.to_numeric(text, errors="coerce")
    if how.clip is not None:
        values = values.clip(*how.clip)
    if not integer:
        return values.astype("Float64")
    whole = values.where(values.isna() | (values == np.floor(values)))
    return pd.Series(pd.array(whole, dtype="Int64"))


def _booleans(text: pd.Series, how: Reading) -> pd.Series:
    return pd.Series(pd.array(how.each(text, parse_boolean), dtype="boolean"))


def _windows(text: pd.Series, how: Reading) -> pd.Series:
    values = how.each(text, lambda _: None)
    return values.where(values.isin(WINDOW_ORDER), None).astype("str")


def _years(text: pd.Series, how: Reading) -> pd.Series:
    values = fast.on_uniques(text, lambda v: normalise_school_year(how.mapped(v, _same)))
    return values.astype("str")


def _texts(text: pd.Series, how: Reading) -> pd.Series:
    values = text
    if how.split_name is not None:
        values = fast.on_uniques(values, lambda v: split_name(v, how.split_name))
    if how.find is not None:
        values = how.each(values, _same)
    if how.slug:
        values = fast.on_uniques(values, slugify)
    if how.name == "subject":
        values = fast.on_uniques(
            values, lambda v: SUBJECT_WORDS.get(str(v).casefold(), str(v).casefold())
        )
    return values.astype("str")


READERS: dict[FieldKind, Callable[[pd.Series, Reading], pd.Series]] = {
    "date": lambda text, how: parse_dates(text, how.date_formats, how.windows),
    "grade": _grades,
    "number": _numbers,
    "integer": lambda text, how: _numbers(text, how, integer=True),
    "boolean": _booleans,
    "window": _windows,
    "year": _years,
    "text": _texts,
}


def read_values(raw: pd.Series, kind: FieldKind, how: Reading) -> tuple[pd.Series, pd.Series]:
    """Canonical values from raw text (per row), and the raw text where it could not be
    read (NA elsewhere; always NA for text, which is never unreadable)."""
    codes, uniques = fast.distinct_codes(raw)
    text = pd.Series(uniques, dtype="str")  # the distinct texts (none missing)
    values = pd.Series(READERS[kind](text, how), index=text.index)
    index = raw.index
    if kind in ("text", "window", "year"):
        out = fast.categorical_text(codes, values, index)
    else:
        out = pd.Series(values.array.take(codes, allow_fill=True), index=index)
    if kind == "text":
        # A name split or a map may leave text empty: that is no unreadable value.
        return out, fast.constant_text(None, index)
    unreadable = text.notna() & values.isna()
    return out, fast.categorical_text(codes, text.where(unreadable, None), index)
