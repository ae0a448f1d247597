"""A team's documented override (``data/raw/overrides.csv``) wins and is shown as an
override (DESIGN.md, "Risk and tiers")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.contract import OVERRIDES
from pipeline.errors import InputError
from pipeline.rules import reasons

OVERRIDE_COLUMNS = OVERRIDES.required
SUBJECTS = ["reading", "math", "behavior"]


class OverrideError(InputError):
    """``overrides.csv`` holds a row that cannot be applied; the message names row and value."""


def validate_overrides(frame: pd.DataFrame, file: str, students: pd.DataFrame) -> pd.DataFrame:
    """Type ``overrides.csv`` (read as text); raise :class:`OverrideError` naming the row.

    Columns: student_id, subject (reading | math | behavior), tier (1-3), reason,
    decided_by, date (ISO). Row numbers are as a spreadsheet shows them (header = 1).
    """
    missing = [c for c in OVERRIDE_COLUMNS if c not in frame.columns]
    if missing:
        raise OverrideError(file, f"missing column(s) {', '.join(missing)}")
    out = frame[list(OVERRIDE_COLUMNS)].copy()
    for column in OVERRIDE_COLUMNS:
        out[column] = out[column].astype("string").str.strip()
    rows = pd.Series(np.arange(len(out)) + 2, index=out.index)

    def fail(bad: pd.Series, column: str, why: str) -> None:
        if bad.any():
            first = bad.to_numpy().argmax()
            value = out[column].iloc[first]
            raise OverrideError(file, why, column, int(rows.iloc[first]), value)

    for column in ("student_id", "reason", "decided_by"):
        fail(out[column].isna() | out[column].eq(""), column, "is blank (required)")
    fail(~out["subject"].isin(SUBJECTS), "subject", "is not a subject (reading, math, behavior)")
    tier = pd.to_numeric(out["tier"], errors="coerce")
    fail(~tier.isin([1, 2, 3]), "tier", "is not a tier (1, 2 or 3)")
    date = pd.to_datetime(out["date"], errors="coerce", format="%Y-%m-%d")
    fail(date.isna(), "date", "is not an ISO date such as 2025-10-02")
    # Look the few override ids up in the roster, not the roster up in the overrides
    # (Series.isin against a million ids takes seconds).
    roster = students["student_id"]
    on_roster = roster[roster.isin(out["student_id"].dropna().unique())].unique()
    fail(~out["student_id"].isin(on_roster), "student_id", "is not on the roster")
    return out.assign(tier=tier.astype("Int64"), date=date.dt.date.astype(str))


def apply_overrides(
    tiers: pd.DataFrame, overrides: pd.DataFrame | None, students: pd.DataFrame
) -> pd.DataFrame:
    """A team's documented override wins: its tier, ``rule_id = "override"`` and its reason.

    The computed tier stays in ``computed_tier`` and is quoted in the reason. An override
    for a student x subject without a screening adds a row. The latest override of a
    student x subject counts.
    """
    out = tiers.assign(
        override=False, computed_tier=tiers["tier"], decided_by=None, decided_on=None
    )
    if overrides is None or overrides.empty:
        return out
    latest = (
        overrides.sort_values(["student_id", "subject", "date"])
        .drop_duplicates(["student_id", "subject"], keep="last")
        .set_index(["student_id", "subject"])
    )
    key, hit_keys, hit = _override_hits(out, latest.index)
    missing = latest.index.difference(key)
    if len(missing):
        extra = (
            pd.DataFrame(list(missing), columns=["student_id", "subject"])
            .merge(students[["student_id", "school_id", "grade"]], on="student_id")
            .assign(reason=reasons.NO_SCREENING, measures_used="")
        )
        out = pd.concat([out, extra.assign(override=False)], ignore_index=True)
        key, hit_keys, hit = _override_hits(out, latest.index)
    chosen = latest.reindex(hit_keys)
    out.loc[hit, "reason"] = [
        reasons.override(by, on, why, computed, computed_reason)
        for by, on, why, computed, computed_reason in zip(
            chosen["decided_by"],
            chosen["date"].astype(str),
            chosen["reason"],
            out.loc[hit, "tier"].astype("string"),
            out.loc[hit, "reason"].fillna(""),
            strict=True,
        )
    ]
    out.loc[hit, "tier"] = chosen["tier"].astype("Int64").to_numpy()
    out.loc[hit, "rule_id"] = "override"
    out.loc[hit, "override"] = True
    out.loc[hit, "decided_by"] = chosen["decided_by"].to_numpy()
    out.loc[hit, "decided_on"] = chosen["date"].astype(str).to_numpy()
    return out


def _override_hits(
    frame: pd.DataFrame, overridden: pd.MultiIndex
) -> tuple[pd.MultiIndex, pd.MultiIndex, np.ndarray]:
    """The (student_id, subject) keys of the rows of ``frame`` whose student has an
    override, the keys of the rows with one (in row order) and a mask of those rows.

    Only the few overridden students' rows are indexed, not every row.
    """
    ids = overridden.get_level_values("student_id").unique()
    rows = np.flatnonzero(fast.isin_text(frame["student_id"], ids))
    candidates = pd.MultiIndex.from_frame(frame[["student_id", "subject"]].take(rows))
    found = candidates.isin(overridden)
    hit = np.zeros(len(frame), dtype=bool)
    hit[rows[found]] = True
    return candidates, candidates[found], hit
