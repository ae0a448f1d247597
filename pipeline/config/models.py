"""District configuration: `config/district.yml` loaded into validated pydantic models.

An invalid file stops the run with a :class:`ConfigError` that names the file, the key
and the offending value, e.g. ``config/district.yml: measures.dibels8_orf_wrc.max: Input
should be a valid number (got 'lots')``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError

WINDOW_ORDER: tuple[str, ...] = ("fall", "winter", "spring")
SUBJECTS: tuple[str, ...] = ("reading", "math", "behavior")
DEFAULT_CONFIG_DIR = Path("config")
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_CONFIG_DIR = REPO_ROOT / "config"
BENCHMARK_COLUMNS = ("measure", "grade", "window", "level", "min_score")
BENCHMARK_LEVELS = ("above", "benchmark", "below", "well_below")
SKILLS = (
    "phonemic_awareness",
    "phonics",
    "fluency",
    "comprehension",
    "computation",
    "concepts",
    "externalizing",
    "internalizing",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowRange(_Strict):
    """A screening window as a month-day range, e.g. ``{start: "08-01", end: "10-31"}``."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            dt.datetime.strptime(f"2000-{value}", "%Y-%m-%d")
        except ValueError as err:
            raise ValueError(f"expected a month-day such as '08-15', got {value!r}") from err
        return value

    def dates(self, school_year: str) -> tuple[dt.date, dt.date]:
        """The window's first and last day in a school year such as ``"2025-2026"``."""
        return (_resolve(self.start, school_year), _resolve(self.end, school_year))


def _resolve(month_day: str, school_year: str) -> dt.date:
    first, second = (int(part) for part in school_year.split("-"))
    month, day = (int(part) for part in month_day.split("-"))
    year = first if month >= 8 else second
    if month == 2 and day == 29:
        day = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    return dt.date(year, month, day)


class GradeRange(_Strict):
    min: int = Field(-1, ge=-1, le=12)
    max: int = Field(12, ge=-1, le=12)

    @model_validator(mode="after")
    def _ordered(self) -> GradeRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class ScoreBands(_Strict):
    """Tier cut scores on the raw score (e.g. SAEBRS total: under 25 -> 3, under 37 -> 2).

    ``risk: low`` means low scores are the risk (score < tier3 -> Tier 3, < tier2 -> Tier 2);
    ``risk: high`` means high scores are (score >= tier3 -> Tier 3, >= tier2 -> Tier 2).
    """

    tier3: float
    tier2: float
    risk: Literal["low", "high"] = "low"

    @model_validator(mode="after")
    def _ordered(self) -> ScoreBands:
        if (self.risk == "low" and self.tier3 >= self.tier2) or (
            self.risk == "high" and self.tier3 <= self.tier2
        ):
            raise ValueError(
                f"with risk {self.risk!r} the tier3 cut ({self.tier3}) must be "
                f"{'below' if self.risk == 'low' else 'above'} the tier2 cut ({self.tier2})"
            )
        return self


class Measure(_Strict):
    """One screening or progress-monitoring measure, its valid score range and tier rule.

    ``tier_rule``: ``benchmark`` (cut-score table in ``config/benchmarks/<benchmark>.csv``),
    ``percentile`` (bands ``percentile_preset``), ``score_bands`` (raw-score cuts),
    ``vendor_level`` (the vendor's own label mapped by ``level_tiers``) or ``none``.
    Where the benchmark table or the vendor label has nothing for a student,
    ``fallback: percentile`` (or ``score_bands``) decides instead. ``skill`` is the rung
    or domain the measure speaks to (skill focus).

    ``role: domain`` marks a domain or sub-scale score (a MAP Growth goal, an i-Ready
    domain, a SAEBRS sub-scale): it never decides a tier (``tier_rule`` must be ``none``)
    and only says which domain of its subject is at risk, by its vendor label
    (``level_tiers``), else its ``score_bands``, else its percentile in the default bands
    (:mod:`pipeline.rules.domains`).
    """

    subject: Literal["reading", "math", "behavior"]
    label: str
    short_label: str = ""
    short_unit: str = ""  # shown after a score in a reason: "ORF 31 wcpm"
    unit: str = "points"
    min: float
    max: float
    tier_rule: Literal["percentile", "benchmark", "score_bands", "vendor_level", "none"] = (
        "percentile"
    )
    percentile_preset: str = "default"
    benchmark: str = "dibels8"
    fallback: Literal["percentile", "score_bands", "none"] = "percentile"
    score_bands: ScoreBands | None = None
    level_tiers: dict[str, Literal[1, 2, 3]] = {}
    skill: Literal[SKILLS] | None = None  # type: ignore[valid-type]
    progress_monitoring: bool = False
    role: Literal["screener", "domain"] = "screener"

    @model_validator(mode="after")
    def _range(self) -> Measure:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if "score_bands" in (self.tier_rule, self.fallback) and self.score_bands is None:
            raise ValueError("tier_rule 'score_bands' needs a score_bands: {tier3, tier2} entry")
        if self.tier_rule == "vendor_level" and not self.level_tiers:
            raise ValueError("tier_rule 'vendor_level' needs level_tiers: {label: tier}")
        if self.role == "domain" and (self.tier_rule != "none" or self.skill is None):
            raise ValueError(
                "role 'domain' never decides a tier: it needs tier_rule: none and a skill"
            )
        return self

    @property
    def name_in_text(self) -> str:
        return self.short_label or self.label


class SubjectRule(_Strict):
    """How several measures of one subject combine into the subject's tier.

    ``composite_first``: the ``composite`` measure's tier when the student has one,
    otherwise the most intensive; ``most_intensive``: the highest tier of any measure;
    ``two_of_three``: the highest tier that at least two measures reach (a single
    measure decides alone). The rules are :data:`pipeline.rules.combine.COMBINE_RULES`.
    """

    combine: str = "most_intensive"
    composite: str | None = None

    @field_validator("combine")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        from pipeline.rules.combine import COMBINE_RULES  # the one list of rule names

        if value not in COMBINE_RULES:
            raise ValueError(f"unknown combine rule {value!r} (known: {', '.join(COMBINE_RULES)})")
        return value

    @model_validator(mode="after")
    def _composite(self) -> SubjectRule:
        if self.combine == "composite_first" and not self.composite:
            raise ValueError("combine 'composite_first' needs composite: <measure name>")
        return self


class GroupSize(_Strict):
    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> GroupSize:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class StaffDefault(_Strict):
    """An interventionist every school is assumed to have when there is no staff.csv."""

    interventionist: str
    subjects: list[Literal["reading", "math", "behavior"]]
    max_groups: int | None = Field(None, ge=0)
    max_students: int | None = Field(None, ge=0)
    slots: list[str] = []


class Grouping(_Strict):
    """Intervention groups: sizes per tier, grade band, and interventionist capacity.

    ``grade_band``: 0 = same grade only, 1 = adjacent grades may share a group.
    ``undersized``: a cell too small for the minimum size forms a smaller, flagged group
    (``group``) or goes to the unserved list (``unserved``). ``max_groups`` and
    ``max_students`` are the capacity of an interventionist whose staff.csv row leaves
    them blank; ``default_staff`` is used for every school when there is no staff.csv.
    """

    grade_band: int = Field(0, ge=0, le=3)
    sizes: dict[Literal[2, 3], GroupSize] = {
        2: GroupSize(min=3, max=5),
        3: GroupSize(min=1, max=3),
    }
    undersized: Literal["group", "unserved"] = "group"
    max_groups: int = Field(6, ge=0)
    max_students: int = Field(30, ge=0)
    default_staff: list[StaffDefault] = [
        StaffDefault(interventionist="Reading interventionist", subjects=["reading"]),
        StaffDefault(interventionist="Math interventionist", subjects=["math"]),
        StaffDefault(interventionist="Behavior interventionist", subjects=["behavior"]),
    ]
    time_limit_seconds: float = Field(20.0, gt=0)


class Privacy(_Strict):
    min_cell_size: int = Field(10, ge=1)


class Render(_Strict):
    workers: int = Field(0, ge=0)


class Quality(_Strict):
    """Data-quality rules of the ingest stage (see ``pipeline.quality.run``)."""

    # Stop when more than this share of a file's records is quarantined: a wrong
    # profile shows up as every row failing.
    quarantine_ceiling: float = Field(0.05, gt=0, le=1)
    # Files with fewer records stop only when every record fails.
    ceiling_min_records: int = Field(20, ge=1)
    # Students named in vendor files (with grade and school) join the roster.
    roster_from_vendor_files: bool = True
    # Build the Great Expectations Data Docs site beside the summary page.
    data_docs: bool = True
    # Files in the raw folder that are not exports (globs, case-insensitive).
    ignore_files: tuple[str, ...] = ("overrides.csv", "staff.csv", "readme*")
    # Read an unknown student id as the roster's id that differs from it only in leading
    # zeros (Excel strips or pads them); off: such rows are quarantined with a hint.
    match_ids_ignoring_leading_zeros: bool = False


class Progress(_Strict):
    """Progress-monitoring decision rules (DESIGN.md, "Progress monitoring")."""

    min_probes: int = Field(6, ge=3)
    min_weeks: float = Field(6.0, gt=0)
    # interval: the ROI interval against the aim slope (pipeline.stats.decision);
    # four_point: the classic four-point and trend-line rules.
    decision_rule: Literal["interval", "four_point"] = "interval"
    # Two-sided level of the ROI interval a decision uses: 0.90 = one-sided 5 % each way.
    decision_confidence: float = Field(0.90, gt=0, lt=1)
    # Level of the ROI interval the tables and charts show.
    report_confidence: float = Field(0.95, gt=0, lt=1)
    # "Continue" when the interval's lower bound is at least this share of the aim slope.
    on_course_share: float = Field(0.5, ge=0, le=1)
    consecutive_points: int = Field(4, ge=2)
    # growth: baseline + weekly growth x weeks; benchmark: the end-of-year benchmark
    # (config/benchmarks); team: the intervention log's goal column; both fall back to growth.
    goal_source: Literal["growth", "benchmark", "team"] = "growth"
    goal_growth: Literal["realistic_or_typical", "ambitious", "realistic", "typical"] = (
        "realistic_or_typical"
    )
    benchmark_level: str = "benchmark"
    # four_point rule: the trend is "about the aimline" within this share of its slope.
    trend_tolerance: float = Field(0.25, ge=0)
    growth_norms: str = "norms/weekly_growth.csv"
    # Data meetings: every meeting_weeks from a phase's start, plus the screening dates.
    meeting_weeks: int = Field(6, ge=1)
    meetings_at_screenings: bool = True


class RegressionDiscontinuity(_Strict):
    """The regression-discontinuity estimate at the tier cut and when its diagnostics pass
    (:mod:`pipeline.stats.rd`)."""

    # A diagnostic test fails below alpha / the number of tests of its kind (Bonferroni).
    alpha: float = Field(0.05, gt=0, lt=1)
    # The smallest jump in the share served at the cut that makes eligibility an instrument.
    min_first_stage: float = Field(0.2, gt=0, le=1)
    # Fewest students within the bandwidth on each side of the cut.
    min_students: int = Field(50, ge=10)
    # Placebo cuts, in fall SDs from the real cut (each tested on its own side only).
    placebo_cuts: list[float] = [-0.5, 0.5]
    # Student characteristics that must not jump at the cut (roster columns, 0/1).
    covariates: list[str] = ["ell", "iep", "econ_disadvantaged"]


class Effectiveness(_Strict):
    """Which screening measure is each subject's pre/post outcome, in order of preference."""

    outcome_measures: dict[str, list[str]] = {
        "reading": ["dibels8_orf_wrc", "dibels8_lnf"],
        "math": ["map_math_rit"],
    }
    fidelity_threshold: float = Field(0.8, gt=0, le=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    # Kraft (2020) benchmarks of effects in SDs: below the first small, below the second
    # medium, from the second on large.
    magnitude_cuts: tuple[float, float] = (0.05, 0.20)
    # Fewest schools for school-clustered intervals district-wide (fewer: HC1 with school
    # fixed effects; cluster-robust errors from a handful of schools are far too small).
    min_cluster_schools: int = Field(8, ge=2)
    rd: RegressionDiscontinuity = RegressionDiscontinuity()


class DistrictConfig(_Strict):
    """Everything in ``config/district.yml``."""

    district_name: str = "District"
    windows: dict[Literal["fall", "winter", "spring"], WindowRange]
    grades: GradeRange = GradeRange()
    measures: dict[str, Measure]
    # Cuts [tier3_below, tier2_below] or [tier3_below, tier2_below, watch_below].
    percentile_bands: dict[str, tuple[float, ...]] = {"default": (10.0, 25.0)}
    subjects: dict[Literal["reading", "math", "behavior"], SubjectRule] = {
        "reading": SubjectRule(combine="composite_first", composite="dibels8_composite"),
        "math": SubjectRule(),
        "behavior": SubjectRule(),
    }
    grouping: Grouping = Grouping()
    _config_dir: Path = PrivateAttr(default=PACKAGE_CONFIG_DIR)
    _benchmarks: object = PrivateAttr(default=None)
    _growth_norms: object = PrivateAttr(default=None)
    _orf_norms: object = PrivateAttr(default=None)
    privacy: Privacy = Privacy()
    render: Render = Render()
    progress: Progress = Progress()
    effectiveness: Effectiveness = Effectiveness()
    quality: Quality = Quality()

    @field_validator("percentile_bands")
    @classmethod
    def _bands(cls, value: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for name, cuts in value.items():
            points = (0.0, *cuts, 100.0)
            if len(cuts) not in (2, 3) or not all(
                a < b for a, b in zip(points, points[1:], strict=False)
            ):
                raise ValueError(
                    f"{name}: expected 2 or 3 cuts rising within 0-100 "
                    f"[tier3_below, tier2_below, (watch_below)], got {list(cuts)}"
                )
        return value

    @model_validator(mode="after")
    def _presets_exist(self) -> DistrictConfig:
        for name, measure in self.measures.items():
            if measure.tier_rule == "percentile" and measure.percentile_preset not in (
                self.percentile_bands
            ):
                raise ValueError(
                    f"measures.{name}.percentile_preset: unknown preset "
                    f"{measure.percentile_preset!r} (known: {sorted(self.percentile_bands)})"
                )
        for subject, rule in self.subjects.items():
            if rule.composite and rule.composite not in self.measures:
                raise ValueError(
                    f"subjects.{subject}.composite: unknown measure {rule.composite!r}"
                )
        return self

    @property
    def config_dir(self) -> Path:
        return self._config_dir

    def benchmark_table(self) -> pd.DataFrame:
        """The cut-score tables of ``<config>/benchmarks/*.csv``, read by :func:`load_config`
        (:func:`pipeline.config.load.load_benchmarks`)."""
        if self._benchmarks is None:
            return pd.DataFrame(columns=["benchmark", *BENCHMARK_COLUMNS, "source"])
        return self._benchmarks  # type: ignore[return-value]

    @property
    def benchmark_goals(self) -> pd.DataFrame:
        """End-of-year goals ``measure, grade, goal``: the spring ``min_score`` of the level
        ``progress.benchmark_level`` (any case) in :meth:`benchmark_table`; where several
        tables have a measure and grade, the last (by file name) wins."""
        table = self.benchmark_table()
        level = table["level"].astype(str).str.lower() == self.progress.benchmark_level.lower()
        spring = table[(table["window"] == "spring") & level]
        return (
            spring.rename(columns={"min_score": "goal"})[["measure", "grade", "goal"]]
            .astype({"grade": int, "goal": float})
            .drop_duplicates(["measure", "grade"], keep="last")
        )

    @property
    def growth_norms(self) -> pd.DataFrame:
        """Weekly growth per measure x grade (``measure, grade, typical, realistic,
        ambitious, source``), read by :func:`load_config` from ``progress.growth_norms``."""
        return self._loaded(self._growth_norms, "growth norms")

    @property
    def orf_norms(self) -> pd.DataFrame:
        """Hasbrouck & Tindal (2017) ORF norms (``grade, percentile, fall, winter, spring,
        awi``), read by :func:`load_config` from ``norms/hasbrouck_tindal_2017_orf.csv``."""
        return self._loaded(self._orf_norms, "ORF norms")

    @staticmethod
    def _loaded(table: object, name: str) -> pd.DataFrame:
        if table is None:
            raise ConfigError(
                f"the {name} are not loaded: build the configuration with load_config "
                "(or pipeline.config.load.attach_tables)"
            )
        return table  # type: ignore[return-value]

    def tiered_measures(self) -> list[str]:
        """The measures with a tier rule (``tier_rule`` other than ``none``), in config
        order: only their scores decide a tier."""
        return [name for name, m in self.measures.items() if m.tier_rule != "none"]

    def domain_measures(self) -> dict[str, list[str]]:
        """The domain scores (``role: domain``) of each subject, in config order: they
        never decide a tier, only a Tier 2 or 3 student's skill focus."""
        subjects: dict[str, list[str]] = {}
        for name, m in self.measures.items():
            if m.role == "domain":
                subjects.setdefault(m.subject, []).append(name)
        return subjects

    def measure_name(self, measure: str) -> str:
        """The name a sentence, table or chart uses for ``measure`` ("ORF"): its
        ``short_label``, else its ``label``; the measure's id when it is not configured."""
        known = self.measures.get(measure)
        return known.name_in_text if known is not None else measure

    def window_dates(self, school_year: str, window: str) -> tuple[dt.date, dt.date]:
        return self.windows[window].dates(school_year)  # type: ignore[index]
