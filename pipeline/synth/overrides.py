"""``overrides.csv``: a few documented team decisions per school, so the demo shows them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth.spec import SynthSpec
from pipeline.synth.subtests import SUBTEST_SEED_SALT

# Its own random stream, beside the subtests' (the district's draws stay as they are).
OVERRIDES_SEED_SALT = SUBTEST_SEED_SALT + 1
OVERRIDE_EXAMPLES = (
    (
        "reading",
        3,
        "Moved from another district; records show a year of intensive phonics support",
        "Reading team",
    ),
    (
        "reading",
        1,
        "Screening fell on a bad day; a retest with an alternate form was at benchmark",
        "Grade-level team",
    ),
    ("behavior", 2, "Teacher and counselor report frequent withdrawal in class", "MTSS team"),
)


def overrides_table(students: pd.DataFrame, spec: SynthSpec) -> pd.DataFrame:
    """``overrides.csv``: a few documented team decisions per school, so the demo shows them."""
    rng = np.random.default_rng([spec.seed, OVERRIDES_SEED_SALT])
    rows = []
    for _school, mine in students.groupby("school_id", sort=True):
        picks = rng.choice(
            mine["student_id"].to_numpy(), size=len(OVERRIDE_EXAMPLES), replace=False
        )
        for student_id, (subject, tier, reason, who) in zip(picks, OVERRIDE_EXAMPLES, strict=True):
            rows.append(
                {
                    "student_id": student_id,
                    "subject": subject,
                    "tier": tier,
                    "reason": reason,
                    "decided_by": who,
                    "date": f"{spec.first_year}-10-{int(rng.integers(1, 28)):02d}",
                }
            )
    return pd.DataFrame(rows)
