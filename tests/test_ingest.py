import pandas as pd
import pytest

from pipeline.ingest import IngestError, latest_term_in, parse_grade, read_canonical


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("K", 0),
        ("PK", -1),
        ("Two", 2),
        ("Twelve", 12),
        ("3", 3),
        ("03", 3),
        ("Grade 4", 4),
        ("x", None),
    ],
)
def test_parse_grade(text, grade):
    assert parse_grade(text) == grade


def test_reads_the_demo_district_with_lineage(small_district):
    tables = read_canonical(small_district)
    students = tables["students"]
    assert students["student_id"].str.match(r"^0\d{6}$").all()
    assert students["grade"].dtype == "Int64"
    screenings = tables["screenings"]
    assert screenings["source_file"].eq("screenings.csv").all()
    assert screenings["source_row"].iloc[0] == 2
    assert str(screenings["date"].dtype).startswith("datetime64")
    term = latest_term_in(screenings)
    assert (term.school_year, term.window) == ("2025-2026", "spring")


def test_bad_value_names_file_column_row_and_value(small_district, tmp_path):
    students = pd.read_csv(small_district / "students.csv", dtype=str)
    students.loc[15, "grade"] = "Second"
    for name in ("screenings", "interventions", "progress"):
        (tmp_path / f"{name}.csv").write_bytes((small_district / f"{name}.csv").read_bytes())
    students.to_csv(tmp_path / "students.csv", index=False)
    with pytest.raises(IngestError) as err:
        read_canonical(tmp_path)
    message = str(err.value)
    assert "students.csv" in message
    assert "column 'grade'" in message
    assert "row 17" in message  # data row 15 (0-based) is spreadsheet row 17
    assert "'Second'" in message


def test_missing_required_column_is_named(tmp_path, small_district):
    students = pd.read_csv(small_district / "students.csv", dtype=str).drop(columns=["school_id"])
    students.to_csv(tmp_path / "students.csv", index=False)
    (tmp_path / "screenings.csv").write_bytes((small_district / "screenings.csv").read_bytes())
    with pytest.raises(IngestError, match=r"students\.csv, column 'school_id'.*missing"):
        read_canonical(tmp_path)
