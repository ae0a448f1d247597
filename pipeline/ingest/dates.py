"""Dates as spreadsheets write them, read only where they are unambiguous.

A US spreadsheet writes 9/12/2025, Excel a serial day number (45912) where a date cell
lost its format. A numeric date whose day is 12 or less has two readings (month first,
day first); it is read the way the column shows (some other value has a day above 12 in
one position only), else the one way that falls in a configured screening window, else
not at all: its quarantine reason then names both readings (:func:`ambiguous_note`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from pipeline.config import DistrictConfig

# Day-month-year or month-day-year with slashes, dots or dashes: 9/12/2025, 09.12.2025.
NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
# Excel's serial day numbers from 1954-10-03 (20000) to 2119-01-10 (80000).
EXCEL_SERIAL = re.compile(r"^\s*(\d{5})(?:\.0+)?\s*$")
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
SERIAL_RANGE = (20000, 80000)


@dataclass(frozen=True)
class WindowSpans:
    """The configured screening windows as (month, day) spans (any year), so that a date
    with two readings can be read the one way that falls in a window."""

    spans: tuple[tuple[tuple[int, int], tuple[int, int]], ...]

    @classmethod
    def of(cls, config: DistrictConfig) -> WindowSpans:
        spans = []
        for window in config.windows.values():
            start, end = window.dates("2025-2026")
            spans.append(((start.month, start.day), (end.month, end.day)))
        return cls(tuple(spans))

    def contains(self, date: dt.date) -> bool:
        day = (date.month, date.day)
        return any(
            (start <= day <= end) if start <= end else (day >= start or day <= end)
            for start, end in self.spans
        )


def _calendar(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def date_readings(text: str) -> list[dt.date]:
    """The calendar dates a numeric date could be: month/day first (US) and day/month
    first; one reading when the other is no date or both are the same."""
    match = NUMERIC_DATE.match(str(text))
    if not match:
        return []
    a, b, year = (int(g) for g in match.groups())
    readings = [_calendar(year, a, b), _calendar(year, b, a)]
    return list(dict.fromkeys(d for d in readings if d is not None))


def _column_order(texts: pd.Series) -> str | None:
    """ "mdy" or "dmy" when the column's dates show only one order (a day above 12 in one
    position only), else None."""
    orders = set()
    for text in texts:
        match = NUMERIC_DATE.match(str(text))
        if match:
            a, b = int(match.group(1)), int(match.group(2))
            if a > 12 >= b:
                orders.add("dmy")
            elif b > 12 >= a:
                orders.add("mdy")
    return orders.pop() if len(orders) == 1 else None


def _one_date(text: str, order: str | None, windows: WindowSpans | None) -> dt.date | None:
    serial = EXCEL_SERIAL.match(str(text))
    if serial:
        number = int(serial.group(1))
        if SERIAL_RANGE[0] <= number <= SERIAL_RANGE[1]:
            return (EXCEL_EPOCH + pd.Timedelta(days=number)).date()
        return None
    readings = date_readings(text)
    if len(readings) > 1 and order is not None:
        match = NUMERIC_DATE.match(str(text))
        a, b, year = (int(g) for g in match.groups())  # type: ignore[union-attr]
        return _calendar(year, a, b) if order == "mdy" else _calendar(year, b, a)
    if len(readings) > 1 and windows is not None:
        readings = [d for d in readings if windows.contains(d)]
    return readings[0] if len(readings) == 1 else None


def spreadsheet_dates(texts: pd.Series, windows: WindowSpans | None = None) -> pd.Series:
    """Dates as spreadsheets write them: Excel serial numbers (45912 is 2025-09-12) and
    numeric dates read the one way they can be: the order the column shows (some day above
    12), else the one reading that falls in a screening window. Two readings left: NaT
    (the quarantine reason names both, :func:`ambiguous_note`)."""
    order = _column_order(texts)
    values = [_one_date(t, order, windows) for t in texts]
    return pd.Series(pd.to_datetime(values), index=texts.index)


def ambiguous_note(text: object) -> str:
    """' (2026-01-02 or 2026-02-01?)' for a numeric date with two readings, else ''."""
    readings = date_readings(str(text))
    if len(readings) < 2:
        return ""
    first, second = (d.isoformat() for d in readings)
    return f" (month first {first}, or day first {second}?)"
