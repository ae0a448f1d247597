"""Quality checks: planted defects are found, suites are sound, reports stay offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import READ_RULES, RULE_FIX, RULE_HELP, QuarantineRule
from pipeline.ingest.inputs import read_inputs
from pipeline.quality import checks, distinct, pages, quarantine, suites
from pipeline.quality import run as quality
from pipeline.synth import SynthSpec, write_district

from .conftest import PROFILES, REPO_ROOT

# src / href / url( / @import pointing off the machine (http(s):// or protocol-relative //).
NETWORK_REF = re.compile(
    r"""(?:(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//)""",
    re.I,
)


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    """A small district with planted defects, ingested through the CLI."""
    root = tmp_path_factory.mktemp("defects")
    raw = root / "raw"
    truth = write_district(
        SynthSpec(schools=2, students_per_grade=25, seed=11, defect_rate=0.02), raw
    )
    locations = [
        "--raw",
        str(raw),
        "--processed",
        str(root / "processed"),
        "--reports",
        str(root / "reports"),
        "--config",
        str(REPO_ROOT / "config"),
    ]
    assert main(["ingest", *locations]) == 0
    return root, truth


def test_planted_defects_are_quarantined_with_their_reasons(defective):
    root, truth = defective
    term = root / "processed" / "2025-2026" / "spring"
    q = pd.read_parquet(term / "quarantine.parquet")
    assert (term / "quarantine.csv").exists()
    counts = q["rule"].value_counts()
    planted = truth["defects"]
    assert counts.get("duplicate_screening", 0) == planted["duplicate_screening"]
    assert counts.get("student_not_in_roster", 0) == planted["unknown_student"]
    assert counts.get("date_outside_window", 0) == planted["date_outside_window"]
    assert counts.get("percentile_out_of_range", 0) == planted["percentile_out_of_range"]
    # Planted 999s, plus any synthetic score that strays below a measure's floor.
    assert counts.get("score_out_of_range", 0) >= planted["score_out_of_range"]
    assert (q.loc[q["rule"] == "score_out_of_range", "value"] == "999.0").sum() == planted[
        "score_out_of_range"
    ]
    # Grades written as words ("Two") are read, not quarantined.
    assert "grade_unreadable" not in counts
    assert q["source_row"].ge(2).all() and q["reason"].str.len().gt(10).all()


def test_ledger_reconciles_per_file(defective):
    root, _ = defective
    term = root / "processed" / "2025-2026" / "spring"
    ledger = pd.read_parquet(term / "ledger.parquet")
    assert set(ledger["source_file"]) == {
        "students.csv",
        "screenings.csv",
        "interventions.csv",
        "progress.csv",
    }
    assert (
        (ledger["accepted"] + ledger["quarantined"] + ledger["skipped"]).eq(ledger["records"]).all()
    )
    raw = root / "raw"
    for line in ledger.itertuples():
        assert line.data_rows == len(pd.read_csv(raw / line.source_file, dtype=str))


def test_summary_lists_reasons_and_links_data_docs(defective):
    root, _ = defective
    dq = root / "reports" / "2025-2026" / "spring" / "data-quality"
    page = (dq / "index.html").read_text()
    for text in ("duplicate_screening", "student_not_in_roster", "screenings.csv", "Top reasons"):
        assert text in page
    assert 'href="data-docs/index.html"' in page
    assert (dq / "data-docs" / "index.html").exists()
    pages = list((dq / "data-docs").rglob("*.html"))
    assert any("validations" in p.parts for p in pages)


def test_every_data_quality_file_is_offline(defective):
    root, _ = defective
    dq = root / "reports" / "2025-2026" / "spring" / "data-quality"
    offenders = []
    for path in dq.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".css", ".js", ".json"):
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [(path.name, m.group(0)) for m in NETWORK_REF.finditer(text)]
    assert offenders == []


def test_make_offline_strips_network_references(tmp_path):
    (tmp_path / "p.html").write_text(
        '<html><head><link rel="stylesheet" href="https://cdn.example/b.css">'
        '<script src="//cdn.example/j.js"></script><script>$(x)</script></head>'
        '<body><img src="https://s3.example/logo.png"><a href="https://example.org">x</a>'
        '<a href="local.html">y</a></body></html>'
    )
    (tmp_path / "s.css").write_text(
        "@import url('https://fonts.example/f.css');\n.a { background: url('https://x/y.png'); }"
        "\n.b { background: url(../fonts/f.otf); }"
    )
    pages.make_offline(tmp_path, "body { color: black; }")
    for path in tmp_path.iterdir():
        assert not NETWORK_REF.search(path.read_text())
    page = (tmp_path / "p.html").read_text()
    assert 'href="local.html"' in page and "color: black" in page
    assert "url(../fonts/f.otf)" in (tmp_path / "s.css").read_text()


def test_suites_in_the_repo_are_complete():
    specs = suites.load_suite_specs()
    rules = set()
    for table, spec in specs.items():
        assert spec["name"] == table
        for e in spec["expectations"]:
            meta = e.get("meta", {})
            assert meta.get("structural") or {"rule", "field", "reason"} <= set(meta), e
            assert e.get("description"), e
            rules.add(meta.get("rule"))
    rules.discard(None)
    assert rules <= set(RULE_HELP)
    for needed in (
        "student_not_in_roster",
        "duplicate_screening",
        "duplicate_student",
        "grade_out_of_range",
        "window_unknown",
        "date_outside_window",
        "score_out_of_range",
        "percentile_out_of_range",
        "end_before_start",
        "attended_above_planned",
    ):
        assert needed in rules


def test_superseded_by_keeps_the_latest_then_the_last_read():
    frame = pd.DataFrame(
        {
            "student_id": ["1", "1", "1", "2", "2"],
            "measure": "m",
            "school_year": "2025-2026",
            "window": "fall",
            "date": pd.to_datetime(["2025-09-03", "2025-09-01", "2025-09-03", "2025-09-01", None]),
            "source_file": "s.csv",
            "source_row": [2, 3, 4, 5, 6],
            "_order": range(5),
        }
    )
    out = checks.superseded_by(frame)
    # Student 1: rows 2 and 4 share the latest date; the row read last (4) is kept.
    assert out.iloc[0] == "s.csv row 4" and out.iloc[1] == "s.csv row 4" and pd.isna(out.iloc[2])
    # Student 2: a row without a date sorts first, so the dated row 5 is kept.
    assert pd.isna(out.iloc[3]) and out.iloc[4] == "s.csv row 5"


def write_fall_orf(raw, ids) -> None:
    """screenings.csv: one fall DIBELS 8 ORF score of 40 for each student id."""
    pd.DataFrame(
        {
            "student_id": ids,
            "school_year": "2025-2026",
            "window": "fall",
            "date": "2025-09-10",
            "measure": "dibels8_orf_wrc",
            "subject": "reading",
            "score": 40,
        }
    ).to_csv(raw / "screenings.csv", index=False)


def test_intervention_rules(tmp_path, config):
    raw = tmp_path / "raw"
    raw.mkdir()
    ids = [f"{k:03d}" for k in range(25)]
    pd.DataFrame(
        {
            "student_id": ids,
            "school_id": "1",
            "school_name": "S",
            "grade": "3",
            "first_name": "A",
            "last_name": "B",
        }
    ).to_csv(raw / "students.csv", index=False)
    write_fall_orf(raw, ids)
    log = pd.DataFrame(
        {
            "student_id": ids,
            "program": "Phonics Boost",
            "subject": "reading",
            "start_date": "2025-10-01",
            "end_date": "2026-03-01",
            "sessions_planned": "40",
            "sessions_attended": "30",
        }
    )
    log.loc[2, "end_date"] = "2025-09-01"
    log.loc[5, "sessions_attended"] = "55"
    log.loc[7, "sessions_planned"] = "lots"
    log.to_csv(raw / "interventions.csv", index=False)
    result = quality.run_quality(read_inputs(raw, config, PROFILES), config)
    q = result.quarantine.set_index("source_row")
    assert q.loc[4, "rule"] == "end_before_start" and "2025-10-01" in q.loc[4, "reason"]
    assert q.loc[7, "rule"] == "attended_above_planned"
    assert q.loc[9, "rule"] == "value_unreadable" and "'lots'" in q.loc[9, "reason"]
    assert len(result.tables["interventions"]) == 22


def test_summary_escapes_data(tmp_path, config):
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame(
        {
            "student_id": ["1", "<script>alert(1)</script>"],
            "school_id": "1",
            "school_name": "S",
            "grade": ["3", "<b>x</b>"],
            "first_name": "A",
            "last_name": "B",
        }
    ).to_csv(raw / "students.csv", index=False)
    write_fall_orf(raw, ["1"])
    result = quality.run_quality(read_inputs(raw, config, PROFILES), config)
    page = pages.summary_html(result, "DQ", "", "now", None)
    assert "<script>alert" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_gx_is_imported_with_usage_statistics_off():
    quality.gx()
    assert quality.gx() is quality.gx()
    import os

    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"


def test_every_quarantine_rule_is_one_enum_member_with_help():
    """The suites' meta.rule ids are QuarantineRule members, each member has a help text
    and a fix hint, and each member is a rule some suite can quarantine a row under (or
    one ingest applies while reading, READ_RULES)."""
    used = set()
    for path in (REPO_ROOT / "config" / "expectations").glob("*.json"):
        for e in json.loads(path.read_text())["expectations"]:
            if "rule" in e.get("meta", {}):
                used.add(QuarantineRule(e["meta"]["rule"]))  # raises for an unknown id
    assert set(RULE_HELP) == set(RULE_FIX) == set(QuarantineRule) == used | READ_RULES
    assert not used & READ_RULES
    assert all(isinstance(text, str) and len(text) > 10 for text in RULE_HELP.values())
    assert all(isinstance(text, str) and len(text) > 10 for text in RULE_FIX.values())


def test_suite_files_are_valid_json():
    for path in (REPO_ROOT / "config" / "expectations").glob("*.json"):
        assert json.loads(path.read_text())["expectations"]


def test_term_index_links_the_data_quality_summary(defective, tmp_path):
    root, _ = defective
    from pipeline.config import load_config
    from pipeline.render import engine as render

    config = load_config(REPO_ROOT / "config")
    index = render.write_term_index(root / "reports", "2025-2026", "spring", [], [], config, "test")
    text = index.read_text()
    assert 'href="data-quality/index.html"' in text
    assert not NETWORK_REF.search(text)
    assert isinstance(index, Path)


def _comparable(result) -> list:
    """Each expectation's outcome, as plain JSON."""
    return [
        (item.expectation_config.type, item.success, json.dumps(item.result, default=str))
        for item in result.results
    ]


def _check_frames(raw: Path, config) -> dict[str, pd.DataFrame]:
    """Every table's check frame of a synthetic district, with more bad values than the
    synthetic defects: missing ids, scores and dates; and more distinct failing values
    than GX lists (``MAX_RESULT_RECORDS``), each on repeated rows."""
    mapped = read_inputs(raw, config, PROFILES)
    roster, _ = quality._roster_candidates(mapped, config)
    frames = {"students": checks.check_frame("students", roster, config, None)}
    ids = pd.Index(frames["students"]["student_id"].dropna().unique())
    for table in ("screenings", "interventions", "progress"):
        records = quality._records_of(mapped, table)
        frames[table] = checks.check_frame(table, records, config, ids)
    screenings = frames["screenings"]
    screenings.loc[3, "student_id"] = None
    screenings.loc[4, "score"] = None
    screenings.loc[5, ["date", "window_end"]] = None
    screenings.loc[6, "percentile"] = 0.0
    many = np.arange(10, 10 + 2 * 260)
    screenings.loc[many, "score"] = 10_000.0 + many // 2  # 260 values, each on two rows
    screenings.loc[many, "percentile"] = 100.0 + many // 2
    return frames


@pytest.fixture(scope="module")
def check_frames(tmp_path_factory, config):
    raw = tmp_path_factory.mktemp("frames") / "raw"
    write_district(SynthSpec(schools=2, students_per_grade=20, seed=5, defect_rate=0.05), raw)
    return _check_frames(raw, config)


SUITE_EXPECTATIONS = [
    (table, k)
    for table, spec in suites.load_suite_specs().items()
    for k in range(len(spec["expectations"]))
]


@pytest.fixture(scope="module")
def one_expectation_suites():
    """A validator with one suite per expectation of config/expectations/."""
    specs = suites.load_suite_specs()
    return suites.Validator(
        {
            f"{table}-{k}": {
                "name": f"{table}-{k}",
                "expectations": [specs[table]["expectations"][k]],
            }
            for table, k in SUITE_EXPECTATIONS
        }
    )


@pytest.mark.parametrize(("table", "k"), SUITE_EXPECTATIONS)
def test_every_suite_expectation_by_value_equals_gx_on_every_row(
    table, k, check_frames, one_expectation_suites, config
):
    """The adapter's result of each expectation (success, counts, percentages, missing
    counts, index list, unexpected and partial lists) is GX's on every row."""
    validator, frame = one_expectation_suites, check_frames[table]
    parameters = suites.suite_parameters(config)
    name = f"{table}-{k}"
    rowwise = validator.validate(name, frame, parameters, distinct=False)
    by_value = validator.validate(name, frame, parameters, distinct=True)
    assert _comparable(by_value) == _comparable(rowwise)
    assert by_value.statistics == rowwise.statistics and by_value.success == rowwise.success


def test_distinct_values_validation_equals_the_row_by_row_run(check_frames, config):
    """GX on each table's distinct values, mapped back to rows, finds exactly the failing
    rows, counts and percentages GX finds on every row (planted bad values included)."""
    validator = suites.Validator(suites.load_suite_specs())
    parameters = suites.suite_parameters(config)
    failed = 0
    for table, frame in check_frames.items():
        suite = distinct.plan(validator.suites[table].expectations, distinct.shape_engine(frame))
        assert suite.rows_because is None and suite.row_wise
        rowwise = validator.validate(table, frame, parameters, distinct=False)
        by_value = validator.validate(table, frame, parameters, distinct=True)
        assert _comparable(by_value) == _comparable(rowwise), table
        assert by_value.statistics == rowwise.statistics
        failed += sum(not item.success for item in rowwise.results)
    assert failed >= 5
    listed = rowwise = validator.validate("screenings", check_frames["screenings"], parameters)
    percentile = next(
        r
        for r in listed.results
        if r.expectation_config.meta.get("rule") == "percentile_out_of_range"
    )
    assert (
        percentile.result["unexpected_count"] > 500
        and len(percentile.result["unexpected_list"]) == 200
    )


def _expectations(*pairs) -> list:
    return suites.expectations_of(
        {"expectations": [{"type": kind, "kwargs": kwargs} for kind, kwargs in pairs]}
    )


def test_mostly_and_aggregates_are_gx_s_results(check_frames, config):
    """``mostly`` is decided by GX on the table's counts; an aggregate expectation makes
    the suite run on every row (and says so)."""
    frame = check_frames["screenings"]
    share = frame["percentile"].between(1, 99).sum() / frame["percentile"].notna().sum()
    specs = {
        "mostly": {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {
                        "column": "percentile",
                        "min_value": 1,
                        "max_value": 99,
                        "mostly": mostly,
                    },
                }
                for mostly in (share - 0.01, share + 0.01)
            ]
        },
        "aggregate": {
            "expectations": [
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "score"}},
                {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
            ]
        },
    }
    validator = suites.Validator(specs)
    for name in specs:
        rowwise = validator.validate(name, frame, {}, distinct=False)
        by_value = validator.validate(name, frame, {}, distinct=True)
        assert _comparable(by_value) == _comparable(rowwise)
        assert by_value.statistics == rowwise.statistics
    assert [r.success for r in validator.validate("mostly", frame, {}).results] == [True, False]
    aggregate = distinct.plan(
        validator.suites["aggregate"].expectations, distinct.shape_engine(frame)
    )
    assert "expect_table_row_count_to_be_between" in aggregate.rows_because


@pytest.mark.parametrize(
    ("kind", "kwargs", "expected"),
    [
        ("expect_column_values_to_not_be_null", {"column": "a"}, "row-wise"),
        ("expect_column_values_to_match_regex", {"column": "a", "regex": "x"}, "row-wise"),
        ("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b"}, "row-wise"),
        (
            "expect_multicolumn_sum_to_equal",
            {"column_list": ["a", "b"], "sum_total": 3},
            "row-wise",
        ),
        ("expect_table_columns_to_match_set", {"column_set": ["a"]}, "shape"),
        (
            "expect_column_values_to_be_in_type_list",
            {"column": "a", "type_list": ["int64"]},
            "shape",
        ),
        ("expect_column_values_to_be_unique", {"column": "a"}, "rows"),
        ("expect_column_values_to_be_increasing", {"column": "a"}, "rows"),
        (
            "expect_column_value_z_scores_to_be_less_than",
            {"column": "a", "threshold": 2, "double_sided": False},
            "rows",
        ),
        ("expect_compound_columns_to_be_unique", {"column_list": ["a", "b"]}, "rows"),
        ("expect_column_mean_to_be_between", {"column": "a", "min_value": 0}, "rows"),
        ("expect_table_row_count_to_be_between", {"min_value": 0}, "rows"),
    ],
)
def test_kind_of_an_expectation_comes_from_gx(kind, kwargs, expected):
    frame = pd.DataFrame({"a": [1, 2, 2], "b": [2, 1, 1]})
    (expectation,) = _expectations((kind, kwargs))
    assert distinct.kind_of(expectation, distinct.shape_engine(frame))[0] == expected


def test_value_groups_links_pair_columns_and_refuses_other_expectations():
    pairs = [
        ("expect_table_columns_to_match_set", {"column_set": ["a"]}),
        ("expect_column_values_to_not_be_null", {"column": "a"}),
        ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "b", "column_B": "c"}),
        ("expect_column_values_to_be_between", {"column": "c", "min_value": 0}),
    ]
    assert sorted(map(sorted, distinct.value_groups(_expectations(*pairs)))) == [["a"], ["b", "c"]]
    # mostly: GX decides success from the table's counts, so it stays row-wise.
    mostly = ("expect_column_values_to_not_be_null", {"column": "a", "mostly": 0.9})
    assert distinct.value_groups(_expectations(*pairs, mostly)) is not None
    unique = ("expect_column_values_to_be_unique", {"column": "a"})
    assert distinct.value_groups(_expectations(unique)) is None


def test_nullness_columns_are_those_only_required_present():
    expectations = _expectations(
        ("expect_column_values_to_not_be_null", {"column": "a"}),
        ("expect_column_values_to_not_be_null", {"column": "b"}),
        ("expect_column_values_to_be_in_set", {"column": "b", "value_set": [1]}),
        ("expect_column_values_to_be_null", {"column": "c"}),
        ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "d", "column_B": "e"}),
        ("expect_column_values_to_not_be_null", {"column": "d"}),
    )
    assert distinct.nullness_columns(expectations) == {"a"}


def test_distinct_values_of_a_nullness_column_are_present_and_missing():
    ids = pd.Series([f"{k:05d}" for k in range(1000)] + [None], dtype="str")
    frame = pd.DataFrame({"student_id": ids, "grade": np.arange(1001) % 3})
    values = distinct.DistinctValues.of(frame, [("student_id",), ("grade",)], {"student_id"})
    assert len(values.frame) == 3  # the three grades; the ids need two rows
    assert values.sizes["student_id"] == 2
    assert values.frame["student_id"].iloc[:2].isna().tolist() == [False, True]
    assert (values.codes["student_id"] == ids.isna().to_numpy()).all()


@pytest.mark.parametrize("distinct_ids", [5, 300, 5000])
def test_tuple_codes_number_the_groupby_groups_in_the_smallest_dtype(distinct_ids):
    """Rows share a code exactly when they share a tuple (missing is a value): the codes
    are ``groupby(dropna=False).ngroup()`` relabelled, 0..k-1, in the smallest dtype."""
    rng = np.random.default_rng(distinct_ids)
    n = 3000
    frame = pd.DataFrame(
        {
            "id": pd.Series(rng.integers(0, distinct_ids, n).astype(str), dtype="category"),
            "score": pd.array(rng.integers(0, 40, n) / 2, dtype="Float64"),
            "date": pd.Series(rng.integers(0, 9, n) * 86400, dtype="datetime64[s]"),
        }
    )
    frame.loc[rng.random(n) < 0.1, "score"] = None
    frame.loc[rng.random(n) < 0.1, "id"] = None
    for columns in (("score",), ("id", "score"), ("date", "id", "score")):
        codes = distinct._tuple_codes(frame, columns)
        groups = frame.groupby(list(columns), dropna=False, sort=False).ngroup().to_numpy()
        pairs = set(zip(codes.tolist(), groups.tolist(), strict=True))
        assert len(pairs) == len(set(groups)) == codes.max() + 1  # a bijection, 0..k-1
        smallest = next(t for t in (np.int8, np.int16, np.int32) if codes.max() <= np.iinfo(t).max)
        assert codes.dtype == smallest


@pytest.mark.parametrize("seed", range(6))
def test_packed_sort_orders_as_the_three_key_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = 200
    key = rng.integers(0, 7, n)
    date = rng.integers(0, 5, n) * (86400 if seed % 2 else 13)
    missing = rng.random(n) < 0.2
    order = rng.permutation(n) if seed % 3 else np.arange(n)
    expected = np.lexsort((order, np.where(missing, np.iinfo("int64").min, date), key))
    got = checks._sort_by_key_date_order(key, 7, date, missing, order)
    assert got.tolist() == expected.tolist()


def test_releasing_the_mapped_records_changes_no_result(tmp_path, config):
    raw = tmp_path / "raw"
    write_district(SynthSpec(schools=2, students_per_grade=15, seed=3, defect_rate=0.05), raw)
    kept = quality.run_quality(read_inputs(raw, config, PROFILES), config)
    mapped = read_inputs(raw, config, PROFILES)
    released = quality.run_quality(mapped, config, release=True)
    pd.testing.assert_frame_equal(released.ledger, kept.ledger)
    pd.testing.assert_frame_equal(released.quarantine, kept.quarantine)
    for table, frame in kept.tables.items():
        pd.testing.assert_frame_equal(released.tables[table], frame)
    assert all(m.records.empty for m in mapped if m.profile.table != "students")


def test_encoded_text_tables_are_the_text_tables_as_categoricals(tmp_path, config):
    raw = tmp_path / "raw"
    write_district(SynthSpec(schools=2, students_per_grade=15, seed=4, defect_rate=0.05), raw)
    text = quality.run_quality(read_inputs(raw, config, PROFILES), config)
    encoded = quality.run_quality(read_inputs(raw, config, PROFILES), config, encoded_text=True)
    pd.testing.assert_frame_equal(encoded.ledger, text.ledger)
    pd.testing.assert_frame_equal(encoded.quarantine, text.quarantine)
    for table, frame in text.tables.items():
        kept = encoded.tables[table]
        categorical = [c for c in kept if isinstance(kept[c].dtype, pd.CategoricalDtype)]
        assert categorical
        pd.testing.assert_frame_equal(kept.astype(dict.fromkeys(categorical, "str")), frame)


def test_python_values_are_the_values_to_dict_gives():
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", None, "b"], dtype="str"),
            "code": pd.Series(["x", None, "x"], dtype="category"),
            "number": pd.array([1.5, None, 2.0], dtype="Float64"),
            "count": pd.array([1, None, 3], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "row": np.array([2, 3, 4], dtype="int64"),
        },
        index=[7, 3, 5],
    )
    names = list(frame.columns)
    columns = [quarantine._python_values(frame[c]) for c in names]
    rows = [dict(zip(names, v, strict=True)) for v in zip(*columns, strict=True)]
    expected = frame.to_dict("records")
    assert [{k: repr(v) for k, v in r.items()} for r in rows] == [
        {k: repr(v) for k, v in r.items()} for r in expected
    ]
    assert [type(v) for v in rows[1].values()] == [type(v) for v in expected[1].values()]
