"""Shared fixtures: a small synthetic district, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.synth import SynthSpec, write_district

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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
