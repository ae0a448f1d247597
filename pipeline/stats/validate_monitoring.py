"""``tierwise validate --suite monitoring``: the progress decisions against the planted
truth of a synthetic district (``_truth.json["monitoring"]``, :mod:`pipeline.synth.probes`).

Figures (issue 14's acceptance):

* **change share**: of the current decisions other than "not yet clear" and
  "insufficient data", the share "change the intervention" (expected 15-45 %);
* **non-responders flagged**: of the true non-responders' current phases with at least
  ``MIN_WEEKS`` weeks of data, the share whose decision at the last data meeting is
  "change the intervention" (expected >= 80 %);
* **responders flagged**: the same share among true responders (expected <= 10 %).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

MIN_WEEKS = 10
EXPECTED = {
    "change_share": (0.15, 0.45),
    "non_responders_flagged": (0.80, 1.0),
    "responders_flagged": (0.0, 0.10),
}


def monitoring_figures(
    decisions: pd.DataFrame, history: pd.DataFrame, truth: list[dict]
) -> dict[str, float | int]:
    """The figures of the module docstring, with the counts they rest on."""
    current = decisions[decisions["current"].astype(bool)]
    decided = current[~current["decision"].isin(["not_yet_clear", "insufficient_data"])]
    keys = ["student_id", "measure", "phase"]
    last = (
        history.sort_values("meeting_date")
        .drop_duplicates(keys, keep="last")
        .merge(current[keys], on=keys)
    )
    planted = pd.DataFrame(truth).astype({"student_id": str, "phase": int})
    judged = last.merge(planted, on=keys, how="inner")
    judged = judged[judged["weeks"] >= MIN_WEEKS]
    flagged = judged["decision"] == "change_intervention"
    responding = judged["responding"].astype(bool)
    return {
        "n_current": len(current),
        "n_decided": len(decided),
        "change_share": float((decided["decision"] == "change_intervention").mean()),
        "n_non_responders": int((~responding).sum()),
        "non_responders_flagged": float(flagged[~responding].mean()),
        "n_responders": int(responding.sum()),
        "responders_flagged": float(flagged[responding].mean()),
    }


def validate_monitoring(raw: Path, term_dir: Path) -> tuple[list[str], bool]:
    """Read the truth and the term's decisions; lines to print and whether all pass."""
    truth = json.loads((Path(raw) / "_truth.json").read_text())
    if "monitoring" not in truth:
        return [f"{raw}/_truth.json has no planted monitoring truth"], False
    decisions = pd.read_parquet(Path(term_dir) / "progress_decisions.parquet")
    history = pd.read_parquet(Path(term_dir) / "progress_history.parquet")
    figures = monitoring_figures(decisions, history, truth["monitoring"])
    lines = [
        f"current phases: {figures['n_current']}, with a decision: {figures['n_decided']}",
    ]
    ok = True
    counts = {
        "change_share": "n_decided",
        "non_responders_flagged": "n_non_responders",
        "responders_flagged": "n_responders",
    }
    for name, (low, high) in EXPECTED.items():
        value = figures[name]
        passed = low <= value <= high
        ok &= passed
        lines.append(
            f"{name}: {value * 100:.1f} % of {figures[counts[name]]} "
            f"(expected {low * 100:.0f}-{high * 100:.0f} %) {'ok' if passed else 'FAIL'}"
        )
    return lines, ok
