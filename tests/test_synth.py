import hashlib
import json

import pandas as pd
import pytest

from pipeline.synth import SynthSpec, write_district

from .conftest import REPO_ROOT


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_files(tmp_path):
    spec = SynthSpec(schools=2, students_per_grade=15, seed=11)
    write_district(spec, tmp_path / "a")
    write_district(spec, tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_other_seed_gives_other_files(tmp_path):
    write_district(SynthSpec(schools=2, students_per_grade=15, seed=11), tmp_path / "a")
    write_district(SynthSpec(schools=2, students_per_grade=15, seed=12), tmp_path / "b")
    assert digest(tmp_path / "a")["screenings.csv"] != digest(tmp_path / "b")["screenings.csv"]


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    raw = tmp_path_factory.mktemp("synth")
    truth = write_district(SynthSpec(schools=4, students_per_grade=60, seed=3), raw)
    read = {
        name: pd.read_csv(raw / f"{name}.csv", dtype={"student_id": str, "school_id": str})
        for name in ("students", "screenings", "interventions", "progress")
    }
    return read, truth, raw


def test_truth_file_names_every_program_and_one_without_effect(district):
    _, truth, raw = district
    on_disk = json.loads((raw / "_truth.json").read_text())
    assert on_disk == truth
    effects = {name: p["effect_sd"] for name, p in truth["programs"].items()}
    assert len(effects) >= 3
    assert sum(e == 0 for e in effects.values()) == 1
    assert truth["seed"] == 3 and truth["schools"] == 4


def test_ids_keep_leading_zeros(district):
    tables, _, _ = district
    assert tables["students"]["student_id"].str.len().eq(7).all()
    assert tables["students"]["school_id"].str.startswith("00").all()


def test_orf_medians_sit_inside_the_published_norms(district):
    """Median ORF per grade and season lies between the Hasbrouck & Tindal (2017)
    25th and 75th percentile scores (quoted from the published table)."""
    tables, _, _ = district
    norms = pd.read_csv(REPO_ROOT / "config" / "norms" / "hasbrouck_tindal_2017_orf.csv")
    orf = (
        tables["screenings"]
        .query("measure == 'dibels8_orf_wrc'")
        .merge(tables["students"][["student_id", "grade"]])
    )
    medians = orf.groupby(["grade", "window"])["score"].median()
    for grade in (2, 3, 4, 5):
        for window in ("fall", "winter", "spring"):
            p25 = norms.query("grade == @grade and percentile == 25")[window].item()
            p75 = norms.query("grade == @grade and percentile == 75")[window].item()
            assert p25 < medians[(grade, window)] < p75, (grade, window)


def test_percentiles_and_scores_are_in_range(district):
    tables, _, _ = district
    s = tables["screenings"]
    pct = s["percentile"].dropna()
    assert pct.between(1, 99).all()
    assert (s["score"] >= 0).all()
    fall = s.query("window == 'fall' and subject == 'reading'")
    assert 0.15 < (fall["percentile"] < 25).mean() < 0.45


def test_enrolment_is_for_at_risk_students_and_leaves_a_comparison_group(district):
    tables, truth, _ = district
    fall = tables["screenings"].query(
        "window == 'fall' and measure in ('dibels8_orf_wrc', 'dibels8_lnf')"
    )
    at_risk = set(fall.loc[fall["percentile"] < 25, "student_id"])
    enrolled = set(tables["interventions"].query("subject == 'reading'")["student_id"])
    assert enrolled <= at_risk
    unserved = 1 - len(enrolled) / len(at_risk)
    assert abs(unserved - truth["unserved_share"]) < 0.08
    assert set(tables["interventions"]["program"]) == set(truth["programs"])
    sessions = tables["interventions"]
    assert (sessions["sessions_attended"] <= sessions["sessions_planned"]).all()


def test_progress_probes_are_weekly_for_enrolled_students(district):
    tables, _, _ = district
    progress = tables["progress"]
    assert set(progress["student_id"]) <= set(tables["interventions"]["student_id"])
    per_student = progress.groupby(["student_id", "measure"]).size()
    assert per_student.median() >= 20
    dates = pd.to_datetime(progress["date"])
    gaps = dates.groupby([progress["student_id"], progress["measure"]]).diff().dropna().dt.days
    assert (gaps % 7 == 0).all()


def test_planted_defects_are_counted(tmp_path):
    truth = write_district(
        SynthSpec(schools=2, students_per_grade=20, seed=5, defect_rate=0.02), tmp_path
    )
    screenings = pd.read_csv(tmp_path / "screenings.csv", dtype={"student_id": str})
    assert (screenings["score"] == 999).sum() == truth["defects"]["score_out_of_range"]
    assert screenings["student_id"].str.startswith("9").sum() == truth["defects"]["unknown_student"]
    assert all(v > 0 for v in truth["defects"].values())
