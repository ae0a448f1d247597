"""Where processed tables live: ``<processed>/<school_year>/<window>/<table>.parquet``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import fast
from pipeline.config import WINDOW_ORDER
from pipeline.errors import InputError

# pyarrow's default row group length: a table written a group at a time is laid out in
# its file as DataFrame.to_parquet lays it out.
ROW_GROUP = 1024 * 1024


def term_dir(processed: Path | str, school_year: str, window: str) -> Path:
    return Path(processed) / school_year / window


def write_table(frame: pd.DataFrame, processed: Path | str, year: str, window: str, name: str):
    path = term_dir(processed, year, window) / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def write_canonical(
    frame: pd.DataFrame, processed: Path | str, year: str, window: str, name: str
) -> Path:
    """A canonical table whose text columns may be categorical (ingest keeps them so):
    the file :func:`write_table` writes of the frame with those columns as ``str``, the
    text decoded a row group at a time (a state's screenings hold gigabytes of it)."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not text or len(frame) <= ROW_GROUP:
        return write_table(fast.categorical_columns_as_str(frame), processed, year, window, name)

    def group(start: int) -> pa.Table:
        part = fast.categorical_columns_as_str(frame.iloc[start : start + ROW_GROUP])
        return pa.Table.from_pandas(part, preserve_index=False)

    path = term_dir(processed, year, window) / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(frame), ROW_GROUP)
    # The next group's text is decoded while this one is written (Arrow releases the GIL).
    with ThreadPoolExecutor(1, thread_name_prefix="decode") as ahead:
        following = ahead.submit(group, 0)
        with pq.ParquetWriter(path, following.result().schema, compression="snappy") as writer:
            for start in starts:
                current = following.result()
                if start + ROW_GROUP < len(frame):
                    following = ahead.submit(group, start + ROW_GROUP)
                writer.write_table(current)
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
