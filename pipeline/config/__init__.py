"""District configuration: `config/district.yml` as validated pydantic models
(:mod:`pipeline.config.models`), loaded once, with the cut-score tables beside it, by
:func:`load_config` (:mod:`pipeline.config.load`)."""

from pipeline.config.load import load_benchmarks, load_config, read_yaml_mapping
from pipeline.config.models import (
    BENCHMARK_COLUMNS,
    BENCHMARK_LEVELS,
    DEFAULT_CONFIG_DIR,
    PACKAGE_CONFIG_DIR,
    REPO_ROOT,
    SKILLS,
    SUBJECTS,
    WINDOW_ORDER,
    DistrictConfig,
    Effectiveness,
    GradeRange,
    Grouping,
    GroupSize,
    Measure,
    Privacy,
    Progress,
    Quality,
    Render,
    ScoreBands,
    StaffDefault,
    SubjectRule,
    WindowRange,
)
from pipeline.errors import ConfigError

__all__ = [
    "BENCHMARK_COLUMNS",
    "BENCHMARK_LEVELS",
    "DEFAULT_CONFIG_DIR",
    "PACKAGE_CONFIG_DIR",
    "REPO_ROOT",
    "SKILLS",
    "SUBJECTS",
    "WINDOW_ORDER",
    "ConfigError",
    "DistrictConfig",
    "Effectiveness",
    "GradeRange",
    "GroupSize",
    "Grouping",
    "Measure",
    "Privacy",
    "Progress",
    "Quality",
    "Render",
    "ScoreBands",
    "StaffDefault",
    "SubjectRule",
    "WindowRange",
    "load_benchmarks",
    "load_config",
    "read_yaml_mapping",
]
