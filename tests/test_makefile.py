"""Incremental Make: what a re-run does after a given change (dry runs, `make -n -W`)."""

import os
import shutil
import subprocess
import time

import pytest

from .conftest import REPO_ROOT

NOTEBOOKS = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def built(tmp_path):
    """A term whose stamps are all newer than every input, as after a full run."""
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    raw.mkdir()
    (raw / "students.csv").write_text("student_id\n")
    stamps = processed / ".stamps"
    stamps.mkdir(parents=True)
    future = time.time() + 3600
    names = ["ingest-latest-latest", "process-latest-latest", "render-latest-latest"]
    for offset, name in enumerate(names):
        (stamps / name).touch()
        os.utime(stamps / name, (future + offset, future + offset))
    return raw, processed


def dry_run(built, *what_if):
    raw, processed = built
    flags = [arg for path in what_if for arg in ("-W", path)]
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "stages", f"RAW={raw}", f"PROCESSED={processed}",
         f"REPORTS={processed.parent / 'reports'}", *flags],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_nothing_changed_runs_nothing(built):
    assert "tierwise" not in dry_run(built)


def test_changed_notebook_rerenders_only_its_reports(built):
    commands = dry_run(built, "notebooks/specialist.ipynb")
    assert "--notebook specialist" in commands
    assert "tierwise ingest" not in commands and "tierwise process" not in commands
    for other in set(NOTEBOOKS) - {"specialist"}:
        assert f"--notebook {other}" not in commands


def test_changed_config_recomputes_everything(built):
    commands = dry_run(built, "config/district.yml")
    assert "tierwise ingest" in commands and "tierwise process" in commands
    assert "tierwise render" in commands and "--notebook" not in commands  # every report


def test_changed_raw_data_recomputes_everything(built):
    raw, _ = built
    commands = dry_run(built, str(raw / "students.csv"))
    assert "tierwise ingest" in commands and "tierwise process" in commands


def test_changed_statistics_code_skips_ingest(built):
    commands = dry_run(built, "pipeline/rules/tiers.py")
    assert "tierwise ingest" not in commands
    assert "tierwise process" in commands


def test_changed_report_code_rerenders_without_recomputing(built):
    # The reports only read processed tables: a changed view or figure re-renders.
    for path in ("pipeline/reports/principal.py", "pipeline/reports/specialist.py"):
        commands = dry_run(built, path)
        assert "tierwise ingest" not in commands and "tierwise process" not in commands
        assert "tierwise render" in commands and "--notebook" not in commands  # every report


def test_changed_district_statistics_recompute_the_district_context(built):
    # process.py precomputes district_context.parquet with pipeline.stats.district.
    commands = dry_run(built, "pipeline/stats/district.py")
    assert "tierwise ingest" not in commands
    assert "tierwise process" in commands and "tierwise render" in commands


def test_changed_template_rerenders_without_recomputing(built):
    commands = dry_run(built, "pipeline/reports/templates/tierwise/static/tierwise.css")
    assert "tierwise process" not in commands and "tierwise render" in commands
