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
# The effect at the cut weighs the served students below their cut score by a triangular
# kernel of this many fall SDs (of their grade and measure): the scale the RD pools on,
# wide enough to span several score points of every grade (0.25 SD: 3 to 10 points).
CUT_BAND_SD = 0.25


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
    program: np.ndarray,
    effect: np.ndarray,
    fall: np.ndarray,
    fall_percentile: np.ndarray,
    fall_sd: np.ndarray,
    cell: np.ndarray,
    cut: float,
) -> float:
    """The planted effect of being served for the served students at the tier cut: their
    mean effect, each weighted by ``1 - distance / CUT_BAND_SD`` where ``distance`` is the
    fall score's distance below the cut score of its grade and measure (``cell``; the
    midpoint between the highest fall score below the ``cut`` percentile and the lowest at
    or above it) in fall SDs. What a regression discontinuity pooling the grades on that
    scale (:mod:`pipeline.stats.rd`) estimates: each grade counts with its students near
    the cut, so a grade whose scores crowd at the cut counts more than one where they
    spread. A band of percentiles (the 20th to 25th) is another population: grade-1 fall
    ORF goes from the 16th percentile at 5 words to the 25th at 6, so that band held no
    grade-1 student at all, though grade 1 has the most students near its cut score; and
    a band of whole scores counts a grade with more points per SD more (the kernel
    weights sum to the same per SD). Missing when nobody there is served."""
    frame = pd.DataFrame({"cell": cell, "fall": fall, "eligible": fall_percentile < cut})
    below = frame[frame["eligible"]].groupby("cell")["fall"].max()
    above = frame[~frame["eligible"]].groupby("cell")["fall"].min()
    cut_score = frame["cell"].map((below + above) / 2).to_numpy(dtype=float)
    distance = (cut_score - fall) / fall_sd
    weight = np.clip(1 - distance / CUT_BAND_SD, 0, 1) * (distance > 0) * (program != None)  # noqa: E711
    return float(np.sum(weight * effect) / weight.sum()) if weight.sum() > 0 else float("nan")
