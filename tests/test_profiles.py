"""Profiles: every shipped layout loads and is detected; a new layout needs no Python."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.errors import InputError
from pipeline.ingest.profiles import (
    DetectionError,
    ProfileError,
    detect_profile,
    load_profile,
    load_profiles,
)
from pipeline.ingest.read import read_header
from pipeline.ingest.values import normalise_school_year

from .conftest import PROFILES, REPO_ROOT, VENDOR

EXPECTED = {
    "dibels8_benchmark.csv": "dibels8_mclass",
    "map_growth_cdf.csv": "map_growth_cdf",
    "iready_diagnostic_ela.csv": "iready_diagnostic_ela",
    "iready_diagnostic_math.csv": "iready_diagnostic_math",
    "star_reading.csv": "star_reading",
    "fastbridge_cbmreading.csv": "fastbridge_cbmreading",
    "fastbridge_areading.csv": "fastbridge_areading",
    "basc3_bess.csv": "basc3_bess",
}


def test_every_shipped_profile_loads_against_the_config(config):
    profiles = load_profiles(PROFILES, config)
    assert set(EXPECTED.values()) <= set(profiles)
    assert {
        f"canonical_{t}" for t in ("students", "screenings", "interventions", "progress")
    } <= set(profiles)
    for profile in profiles.values():
        assert profile.label and profile.detect.headers


@pytest.mark.parametrize(("file", "name"), sorted(EXPECTED.items()))
def test_vendor_samples_are_detected_by_header(file, name, config):
    profiles = load_profiles(PROFILES, config)
    assert detect_profile(file, read_header(VENDOR / file), profiles).name == name


def test_canonical_files_are_detected(small_district, config):
    profiles = load_profiles(PROFILES, config)
    for table in ("students", "screenings", "interventions", "progress"):
        path = small_district / f"{table}.csv"
        assert detect_profile(path.name, read_header(path), profiles).name == f"canonical_{table}"


def test_ambiguous_layout_names_both_profiles(tmp_path, config):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yml").write_text(
            f"label: Layout {name}\ntable: progress\n"
            "detect: {headers: [id, when, what, value]}\n"
            "fields: {student_id: id, date: when, measure: what, score: value}\n"
        )
    profiles = load_profiles(tmp_path, config)
    with pytest.raises(DetectionError) as err:
        detect_profile("probes.csv", ["id", "when", "what", "value"], profiles)
    message = str(err.value)
    assert "ambiguous" in message and "a (Layout a)" in message and "b (Layout b)" in message
    assert "\n" not in message  # one line, as every input error
    # An input error of that file, carrying the profiles that fit.
    assert isinstance(err.value, InputError) and err.value.file == "probes.csv"
    assert [c.profile.name for c in err.value.candidates] == ["a", "b"]


def test_an_invalid_profile_names_file_and_key(tmp_path, config):
    path = tmp_path / "bad.yml"
    path.write_text(
        "label: Bad\ntable: screenings\ndetect: {headers: [x]}\n"
        "fields: {student_id: x, shoe_size: y}\nmeasures: [{measure: map_math_rit, score: s}]\n"
    )
    with pytest.raises(ProfileError, match=r"(?s)bad\.yml.*shoe_size") as err:
        load_profile(path, config)
    assert err.value.file == str(path) and err.value.why.startswith("invalid profile")
    path.write_text(
        "label: Bad\ntable: screenings\ndetect: {headers: [x]}\n"
        "fields: {student_id: x}\nmeasures: [{measure: no_such_test, score: s}]\n"
    )
    with pytest.raises(ProfileError, match=r"(?s)no_such_test.*district\.yml"):
        load_profile(path, config)


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("2025-2026", "2025-2026"),
        ("2025-26", "2025-2026"),
        ("Fall 2021-2022", "2021-2022"),
        ("2025/2026", "2025-2026"),
        ("2025-2027", None),
        ("next year", None),
    ],
)
def test_school_year_forms(text, year):
    assert normalise_school_year(text) == year


NEW_LAYOUT = """\
# A layout Tierwise does not ship: a wide Acadience-style export, one row per student,
# a block of columns per benchmark period, grades spelled out, semicolons in ids kept.
label: Acme Reading Benchmark (wide)
vendor: Acme
table: screenings
detect:
  headers: [Pupil, Year Group, Campus, BOY ORF, MOY ORF]
date_format: "%d.%m.%Y"
skip_values: {Absent: "student absent on the benchmark day"}
fields:
  student_id: Pupil
  grade: Year Group
  school_name: Campus
  school_id: {column: Campus, slug: true}
  last_name: {column: Name, split_name: last}
  first_name: {column: Name, split_name: first}
  school_year: {value: "2025-2026"}
wide:
  fall: BOY
  winter: MOY
measures:
  - measure: dibels8_orf_wrc
    score: "{window} ORF"
    percentile: "{window} Pct"
    date: "{window} Date"
"""


def test_a_new_layout_is_a_new_yaml_file(tmp_path, capsys):
    config_dir = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config_dir)
    (config_dir / "profiles" / "acme_reading.yml").write_text(NEW_LAYOUT)
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame(
        {
            "Pupil": ["00041", "00042", "00043"],
            "Name": ["Okafor, Ada", "Ben Cole", "Cy"],
            "Year Group": ["Two", "K", "Three"],
            "Campus": ["Hill Primary", "Hill Primary", "Dale Primary"],
            "BOY ORF": ["31", "", "Absent"],
            "BOY Pct": ["8", "", ""],
            "BOY Date": ["15.09.2025", "", "16.09.2025"],
            "MOY ORF": ["55", "12", "70"],
            "MOY Pct": ["20", "", "51"],
            "MOY Date": ["13.01.2026", "14.01.2026", "13.01.2026"],
        }
    ).to_csv(raw / "acme_benchmark_export.csv", index=False)
    locations = ["--raw", str(raw), "--config", str(config_dir)]
    assert main(["inspect", str(raw / "acme_benchmark_export.csv"), *locations]) == 0
    shown = capsys.readouterr().out
    assert "acme_reading" in shown and "student absent" in shown
    out = tmp_path / "out"
    args = [*locations, "--processed", str(out / "p"), "--reports", str(out / "r")]
    assert main(["ingest", *args]) == 0
    s = pd.read_parquet(out / "p" / "2025-2026" / "winter" / "screenings.parquet")
    fall = s[(s["student_id"] == "00041") & (s["window"] == "fall")].iloc[0]
    assert (fall["score"], fall["percentile"], fall["date"]) == (31, 8, pd.Timestamp("2025-09-15"))
    assert len(s) == 4  # 00041 fall + winter, 00042 winter, 00043 winter (fall: absent)
    students = pd.read_parquet(out / "p" / "2025-2026" / "winter" / "students.parquet")
    ada = students.set_index("student_id").loc["00041"]
    assert (ada["first_name"], ada["last_name"], ada["grade"], ada["school_id"]) == (
        "Ada",
        "Okafor",
        2,
        "hill-primary",
    )
    ledger = pd.read_parquet(out / "p" / "2025-2026" / "winter" / "ledger.parquet")
    line = ledger[ledger["table"] == "screenings"].iloc[0]
    assert (line["accepted"], line["skipped"]) == (4, 1)


def test_profile_named_on_the_command_line(tmp_path, capsys):
    path = VENDOR / "star_reading.csv"
    assert main(["inspect", str(path), "--profile", "star_reading"]) == 0
    assert "star_reading_scaled" in capsys.readouterr().out
    assert main(["inspect", str(path), "--profile", "basc3_bess"]) == 2
    assert "Submitted" in capsys.readouterr().err
