"""Shared fixtures: a small synthetic district, generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.synth import SynthSpec, write_district

from .untouched import checkout_changes, snapshot_checkout

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared/data/ beside the checkout; $TIERWISE_SHARED_DATA for a checkout elsewhere.
SHARED_DATA = Path(os.environ.get("TIERWISE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# Vendor-export fixtures (attribution in their README) and the shipped layout profiles.
VENDOR = Path(__file__).resolve().parent / "fixtures" / "vendor"
PROFILES = REPO_ROOT / "config" / "profiles"


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched():
    """Every test writes only under its temporary directory: the checkout's reports/ and
    data/ (a user's real reports and data) are the same after the session as before it;
    otherwise the session ends with an error naming what changed."""
    before = snapshot_checkout(REPO_ROOT)
    yield
    changed = checkout_changes(before, snapshot_checkout(REPO_ROOT))
    assert not changed, "the tests wrote into the checkout:\n" + "\n".join(changed[:20])


@pytest.fixture(scope="session")
def config():
    return load_config(REPO_ROOT / "config")


@pytest.fixture(scope="session")
def small_district(tmp_path_factory) -> Path:
    """Raw files of a 3-school district with 20 students per grade (seed 7)."""
    raw = tmp_path_factory.mktemp("district") / "raw"
    write_district(SynthSpec(schools=3, students_per_grade=20, seed=7), raw)
    return raw


def shared_data(*parts: str) -> Path:
    """A file under ../shared/data/, or skip the test with a clear message."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (tests that need it skip)")
    return path


HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_PROGRAM = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def rendered_district(tmp_path_factory) -> Path:
    """The small district, with data defects and hostile strings in it (the last name of
    every school-001 grade-1 student, a program name), ingested, processed and rendered
    in full: every school's specialist and principal report, the district report and
    the index pages. Returns the run folder (raw/, processed/, reports/)."""
    import pandas as pd

    from pipeline.cli import main

    out = tmp_path_factory.mktemp("rendered")
    raw = out / "raw"
    # The small district again, with planted data defects, so the district report has
    # quarantined rows (whose reasons quote student ids) to show.
    write_district(SynthSpec(schools=3, students_per_grade=20, seed=7, defect_rate=0.02), raw)
    students = pd.read_csv(raw / "students.csv", dtype=str, keep_default_na=False)
    hostile = (students["school_id"] == "001") & (students["grade"] == "1")
    students.loc[hostile, "last_name"] = HOSTILE_NAME
    students.to_csv(raw / "students.csv", index=False)
    interventions = pd.read_csv(raw / "interventions.csv", dtype=str, keep_default_na=False)
    first = sorted(interventions["program"].unique())[0]
    interventions["program"] = interventions["program"].replace(first, HOSTILE_PROGRAM)
    interventions.to_csv(raw / "interventions.csv", index=False)
    locations = ["--raw", str(raw), "--processed", str(out / "processed")]
    locations += ["--reports", str(out / "reports"), "--config", str(REPO_ROOT / "config")]
    assert main(["ingest", *locations]) == 0
    assert main(["process", *locations]) == 0
    assert main(["render", *locations, "--workers", "2"]) == 0
    return out
