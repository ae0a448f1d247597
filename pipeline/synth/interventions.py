"""Enrolment in intervention programs: who is served, by which program, in which group.

Students below the 25th percentile in fall are at risk; a random ``unserved_share`` of
them is not enrolled (limited staff capacity leaves some out in real schools), so a
comparison group at the same fall level exists. An enrolled student gets a random
program of the subject; its planted effect is ``effect_sd`` SDs of the observed fall
scores of the student's grade and measure by spring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.synth.scenarios import scenario
from pipeline.synth.scores import SubjectScores
from pipeline.synth.spec import SynthSpec
from pipeline.synth.staff import hash_index

AT_RISK_PERCENTILE = 25
TIER3_PERCENTILE = 10
GROUP_SIZE = 4


@dataclass
class Service:
    """One subject's enrolment: who is served, by which program, with what planted effect."""

    enrolled: np.ndarray  # roster positions of the enrolled students
    program: np.ndarray  # per student: the program, None when not enrolled
    effect: np.ndarray  # per student: the planted effect in SDs (0 when not enrolled)
    effect_raw: np.ndarray  # the same in score units
    start: pd.Series | None = None  # per enrolled student
    end: pd.Series | None = None


def enrol(
    scores: SubjectScores, subject: str, spec: SynthSpec, rng: np.random.Generator
) -> Service:
    """Each student's program (None when not enrolled) and its planted effect."""
    n = scores.fall_percentile.size
    at_risk = scores.fall_percentile < AT_RISK_PERCENTILE
    programs = [p for p, v in spec.programs.items() if v["subject"] == subject]
    unserved = scenario(spec.scenario).unserved_share(scores.fall_percentile, spec.unserved_share)
    enrolled = at_risk & (rng.random(n) >= unserved)
    program = np.where(enrolled, rng.choice(programs, n), None)
    effect = np.array([spec.programs[p]["effect_sd"] if p else 0.0 for p in program])
    return Service(np.flatnonzero(enrolled), program, effect, effect * scores.fall_sd)


def schedule(service: Service, dates: dict[str, pd.Series], rng: np.random.Generator) -> None:
    """Start (10-20 days after the fall screening) and end (3 days before spring)."""
    enrolled = service.enrolled
    fall_dates = dates["fall"].iloc[enrolled]
    service.start = fall_dates + pd.to_timedelta(rng.integers(10, 21, enrolled.size), unit="D")
    service.end = dates["spring"].iloc[enrolled] - pd.Timedelta(days=3)


def enrolments(
    students: pd.DataFrame,
    service: Service,
    fall_percentile: np.ndarray,
    subject: str,
    spec: SynthSpec,
    staff: dict[str, list[str]],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The intervention log of one subject: sessions planned and attended, tier, group."""
    enrolled, start, end = service.enrolled, service.start, service.end
    weeks = ((end - start).dt.days / 7).to_numpy()
    program = service.program[enrolled]
    per_week = np.array([spec.programs[p]["sessions_per_week"] for p in program])
    planned = np.round(weeks * per_week).astype(int)
    attended = np.minimum(planned, np.round(planned * rng.beta(9, 2, enrolled.size))).astype(int)
    tier = np.where(fall_percentile[enrolled] < TIER3_PERCENTILE, 3, 2)
    frame = pd.DataFrame(
        {
            "student_id": students["student_id"].iloc[enrolled].to_numpy(),
            "program": program,
            "school_id": students["school_id"].iloc[enrolled].to_numpy(),
            "grade": students["grade"].iloc[enrolled].to_numpy(),
            "subject": subject,
            "tier": tier,
            "start_date": start.dt.strftime("%Y-%m-%d").to_numpy(),
            "end_date": end.dt.strftime("%Y-%m-%d").to_numpy(),
            "sessions_planned": planned,
            "sessions_attended": attended,
            "minutes_per_session": np.where(tier == 3, 45, 30),
        }
    )
    frame = frame.sort_values(["school_id", "program", "grade", "student_id"])
    frame["group_id"] = _group_ids(frame, spec)
    frame["interventionist"] = [
        staff[school][hash_index(group, len(staff[school]))]
        for school, group in zip(frame["school_id"], frame["group_id"], strict=True)
    ]
    return frame.drop(columns=["school_id", "grade"])


def _group_ids(frame: pd.DataFrame, spec: SynthSpec) -> pd.Series:
    """Groups of four by school, program and grade: ``<school>-<program>-G<grade>-<n>``."""
    seq = frame.groupby(["school_id", "program", "grade"]).cumcount() // GROUP_SIZE
    prog_code = frame["program"].map({p: f"{k + 1:02d}" for k, p in enumerate(spec.programs)})
    return (
        frame["school_id"]
        + "-"
        + prog_code
        + "-G"
        + frame["grade"].astype(str)
        + "-"
        + (seq + 1).astype(str)
    )
