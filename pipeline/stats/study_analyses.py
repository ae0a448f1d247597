"""Published analyses as data: a spec (``config/real/analyses/*.yml``) names a data file,
the rows to keep, the columns to derive and the model; :func:`run_analysis` returns the
model's tidy table (:mod:`pipeline.stats.regression`, :mod:`pipeline.stats.multilevel`).
No dataset has code of its own here.

.. code-block:: yaml

    source: Stock & Watson (2007), Introduction to Econometrics, 2nd ed., Table 13.1
    analyses:
      - name: stock_watson_table_13_1          # -> <out>/stock_watson_table_13_1.csv
        data:
          file: AER_STAR.csv                   # under the data folder
          join:                                # optional: add a second file's columns
            - {file: schools.csv, key: school_id, columns: [sector]}
        strata: {K: k, "1": "1"}               # one fit per stratum; "{stratum}" in any
                                               # text below -> the value (wide files)
        keep:                                  # optional row filters, before derive
          - {column: "star{stratum}", in: [small, regular, regular+aide]}
        derive:                                # new columns, in order
          - {name: score, sum: ["read{stratum}", "math{stratum}"]}
          - {name: time, column: age, minus: 1}
          - {name: ses_centred, column: ses, centre_within: school}
          - {name: program, column: trt, equals: "Y"}
          - arms:                              # one 0/1 column per arm against reference
              column: "star{stratum}"
              reference: regular
              levels: {small: small, regular_aide: regular+aide}
        model:                                 # kind: ols | mixed | variance_decomposition
          {kind: ols, outcome: score, terms: [small, regular_aide], cov: HC1}
          # {kind: mixed, outcome: cog, terms: [program, time, "time:program"],
          #  group: id, slopes: [time], method: ml}
          # {kind: variance_decomposition, outcome: y, group: school, terms: [x],
          #  method: reml}

A missing value in any column a derivation or the model uses leaves the row out of that
fit (a sum is missing when one of its parts is; ``arms`` is missing for a value that is
neither an arm nor the reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.config import read_yaml_mapping
from pipeline.errors import ConfigError, InputError
from pipeline.stats.multilevel import mixed_model_table, variance_decomposition
from pipeline.stats.regression import TABLE_COLUMNS, ols_table, term_columns

STRATUM = "{stratum}"
RESULT_COLUMNS = ["stratum", *TABLE_COLUMNS]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Join(_Strict):
    """Add ``columns`` (default: all new ones) of a second file, matched on ``key``."""

    file: str
    key: str
    columns: list[str] | None = None


class DataSource(_Strict):
    file: str
    join: list[Join] = []


class Keep(_Strict):
    """Keep the rows whose ``column`` is one of ``in`` (or none of ``not_in``)."""

    column: str
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Keep:
        if (self.in_ is None) == (self.not_in is None):
            raise ValueError("give exactly one of 'in' and 'not_in'")
        return self


class Arms(_Strict):
    """Indicators ``levels`` (name -> value of ``column``) against the ``reference`` value."""

    column: str
    reference: Any
    levels: dict[str, Any]


_OPERATIONS = ("sum", "minus", "centre_within", "equals", "arms")


class Derive(_Strict):
    """One derivation: exactly one of the operations below."""

    name: str | None = None
    column: str | None = None
    sum: list[str] | None = None  # name = the sum of these columns
    minus: float | None = None  # name = column - a constant
    centre_within: str | None = None  # name = column - its mean within groups of this column
    equals: str | int | float | bool | None = None  # name = 1 where column == value, else 0
    arms: Arms | None = None

    @model_validator(mode="after")
    def _one_operation(self) -> Derive:
        given = [op for op in _OPERATIONS if getattr(self, op) is not None]
        if len(given) != 1:
            raise ValueError(f"give one of {', '.join(_OPERATIONS)} (got {given or 'none'})")
        if given != ["arms"] and self.name is None:
            raise ValueError(f"{given[0]!r} needs 'name', the new column")
        if given[0] in ("minus", "centre_within", "equals") and self.column is None:
            raise ValueError(f"{given[0]!r} needs 'column'")
        return self

    def inputs(self) -> list[str]:
        """The columns this step reads."""
        if self.arms is not None:
            return [self.arms.column]
        if self.sum is not None:
            return list(self.sum)
        return [c for c in (self.column, self.centre_within) if c is not None]

    def outputs(self) -> list[str]:
        """The columns this step writes."""
        return list(self.arms.levels) if self.arms is not None else [self.name]


class OLSModel(_Strict):
    kind: Literal["ols"]
    outcome: str
    terms: list[str]
    cov: Literal["nonrobust", "HC0", "HC1", "cluster"] = "HC1"
    cluster: str | None = None


class MixedModel(_Strict):
    kind: Literal["mixed"]
    outcome: str
    terms: list[str] = []
    group: str
    slopes: list[str] = []  # level-1 columns whose coefficients vary by group
    method: Literal["reml", "ml"] = "reml"


class VarianceDecompositionModel(_Strict):
    kind: Literal["variance_decomposition"]
    outcome: str
    group: str
    terms: list[str] = []
    method: Literal["reml", "ml"] = "reml"


Model = Annotated[OLSModel | MixedModel | VarianceDecompositionModel, Field(discriminator="kind")]


class Analysis(_Strict):
    """One published table (or one model of it): one ``<name>.csv``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    label: str = ""
    source: str = ""
    data: DataSource
    strata: dict[str, str] = {}
    keep: list[Keep] = []
    derive: list[Derive] = []
    model: Model
    level: float = Field(0.95, gt=0, lt=1)

    def stratified(self) -> list[tuple[str, Analysis]]:
        """(stratum label, the analysis with ``{stratum}`` replaced) per stratum; one
        unlabelled pair without strata."""
        if not self.strata:
            return [("", self)]
        raw = self.model_dump(by_alias=True, exclude={"strata"})
        return [
            (label, Analysis.model_validate(_substitute(raw, value)))
            for label, value in self.strata.items()
        ]


class StudySpec(_Strict):
    label: str = ""
    source: str = ""
    analyses: list[Analysis]

    @model_validator(mode="after")
    def _unique_names(self) -> StudySpec:
        names = [a.name for a in self.analyses]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"analysis names must be unique: {', '.join(repeated)}")
        return self


def _substitute(value: Any, stratum: str) -> Any:
    if isinstance(value, str):
        return value.replace(STRATUM, stratum)
    if isinstance(value, dict):
        return {_substitute(k, stratum): _substitute(v, stratum) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, stratum) for v in value]
    return value


def load_study_spec(path: Path | str) -> StudySpec:
    """Read and validate a study spec; an invalid one raises ConfigError naming the key."""
    path = Path(path)
    raw = read_yaml_mapping(path, ConfigError)
    try:
        return StudySpec.model_validate(raw)
    except ValidationError as err:
        lines = "\n  ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        )
        raise ConfigError(f"{path}: invalid study spec\n  {lines}") from err


def read_data(source: DataSource, data_dir: Path | str) -> pd.DataFrame:
    """The data file, with the joined files' columns added (many rows to one)."""
    frame = _read_csv(Path(data_dir) / source.file)
    for join in source.join:
        other = _read_csv(Path(data_dir) / join.file)
        columns = join.columns or [c for c in other.columns if c not in frame.columns]
        _require(other, [join.key, *columns], join.file)
        _require(frame, [join.key], source.file)
        try:
            frame = frame.merge(
                other[[join.key, *columns]], on=join.key, how="left", validate="many_to_one"
            )
        except pd.errors.MergeError as err:
            raise InputError(join.file, f"{join.key!r} is not unique", column=join.key) from err
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(path, "file not found (is the data folder right?)")
    return pd.read_csv(path)


def _require(frame: pd.DataFrame, columns: list[str], file: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(file, "no such column", column=missing[0])


def check_columns(analysis: Analysis, columns: pd.Index) -> None:
    """Every column the analysis uses exists in the data or is derived before its use;
    otherwise an InputError names the data file, the column and where the spec uses it."""
    available = set(columns)

    def require(column: str, where: str) -> None:
        if column not in available:
            raise InputError(analysis.data.file, f"no such column (used by {where})", column)

    for rule in analysis.keep:
        require(rule.column, "keep")
    for position, step in enumerate(analysis.derive, start=1):
        for column in step.inputs():
            require(column, f"derive step {position}")
        available |= set(step.outputs())
    for column in _model_columns(analysis.model):
        require(column, "model")


def _model_columns(model: Model) -> list[str]:
    named = [model.outcome, getattr(model, "group", None), getattr(model, "cluster", None)]
    terms = [*model.terms, *getattr(model, "slopes", [])]
    return [c for c in named if c] + [c for t in terms for c in term_columns(t)]


def keep_rows(frame: pd.DataFrame, rules: list[Keep]) -> pd.DataFrame:
    for rule in rules:
        inside = frame[rule.column].isin(rule.in_ if rule.in_ is not None else rule.not_in)
        frame = frame.loc[inside if rule.in_ is not None else ~inside]
    return frame


def derive_columns(frame: pd.DataFrame, steps: list[Derive]) -> pd.DataFrame:
    """``frame`` with each derivation's column(s) added, in order."""
    for step in steps:
        if step.arms is not None:
            frame = frame.assign(**arm_indicators(frame[step.arms.column], step.arms))
            continue
        if step.sum is not None:
            value = frame[step.sum].sum(axis=1, skipna=False, min_count=1)
        elif step.minus is not None:
            value = frame[step.column] - step.minus
        elif step.centre_within is not None:
            value = frame[step.column] - frame.groupby(step.centre_within)[step.column].transform(
                "mean"
            )
        else:
            source = frame[step.column]
            value = (source == step.equals).astype(float).where(source.notna())
        frame = frame.assign(**{step.name: value})
    return frame


def arm_indicators(values: pd.Series, arms: Arms) -> dict[str, pd.Series]:
    """One 0/1 column per arm; missing where the value is neither an arm nor the reference."""
    known = values.isin([arms.reference, *arms.levels.values()])
    return {
        name: (values == level).astype(float).where(known) for name, level in arms.levels.items()
    }


def fit_model(model: Model, frame: pd.DataFrame, level: float) -> pd.DataFrame:
    """The model's tidy table on ``frame`` (columns :data:`TABLE_COLUMNS`)."""
    if isinstance(model, OLSModel):
        return ols_table(frame, model.outcome, model.terms, model.cov, model.cluster, level)
    reml = model.method == "reml"
    if isinstance(model, MixedModel):
        return mixed_model_table(
            frame, model.outcome, model.terms, model.group, model.slopes, reml, level
        )
    return variance_decomposition(frame, model.outcome, model.group, model.terms, reml, level)


def run_analysis(analysis: Analysis, data_dir: Path | str) -> pd.DataFrame:
    """Every stratum's model table, stacked, with a ``stratum`` column (empty without
    strata); columns :data:`RESULT_COLUMNS`."""
    tables, files = [], {}
    for label, one in analysis.stratified():
        key = one.data.model_dump_json()
        if key not in files:
            files[key] = read_data(one.data, data_dir)
        check_columns(one, files[key].columns)
        frame = derive_columns(keep_rows(files[key], one.keep), one.derive)
        tables.append(fit_model(one.model, frame, one.level).assign(stratum=label))
    return pd.concat(tables, ignore_index=True)[RESULT_COLUMNS]
