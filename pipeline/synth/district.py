"""The whole synthetic district from one seed: its tables and the planted truth.

The draws happen in a fixed order from one random stream (roster, screening dates, the
standing shared across subjects, then per subject: scores, enrolment, later windows,
service dates, sessions, probes; then behaviour and the planted defects), so the same
seed gives byte-identical files. Reading subtests and overrides draw from streams of
their own, so adding to them leaves everything else as it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth.defects import inject_defects
from pipeline.synth.domains import domain_scores
from pipeline.synth.interventions import AT_RISK_PERCENTILE, enrol, enrolments, schedule
from pipeline.synth.norms import NormTables, math_measure, quantile_tables, reading_measure
from pipeline.synth.overrides import overrides_table
from pipeline.synth.probes import Monitoring, monitor, with_phase_changes
from pipeline.synth.scenarios import effect_at_cut, effect_truth, scenario
from pipeline.synth.scores import (
    SubjectModel,
    behavior_rows,
    draw_subject,
    observe_later_windows,
    screening_dates,
    screening_rows,
)
from pipeline.synth.spec import SynthSpec
from pipeline.synth.staff import logged_staff, staff_table
from pipeline.synth.students import base_standing, roster
from pipeline.synth.subtests import reading_subtests

SUBJECTS = (
    SubjectModel("reading", reading_measure, growth_sd=8.0, error_sd=6.0),
    SubjectModel("math", math_measure, growth_sd=4.0, error_sd=3.5),
)
EFFECT_DEFINITION = (
    "extra fall-to-spring growth of enrolled students over comparable non-enrolled "
    "students, in SDs of the observed fall scores of the student's grade and measure "
    "across the district; accrues linearly in weeks since the fall screening"
)


def generate(spec: SynthSpec) -> tuple[dict[str, pd.DataFrame], dict]:
    """Build the district: canonical tables (plus staff and overrides) and the planted truth."""
    rng = np.random.default_rng(spec.seed)
    norms = quantile_tables()
    students = roster(spec, rng)
    dates = screening_dates(students, spec, rng)
    base = base_standing(students)
    shared = rng.normal(0, 1, len(students))  # the part of the standing subjects share
    staff = logged_staff(students)
    screenings: list[pd.DataFrame] = []
    interventions: list[pd.DataFrame] = []
    progress: list[pd.DataFrame] = []
    monitoring: list[dict] = []
    at_cut: dict[str, float] = {}
    for model in SUBJECTS:
        rows, log, watched = _subject(
            model, students, base, shared, dates, norms, staff, spec, rng, at_cut
        )
        screenings += rows
        interventions.append(with_phase_changes(log, watched.switches))
        progress.append(watched.probes)
        monitoring += watched.truth
    screenings += behavior_rows(students, base, dates, spec, rng)
    tables = {
        "students": students.drop(columns=["_shift"]),
        "screenings": pd.concat(screenings, ignore_index=True),
        "interventions": pd.concat(interventions, ignore_index=True),
        "progress": pd.concat(progress, ignore_index=True),
    }
    clean_screenings = tables["screenings"]
    tables, defects = inject_defects(tables, spec, rng)
    if spec.lean:  # the subtests, staff and overrides draw from streams of their own
        return tables, {
            **planted_truth(spec, len(students), defects),
            **scenario_truth(spec, at_cut),
        }
    tables["screenings"] = pd.concat(
        [tables["screenings"], reading_subtests(students, clean_screenings, spec)],
        ignore_index=True,
    )
    # MAP goal scores and SAEBRS sub-scales, so math and behaviour focus show.
    domains = domain_scores(students, clean_screenings, spec)
    tables["screenings"] = pd.concat([tables["screenings"], domains], ignore_index=True)
    tables["staff"] = staff_table(students, pd.concat(interventions, ignore_index=True))
    tables["overrides"] = overrides_table(students, spec)
    truth = planted_truth(spec, len(students), defects, monitoring)
    return tables, {**truth, **scenario_truth(spec, at_cut)}


def _subject(
    model: SubjectModel,
    students: pd.DataFrame,
    base: np.ndarray,
    shared: np.ndarray,
    dates: dict[str, pd.Series],
    norms: NormTables,
    staff: dict[str, list[str]],
    spec: SynthSpec,
    rng: np.random.Generator,
    at_cut: dict[str, float] | None = None,
) -> tuple[list[pd.DataFrame], pd.DataFrame, Monitoring]:
    """One subject's screenings, intervention log and probes (with their phases and truth,
    from a stream of their own); ``at_cut`` receives the subject's planted effect at the
    tier cut."""
    scores = draw_subject(model, students, base, shared, norms, rng)
    service = enrol(scores, model.subject, spec, rng)
    _apply_scenario(scores, service, students, model.subject, spec)
    if at_cut is not None:
        at_cut[model.subject] = effect_at_cut(
            service.program,
            service.effect,
            scores.observed["fall"],
            scores.fall_percentile,
            scores.fall_sd,
            scores.measure + " grade " + students["grade"].astype(str).to_numpy(),
            AT_RISK_PERCENTILE,
        )
    observe_later_windows(scores, service.effect_raw, model.error_sd, rng)
    rows = screening_rows(scores, model.subject, students, dates, norms, spec)
    schedule(service, dates, rng)
    log = enrolments(students, service, scores.fall_percentile, model.subject, spec, staff, rng)
    own = np.random.default_rng([spec.seed, 14, SUBJECTS.index(model)])
    return rows, log, monitor(students, service, scores, model.subject, norms, spec, own)


def planted_truth(
    spec: SynthSpec, students: int, defects: dict, monitoring: list[dict] | None = None
) -> dict:
    """``_truth.json``: the district's size, each program's planted effect, the defects
    and each monitored student x measure x phase's true response (``monitoring``)."""
    return {
        "seed": spec.seed,
        "school_year": spec.school_year,
        "schools": spec.schools,
        "students": int(students),
        "students_per_grade": spec.students_per_grade,
        "grades": list(spec.grades),
        "unserved_share": spec.unserved_share,
        "effect_definition": EFFECT_DEFINITION,
        "programs": {
            name: {"subject": p["subject"], "effect_sd": p["effect_sd"]}
            for name, p in spec.programs.items()
        },
        "defects": defects,
        "monitoring": monitoring or [],
    }


def _apply_scenario(scores, service, students: pd.DataFrame, subject: str, spec: SynthSpec):
    """The scenario's departures from the easy district (:mod:`pipeline.synth.scenarios`):
    effects by grade and the schools' own growth (nothing changes in the easy one)."""
    chosen = scenario(spec.scenario)
    factor = chosen.grade_factor(students["grade"].to_numpy(), spec.grades)
    service.effect = service.effect * factor
    service.effect_raw = service.effect_raw * factor
    scores.growth = scores.growth + chosen.school_growth(
        students, scores.fall_sd, spec.seed, subject
    )


def scenario_truth(spec: SynthSpec, at_cut: dict[str, float]) -> dict:
    """The scenario's part of ``_truth.json``: its name, each program's effect per grade
    and, per subject, the effect of being served at the tier cut (``rd``)."""
    return {
        "scenario": spec.scenario,
        "effect_by_grade": effect_truth(spec.programs, spec.grades, scenario(spec.scenario)),
        "rd": {
            subject: {"cut_percentile": AT_RISK_PERCENTILE, "effect_sd": round(value, 6)}
            for subject, value in at_cut.items()
        },
    }
