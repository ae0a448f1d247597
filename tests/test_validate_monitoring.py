"""`tierwise validate --suite monitoring`: the figures by brute force on a small table, and
the command on the rendered small district against its planted truth."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.stats.validate_monitoring import monitoring_figures

from .test_browser import TERM


def test_figures_count_current_phases_at_their_last_meeting():
    decisions = pd.DataFrame(
        {
            "student_id": ["a", "a", "b", "c", "d"],
            "measure": "m",
            "phase": [1, 2, 1, 1, 1],
            "current": [False, True, True, True, True],
            "decision": [
                "change_intervention",
                "continue",
                "change_intervention",
                "not_yet_clear",
                "raise_goal",
            ],
        }
    )
    meeting = pd.Timestamp("2026-01-01")
    history = pd.DataFrame(
        {
            "student_id": ["a", "a", "a", "b", "b", "c", "d"],
            "measure": "m",
            "phase": [1, 2, 2, 1, 1, 1, 1],
            "meeting_date": [
                meeting,
                meeting,
                meeting + pd.Timedelta(weeks=6),
                meeting,
                meeting + pd.Timedelta(weeks=6),
                meeting,
                meeting,
            ],
            "weeks": [12, 6, 12, 6, 12, 14, 8],
            "decision": [
                "change_intervention",
                "change_intervention",
                "continue",
                "continue",
                "change_intervention",
                "change_intervention",
                "raise_goal",
            ],
        }
    )
    truth = [
        {"student_id": "a", "measure": "m", "phase": 1, "responding": False},
        {"student_id": "a", "measure": "m", "phase": 2, "responding": True},
        {"student_id": "b", "measure": "m", "phase": 1, "responding": False},
        {"student_id": "c", "measure": "m", "phase": 1, "responding": False},
        {"student_id": "d", "measure": "m", "phase": 1, "responding": True},
    ]
    got = monitoring_figures(decisions, history, truth)
    # Decided current phases: a2 continue, b change, d raise: 1 of 3.
    assert got["change_share"] == pytest.approx(1 / 3)
    # Last meetings of current phases with >= 10 weeks: a2 (responder, continue), b
    # (non-responder, change), c (non-responder, change); d has 8 weeks.
    assert (got["n_non_responders"], got["non_responders_flagged"]) == (2, 1.0)
    assert (got["n_responders"], got["responders_flagged"]) == (1, 0.0)


def test_validate_command_prints_the_figures(rendered_district, capsys):
    from pipeline.cli import main

    run = rendered_district
    args = ["validate", "--suite", "monitoring", "--raw", str(run / "raw")]
    args += ["--processed", str(run / "processed")]
    code = main(args)
    out = capsys.readouterr().out
    for name in ("change_share", "non_responders_flagged", "responders_flagged"):
        assert f"monitoring: {name}:" in out
    assert code == 0, out
    assert (run / "processed" / TERM / "progress_history.parquet").exists()
