"""Loading the configuration: `district.yml` into :class:`DistrictConfig`, and the tables
beside it (cut scores, weekly growth norms, ORF norms), each read once, up front, by
:func:`load_config`. An invalid file raises :class:`ConfigError` naming the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from pipeline.config.models import (
    BENCHMARK_COLUMNS,
    BENCHMARK_LEVELS,
    DEFAULT_CONFIG_DIR,
    WINDOW_ORDER,
    DistrictConfig,
)
from pipeline.errors import ConfigError


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{key}: {error['msg']}{shown}"


def load_benchmarks(directory: Path | str) -> pd.DataFrame:
    """Every ``*.csv`` cut-score table in ``directory``, long: one row per cut.

    Columns: benchmark (the file's stem), measure, grade, window, level (above |
    benchmark | below | well_below), min_score (the lowest score in that level), source.
    """
    frames = []
    for path in sorted(Path(directory).glob("*.csv")):
        try:
            frame = pd.read_csv(path, dtype={"measure": str, "window": str, "level": str})
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not a readable CSV: {err}") from err
        missing = [c for c in BENCHMARK_COLUMNS if c not in frame.columns]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
        for column, allowed in (("window", WINDOW_ORDER), ("level", BENCHMARK_LEVELS)):
            bad = ~frame[column].isin(allowed)
            if bad.any():
                row = int(bad.to_numpy().argmax()) + 2
                raise ConfigError(
                    f"{path}: row {row}, column {column}: {frame[column][bad].iloc[0]!r} "
                    f"is not one of {', '.join(allowed)}"
                )
        for column in ("grade", "min_score"):
            values = pd.to_numeric(frame[column], errors="coerce")
            if values.isna().any():
                row = int(values.isna().to_numpy().argmax()) + 2
                raise ConfigError(f"{path}: row {row}, column {column}: not a number")
            frame[column] = values
        frame["grade"] = frame["grade"].astype(int)
        frame["min_score"] = frame["min_score"].astype(float)
        if "source" not in frame.columns:
            frame["source"] = path.name
        frames.append(frame.assign(benchmark=path.stem))
    if not frames:
        return pd.DataFrame(columns=["benchmark", *BENCHMARK_COLUMNS, "source"])
    return pd.concat(frames, ignore_index=True)[["benchmark", *BENCHMARK_COLUMNS, "source"]]


# libyaml's safe loader when built (about 10x faster; reports load the config every time).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_mapping(path: Path, error: type[Exception] | None = None) -> dict:
    """A YAML file holding a mapping of keys; any problem raises ``error`` naming the file."""
    error = error or ConfigError
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError as err:
        raise error(f"{path}: file not found") from err
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    return raw


# The published oral-reading-fluency norms (Hasbrouck & Tindal 2017), beside the growth norms.
ORF_NORMS = Path("norms") / "hasbrouck_tindal_2017_orf.csv"


def _read_table(path: Path, key: str, dtype: dict | None = None) -> pd.DataFrame:
    """A CSV table of the configuration; a missing or unreadable file names ``key``."""
    try:
        return pd.read_csv(path, dtype=dtype)
    except FileNotFoundError as err:
        raise ConfigError(f"{key}: {path}: file not found") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}: {path}: not a readable CSV: {err}") from err


def load_growth_norms(path: Path | str) -> pd.DataFrame:
    """Typical, realistic and ambitious weekly growth per measure x grade (``measure, grade,
    typical, realistic, ambitious, source``): ``config/norms/weekly_growth.csv``."""
    norms = _read_table(Path(path), "progress.growth_norms", {"measure": str, "source": str})
    columns = {"grade": int, "typical": float, "realistic": float, "ambitious": float}
    missing = [c for c in ["measure", *columns] if c not in norms.columns]
    if missing:
        raise ConfigError(f"progress.growth_norms: {path}: missing column(s) {', '.join(missing)}")
    return norms.astype(columns)


def load_orf_norms(path: Path | str) -> pd.DataFrame:
    """Hasbrouck & Tindal (2017) ORF norms: grade, percentile, fall, winter, spring, awi."""
    return _read_table(Path(path), "ORF norms")


def attach_tables(config: DistrictConfig, config_dir: Path | str) -> DistrictConfig:
    """``config`` with the tables of ``config_dir`` read into it: the cut scores
    (``benchmarks/*.csv``), the weekly growth norms (``progress.growth_norms``, relative to
    ``config_dir`` unless absolute) and the ORF norms. :func:`load_config` calls it; so
    can a test that builds a :class:`DistrictConfig` itself."""
    config_dir = Path(config_dir)
    growth = Path(config.progress.growth_norms)
    config._config_dir = config_dir
    config._benchmarks = load_benchmarks(config_dir / "benchmarks")
    config._growth_norms = load_growth_norms(
        growth if growth.is_absolute() else config_dir / growth
    )
    config._orf_norms = load_orf_norms(config_dir / ORF_NORMS)
    return config


def load_config(config_dir: Path | str = DEFAULT_CONFIG_DIR) -> DistrictConfig:
    """Load and validate ``<config_dir>/district.yml`` and the tables beside it."""
    path = Path(config_dir) / "district.yml"
    raw = read_yaml_mapping(path, ConfigError)
    try:
        config = DistrictConfig.model_validate(raw)
    except ValidationError as err:
        lines = "\n  ".join(_describe(e) for e in err.errors())
        raise ConfigError(f"{path}: invalid configuration\n  {lines}") from err
    return attach_tables(config, config_dir)
