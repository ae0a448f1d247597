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
    probes = progress.assign(
        subject=progress["measure"].map(subject_of), _row=np.arange(len(progress))
    )
    dated = probes.dropna(subset=["date", "student_id", "subject"]).sort_values("date")
    starts = phases.dropna(subset=["phase_start"]).sort_values("phase_start")
    # merge_asof wants the same key types on both sides (an empty log's are object).
    starts = starts.astype({k: dated[k].dtype for k in ("student_id", "subject")})
    starts = starts.astype({"phase_start": dated["date"].dtype})
    matched = pd.merge_asof(
        dated,
        starts,
        left_on="date",
        right_on="phase_start",
        by=["student_id", "subject"],
        direction="backward",
    )
    # Probes before the first start (or without one) join phase 1.
    first = phases[phases["phase"] == 1].drop(columns="phase")
    early = matched["phase"].isna()
    before = (
        matched.loc[early, ["_row", "student_id", "subject"]]
        .merge(first, on=["student_id", "subject"], how="left")
        .assign(phase=1)
    )
    matched = pd.concat([matched[~early], before])
    out = probes.merge(matched[["_row", "phase", *PHASE_COLUMNS]], on="_row", how="left")
    out["phase"] = out["phase"].fillna(1).astype(int)
    return out.drop(columns="_row")
