"""Progress-monitoring probes that behave like a school's: responders, non-responders and
intervention changes at data meetings (new phases), with the planted truth.

* Probes start at the intervention's start, weekly or every two weeks (``BIWEEKLY_SHARE``),
  until its end; a probe is missed now and then (``MISSED_SHARE``).
* Reading is monitored on the screening measure itself (LNF in kindergarten, ORF from
  grade 1); math on a computation CBM (digits correct).
* Each phase a student either responds or not. The chance to respond rises with the
  program's planted effect (``RESPONSE_BASE + effect_sd``). A responder's true weekly
  growth is ``U(1.15, 1.6)`` x the steepest aim slope the default goal can give an at-risk
  student of the grade (the larger of Fuchs et al.'s 1993 realistic growth and Hasbrouck &
  Tindal's 2017 typical growth at the 10th, 25th or 50th percentile); a non-responder's is
  ``U(0, 0.35)`` x the flattest. So "responding" means growing faster than any goal a team
  following the published norms would set, and "not responding" less than half of it.
* At the data meeting ``SWITCH_WEEKS`` after the start, a share (``SWITCH_SHARE``) of the
  non-responders gets a changed intervention: the same program intensified (a smaller
  group, ``EXTRA_MINUTES`` more a session), logged as a new intervention row from the
  meeting date (a new phase); the first row ends the day before. Keeping the program
  keeps each program's planted screening effect its own (a second program would be
  credited with the first one's gains).
* Measurement error: ORF ``U(5, 10)`` words a probe per student, LNF 5, math CBM 2.5.

``_truth.json["monitoring"]`` gets one record per monitored student x measure x phase:
student_id, measure, phase, program, responding, true_weekly_growth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.synth.interventions import Service
from pipeline.synth.norms import NORMS_DIR, NormTables, score_at_z
from pipeline.synth.scores import SubjectScores
from pipeline.synth.spec import WINDOW_WEEK, SynthSpec

MATH_PROBE = "math_cbm_dcpm"
ORF = "dibels8_orf_wrc"
MISSED_SHARE = 0.1
BIWEEKLY_SHARE = 0.3
RESPONSE_BASE = 0.35
RESPONDER_GROWTH = (1.15, 1.6)
NON_RESPONDER_GROWTH = (0.0, 0.35)
SWITCH_WEEKS = 12
SWITCH_SHARE = 0.5
SWITCH_MIN_WEEKS_LEFT = 10
EXTRA_MINUTES = 15


@dataclass
class Monitoring:
    """One subject's probes, the intervention changes (new phases) and the planted truth."""

    probes: pd.DataFrame
    switches: pd.DataFrame  # student_id, program, switch_date
    truth: list[dict]


def monitor(
    students: pd.DataFrame,
    service: Service,
    scores: SubjectScores,
    subject: str,
    norms: NormTables,
    spec: SynthSpec,
    rng: np.random.Generator,
) -> Monitoring:
    """The probes of one subject's enrolled students and their planted phases."""
    idx, start, end = service.enrolled, service.start.to_numpy(), service.end.to_numpy()
    grades = students["grade"].iloc[idx].to_numpy()
    measures = scores.measure[idx] if subject == "reading" else np.full(idx.size, MATH_PROBE)
    level, noise = _start_level(measures, grades, idx, scores, norms, rng)
    aim_low, aim_high = _aim_range(measures, grades)
    first = service.program[idx]
    respond1 = rng.random(idx.size) < _response_chance(first, spec)
    growth1 = _growth(respond1, aim_low, aim_high, rng)
    weeks_total = (end - start) / np.timedelta64(7, "D")
    switch = (~respond1) & (rng.random(idx.size) < SWITCH_SHARE)
    switch &= weeks_total >= SWITCH_WEEKS + SWITCH_MIN_WEEKS_LEFT
    second = first
    respond2 = rng.random(idx.size) < _response_chance(second, spec)
    growth2 = _growth(respond2, aim_low, aim_high, rng)
    interval = np.where(rng.random(idx.size) < BIWEEKLY_SHARE, 2, 1)
    frame = _probe_rows(start, weeks_total, interval, level, growth1, growth2, switch, noise, rng)
    ids = students["student_id"].to_numpy()[idx]
    probes = pd.DataFrame(
        {
            "student_id": ids[frame["owner"]],
            "date": pd.DatetimeIndex(frame["date"]).strftime("%Y-%m-%d"),
            "measure": measures[frame["owner"]],
            "score": np.round(np.clip(frame["score"], 0, None)).astype(int),
        }
    )
    switch_date = start + np.timedelta64(7 * SWITCH_WEEKS, "D")
    switches = pd.DataFrame(
        {"student_id": ids[switch], "program": second[switch], "switch_date": switch_date[switch]}
    )
    truth = _truth(ids, measures, first, second, respond1, respond2, growth1, growth2, switch)
    return Monitoring(probes, switches, truth)


def _start_level(measures, grades, idx, scores, norms, rng):
    """Each student's true score at the intervention's start and the probe noise SD."""
    start_week = rng.integers(2, 4, idx.size)  # weeks since the fall screening
    level = scores.fall_true[idx] + scores.growth[idx] / WINDOW_WEEK["spring"] * start_week
    noise = np.where(measures == ORF, rng.uniform(5, 10, idx.size), 5.0)
    by_grade = pd.DataFrame({"m": measures, "g": grades}).groupby(["m", "g"]).indices
    for (measure, grade), rows in by_grade.items():
        if measure == MATH_PROBE:
            table = norms[(measure, int(grade))]
            level[rows] = score_at_z(table, np.full(rows.size, 2.0), scores.z[idx[rows]])
            noise[rows] = 2.5
    return level, noise


def _aim_range(measures: np.ndarray, grades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flattest and steepest weekly aim slope the default goal (the larger of realistic
    and typical-at-percentile growth) can give an at-risk student of the grade."""
    growth = pd.read_csv(NORMS_DIR / "weekly_growth.csv")
    ht = pd.read_csv(NORMS_DIR / "hasbrouck_tindal_2017_orf.csv")
    awi = ht[ht["percentile"] <= 50].groupby("grade")["awi"]
    awi_low = ht[ht["percentile"] <= 25].groupby("grade")["awi"].min()
    keys = pd.DataFrame({"measure": measures, "grade": grades})
    base = keys.merge(growth, on=["measure", "grade"], how="left")
    floor = np.fmax(base["realistic"], base["typical"]).to_numpy()
    orf = measures == ORF
    low, high = floor.copy(), floor.copy()
    low[orf] = np.fmax(base["realistic"][orf], keys["grade"][orf].map(awi_low)).to_numpy()
    high[orf] = np.fmax(base["realistic"][orf], keys["grade"][orf].map(awi.max())).to_numpy()
    return low, high


def _response_chance(program: np.ndarray, spec: SynthSpec) -> np.ndarray:
    effect = np.array([spec.programs[p]["effect_sd"] for p in program])
    return np.clip(RESPONSE_BASE + effect, 0.05, 0.95)


def _growth(responding, aim_low, aim_high, rng) -> np.ndarray:
    """True weekly growth: well above the steepest aim, or well below the flattest."""
    up = aim_high * rng.uniform(*RESPONDER_GROWTH, responding.size)
    down = aim_low * rng.uniform(*NON_RESPONDER_GROWTH, responding.size)
    return np.where(responding, up, down)


def _probe_rows(start, weeks_total, interval, level, growth1, growth2, switch, noise, rng):
    """Probe dates and scores: every ``interval`` weeks from the start to the end; after
    a switch the score grows at the second phase's rate from where it stood."""
    n_probes = np.floor(weeks_total / interval).astype(int) + 1
    owner = np.repeat(np.arange(start.size), n_probes)
    k = np.arange(owner.size) - np.repeat(np.cumsum(n_probes) - n_probes, n_probes)
    week = (k * interval[owner]).astype(float)
    before = np.minimum(week, SWITCH_WEEKS)
    after = np.where(switch[owner], np.clip(week - SWITCH_WEEKS, 0, None), 0.0)
    slope1 = np.where(switch[owner], growth1[owner], 0.0)
    true = level[owner] + np.where(
        switch[owner],
        slope1 * before + growth2[owner] * after,
        growth1[owner] * week,
    )
    score = true + rng.normal(0, 1, owner.size) * noise[owner]
    keep = rng.random(owner.size) > MISSED_SHARE
    dates = start[owner] + (7 * week).astype("timedelta64[D]")
    return {"owner": owner[keep], "date": dates[keep], "score": score[keep]}


def _truth(ids, measures, first, second, respond1, respond2, growth1, growth2, switch):
    """One record per student x measure x phase (phase 2 only after a switch)."""
    records = [
        {
            "student_id": str(s),
            "measure": str(m),
            "phase": 1,
            "program": str(p),
            "responding": bool(r),
            "true_weekly_growth": round(float(g), 4),
        }
        for s, m, p, r, g in zip(ids, measures, first, respond1, growth1, strict=True)
    ]
    for k in np.flatnonzero(switch):
        records.append(
            {
                "student_id": str(ids[k]),
                "measure": str(measures[k]),
                "phase": 2,
                "program": str(second[k]),
                "responding": bool(respond2[k]),
                "true_weekly_growth": round(float(growth2[k]), 4),
            }
        )
    return records


def with_phase_changes(log: pd.DataFrame, switches: pd.DataFrame) -> pd.DataFrame:
    """The intervention log with each switch: the first row ends the day before the switch
    (sessions scaled to the weeks served) and a new row starts on it: same program and
    interventionist, group ``<group>-P2``, ``EXTRA_MINUTES`` more a session."""
    if switches.empty:
        return log
    moved = log.merge(switches, on="student_id", how="inner")
    start, end = pd.to_datetime(moved["start_date"]), pd.to_datetime(moved["end_date"])
    switch = pd.to_datetime(moved["switch_date"])
    share = ((switch - start).dt.days / (end - start).dt.days.clip(lower=1)).to_numpy()
    first = moved.drop(columns=["program_y", "switch_date"]).rename(
        columns={"program_x": "program"}
    )
    first = first.assign(
        end_date=(switch - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"),
        sessions_planned=np.round(first["sessions_planned"] * share).astype(int),
        sessions_attended=np.round(first["sessions_attended"] * share).astype(int),
    )
    second = moved.drop(columns=["program_x", "switch_date"]).rename(
        columns={"program_y": "program"}
    )
    second = second.assign(
        start_date=switch.dt.strftime("%Y-%m-%d"),
        group_id=second["group_id"] + "-P2",
        minutes_per_session=second["minutes_per_session"] + EXTRA_MINUTES,
        sessions_planned=first["sessions_planned"].rsub(moved["sessions_planned"]),
        sessions_attended=first["sessions_attended"].rsub(moved["sessions_attended"]),
    )
    second["sessions_attended"] = np.minimum(
        second["sessions_attended"], second["sessions_planned"]
    )
    kept = log[~log["student_id"].isin(switches["student_id"])]
    return pd.concat([kept, first[log.columns], second[log.columns]], ignore_index=True)
