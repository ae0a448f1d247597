"""Where processed tables live: ``<processed>/<school_year>/<window>/<table>.parquet``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.config import WINDOW_ORDER
from pipeline.errors import InputError


def term_dir(processed: Path | str, school_year: str, window: str) -> Path:
    return Path(processed) / school_year / window


def write_table(frame: pd.DataFrame, processed: Path | str, year: str, window: str, name: str):
    path = term_dir(processed, year, window) / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def read_table(
    processed: Path | str, year: str, window: str, name: str, columns: list[str] | None = None
) -> pd.DataFrame:
    return pd.read_parquet(term_dir(processed, year, window) / f"{name}.parquet", columns=columns)


def read_optional(processed: Path | str, year: str, window: str, name: str) -> pd.DataFrame | None:
    """A processed table that a term may not have (the ledger of an older run): None
    when it is absent."""
    path = term_dir(processed, year, window) / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def processed_terms(processed: Path | str) -> list[tuple[str, str]]:
    """Terms with processed data, oldest first."""
    root = Path(processed)
    terms = [
        (year.name, window)
        for year in sorted(root.glob("*-*"))
        if year.is_dir()
        for window in WINDOW_ORDER
        if (year / window / "students.parquet").exists()
    ]
    return terms


def latest_term(processed: Path | str) -> tuple[str, str]:
    terms = processed_terms(processed)
    if not terms:
        raise InputError(processed, "no processed term found; run `tierwise ingest` first")
    return terms[-1]
