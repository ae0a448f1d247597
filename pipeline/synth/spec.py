"""What a synthetic district is made of: its size, seed, programs and calendar."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHOOL_YEAR = "2025-2026"
WINDOWS = ("fall", "winter", "spring")
# Weeks since the fall screening at which each window is screened.
WINDOW_WEEK = {"fall": 0, "winter": 18, "spring": 34}

# Each program's planted effect in SDs of the grade's observed fall scores (_truth.json).
PROGRAMS: dict[str, dict] = {
    "Phonics Boost": {"subject": "reading", "effect_sd": 0.40, "sessions_per_week": 4},
    "Fluency Builders": {"subject": "reading", "effect_sd": 0.25, "sessions_per_week": 3},
    "Reading Circle": {"subject": "reading", "effect_sd": 0.0, "sessions_per_week": 3},
    "Number Sense Lab": {"subject": "math", "effect_sd": 0.35, "sessions_per_week": 3},
    "Math Facts Sprint": {"subject": "math", "effect_sd": 0.15, "sessions_per_week": 4},
}


@dataclass(frozen=True)
class SynthSpec:
    """Size and randomness of a synthetic district."""

    schools: int = 8
    students_per_grade: int = 60
    grades: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    seed: int = 2026
    unserved_share: float = 0.30
    defect_rate: float = 0.0
    school_year: str = SCHOOL_YEAR
    programs: dict[str, dict] = field(default_factory=lambda: PROGRAMS)
    scenario: str = "easy"  # enrolment scenario (pipeline.synth.scenarios)
    lean: bool = False  # only what the effect statistics read: no subtests, staff, overrides

    @property
    def first_year(self) -> int:
        """The calendar year the school year starts in (2025 for 2025-2026)."""
        return int(self.school_year.split("-")[0])
