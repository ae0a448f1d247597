"""Analysis specs (pipeline.stats.study_analyses): what each derivation does, how strata
and joins read, and the errors an analyst meets. The published figures are in
tests/test_studies.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.errors import ConfigError, InputError
from pipeline.stats.study_analyses import (
    Analysis,
    Derive,
    Keep,
    derive_columns,
    keep_rows,
    load_study_spec,
    run_analysis,
)

from .conftest import REPO_ROOT

SPECS = REPO_ROOT / "config" / "real" / "analyses"


def _derive(frame: pd.DataFrame, *steps: dict) -> pd.DataFrame:
    return derive_columns(frame, [Derive.model_validate(s) for s in steps])


def test_sum_is_missing_when_a_part_is():
    frame = pd.DataFrame({"read": [400.0, np.nan, 420.0], "math": [500.0, 510.0, np.nan]})
    out = _derive(frame, {"name": "total", "sum": ["read", "math"]})
    assert out.total.iloc[0] == 900 and out.total.iloc[1:].isna().all()


def test_minus_centre_within_and_equals():
    frame = pd.DataFrame(
        {"age": [1.0, 1.5, 2.0, 1.0], "school": ["a", "a", "b", "b"], "trt": ["Y", "N", None, "Y"]}
    )
    out = _derive(
        frame,
        {"name": "time", "column": "age", "minus": 1},
        {"name": "centred", "column": "age", "centre_within": "school"},
        {"name": "program", "column": "trt", "equals": "Y"},
    )
    assert out.time.tolist() == [0.0, 0.5, 1.0, 0.0]
    assert out.centred.tolist() == [-0.25, 0.25, 0.5, -0.5]
    assert out.program.iloc[[0, 1, 3]].tolist() == [1.0, 0.0, 1.0] and np.isnan(out.program[2])


def test_arms_are_indicators_against_the_reference_and_missing_otherwise():
    frame = pd.DataFrame({"star": ["small", "regular", "regular+aide", None, "other"]})
    out = _derive(
        frame,
        {
            "arms": {
                "column": "star",
                "reference": "regular",
                "levels": {"small": "small", "aide": "regular+aide"},
            }
        },
    )
    assert out.small.iloc[:3].tolist() == [1.0, 0.0, 0.0]
    assert out.aide.iloc[:3].tolist() == [0.0, 0.0, 1.0]
    assert out[["small", "aide"]].iloc[3:].isna().all().all()


def test_keep_in_and_not_in():
    frame = pd.DataFrame({"grade": [0, 1, 2, 3]})
    kept = keep_rows(frame, [Keep.model_validate({"column": "grade", "in": [0, 1, 2]})])
    kept = keep_rows(kept, [Keep.model_validate({"column": "grade", "not_in": [1]})])
    assert kept.grade.tolist() == [0, 2]


def _analysis(**changes) -> Analysis:
    raw = {
        "name": "demo",
        "data": {"file": "scores.csv"},
        "derive": [{"name": "total", "sum": ["read{stratum}", "math{stratum}"]}],
        "strata": {"K": "k", "1": "1"},
        "model": {"kind": "ols", "outcome": "total", "terms": ["small"], "cov": "HC0"},
    }
    return Analysis.model_validate(raw | changes)


def test_strata_substitute_their_value_everywhere():
    (label_k, k), (label_1, first) = _analysis().stratified()
    assert (label_k, label_1) == ("K", "1")
    assert k.derive[0].sum == ["readk", "mathk"] and first.derive[0].sum == ["read1", "math1"]


@pytest.fixture
def scores(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "school": np.repeat(["s1", "s2", "s3"], n // 3),
            "small": rng.integers(0, 2, n),
            "readk": rng.normal(500, 20, n),
            "mathk": rng.normal(500, 20, n),
            "read1": rng.normal(550, 20, n),
            "math1": rng.normal(550, 20, n),
        }
    )
    frame.to_csv(tmp_path / "scores.csv", index=False)
    pd.DataFrame({"school": ["s1", "s2", "s3"], "sector": ["a", "b", "a"]}).to_csv(
        tmp_path / "schools.csv", index=False
    )
    return frame


def test_run_analysis_stacks_the_strata(tmp_path, scores):
    table = run_analysis(_analysis(), tmp_path)
    assert table.stratum.tolist() == ["K", "K", "1", "1"]
    assert table.term.tolist() == ["intercept", "small"] * 2
    control = (scores.readk + scores.mathk)[scores.small == 0].mean()
    assert table.estimate.iloc[0] == pytest.approx(control)  # the reference arm's mean


def test_a_join_adds_the_second_files_columns(tmp_path, scores):
    analysis = _analysis(
        data={
            "file": "scores.csv",
            "join": [{"file": "schools.csv", "key": "school", "columns": ["sector"]}],
        },
        strata={},
        derive=[
            {"name": "total", "sum": ["readk", "mathk"]},
            {"name": "sector_a", "column": "sector", "equals": "a"},
        ],
        model={"kind": "ols", "outcome": "total", "terms": ["sector_a"], "cov": "nonrobust"},
    )
    table = run_analysis(analysis, tmp_path).set_index("term")
    total = scores.readk + scores.mathk
    in_a = scores.school.isin(["s1", "s3"])
    assert table.loc["sector_a", "estimate"] == pytest.approx(
        total[in_a].mean() - total[~in_a].mean()
    )


def test_a_missing_column_names_the_file_the_column_and_the_step(tmp_path, scores):
    analysis = _analysis(derive=[{"name": "total", "sum": ["reed{stratum}", "math{stratum}"]}])
    with pytest.raises(InputError) as err:
        run_analysis(analysis, tmp_path)
    assert str(err.value).startswith("scores.csv, column 'reedk'")
    assert "derive step 1" in str(err.value)
    with pytest.raises(InputError, match="file not found"):
        run_analysis(_analysis(data={"file": "nope.csv"}), tmp_path)


def test_an_invalid_spec_names_the_key(tmp_path):
    spec = {
        "analyses": [
            {
                "name": "x",
                "data": {"file": "a.csv"},
                "derive": [{"name": "t", "column": "age", "minus": 1, "equals": 2}],
                "model": {"kind": "ols", "outcome": "y", "terms": []},
            },
            {"name": "x", "data": {"file": "a.csv"}, "model": {"kind": "probit"}},
        ]
    }
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError) as err:
        load_study_spec(path)
    message = str(err.value)
    assert "bad.yml" in message
    assert "analyses.0.derive.0" in message and "give one of" in message
    assert "analyses.1.model" in message


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.yml")), ids=lambda p: p.stem)
def test_every_shipped_spec_is_valid(spec):
    study = load_study_spec(spec)
    assert study.source and study.analyses
    for analysis in study.analyses:
        assert analysis.label
