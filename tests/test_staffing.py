"""The principal's staffing figure: capacity from staff.csv, as the groups were formed."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.reports import data, principal

from .conftest import REPO_ROOT


@pytest.fixture(scope="module")
def processed_small(small_district, tmp_path_factory):
    """The small district (its staff.csv included) ingested and processed (spring)."""
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("staffing")
    args = ["--raw", str(small_district), "--processed", str(out / "processed")]
    args += ["--reports", str(out / "reports"), "--config", str(REPO_ROOT / "config")]
    assert main(["ingest", *args]) == 0
    assert main(["process", *args]) == 0
    return out / "processed"


def _staff_csv_slots(raw, school_id: str) -> int:
    """Group slots of a school computed from staff.csv alone: per person, max_groups, and
    at most one group per named slot."""
    staff = pd.read_csv(raw / "staff.csv", dtype=str)
    mine = staff[staff["school_id"] == school_id]
    slots = mine["slots"].fillna("").map(lambda s: len([x for x in s.split(";") if x]))
    groups = mine["max_groups"].astype(int)
    return int(sum(min(g, n) if n else g for g, n in zip(groups, slots, strict=True)))


def test_staffing_reads_the_capacity_of_staff_csv_and_stays_within_it(
    processed_small, small_district
):
    year, window = data.resolve_term(processed_small, "", "")
    term = data.load_term(processed_small, year, window, REPO_ROOT / "config")
    groups = term.table("groups")
    for school_id in sorted(term.students["school_id"].unique()):
        text = principal.staffing(term, school_id)["capacity"]
        slots = _staff_csv_slots(small_district, school_id)
        formed = int((groups["school_id"] == school_id).sum())
        assert text.startswith(f"{formed} of {slots} group slots (")
        assert "staff.csv" in text
        # Formed within capacity: never above 100 %.
        assert formed <= slots
        assert int(text.split("(")[1].split("%")[0]) <= 100


class _Term:
    def __init__(self, tables):
        self.tables = tables

    def table(self, name):
        return self.tables.get(name)


def test_capacity_not_known_says_so_and_hides_no_error():
    assert principal._capacity(_Term({}), "001") == "not available"
    empty = pd.DataFrame(
        {"school_id": ["002"], "group_capacity": [6], "groups": [2], "source": ["staff.csv"]}
    )
    assert principal._capacity(_Term({"staff_capacity": empty}), "001") == "not available"
    with pytest.raises(KeyError):  # a malformed table is an error, not "not available"
        principal._capacity(_Term({"staff_capacity": empty.drop(columns="groups")}), "002")
