"""Reading real vendor layouts and hostile inputs: values, quarantine, ledger, stops."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import InputError
from pipeline.ingest.inputs import read_inputs
from pipeline.ingest.read import read_text_table
from pipeline.ingest.terms import latest_term_in
from pipeline.ingest.values import parse_grade
from pipeline.quality import run as quality

from .conftest import PROFILES, VENDOR


def ingest(raw: Path, config, forced=None) -> quality.QualityResult:
    result = quality.run_quality(read_inputs(raw, config, PROFILES, forced), config)
    assert_reconciled(result)
    return result


def assert_reconciled(result: quality.QualityResult) -> None:
    ledger = result.ledger
    assert (
        (ledger["accepted"] + ledger["quarantined"] + ledger["skipped"]).eq(ledger["records"]).all()
    )
    for table, frame in result.tables.items():
        for file, n in frame.groupby("source_file").size().items():
            line = ledger[(ledger["source_file"] == file) & (ledger["table"] == table)]
            assert int(line["accepted"].iloc[0]) == n


def one(frame: pd.DataFrame, **where) -> pd.Series:
    hit = frame
    for column, value in where.items():
        hit = hit[hit[column] == value]
    assert len(hit) == 1, f"{len(hit)} rows match {where}"
    return hit.iloc[0]


def vendor_raw(tmp_path: Path, *names: str, roster: pd.DataFrame | None = None) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in names:
        shutil.copy(VENDOR / name, raw / name)
    if roster is not None:
        roster.to_csv(raw / "students.csv", index=False)
    return raw


def roster_of(ids: list[str], grade: str = "3", school: str = "001") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "student_id": ids,
            "school_id": school,
            "school_name": "Test Elementary",
            "grade": grade,
            "first_name": "Ana",
            "last_name": "Lee",
        }
    )


def write_canonical(raw: Path, students: pd.DataFrame, screenings: pd.DataFrame) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    students.to_csv(raw / "students.csv", index=False)
    screenings.to_csv(raw / "screenings.csv", index=False)


def screenings_of(ids: list[str], scores: list[float], **extra) -> pd.DataFrame:
    n = len(ids)
    base = {
        "student_id": ids,
        "school_year": "2025-2026",
        "window": "fall",
        "date": "2025-09-15",
        "measure": "dibels8_orf_wrc",
        "subject": "reading",
        "score": scores,
        "percentile": [50] * n,
        "vendor_level": "",
    }
    base.update(extra)
    return pd.DataFrame(base)


# --------------------------------------------------------------------------- grades


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
        ("5th", 5),
        ("x", None),
        ("Second", None),
    ],
)
def test_parse_grade(text, grade):
    assert parse_grade(text) == grade


# --------------------------------------------------------------------------- demo


def test_reads_the_demo_district_with_lineage(small_district, config):
    result = ingest(small_district, config)
    students = result.tables["students"]
    assert students["student_id"].str.match(r"^0\d{6}$").all()
    assert students["grade"].dtype == "Int64"
    screenings = result.tables["screenings"]
    assert screenings["source_file"].eq("screenings.csv").all()
    assert screenings["source_row"].iloc[0] == 2
    assert str(screenings["date"].dtype).startswith("datetime64")
    raw = pd.read_csv(small_district / "screenings.csv", dtype=str)
    assert len(screenings) == len(raw)  # the default small district has no defects
    assert result.quarantine.empty
    term = latest_term_in(screenings)
    assert (term.school_year, term.window) == ("2025-2026", "spring")


# --------------------------------------------------------------------------- vendors


def test_dibels8_mclass_export(tmp_path, config):
    result = ingest(vendor_raw(tmp_path, "dibels8_benchmark.csv"), config)
    s = result.tables["screenings"]
    row = one(s, student_id="605000", measure="dibels8_composite")
    assert (row["score"], row["percentile"], row["vendor_level"]) == (
        271,
        42,
        "Well Below Benchmark",
    )
    assert (row["school_year"], row["window"]) == ("2023-2024", "fall")  # BOY
    assert row["date"] == pd.Timestamp("2023-10-05")
    # mCLASS reports a percentile of 0; Tierwise's percentiles run 1-99.
    assert one(s, student_id="605003", measure="dibels8_psf")["percentile"] == 1
    students = result.tables["students"].set_index("student_id")
    assert students.loc["605003", "grade"] == -1  # "PK"
    assert students.loc["605002", "grade"] == 4  # "04"
    assert students.loc["605000", "last_name"] == "One"
    ledger = one(result.ledger, table="screenings")
    # Student Four's NWF-CLS, NWF-WRC and WRF are "Discontinue": skipped, with the reason.
    assert ledger["skipped"] == 3 and "Discontinue" in ledger["skipped_by_reason"]
    assert ledger["quarantined"] == 0


def test_map_growth_cdf_with_a_roster(tmp_path, config):
    roster = roster_of([f"60500{k}" for k in range(6)], grade="4")
    result = ingest(vendor_raw(tmp_path, "map_growth_cdf.csv", roster=roster), config)
    s = result.tables["screenings"]
    math = one(s, student_id="605001")
    assert (math["measure"], math["subject"], math["score"], math["percentile"]) == (
        "map_math_rit",
        "math",
        233,
        32,
    )
    assert (math["school_year"], math["window"]) == ("2021-2022", "fall")
    reading = one(s, student_id="605000")
    assert (reading["measure"], reading["score"], reading["source_row"]) == (
        "map_reading_rit",
        165,
        8,
    )
    line = one(result.ledger, source_file="map_growth_cdf.csv")
    assert (line["records"], line["accepted"], line["skipped"]) == (7, 4, 3)
    assert "Science" in line["skipped_by_reason"]


def test_iready_reading_with_bom_and_norming_windows(tmp_path, config):
    assert (VENDOR / "iready_diagnostic_ela.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    result = ingest(vendor_raw(tmp_path, "iready_diagnostic_ela.csv"), config)
    s = result.tables["screenings"]
    fall = one(s, student_id="605002", measure="iready_reading_scale", window="fall")
    assert (fall["score"], fall["percentile"], fall["date"]) == (
        572,
        47,
        pd.Timestamp("2025-08-27"),
    )
    winter = one(s, student_id="605001", measure="iready_reading_scale", window="winter")
    assert winter["score"] == 424 and winter["vendor_level"] == "2 Grade Levels Below"
    phonics = one(s, student_id="605001", measure="iready_reading_phonics_scale", window="winter")
    assert phonics["score"] == 403
    students = result.tables["students"].set_index("student_id")
    assert (
        students.loc["605002", "grade"] == 6 and students.loc["605002", "school_id"] == "school-1"
    )
    line = one(result.ledger, table="screenings")
    assert "surpassed" in line["skipped_by_reason"] and line["quarantined"] == 0


def test_iready_math(tmp_path, config):
    result = ingest(vendor_raw(tmp_path, "iready_diagnostic_math.csv"), config)
    spring = one(
        result.tables["screenings"],
        student_id="605001",
        measure="iready_math_scale",
        window="spring",
    )
    assert (spring["score"], spring["percentile"], spring["subject"]) == (432, 27, "math")


def test_star_reading_keeps_leading_zeros(tmp_path, config):
    result = ingest(vendor_raw(tmp_path, "star_reading.csv"), config)
    row = one(result.tables["screenings"], student_id="605003")
    assert (row["measure"], row["score"], row["percentile"]) == ("star_reading_scaled", 723, 40)
    assert row["vendor_level"] == "At/Above Benchmark"
    assert row["date"] == pd.Timestamp("2023-08-23") and row["window"] == "fall"
    student = one(result.tables["students"], student_id="605003")
    assert (student["grade"], student["school_id"]) == (7, "01")


def test_fastbridge_cbmreading_wide_to_long(tmp_path, config):
    result = ingest(vendor_raw(tmp_path, "fastbridge_cbmreading.csv"), config)
    s = result.tables["screenings"]
    wrc = s[(s["student_id"] == "10004") & (s["measure"] == "fastbridge_cbmr_wrc")]
    assert list(wrc.sort_values("date")["window"]) == ["fall", "winter", "spring"]
    winter = one(wrc, window="winter")
    assert (winter["score"], winter["percentile"], winter["vendor_level"]) == (10, 2, "highRisk")
    assert winter["date"] == pd.Timestamp("2023-01-25") and winter["school_year"] == "2022-2023"
    assert winter["source_row"] == 5  # the wide row it came from
    student = one(result.tables["students"], student_id="10004")
    assert student["grade"] == 2  # "Two"
    assert len(s) == 5 * 3 * 2  # 5 students x 3 windows x (WRC, accuracy)


def test_fastbridge_areading_wide_with_empty_windows(tmp_path, config):
    result = ingest(vendor_raw(tmp_path, "fastbridge_areading.csv"), config)
    s = result.tables["screenings"]
    row = one(s, student_id="37315")
    assert row["score"] == pytest.approx(533.0886) and row["percentile"] == 17
    assert (row["window"], row["school_year"], row["vendor_level"]) == (
        "fall",
        "2025-2026",
        "someRisk",
    )
    assert one(result.tables["students"], student_id="37315")["grade"] == 12  # "Twelve"
    line = one(result.ledger, table="screenings")
    # Six students have no aReading score in any window: each row is counted as skipped.
    assert (line["data_rows"], line["accepted"], line["skipped"]) == (9, 3, 6)


def test_basc3_bess_behaviour_screener(tmp_path, config):
    result = ingest(vendor_raw(tmp_path, "basc3_bess.csv"), config)
    s = result.tables["screenings"]
    beri = one(s, student_id="100", measure="bess_beri_tscore")
    assert (beri["score"], beri["percentile"], beri["vendor_level"]) == (64, 90, "Elevated")
    assert (beri["window"], beri["school_year"], beri["subject"]) == (
        "fall",
        "2022-2023",
        "behavior",
    )
    ext = one(s, student_id="100", measure="bess_externalizing_raw")
    assert ext["vendor_level"] == "Elevated Risk"
    assert one(result.tables["students"], student_id="300")["grade"] == -1  # "EE"


def test_every_vendor_sample_together(tmp_path, config):
    names = sorted(p.name for p in VENDOR.glob("*.csv"))
    roster = roster_of([f"60500{k}" for k in range(6)])
    result = ingest(vendor_raw(tmp_path, *names, roster=roster), config)
    assert set(result.ledger["source_file"]) == {*names, "students.csv"}
    assert result.quarantine.empty


# --------------------------------------------------------------------------- hostile


def test_utf8_bom_header_is_clean(tmp_path, config):
    raw = tmp_path / "raw"
    write_canonical(raw, roster_of(["0001"]), screenings_of(["0001"], [40]))
    path = raw / "students.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = ingest(raw, config)
    assert list(result.tables["students"]["student_id"]) == ["0001"]


def test_windows_1252_names(tmp_path, config):
    raw = tmp_path / "raw"
    students = roster_of(["0001", "0002"])
    students["first_name"] = ["José", "Zoë"]
    write_canonical(raw, students, screenings_of(["0001", "0002"], [40, 50]))
    students.to_csv(raw / "students.csv", index=False, encoding="cp1252")
    result = ingest(raw, config)
    assert list(result.tables["students"]["first_name"]) == ["José", "Zoë"]


def test_xlsx_roster_keeps_text_ids(tmp_path, config):
    raw = tmp_path / "raw"
    students = roster_of(["0001", "0002"])
    students["grade"] = ["K", "Two"]
    write_canonical(raw, students, screenings_of(["0001", "0002"], [40, 50]))
    (raw / "students.csv").unlink()
    students.to_excel(raw / "students.xlsx", index=False)
    result = ingest(raw, config)
    out = result.tables["students"]
    assert list(out["student_id"]) == ["0001", "0002"]
    assert list(out["grade"]) == [0, 2]
    assert set(out["source_file"]) == {"students.xlsx"}


def test_xlsx_date_cells_are_dates(tmp_path, config):
    raw = tmp_path / "raw"
    write_canonical(raw, roster_of(["0001"]), screenings_of(["0001"], [40]))
    screenings = screenings_of(["0001"], [40]).assign(date=pd.Timestamp("2025-09-15"))
    (raw / "screenings.csv").unlink()
    screenings.to_excel(raw / "screenings.xlsx", index=False)
    row = one(ingest(raw, config).tables["screenings"], student_id="0001")
    assert row["date"] == pd.Timestamp("2025-09-15") and row["score"] == 40


def test_quoted_commas_newlines_trailing_columns_and_missing_tokens(tmp_path, config):
    raw = tmp_path / "raw"
    write_canonical(raw, roster_of(["0001", "0002", "0003"]), screenings_of(["0001"], [40]))
    (raw / "students.csv").write_text(
        "student_id,school_id,school_name,grade,first_name,last_name,homeroom,,\n"
        '0001,001,"Lee, Ana Elementary",3,Ana,Lee,"Room 4\nnorth wing",,\n'
        "0002,001,Test,N/A,Bo,Kim,--,,\n"
        "0003,001,Test,3,Cy,Park,N/A*,,\n",
        encoding="utf-8",
    )
    result = ingest(raw, config)
    students = result.tables["students"].set_index("student_id")
    assert students.loc["0001", "school_name"] == "Lee, Ana Elementary"
    assert students.loc["0001", "homeroom"] == "Room 4\nnorth wing"
    assert pd.isna(students.loc["0003", "homeroom"])
    # "N/A" grade is missing: the student is quarantined, at spreadsheet row 3.
    q = one(result.quarantine, student_id="0002")
    assert (q["rule"], q["source_row"], q["column"]) == ("grade_unreadable", 3, "grade")


def test_padded_cells_and_tokens_read_like_clean_ones_and_tables_are_text(tmp_path, config):
    """Cells are read dictionary-encoded and cleaned through their distinct values: the
    canonical tables are what clean cells give, with text as ``str`` (not categorical)."""
    ids = ["0001", "0002", "0003"]
    clean, padded = tmp_path / "clean", tmp_path / "padded"
    write_canonical(clean, roster_of(ids), screenings_of(ids, [40, 50, 60]))
    write_canonical(padded, roster_of(ids), screenings_of(ids, [40, 50, 60]))
    (padded / "screenings.csv").write_text(
        "student_id,school_year,window,date,measure,subject,score,percentile,vendor_level\n"
        "0001, 2025-2026 ,fall ,2025-09-15, dibels8_orf_wrc,reading, 40,50, N/A \n"
        " 0002 ,2025-2026,fall,2025-09-15,dibels8_orf_wrc,reading,50 ,50,\n"
        '"0003",2025-2026," fall",2025-09-15,dibels8_orf_wrc,reading,60,50,--\n',
        encoding="utf-8",
    )
    expected, got = ingest(clean, config), ingest(padded, config)
    for table in ("students", "screenings"):
        pd.testing.assert_frame_equal(got.tables[table], expected.tables[table])
        text = [c for c, kind in got.tables[table].dtypes.items() if kind == "category"]
        assert text == []
    assert got.tables["screenings"]["score"].tolist() == [40.0, 50.0, 60.0]


def test_missing_required_column_stops_with_file_and_column(tmp_path, config):
    raw = tmp_path / "raw"
    write_canonical(raw, roster_of(["0001"]), screenings_of(["0001"], [40]).drop(columns="date"))
    with pytest.raises(InputError) as err:
        read_inputs(raw, config, PROFILES)
    message = str(err.value)
    assert "screenings.csv" in message and "'date'" in message
    assert "canonical_screenings" in message  # the closest profile, and what it misses


def test_profile_column_missing_stops_with_file_and_column(tmp_path, config):
    raw = vendor_raw(tmp_path, "star_reading.csv")
    frame = pd.read_csv(raw / "star_reading.csv", dtype=str).drop(columns="CompletedDateLocal")
    frame.to_csv(raw / "star_reading.csv", index=False)
    with pytest.raises(InputError, match=r"star_reading\.csv, column 'CompletedDateLocal'") as err:
        read_inputs(raw, config, PROFILES)
    assert err.value.column == "CompletedDateLocal"


def test_unknown_layout_names_closest_profiles(tmp_path, config):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "mystery.csv").write_text("Student Number,Fluency Score\n1,40\n")
    with pytest.raises(InputError) as err:
        read_inputs(raw, config, PROFILES)
    message = str(err.value)
    assert "mystery.csv" in message and "unknown layout" in message
    assert "basc3_bess" in message and "missing 'Submitted'" in message


def test_duplicates_keep_the_latest_by_date(tmp_path, config):
    raw = tmp_path / "raw"
    ids = [f"{k:04d}" for k in range(30)]
    screenings = screenings_of(ids, [40] * 30)
    again = screenings.iloc[[3]].assign(date="2025-09-20", score=44)  # a later re-test
    earlier = screenings.iloc[[7]].assign(date="2025-09-01", score=38)  # an older upload
    write_canonical(raw, roster_of(ids), pd.concat([screenings, again, earlier]))
    result = ingest(raw, config)
    s = result.tables["screenings"]
    assert one(s, student_id="0003")["score"] == 44
    assert one(s, student_id="0007")["score"] == 40
    q = result.quarantine.set_index("student_id")
    assert set(q.index) == {"0003", "0007"} and set(q["rule"]) == {"duplicate_screening"}
    assert q.loc["0003", "source_row"] == 5  # the original row 5 lost to the later re-test
    assert "screenings.csv row 32" in q.loc["0003", "reason"]
    assert q.loc["0007", "source_row"] == 33


def test_unknown_student_is_quarantined(tmp_path, config):
    raw = tmp_path / "raw"
    ids = [f"{k:04d}" for k in range(30)]
    write_canonical(raw, roster_of(ids), screenings_of([*ids, "9999"], [40] * 31))
    result = ingest(raw, config)
    q = one(result.quarantine, student_id="9999")
    assert (q["rule"], q["column"], q["value"], q["source_row"]) == (
        "student_not_in_roster",
        "student_id",
        "9999",
        32,
    )
    assert len(result.tables["screenings"]) == 30


def test_out_of_range_score_is_quarantined_with_its_value(tmp_path, config):
    raw = tmp_path / "raw"
    ids = [f"{k:04d}" for k in range(30)]
    scores = [40] * 30
    scores[4] = 999
    write_canonical(raw, roster_of(ids), screenings_of(ids, scores))
    result = ingest(raw, config)
    q = one(result.quarantine)
    assert (q["rule"], q["value"], q["source_row"]) == ("score_out_of_range", "999.0", 6)
    assert "0-300" in q["reason"] and "dibels8_orf_wrc" in q["reason"]


def test_grade_words_are_read_and_a_bad_grade_names_row_and_value(small_district, tmp_path, config):
    students = pd.read_csv(small_district / "students.csv", dtype=str)
    students.loc[3, "grade"] = "Two"
    students.loc[15, "grade"] = "Second"
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("screenings", "interventions", "progress"):
        shutil.copy(small_district / f"{name}.csv", raw / f"{name}.csv")
    students.to_csv(raw / "students.csv", index=False)
    result = ingest(raw, config)
    roster = result.tables["students"].set_index("student_id")
    assert roster.loc[students.loc[3, "student_id"], "grade"] == 2
    q = one(result.quarantine, table="students")
    assert (q["source_file"], q["column"], q["source_row"], q["value"]) == (
        "students.csv",
        "grade",
        17,  # data row 15 (0-based) is spreadsheet row 17
        "Second",
    )
    assert "'Second' is not a grade" in q["reason"]
    # That student's screenings cannot join the roster: quarantined, not lost.
    lost = result.quarantine[result.quarantine["student_id"] == students.loc[15, "student_id"]]
    assert set(lost["rule"]) == {"grade_unreadable", "student_not_in_roster"}


def test_empty_file_stops(tmp_path, config):
    raw = tmp_path / "raw"
    write_canonical(raw, roster_of(["0001"]), screenings_of(["0001"], [40]))
    (raw / "progress.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"progress\.csv.*empty"):
        read_inputs(raw, config, PROFILES)


def test_header_only_file_reads_as_zero_rows(tmp_path, config):
    raw = tmp_path / "raw"
    write_canonical(raw, roster_of(["0001"]), screenings_of(["0001"], [40]))
    (raw / "progress.csv").write_text("student_id,date,measure,score\n")
    result = ingest(raw, config)
    line = one(result.ledger, source_file="progress.csv")
    assert (line["data_rows"], line["records"], line["accepted"]) == (0, 0, 0)
    assert result.tables["progress"].empty


def test_mass_failure_stops_at_the_ceiling(tmp_path, config):
    raw = tmp_path / "raw"
    ids = [f"{k:04d}" for k in range(40)]
    write_canonical(raw, roster_of(ids), screenings_of(ids, [500] * 40))
    result = ingest(raw, config)
    with pytest.raises(InputError, match=r"screenings\.csv: 40 of 40 .*ceiling"):
        quality.check_ceiling(result.ledger, config)


def test_a_few_bad_rows_stay_under_the_ceiling(tmp_path, config):
    raw = tmp_path / "raw"
    ids = [f"{k:04d}" for k in range(40)]
    scores = [40] * 40
    scores[0] = scores[1] = 500  # 5 % exactly: not above the ceiling
    write_canonical(raw, roster_of(ids), screenings_of(ids, scores))
    quality.check_ceiling(ingest(raw, config).ledger, config)


def test_hundred_thousand_rows(tmp_path, config):
    raw = tmp_path / "raw"
    rng = np.random.default_rng(3)
    n_students = 25_000
    ids = [f"{k:07d}" for k in range(n_students)]
    windows = np.array(["fall", "winter", "spring", "fall"])
    measures = np.array(["dibels8_orf_wrc", "map_math_rit"])
    k = np.arange(100_000)
    screenings = pd.DataFrame(
        {
            "student_id": np.array(ids)[k % n_students],
            "school_year": "2025-2026",
            "window": windows[(k // n_students) % 3],
            "date": pd.Series(windows[(k // n_students) % 3]).map(
                {"fall": "2025-09-15", "winter": "2026-01-12", "spring": "2026-05-04"}
            ),
            "measure": measures[(k // n_students) // 3 % 2],
            "subject": "reading",
            "score": rng.integers(100, 250, k.size),
            "percentile": rng.integers(1, 100, k.size),
        }
    )
    # 75,000 distinct (student, measure, window) + 25,000 repeats of the fall screening.
    write_canonical(raw, roster_of(ids), screenings)
    result = ingest(raw, config)
    line = one(result.ledger, source_file="screenings.csv")
    assert line["records"] == 100_000
    assert set(result.quarantine["rule"]) <= {"duplicate_screening"}
    assert line["accepted"] + line["quarantined"] == 100_000


def test_text_reader_numbers_rows_like_a_spreadsheet(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n\n3,4\n")
    frame = read_text_table(path)
    assert list(frame["source_row"]) == [2, 4]  # the blank line 3 is no data row


@pytest.mark.parametrize("block", [40, 64, 97, 1 << 20])
def test_quoted_newlines_read_right_whatever_the_block_boundaries(tmp_path, monkeypatch, block):
    """Arrow splits blocks at newlines first; a boundary inside quotes must never cut a
    row in two silently (it is read again with quote-aware splitting)."""
    from pipeline.ingest import read as ingest_module

    monkeypatch.setattr(ingest_module, "BLOCK_BYTES", block)
    path = tmp_path / "notes.csv"
    rows = [
        f'{k:04d},"note {k}\nline two, with a comma\nline three",{k % 7},"x{k}"'
        if k % 3 == 0
        else f"{k:04d},plain {k},{k % 7},x{k}"
        for k in range(60)
    ]
    path.write_text("id,note,n,tag\n" + "\n".join(rows) + "\n", encoding="utf-8")
    frame = read_text_table(path)
    expected = pd.read_csv(path, dtype=str)  # pandas' own parser, quote-aware
    assert len(frame) == 60
    assert list(frame["source_row"]) == list(range(2, 62))
    for column in expected.columns:
        assert frame[column].astype("object").tolist() == expected[column].tolist()


@pytest.mark.parametrize("block", [200, 4096, 1 << 20])
def test_mostly_distinct_columns_read_as_text_give_the_same_categoricals(
    tmp_path, monkeypatch, block
):
    """An id column with a row per student and window is read as text and numbered once
    over the file; the categorical (categories in order of first appearance, codes,
    missing values) is the one the per-block dictionaries give."""
    from pipeline.ingest import read as ingest_module

    monkeypatch.setattr(ingest_module, "BLOCK_BYTES", block)
    path = tmp_path / "screenings.csv"
    rows = [
        f"{(k * 37) % 500:05d},{['fall', 'winter'][k // 500]},{k % 9 if k % 11 else 'N/A'}"
        for k in range(1000)
    ]
    rows[3] = ",fall,4"  # a missing id
    path.write_text("student_id,window,score\n" + "\n".join(rows) + "\n", encoding="utf-8")
    head = path.read_bytes()[: ingest_module.HEAD_BYTES].decode()
    assert ingest_module.mostly_distinct(head, ["student_id", "window", "score"]) == {"student_id"}
    frame = read_text_table(path)
    monkeypatch.setattr(ingest_module, "mostly_distinct", lambda head, header: frozenset())
    dictionaries = read_text_table(path)
    pd.testing.assert_frame_equal(frame, dictionaries, check_exact=True)
    ids = frame["student_id"]
    assert list(ids.cat.categories) == list(pd.unique(ids.dropna().astype(object)))
    assert ids.isna().sum() == 1 and frame["score"].isna().sum() == 91
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "N/A"])

    def values(column: pd.Series) -> list:
        return column.astype("object").where(column.notna(), None).tolist()

    for column in expected.columns:
        assert values(frame[column]) == values(expected[column])


def test_dictionary_chunks_become_one_categorical_of_text():
    import pyarrow as pa

    from pipeline.ingest.read import _categorical

    chunks = pa.chunked_array(
        [
            pa.array(["b", None, "a"]).dictionary_encode(),
            pa.array(["c", "a", None, "b"]).dictionary_encode(),
        ]
    ).unify_dictionaries()
    out = _categorical(chunks)
    assert out.cat.categories.dtype == "str"
    assert out.astype("object").where(out.notna(), None).tolist() == [
        "b",
        None,
        "a",
        "c",
        "a",
        None,
        "b",
    ]


@pytest.mark.parametrize("rows", [0, 2, 7])
def test_a_table_with_categorical_text_is_written_as_its_text_frame_is(tmp_path, monkeypatch, rows):
    """``store.write_canonical`` decodes the text a row group at a time (three rows here):
    the file is the one ``to_parquet`` writes of the frame with its text as ``str``."""
    from pipeline.stages import store

    monkeypatch.setattr(store, "ROW_GROUP", 3)
    ids = pd.Series(["0007", None, "0002", "0007", "0010", "0002", "0003"][:rows], dtype="category")
    frame = pd.DataFrame(
        {
            "student_id": ids,
            "window": pd.Series(["fall"] * rows, dtype="category"),
            "measure": pd.Series(
                ["orf", "maze", None, "orf", "orf", "maze", "orf"][:rows], dtype="str"
            ),
            "date": pd.Series(pd.to_datetime(["2025-09-15"] * rows), dtype="datetime64[s]"),
            "score": pd.array([40.0, None, 12.5, 0.0, -0.0, 3.0, 7.0][:rows], dtype="Float64"),
            "source_row": np.arange(2, rows + 2, dtype="int64"),
        }
    )
    got = store.write_canonical(frame, tmp_path, "2025-2026", "fall", "screenings")
    expected = tmp_path / "expected.parquet"
    text = frame.astype({"student_id": "str", "window": "str"})
    text.to_parquet(expected, index=False, row_group_size=3)
    assert got.read_bytes() == expected.read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(got), pd.read_parquet(expected))
