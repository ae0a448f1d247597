"""District configuration: `config/district.yml` loaded into validated pydantic models.

An invalid file stops the run with a :class:`ConfigError` that names the file, the key
and the offending value, e.g. ``config/district.yml: measures.dibels8_orf_wrc.max: Input
should be a valid number (got 'lots')``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

WINDOW_ORDER: tuple[str, ...] = ("fall", "winter", "spring")
SUBJECTS: tuple[str, ...] = ("reading", "math", "behavior")
DEFAULT_CONFIG_DIR = Path("config")


class ConfigError(Exception):
    """A configuration file is missing, unreadable or holds an invalid value."""


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


class Measure(_Strict):
    """One screening or progress-monitoring measure and its valid score range."""

    subject: Literal["reading", "math", "behavior"]
    label: str
    unit: str = "points"
    min: float
    max: float
    tier_rule: Literal["percentile", "none"] = "percentile"
    percentile_preset: str = "default"
    progress_monitoring: bool = False

    @model_validator(mode="after")
    def _range(self) -> Measure:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class Privacy(_Strict):
    min_cell_size: int = Field(10, ge=1)


class Render(_Strict):
    workers: int = Field(0, ge=0)


class DistrictConfig(_Strict):
    """Everything in ``config/district.yml``."""

    district_name: str = "District"
    windows: dict[Literal["fall", "winter", "spring"], WindowRange]
    grades: GradeRange = GradeRange()
    measures: dict[str, Measure]
    percentile_bands: dict[str, tuple[float, float]] = {"default": (10.0, 25.0)}
    privacy: Privacy = Privacy()
    render: Render = Render()

    @field_validator("percentile_bands")
    @classmethod
    def _bands(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (tier3_below, tier2_below) in value.items():
            if not 0 < tier3_below < tier2_below < 100:
                raise ValueError(
                    f"{name}: cuts must rise within 0-100, got [{tier3_below}, {tier2_below}]"
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
        return self

    def window_dates(self, school_year: str, window: str) -> tuple[dt.date, dt.date]:
        return self.windows[window].dates(school_year)  # type: ignore[index]


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{key}: {error['msg']}{shown}"


def load_config(config_dir: Path | str = DEFAULT_CONFIG_DIR) -> DistrictConfig:
    """Load and validate ``<config_dir>/district.yml``."""
    path = Path(config_dir) / "district.yml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    try:
        return DistrictConfig.model_validate(raw)
    except ValidationError as err:
        lines = "\n  ".join(_describe(e) for e in err.errors())
        raise ConfigError(f"{path}: invalid configuration\n  {lines}") from err
