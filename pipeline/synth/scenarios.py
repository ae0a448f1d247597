"""Enrolment scenarios: the planted truth the effectiveness estimators are validated on.

* ``easy``: the unserved share of at-risk students is a random draw within each fall level
  and every grade and school grows alike (the district the demo has always drawn);
* ``clustered``: each school adds its own growth, ``school_growth_sd`` SDs of the grade's
  fall scores by spring (students of one school share teachers), so intervals that ignore
  schools are too narrow;
* ``selection``: within a fall level, the lower the fall percentile, the more likely a
  student is served (selection on an observed score), so a comparison that only matches
  on the fall level is biased;
* ``by_grade``: a program's effect differs by grade: ``effect_sd x grade_factor(grade)``
  with factors averaging 1 over the grades (an ineffective program stays at 0).

Every scenario keeps the easy district's random stream: its own draws come from a stream
of their own (``seed``, ``SCENARIO_STREAM``), so the easy scenario's files are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SCENARIO_STREAM = 15  # the second word of the scenarios' own random stream
# The percentile bands enrolment is decided in: [0, 10) Tier 3, [10, 25) Tier 2.
BANDS = (0.0, 10.0, 25.0)
# The fall percentiles the effect at the cut is averaged over (just below the cut).
CUT_BAND = 5.0


@dataclass(frozen=True)
class Scenario:
    """How one scenario departs from the easy district."""

    name: str
    school_growth_sd: float = 0.0  # SD of the schools' own growth, in fall SDs
    selection_slope: float = 0.0  # change of the unserved share across a fall band
    grade_slope: float = 0.0  # change of a program's effect per grade above the mean

    def unserved_share(self, fall_percentile: np.ndarray, share: float) -> np.ndarray | float:
        """Each at-risk student's chance of going unserved: ``share`` in every scenario but
        ``selection``, where it rises linearly across each band from
        ``share - slope / 2`` at its bottom to ``share + slope / 2`` at its top."""
        if not self.selection_slope:
            return share
        edges = np.asarray(BANDS)
        band = np.clip(np.searchsorted(edges, fall_percentile, side="right") - 1, 0, 1)
        low, high = edges[band], edges[band + 1]
        position = np.clip((fall_percentile - low) / (high - low), 0, 1) - 0.5
        return np.clip(share + self.selection_slope * position, 0.02, 0.98)

    def grade_factor(self, grades: np.ndarray, all_grades: tuple[int, ...]) -> np.ndarray:
        """Per student, the multiplier of the program's effect in the student's grade."""
        centre = float(np.mean(all_grades))
        return 1.0 + self.grade_slope * (np.asarray(grades, dtype=float) - centre)

    def school_growth(
        self, students: pd.DataFrame, fall_sd: np.ndarray, seed: int, subject: str
    ) -> np.ndarray:
        """Per student, the school's own growth by spring in score units (0 unless
        ``clustered``): a normal draw per school and subject times the grade's fall SD."""
        if not self.school_growth_sd:
            return np.zeros(len(students))
        stream = [seed, SCENARIO_STREAM, 1 if subject == "reading" else 2]
        rng = np.random.default_rng(stream)
        schools = pd.Index(sorted(students["school_id"].unique()))
        shift = rng.normal(0, self.school_growth_sd, schools.size)
        return shift[schools.get_indexer(students["school_id"])] * fall_sd


SCENARIOS: dict[str, Scenario] = {
    "easy": Scenario("easy"),
    "clustered": Scenario("clustered", school_growth_sd=0.25),
    "selection": Scenario("selection", selection_slope=0.5),
    "by_grade": Scenario("by_grade", grade_slope=0.2),
}


def scenario(name: str) -> Scenario:
    """The named scenario (``easy``, ``clustered``, ``selection``, ``by_grade``)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def effect_truth(
    programs: dict[str, dict], grades: tuple[int, ...], scenario_: Scenario
) -> dict[str, dict[str, float]]:
    """Per program, the planted effect in each grade (SD units), as ``_truth.json`` has it."""
    factors = scenario_.grade_factor(np.asarray(grades), grades)
    return {
        name: {
            str(g): round(float(p["effect_sd"] * f), 6)
            for g, f in zip(grades, factors, strict=True)
        }
        for name, p in programs.items()
    }


def effect_at_cut(
    program: np.ndarray, effect: np.ndarray, fall_percentile: np.ndarray, cut: float
) -> float:
    """The planted effect of being served for the served students just below the tier cut
    (fall percentile in [cut - CUT_BAND, cut)): what a regression discontinuity at the cut
    estimates. Missing when nobody there is served."""
    near = (program != None) & (fall_percentile >= cut - CUT_BAND) & (fall_percentile < cut)  # noqa: E711
    return float(np.mean(effect[near])) if near.any() else float("nan")
