"""The ledger: per input file, records = accepted + quarantined + skipped.

The ledger is checked when it is built (a mismatch, or a data row found nowhere,
raises), and more than ``quality.quarantine_ceiling`` of a file's records quarantined
stops the run: a wrong profile is likelier than that many bad rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.errors import InputError
from pipeline.ingest.mapping import MappedFile

LEDGER_COLUMNS = [
    "source_file",
    "profile",
    "table",
    "data_rows",
    "records",
    "accepted",
    "quarantined",
    "skipped",
    "quarantined_by_rule",
    "skipped_by_reason",
]


def _counts(series: pd.Series) -> str:
    counts = series.value_counts()
    return "; ".join(f"{k}: {v}" for k, v in counts.items())


def build_ledger(
    mapped: list[MappedFile],
    roster: pd.DataFrame,
    derived_skips: list[dict],
    quarantine: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    record_counts: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Per input file and table: records = accepted + quarantined + skipped (checked).
    ``record_counts``: each file's number of mapped records, when ``mapped`` no longer
    holds them."""
    lines = []
    accepted_counts = {
        # value_counts hashes the Arrow strings once; a groupby costs twice that at 1M.
        t: frame["source_file"].value_counts(sort=False)
        for t, frame in tables.items()
        if not frame.empty
    }
    for m in mapped:
        rejected = 0 if m.rejected is None else len(m.rejected)  # ragged rows
        n_main = record_counts[m.file] if record_counts is not None else len(m.records) + rejected
        feeds = [(m.profile.table, n_main, m.skipped)]
        if m.students is not None and m.profile.table != "students":
            extra = [d for d in derived_skips if d["file"] == m.file]
            skips = pd.DataFrame(
                {
                    "source_row": np.concatenate([d["rows"] for d in extra]) if extra else [],
                    "reason": np.concatenate([d["reasons"] for d in extra]) if extra else [],
                }
            )
            feeds.append(("students", len(m.students), skips))
        for table, n_records, skips in feeds:
            q = quarantine[(quarantine["source_file"] == m.file) & (quarantine["table"] == table)]
            acc = int(accepted_counts.get(table, pd.Series(dtype="int64")).get(m.file, 0))
            main = table == m.profile.table
            line = {
                "source_file": m.file,
                "profile": m.profile.name,
                "table": table,
                "data_rows": m.data_rows if main else n_records,
                # Main table: facts read plus candidate facts skipped; a vendor file's
                # roster lines: one per distinct student (some skipped as already known).
                "records": n_records + len(skips) if main else n_records,
                "accepted": acc,
                "quarantined": len(q),
                "skipped": len(skips),
                "quarantined_by_rule": _counts(q["rule"]),
                "skipped_by_reason": _counts(skips["reason"]) if len(skips) else "",
            }
            lines.append(line)
    ledger = pd.DataFrame(lines, columns=LEDGER_COLUMNS)
    reconcile(ledger, mapped, quarantine, tables)
    return ledger


def reconcile(
    ledger: pd.DataFrame,
    mapped: list[MappedFile],
    quarantine: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
) -> None:
    """Raise unless every record is accepted, quarantined or skipped, and every data row
    of every file appears at least once."""
    total = ledger["accepted"] + ledger["quarantined"] + ledger["skipped"]
    bad = ledger[total != ledger["records"]]
    if not bad.empty:
        first = bad.iloc[0]
        raise InputError(
            first["source_file"],
            f"ledger does not reconcile for {first['table']}: {first['records']} records read, "
            f"{first['accepted']} accepted + {first['quarantined']} quarantined + "
            f"{first['skipped']} skipped",
        )
    for m in mapped:
        table = tables[m.profile.table]
        q = quarantine[
            (quarantine["source_file"] == m.file) & (quarantine["table"] == m.profile.table)
        ]
        seen = np.concatenate(
            [
                m.skipped["source_row"].to_numpy(dtype="int64"),
                table.loc[table["source_file"] == m.file, "source_row"].to_numpy(dtype="int64"),
                q["source_row"].to_numpy(dtype="int64"),
            ]
        )
        rows = np.asarray(m.source_rows, dtype="int64")
        # A mask over row numbers, O(n): np.setdiff1d sorts and took seconds per file.
        found = np.zeros(int(max(rows.max(initial=0), seen.max(initial=0))) + 1, dtype=bool)
        found[seen[seen >= 0]] = True
        lost = rows[~found[rows]] if rows.size else rows
        if lost.size:
            raise InputError(m.file, f"rows not accounted for in the ledger: {lost[:10].tolist()}")


def check_ceiling(
    ledger: pd.DataFrame, config: DistrictConfig, quarantine: pd.DataFrame | None = None
) -> None:
    """Stop when a file's quarantine share is above the ceiling (a wrong profile?); the
    message quotes the file's first quarantine reason (with its hint) when given."""
    q = config.quality
    for line in ledger.itertuples(index=False):
        checked = line.accepted + line.quarantined
        if line.quarantined == 0 or checked == 0:
            continue
        share = line.quarantined / checked
        every = line.accepted == 0
        if (share > q.quarantine_ceiling and checked >= q.ceiling_min_records) or every:
            example = _first_reason(quarantine, line.source_file, line.table)
            raise InputError(
                line.source_file,
                f"{line.quarantined} of {checked} {line.table} records "
                f"({share:.0%}) break data-quality rules, above the "
                f"{q.quarantine_ceiling:.0%} ceiling (quality.quarantine_ceiling); "
                f"reasons: {line.quarantined_by_rule}. Is profile '{line.profile}' "
                "the right layout for this file? The quarantine was written for review." + example,
            )


def _first_reason(quarantine: pd.DataFrame | None, file: str, table: str) -> str:
    if quarantine is None:
        return ""
    lines = quarantine[(quarantine["source_file"] == file) & (quarantine["table"] == table)]
    if lines.empty:
        return ""
    first = lines.iloc[0]
    return f" First, row {first['source_row']}: {first['reason']}"
