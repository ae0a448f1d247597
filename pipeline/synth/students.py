"""The roster: schools, students K-5 with demographics and homerooms, and their standing.

Each school draws a standing shift (a school further ahead or behind); its share of
economically disadvantaged students follows that shift. Within a grade, students' names
and demographics are drawn independently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth.spec import SynthSpec

SCHOOL_NAMES = [
    "Maple Grove Elementary",
    "Riverside Elementary",
    "Cedar Hill Elementary",
    "Lincoln Park Elementary",
    "Sunnyside Elementary",
    "Oak Ridge Elementary",
    "Willow Creek Elementary",
    "Lakeview Elementary",
    "Pine Valley Elementary",
    "Harbor View Elementary",
    "Meadowbrook Elementary",
    "Stonebridge Elementary",
]
FIRST_NAMES = (
    "Ava Liam Sofia Noah Maya Mateo Zoe Ethan Amara Lucas Isla Diego Hana Owen Priya Elijah "
    "Leila Caleb Nora Omar Ruby Jayden Mei Samuel Aaliyah Henry Camila Kai Fatima Julian Grace "
    "Arjun Chloe Marcus Yara Felix Luna Andre Ivy Tomas Nia Hugo Sara Malik Elena Ravi Lucia Theo"
).split()
LAST_NAMES = (
    "Garcia Smith Nguyen Johnson Patel Williams Kim Brown Lopez Jones Chen Miller Hernandez "
    "Davis Ali Wilson Martinez Moore Okafor Taylor Rossi Anderson Sato Thomas Jackson Silva "
    "White Cohen Harris Novak Martin Khan Clark Diaz Lewis Walker"
).split()
RACE_ETHNICITY = ["Hispanic/Latino", "White", "Black", "Asian", "Two or more", "Other"]
RACE_WEIGHTS = [0.34, 0.33, 0.15, 0.10, 0.06, 0.02]
STUDENTS_PER_HOMEROOM = 22


def school_name(s: int) -> str:
    """The s-th school's name (0-based); past the list the names repeat, numbered."""
    repeat = s // len(SCHOOL_NAMES)
    return SCHOOL_NAMES[s % len(SCHOOL_NAMES)] + (f" {repeat + 1}" if repeat else "")


def roster(spec: SynthSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Every student of every school and grade; ``_shift`` is the school's standing shift."""
    frames = []
    next_id = 1
    for s in range(spec.schools):
        shift = rng.normal(0, 0.25)
        econ_rate = float(np.clip(0.45 - 1.2 * shift, 0.1, 0.9))
        for grade in spec.grades:
            n = max(4, int(round(spec.students_per_grade * rng.uniform(0.85, 1.15))))
            ids = [f"{i:07d}" for i in range(next_id, next_id + n)]
            next_id += n
            frames.append(_cohort(ids, s, grade, econ_rate, rng).assign(_shift=shift))
    return pd.concat(frames, ignore_index=True)


def _cohort(
    ids: list[str], s: int, grade: int, econ_rate: float, rng: np.random.Generator
) -> pd.DataFrame:
    """One grade of one school: names, demographics and homerooms."""
    n = len(ids)
    homerooms = max(1, round(n / STUDENTS_PER_HOMEROOM))
    return pd.DataFrame(
        {
            "student_id": ids,
            "school_id": f"{s + 1:03d}",
            "school_name": school_name(s),
            "grade": grade,
            "first_name": rng.choice(FIRST_NAMES, n),
            "last_name": rng.choice(LAST_NAMES, n),
            "gender": rng.choice(["F", "M"], n),
            "race_ethnicity": rng.choice(RACE_ETHNICITY, n, p=RACE_WEIGHTS),
            "ell": rng.random(n) < 0.12,
            "iep": rng.random(n) < 0.13,
            "section_504": rng.random(n) < 0.03,
            "econ_disadvantaged": rng.random(n) < econ_rate,
            "homeroom": [
                f"{'K' if grade == 0 else grade}-{chr(65 + k % homerooms)}" for k in range(n)
            ],
        }
    )


def base_standing(students: pd.DataFrame) -> np.ndarray:
    """Each student's mean latent standing: a district offset, the school's shift, and
    lower for English learners, students with an IEP and economically disadvantaged ones."""
    subgroup_shift = (
        -0.35 * students["ell"] - 0.45 * students["iep"] - 0.2 * students["econ_disadvantaged"]
    ).to_numpy(dtype=float)
    return 0.25 + students["_shift"].to_numpy() + subgroup_shift
