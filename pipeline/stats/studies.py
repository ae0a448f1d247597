"""Published research datasets as data: ``config/real/*.yml`` specs read into the
canonical tables, so the same effectiveness and progress functions run on them.

A research file is not a vendor export: one row can hold several grades (Project STAR's
``read{k,1,2,3}`` columns), a score can be a rate of two columns (words correct per minute
= 60 x words correct / seconds) and one occasion can have several readings (passages).
A spec says all of that in YAML (keys below); this module has no dataset names in it.

.. code-block:: yaml

    label: Project STAR (AER::STAR)
    file: AER_STAR.csv
    student_id: rownames
    blocks: {k: 0, "1": 1, "2": 2, "3": 3}   # wide: "{block}" in column names -> grade
    grade: {block: true}                     # or {column: grade} or {value: 0}
    school_id: {column: "schoolid{block}"}   # or {value: ...}
    window: {value: spring}                  # or {column: occasion, map: {"1": fall}}
    school_year: "1985-1986"
    measures:                                # canonical measure -> its score
      star_sat_reading: {subject: reading, column: "read{block}"}
      words_correct_per_minute:
        subject: reading
        rate: {numerator: wrc, denominator: sec, per: 60}
        aggregate: median                    # several readings per occasion -> one score
    program:                                 # who was "in the program", who is comparison
      column: "star{block}"
      treated: {small: "Small class"}        # value -> program name
      comparison: [regular]
      subject_of_measures: true              # one enrolment per subject measured
    district:                                # measures added to district.yml for the run
      measures: {...}                        # in district.yml's format
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipeline.config import DistrictConfig, Measure
from pipeline.errors import ConfigError


class StudyError(ConfigError):
    """A study spec or its data file cannot be read as the spec says."""


def load_spec(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("file", "student_id", "measures"):
        if key not in spec:
            raise StudyError(f"{path}: missing key {key!r}")
    return spec | {"_path": str(path)}


def study_config(base: DistrictConfig, spec: dict[str, Any]) -> DistrictConfig:
    """``base`` with the study's measures added and its outcome measures preferred."""
    extra = {
        name: Measure.model_validate(m)
        for name, m in spec.get("district", {}).get("measures", {}).items()
    }
    outcomes = dict(base.effectiveness.outcome_measures)
    for name, m in spec["measures"].items():
        outcomes[m["subject"]] = [name, *outcomes.get(m["subject"], [])]
    return base.model_copy(
        update={
            "measures": {**base.measures, **extra},
            "effectiveness": base.effectiveness.model_copy(update={"outcome_measures": outcomes}),
        }
    )


def _column(template: str, block: str | None) -> str:
    return template.replace("{block}", block) if block is not None else template


def _value(frame: pd.DataFrame, spec: Any, block: str | None, block_value: Any) -> pd.Series:
    """A field from a spec: a constant, a (templated) column, the block, with a map."""
    if not isinstance(spec, dict):
        return pd.Series(spec, index=frame.index)
    if spec.get("block"):
        out = pd.Series(block_value, index=frame.index)
    elif "value" in spec:
        out = pd.Series(spec["value"], index=frame.index)
    else:
        name = _column(spec["column"], block)
        if name not in frame.columns:
            raise StudyError(f"column {name!r} not in the file")
        out = frame[name]
    if "map" in spec:
        mapping = {str(k): v for k, v in spec["map"].items()}
        out = out.map(lambda v: mapping.get(_text(v), np.nan))
    return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _score(frame: pd.DataFrame, spec: dict[str, Any], block: str | None) -> pd.Series:
    if "rate" in spec:
        rate = spec["rate"]
        num = pd.to_numeric(frame[_column(rate["numerator"], block)], errors="coerce")
        den = pd.to_numeric(frame[_column(rate["denominator"], block)], errors="coerce")
        return rate.get("per", 1) * num / den.where(den > 0)
    return pd.to_numeric(frame[_column(spec["column"], block)], errors="coerce")


def read_study(spec: dict[str, Any], data_dir: Path | str) -> dict[str, pd.DataFrame]:
    """The study as canonical tables: ``students`` (one row per student x grade block, so a
    student followed over grades appears once per grade, id ``<id>-<block>``),
    ``screenings``, ``interventions`` (the treated) and ``comparison`` (student ids of the
    comparison group; anyone in neither is left out of comparisons)."""
    path = Path(data_dir) / spec["file"]
    if not path.exists():
        raise StudyError(f"{path}: not found")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "NA"])
    raw = raw.assign(source_row=np.arange(2, len(raw) + 2))
    blocks = spec.get("blocks") or {None: None}
    parts = [
        _read_block(raw, spec, None if block is None else str(block), value)
        for block, value in blocks.items()
    ]
    return _study_tables(spec, parts)


def _read_block(
    raw: pd.DataFrame, spec: dict[str, Any], block: str | None, block_value: Any
) -> dict[str, pd.DataFrame | pd.Series]:
    """One grade block of the file: its ``students``, ``screenings``, ``interventions``
    and ``comparison`` ids."""
    sid = raw[spec["student_id"]].astype(str)
    if block is not None:
        sid = sid + "-" + block
    grade = _value(raw, spec.get("grade", {"value": 0}), block, block_value)
    school = _value(raw, spec.get("school_id", {"value": "study"}), block, block_value)
    window = _value(raw, spec.get("window", {"value": "spring"}), block, block_value)
    base = pd.DataFrame(
        {
            "student_id": sid,
            "school_id": school.astype("str"),
            "grade": pd.to_numeric(grade, errors="coerce"),
            "window": window,
            "source_row": raw["source_row"],
        }
    )
    scores = pd.concat(
        [_measure_scores(raw, base, name, m, block) for name, m in spec["measures"].items()],
        ignore_index=True,
    )
    roster = scores[["student_id", "school_id", "grade"]].drop_duplicates("student_id")
    part = {"students": roster, "screenings": scores}
    if "program" in spec:
        in_study = sid.isin(roster["student_id"])
        part |= _program_groups(raw, spec, block, block_value, sid[in_study])
    return part


def _measure_scores(
    raw: pd.DataFrame, base: pd.DataFrame, measure: str, mspec: dict[str, Any], block: str | None
) -> pd.DataFrame:
    """The scores of one measure (rows with a score, window and grade), one per student
    and occasion where the spec aggregates several readings."""
    scored = base.assign(
        measure=measure, subject=mspec["subject"], score=_score(raw, mspec, block)
    ).dropna(subset=["score", "window", "grade"])
    if not mspec.get("aggregate"):
        return scored
    return scored.groupby(
        ["student_id", "school_id", "grade", "window", "measure", "subject"], as_index=False
    ).agg(score=("score", mspec["aggregate"]), source_row=("source_row", "min"))


def _program_groups(
    raw: pd.DataFrame, spec: dict[str, Any], block: str | None, block_value: Any, sid: pd.Series
) -> dict[str, pd.DataFrame | pd.Series]:
    """The block's treated students (``interventions``: one enrolment per subject
    measured) and ``comparison`` ids, among the students with scores (``sid``)."""
    prog = spec["program"]
    group = _value(raw, {"column": prog["column"]}, block, block_value).map(_text).loc[sid.index]
    treated = {str(k): v for k, v in prog["treated"].items()}
    subjects = sorted({m["subject"] for m in spec["measures"].values()})
    picked = pd.DataFrame({"student_id": sid, "program": group.map(treated)})
    picked = picked[group.isin(list(treated))]
    comparison = sid[group.isin([str(v) for v in prog.get("comparison", [])])]
    enrolled = pd.concat([picked.assign(subject=s) for s in subjects], ignore_index=True)
    return {"interventions": enrolled, "comparison": comparison}


def _study_tables(spec: dict[str, Any], parts: list[dict]) -> dict[str, pd.DataFrame]:
    """The blocks' tables put together as canonical tables."""
    gather = lambda name: [p[name] for p in parts if name in p]  # noqa: E731
    screenings = pd.concat(gather("screenings"), ignore_index=True)
    screenings = screenings.drop(columns=["school_id", "grade"]).assign(
        school_year=spec.get("school_year", "2000-2001"),
        date=pd.NaT,
        percentile=pd.array([pd.NA] * len(screenings), dtype="Float64"),
        source_file=spec["file"],
    )
    enrolled, comparison = gather("interventions"), gather("comparison")
    interventions = (
        pd.concat(enrolled, ignore_index=True).drop_duplicates()
        if enrolled
        else pd.DataFrame(columns=["student_id", "program", "subject"])
    )
    students = pd.concat(gather("students"), ignore_index=True).drop_duplicates("student_id")
    return {
        "students": students.astype({"grade": int}).reset_index(drop=True),
        "screenings": screenings,
        "interventions": interventions.assign(start_date=pd.NaT),
        "comparison": pd.DataFrame(
            {"student_id": pd.concat(comparison, ignore_index=True) if comparison else []}
        ).drop_duplicates(),
    }
