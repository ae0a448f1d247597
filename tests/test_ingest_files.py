"""Files as districts really send them (issue 17, "Why"): each test is a copy of a small
demo district with one thing changed, run through ``tierwise ingest`` (and, where the
case is about reports, process and render), asserting what the issue's "Build" asks."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.synth import SynthSpec, write_district

from .conftest import REPO_ROOT, VENDOR

TERM = ("2025-2026", "spring")


@pytest.fixture(scope="module")
def tiny_district(tmp_path_factory) -> Path:
    """Two schools, 6 students per grade (seed 7): a few seconds per ingest."""
    raw = tmp_path_factory.mktemp("tiny") / "raw"
    write_district(SynthSpec(schools=2, students_per_grade=6, seed=7), raw)
    return raw


def copy_of(district: Path, tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(district, raw)
    return raw


def run(command: str, raw: Path, *extra: str, config: Path | None = None) -> int:
    out = raw.parent
    return main(
        [
            command,
            "--raw",
            str(raw),
            "--processed",
            str(out / "processed"),
            "--reports",
            str(out / "reports"),
            "--config",
            str(config or REPO_ROOT / "config"),
            *extra,
        ]
    )


def term_table(raw: Path, name: str, term=TERM) -> pd.DataFrame:
    return pd.read_parquet(raw.parent / "processed" / term[0] / term[1] / f"{name}.parquet")


def term_csv(raw: Path, name: str, term=TERM) -> pd.DataFrame:
    path = raw.parent / "processed" / term[0] / term[1] / f"{name}.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def screenings_text(raw: Path) -> pd.DataFrame:
    return pd.read_csv(raw / "screenings.csv", dtype=str, keep_default_na=False)


def assert_nothing_lost(raw: Path) -> pd.DataFrame:
    """records = accepted + quarantined + skipped for every file; returns the ledger."""
    ledger = term_csv(raw, "ledger").astype(
        {c: "int64" for c in ("records", "accepted", "quarantined", "skipped")}
    )
    total = ledger["accepted"] + ledger["quarantined"] + ledger["skipped"]
    assert total.eq(ledger["records"]).all(), ledger
    return ledger


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_binary_file_stops_with_one_line_naming_it(tiny_district, tmp_path, capsys):
    raw = copy_of(tiny_district, tmp_path)
    (raw / "screenings.csv").write_bytes(bytes(range(256)) * 40)
    assert run("ingest", raw) == 2  # an input error, not a bug (3)
    err = one_line_error(capsys)
    assert "screenings.csv" in err and "binary" in err


def test_a_workbook_saved_as_csv_says_so(tiny_district, tmp_path, capsys):
    raw = copy_of(tiny_district, tmp_path)
    pd.DataFrame({"a": [1]}).to_excel(tmp_path / "book.xlsx", index=False)
    shutil.copy(tmp_path / "book.xlsx", raw / "screenings.csv")
    assert run("ingest", raw) == 2
    assert "rename it to .xlsx" in one_line_error(capsys)


def test_semicolon_export_is_read(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    original.to_csv(raw / "screenings.csv", index=False, sep=";")
    assert run("ingest", raw) == 0
    assert len(term_table(raw, "screenings")) == len(original)
    assert_nothing_lost(raw)


def test_utf16_tab_export_is_read(tiny_district, tmp_path):
    """Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated."""
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    text = original.to_csv(index=False, sep="\t")
    (raw / "screenings.csv").write_bytes(text.encode("utf-16"))
    assert run("ingest", raw) == 0
    screenings = term_table(raw, "screenings")
    assert len(screenings) == len(original)
    assert screenings["student_id"].str.len().eq(7).all()  # ids keep their zeros
    assert_nothing_lost(raw)
    page = (raw.parent / "reports" / TERM[0] / TERM[1] / "data-quality" / "index.html").read_text()
    assert "screenings.csv was read as tab-separated utf-16" in page


def us_date(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


def test_us_dates_are_read(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    changed = original.assign(date=original["date"].map(us_date))
    changed.to_csv(raw / "screenings.csv", index=False)
    assert run("ingest", raw) == 0
    screenings = term_table(raw, "screenings")
    assert len(screenings) == len(original)
    # Every date is the ISO date it was written from (independent: the original file).
    read = screenings.set_index("source_row")["date"].dt.strftime("%Y-%m-%d")
    expected = original["date"].set_axis(range(2, len(original) + 2))
    assert read.sort_index().equals(expected.loc[read.sort_index().index])


def test_an_ambiguous_date_is_quarantined_with_both_readings(tiny_district, tmp_path):
    """A column with no day above 12 cannot show its order; 01/02/2026 falls in the winter
    window read either way (Jan 2 and Feb 1), so it is quarantined naming both."""
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    winter = original.index[original["window"] == "winter"][0]
    original.loc[winter, "date"] = "01/02/2026"
    original.to_csv(raw / "screenings.csv", index=False)
    assert run("ingest", raw) == 0
    quarantine = term_csv(raw, "quarantine")
    line = quarantine[quarantine["source_row"] == str(winter + 2)].iloc[0]
    assert line["rule"] == "date_unreadable"
    assert "2026-01-02" in line["reason"] and "2026-02-01" in line["reason"]
    assert_nothing_lost(raw)


def test_excel_stripped_ids_get_a_roster_hint_and_the_opt_in_matches_them(
    tiny_district, tmp_path, capsys
):
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    stripped = original.assign(student_id=original["student_id"].str.lstrip("0"))
    stripped.to_csv(raw / "screenings.csv", index=False)
    assert run("ingest", raw) == 2  # every row unknown: the ceiling stops the run
    err = one_line_error(capsys)
    assert "the roster has '0000001'" in err and "match_ids_ignoring_leading_zeros" in err
    # The opt-in setting reads them as the roster's ids, and the page counts them.
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    yml = config / "district.yml"
    text = yml.read_text().replace(
        "match_ids_ignoring_leading_zeros: false", "match_ids_ignoring_leading_zeros: true"
    )
    yml.write_text(text)
    assert run("ingest", raw, config=config) == 0
    screenings = term_table(raw, "screenings")
    assert len(screenings) == len(original)
    assert set(screenings["student_id"]) == set(original["student_id"])
    page = (raw.parent / "reports" / TERM[0] / TERM[1] / "data-quality" / "index.html").read_text()
    assert f"{len(original)} screenings rows named a student id" in page


def test_excel_values_99_plus_below_1_decimal_commas_and_serial_dates(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    changed = original.copy()
    top, bottom = changed["percentile"] == "99", changed["percentile"] == "1"
    changed.loc[top, "percentile"] = "99+"
    changed.loc[bottom, "percentile"] = "<1"
    fluency = changed.index[changed["measure"] == "dibels8_orf_wrc"][:5]
    changed.loc[fluency, "score"] = changed.loc[fluency, "score"] + ",5"
    epoch = dt.date(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug included)
    serial = changed["date"].map(lambda d: str((dt.date.fromisoformat(d) - epoch).days))
    changed["date"] = serial
    changed.to_csv(raw / "screenings.csv", index=False)
    assert run("ingest", raw) == 0
    screenings = term_table(raw, "screenings").set_index("source_row").sort_index()
    assert len(screenings) == len(original)
    rows = original.index + 2
    assert (screenings.loc[rows[top], "percentile"] == 99).all()
    assert (screenings.loc[rows[bottom], "percentile"] == 1).all()
    expected = original.loc[fluency, "score"].astype(float) + 0.5
    assert screenings.loc[rows[fluency], "score"].tolist() == expected.tolist()
    assert screenings["date"].dt.strftime("%Y-%m-%d").tolist() == original["date"].tolist()
    assert_nothing_lost(raw)


def test_title_lines_above_the_header(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    body = (raw / "screenings.csv").read_text()
    title = "Screening results, Fake District\nExported 2026-05-30 by the SIS\n\n"
    (raw / "screenings.csv").write_text(title + body)
    assert run("ingest", raw) == 0
    screenings = term_table(raw, "screenings")
    assert len(screenings) == len(screenings_text(tiny_district))
    # source_row is the line of the file as a spreadsheet numbers it: traceable.
    lines = (title + body).splitlines()
    first = screenings.sort_values("source_row").iloc[0]
    assert lines[int(first["source_row"]) - 1].startswith(f'"{first["student_id"]}"')


def test_one_ragged_row_is_quarantined_with_its_row(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    lines = (raw / "screenings.csv").read_text().splitlines()
    lines[40] += ",extra,fields"  # file line 41
    (raw / "screenings.csv").write_text("\n".join(lines) + "\n")
    assert run("ingest", raw) == 0
    quarantine = term_csv(raw, "quarantine")
    assert quarantine[["source_file", "source_row", "rule"]].values.tolist() == [
        ["screenings.csv", "41", "ragged_row"]
    ]
    assert "11 fields" in quarantine["reason"].iloc[0]
    assert len(term_table(raw, "screenings")) == len(lines) - 2  # header and the ragged row
    ledger = assert_nothing_lost(raw)
    assert ledger.set_index("source_file").loc["screenings.csv", "quarantined"] == 1


def test_every_quarantine_reason_on_the_page_has_a_fix(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    original.loc[3, "date"] = "not a date"
    original.loc[5, "student_id"] = "9999999"
    original.to_csv(raw / "screenings.csv", index=False)
    assert run("ingest", raw) == 0
    page = (raw.parent / "reports" / TERM[0] / TERM[1] / "data-quality" / "index.html").read_text()
    assert "What to do" in page and "YYYY-MM-DD" in page and "Add the student" in page


@pytest.mark.slow
def test_a_school_not_screened_yet_still_reports(tiny_district, tmp_path):
    """School 002 has no spring screening yet (the others have): every stage runs, its
    tiers come from winter and its reports say so; school 001 is unaffected."""
    raw = copy_of(tiny_district, tmp_path)
    students = pd.read_csv(raw / "students.csv", dtype=str)
    late = set(students.loc[students["school_id"] == "002", "student_id"])
    screenings = screenings_text(raw)
    unscreened = screenings["student_id"].isin(late) & (screenings["window"] == "spring")
    screenings[~unscreened].to_csv(raw / "screenings.csv", index=False)
    assert run("ingest", raw) == 0
    assert run("process", raw) == 0
    assert run("render", raw, "--workers", "2") == 0
    reports = raw.parent / "reports" / TERM[0] / TERM[1]
    assert (reports / "district.html").exists()
    note = "No spring screening for this school yet; showing winter"
    for page in ("specialist", "principal"):
        assert note in (reports / "schools" / "002" / f"{page}.html").read_text()
        assert note not in (reports / "schools" / "001" / f"{page}.html").read_text()
    # School 002's tiers are its winter screening's, judged by the winter cuts.
    shown = term_table(raw, "screening_windows").set_index("school_id")["window_shown"]
    assert shown.to_dict() == {"001": "spring", "002": "winter"}
    tiers = term_table(raw, "tiers")
    assert tiers.loc[tiers["school_id"] == "002", "measure"].notna().any()


@pytest.mark.slow
def test_a_district_of_vendor_exports_only_renders_every_report(tmp_path):
    """The eight vendor samples in an empty raw folder, no canonical files: `tierwise
    reports` ingests, processes and renders every report."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in VENDOR.glob("*.csv"):
        shutil.copy(path, raw / path.name)
    assert run("reports", raw, "--workers", "2") == 0
    term_dirs = list((tmp_path / "reports").glob("*/*"))
    assert len(term_dirs) == 1
    reports = term_dirs[0]
    assert (reports / "district.html").exists()
    schools = list((reports / "schools").iterdir())
    assert schools and all((s / "specialist.html").exists() for s in schools)
    assert all((s / "principal.html").exists() for s in schools)


def test_pipe_export_and_a_workbook_with_a_title_above_its_header(tiny_district, tmp_path):
    raw = copy_of(tiny_district, tmp_path)
    original = screenings_text(raw)
    original.to_csv(raw / "screenings.csv", index=False, sep="|")
    students = pd.read_csv(raw / "students.csv", dtype=str, keep_default_na=False)
    (raw / "students.csv").unlink()
    with pd.ExcelWriter(raw / "students.xlsx") as book:
        pd.DataFrame({"Roster export": ["Fake District"]}).to_excel(book, index=False)
        students.to_excel(book, index=False, startrow=3)
    assert run("ingest", raw) == 0
    assert len(term_table(raw, "screenings")) == len(original)
    roster = term_table(raw, "students")
    assert sorted(roster["student_id"]) == sorted(students["student_id"])  # zeros kept
    assert roster["source_row"].min() == 5  # title, blank, blank, header on row 4
    assert_nothing_lost(raw)


@pytest.mark.slow
def test_nobody_needing_support_no_math_one_probe_and_a_lone_program_still_report(
    tiny_district, tmp_path, config
):
    """Item 4's other partial cases at once: school 002 has nobody needing support (every
    score at its measure's maximum), no math screening at all (a subject with no
    measure), one monitored student has a single probe, and a program enrols one student
    (no comparable students). Every stage runs and every report renders."""
    raw = copy_of(tiny_district, tmp_path)
    students = pd.read_csv(raw / "students.csv", dtype=str)
    school_002 = set(students.loc[students["school_id"] == "002", "student_id"])
    screenings = screenings_text(raw)
    screenings = screenings[screenings["subject"] != "math"].copy()
    for measure, spec in config.measures.items():
        at = screenings["student_id"].isin(school_002) & (screenings["measure"] == measure)
        screenings.loc[at, "score"] = f"{spec.max:g}"
    screenings.loc[screenings["student_id"].isin(school_002), "percentile"] = "90"
    screenings.to_csv(raw / "screenings.csv", index=False)
    progress = pd.read_csv(raw / "progress.csv", dtype=str, keep_default_na=False)
    first = progress["student_id"].iloc[0]
    single = (progress["student_id"] != first) | (progress.index == 0)
    progress[single].to_csv(raw / "progress.csv", index=False)
    log = pd.read_csv(raw / "interventions.csv", dtype=str, keep_default_na=False)
    lone = log.iloc[[0]].assign(program="Lone Program", student_id=sorted(school_002)[0])
    pd.concat([log, lone]).to_csv(raw / "interventions.csv", index=False)
    assert run("ingest", raw) == 0
    assert run("process", raw) == 0
    assert run("render", raw, "--workers", "2") == 0
    reports = raw.parent / "reports" / TERM[0] / TERM[1]
    for school in ("001", "002"):
        for page in ("specialist", "principal"):
            assert (reports / "schools" / school / f"{page}.html").exists()
    assert (reports / "district.html").exists()


# --------------------------------------------------------------------------- units


def test_numeric_dates_read_the_one_way_they_can_be(config):
    from pipeline.ingest.dates import WindowSpans, spreadsheet_dates

    windows = WindowSpans.of(config)  # fall Aug-Oct, winter Dec-Feb, spring Apr-Jun
    texts = ["09/13/2025", "09/12/2025", "45912", "10/02/2025", "11/03/2025"]
    got = spreadsheet_dates(pd.Series(texts), windows).dt.strftime("%Y-%m-%d").tolist()
    # 09/13 shows month-first; 45912 days after 1899-12-30 is 2025-09-12 (datetime below).
    serial = (dt.date(1899, 12, 30) + dt.timedelta(days=45912)).isoformat()
    assert got == ["2025-09-13", "2025-09-12", serial, "2025-10-02", "2025-11-03"]
    # No order shown: 10/02/2025 is Oct 2 (fall) or Feb 10 (winter): both in a window.
    # 11/03/2025 is Nov 3 (no window) or Mar 11 (no window): neither. 09/07/2025 is Sep 7
    # (fall) or Jul 9 (no window): one.
    alone = spreadsheet_dates(pd.Series(["10/02/2025", "11/03/2025", "09/07/2025"]), windows)
    assert alone.isna().tolist() == [True, True, False]
    assert alone.iloc[2] == pd.Timestamp("2025-09-07")


def test_decimal_commas_only_where_no_value_could_be_thousands():
    from pipeline.ingest.values import decimal_commas

    clean = pd.Series(["12,5", "13", "7,25"], dtype="str")
    assert decimal_commas(clean, ".").tolist() == ["12.5", "13", "7.25"]
    mixed = pd.Series(["12,5", "1,250"], dtype="str")  # 1,250: thousands or 1.25?
    assert decimal_commas(mixed, ".").tolist() == ["12,5", "1,250"]
    assert decimal_commas(mixed, ",").tolist() == ["12.5", "1.250"]  # the profile says


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_header_found_below_title_lines_with_any_delimiter(delimiter):
    from pipeline.ingest.profiles import normalise_header
    from pipeline.ingest.sniff import find_layout

    names = ["student_id", "date", "measure", "score"]
    header, row = delimiter.join(names), delimiter.join(["1", "x", "y", "2"])
    text = f"Progress export\nDistrict: Fake, Inc.\n\n{header}\n{row}\n"
    signature = [frozenset(names)]
    layout = find_layout(text, "utf-8", signature, normalise_header)
    assert (layout.delimiter, layout.header_index) == (delimiter, 3)
