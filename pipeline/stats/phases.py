"""Phases of progress monitoring: each intervention of a student in a subject starts one.

A new intervention row for the same student and subject (a new program or a new start
date) starts a new phase with its own baseline, aimline and rate of improvement
(DESIGN.md, "Progress monitoring"). Phases are numbered 1, 2, ... per student x subject in
order of start date; rows sharing a start date make one phase (the last row's program).
A probe belongs to the latest phase started on or before its date; probes before the
first start belong to phase 1, and a student without an intervention has phase 1 only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import fast

PHASE_COLUMNS = ["program", "phase_start", "end_date", "team_goal"]


def intervention_phases(interventions: pd.DataFrame | None) -> pd.DataFrame:
    """One row per student x subject x phase: ``phase``, ``program``, ``phase_start``,
    ``end_date`` and ``team_goal`` (the log's optional ``goal`` column)."""
    cols = ["student_id", "subject", "phase", *PHASE_COLUMNS]
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=cols).astype(
            {"phase": int, "phase_start": "datetime64[ns]", "end_date": "datetime64[ns]"}
        )
    log = interventions.assign(
        phase_start=pd.to_datetime(interventions["start_date"]),
        end_date=pd.to_datetime(interventions.get("end_date", pd.NaT)),
        team_goal=pd.to_numeric(interventions.get("goal", np.nan), errors="coerce"),
    ).dropna(subset=["phase_start"])
    phases = log.sort_values(["student_id", "subject", "phase_start"], kind="stable")
    phases = phases.drop_duplicates(["student_id", "subject", "phase_start"], keep="last")
    phases = phases.assign(phase=phases.groupby(["student_id", "subject"]).cumcount() + 1)
    return phases[cols].reset_index(drop=True)


def probe_phases(
    progress: pd.DataFrame, phases: pd.DataFrame, subject_of: dict[str, str]
) -> pd.DataFrame:
    """The probes with their ``subject`` (the measure's) and their phase: ``phase`` and the
    phase's :data:`PHASE_COLUMNS` (missing for a student without an intervention)."""
    probes = progress.assign(subject=fast.map_distinct(progress["measure"], subject_of, "str"))
    keys = ["student_id", "subject"]
    # Only the columns the match reads are sorted, each probe known by its row number.
    dated = probes[[*keys, "date"]].assign(_row=np.arange(len(probes)))
    dated = dated.dropna(subset=["date", *keys]).sort_values("date")
    starts = phases.dropna(subset=["phase_start"]).sort_values("phase_start")
    # merge_asof wants the same key types on both sides (an empty log's are object).
    starts = starts.astype({k: dated[k].dtype for k in keys})
    starts = starts.astype({"phase_start": dated["date"].dtype})
    matched = pd.merge_asof(
        dated, starts, left_on="date", right_on="phase_start", by=keys, direction="backward"
    )
    # Probes before the first start (or without one) join phase 1.
    first = phases[phases["phase"] == 1].drop(columns="phase")
    early = matched["phase"].isna()
    before = matched.loc[early, ["_row", *keys]].merge(first, on=keys, how="left").assign(phase=1)
    matched = pd.concat([matched[~early], before])
    # Each probe's phase by its row number (a probe without a date has none: phase 1).
    found = fast.placed(matched[["phase", *PHASE_COLUMNS]], matched["_row"], len(probes))
    out = probes.reset_index(drop=True)
    out[found.columns] = found
    out["phase"] = out["phase"].fillna(1).astype(int)
    return out
