"""The suite leaves the checkout's reports/ and data/ alone, and the check would see it if
it did not (conftest's ``checkout_untouched`` compares snapshots around the session)."""

from __future__ import annotations

import os

from pipeline.cli import main

from .conftest import REPO_ROOT
from .untouched import PROTECTED, checkout_changes, snapshot_checkout


def _checkout(root):
    """A stand-in checkout with a user's earlier reports and data."""
    (root / "reports" / "2025-2026" / "spring" / "data-quality").mkdir(parents=True)
    (root / "reports" / "2025-2026" / "spring" / "data-quality" / "index.html").write_text("mine")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "students.csv").write_text("student_id\n001\n")
    return root


def test_the_session_check_is_on(request):
    assert "checkout_untouched" in request.fixturenames
    assert PROTECTED == ("reports", "data")


def test_a_write_a_rewrite_a_touch_and_a_removal_are_each_seen(tmp_path):
    checkout = _checkout(tmp_path)
    before = snapshot_checkout(checkout)
    assert checkout_changes(before, snapshot_checkout(checkout)) == []
    page = checkout / "reports" / "2025-2026" / "spring" / "data-quality" / "index.html"
    page.write_text("MINE")  # same size, other bytes, mtime restored
    os.utime(page, ns=(before["reports"]["2025-2026/spring/data-quality/index.html"][2],) * 2)
    (checkout / "data" / "processed").mkdir()
    (checkout / "data" / "raw" / "students.csv").unlink()
    changed = checkout_changes(before, snapshot_checkout(checkout))
    assert changed == [
        "reports/: changed: 2025-2026/spring/data-quality/index.html",
        "data/: added: processed/",
        "data/: removed: raw/students.csv",
    ]
    touched = snapshot_checkout(checkout)
    os.utime(checkout / "data" / "raw", ns=(1, 1))
    assert checkout_changes(touched, snapshot_checkout(checkout)) == []  # folders: by name
    (checkout / "data" / "processed" / "x").touch()
    assert checkout_changes(touched, snapshot_checkout(checkout)) == ["data/: added: processed/x"]


def test_ingest_without_reports_would_be_caught(tmp_path, monkeypatch):
    """The issue's case: `ingest` without --reports writes reports/<year>/<window>/
    data-quality/ of the folder it runs in; run in a stand-in checkout, the check sees it."""
    raw = tmp_path / "raw"
    args = ["--raw", str(raw), "--processed", str(tmp_path / "processed")]
    assert main(["demo-data", *args, "--schools", "1", "--students-per-grade", "4"]) == 0
    checkout = _checkout(tmp_path / "checkout")
    config = str(REPO_ROOT / "config")
    before = snapshot_checkout(checkout)
    monkeypatch.chdir(checkout)
    assert main(["ingest", *args, "--config", config]) == 0  # no --reports: the writing stub
    changed = checkout_changes(before, snapshot_checkout(checkout))
    assert any(line.startswith("reports/: ") and "data-quality" in line for line in changed)
