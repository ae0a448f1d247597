"""Grouping time for one large school: 600 students (K-5), 40 % at risk in reading and in
math, 4 interventionists. Run by `make bench`; prints figures, asserts nothing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import load_config
from pipeline.groups.form import form_groups
from pipeline.groups.staff import validate_staff

REPO_ROOT = Path(__file__).resolve().parent.parent


READING_FOCI = ("phonemic_awareness", "phonics", "fluency", "comprehension", "needs_diagnostic")
MATH_FOCI = ("computation", "concepts", "needs_diagnostic")


def school(students: int = 600, at_risk: float = 0.40, seed: int = 1) -> pd.DataFrame:
    """A tiers table of one school: each subject's at-risk students, Tier 3 for a third."""
    rng = np.random.default_rng(seed)
    ids = [f"{k:07d}" for k in range(students)]
    grade = np.repeat(np.arange(6), students // 6)
    frames = []
    for subject, foci, measure in (
        ("reading", READING_FOCI, "dibels8_orf_wrc"),
        ("math", MATH_FOCI, "map_math_rit"),
    ):
        risky = rng.random(students) < at_risk
        n = int(risky.sum())
        frames.append(
            pd.DataFrame(
                {
                    "student_id": np.array(ids)[risky],
                    "school_id": "001",
                    "grade": grade[risky],
                    "subject": subject,
                    "tier": pd.array(np.where(rng.random(n) < 1 / 3, 3, 2), dtype="Int64"),
                    "focus": rng.choice(foci, n),
                    "focus_measure": measure,
                    "focus_score": rng.normal(50, 15, n).round(),
                    "measure": measure,
                    "score": rng.normal(50, 15, n).round(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    config = load_config(REPO_ROOT / "config")
    staff = validate_staff(
        pd.DataFrame(
            {
                "school_id": "001",
                "interventionist": ["Ms. A", "Mr. B", "Ms. C", "Mr. D"],
                "subjects": ["reading", "reading", "math", "reading;math"],
                "max_groups": ["8", "8", "8", "8"],
                "max_students": ["40", "40", "40", "40"],
            }
        ),
        "bench staff",
        config,
    )
    tiers = school()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        groups, unserved = form_groups(tiers, config, staff)
        timings.append(time.perf_counter() - started)
    print(
        f"bench_groups: 600-student school, {len(tiers)} Tier 2/3 student x subject rows "
        f"(40 % at risk in reading and math), 4 interventionists: {len(groups)} groups, "
        f"{int(groups['size'].sum())} placed, {len(unserved)} unserved; grouping time "
        f"best {min(timings):.2f} s, median {sorted(timings)[1]:.2f} s (target < 2 s)"
    )
    # Generous capacity: every student placed, the optimizer works the whole problem.
    roomy = staff.assign(max_groups=100, max_students=400)
    started = time.perf_counter()
    groups, unserved = form_groups(tiers, config, roomy)
    seconds = time.perf_counter() - started
    print(
        f"bench_groups: same school, capacity for everyone: {len(groups)} groups, "
        f"{len(unserved)} unserved; grouping time {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
