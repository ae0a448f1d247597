"""The printable pages beside the specialist report (groups.html, students.html, family
letters) and the downloads: one page per group / student / letter, counted from the
processed tables; downloads neutralise formula-like cells; the English letter reads at
grade 6 or below."""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.render.pages import letters_folder, neutralise, write_pages
from pipeline.synth import SynthSpec, write_district

REPO_ROOT = Path(__file__).resolve().parent.parent
INJECTION = '=HYPERLINK("http://example.com","x")'
SCHOOL = "001"


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> Path:
    """A small district with a formula-like last name, processed, and its printable pages
    written (no notebook is run). Returns the run folder."""
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("pages")
    raw = out / "raw"
    write_district(SynthSpec(schools=2, students_per_grade=12, seed=11), raw)
    students = pd.read_csv(raw / "students.csv", dtype=str, keep_default_na=False)
    students.loc[students.index[:40], "last_name"] = INJECTION
    students.to_csv(raw / "students.csv", index=False)
    where = ["--raw", str(raw), "--processed", str(out / "processed")]
    where += ["--reports", str(out / "reports"), "--config", str(REPO_ROOT / "config")]
    assert main(["ingest", *where]) == 0
    assert main(["process", *where]) == 0
    term = sorted((out / "processed").glob("*/*"))[-1]
    config = load_config(REPO_ROOT / "config")
    write_pages(
        out / "processed",
        out / "reports",
        REPO_ROOT / "config",
        config,
        term.parent.name,
        term.name,
        [SCHOOL, "002"],
        "2026-05-20 09:00",
    )
    return out


def term_dir(run: Path, kind: str) -> Path:
    return sorted((run / kind).glob("*/*"))[-1]


def table(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(term_dir(run, "processed") / f"{name}.parquet")


def school_file(run: Path, name: str) -> Path:
    return term_dir(run, "reports") / "schools" / SCHOOL / name


def count(html: str, pattern: str) -> int:
    return len(re.findall(pattern, html))


def test_groups_page_has_one_section_per_group(printed):
    groups = table(printed, "groups")
    expected = int((groups["school_id"] == SCHOOL).sum())
    html = school_file(printed, "groups.html").read_text()
    assert expected > 0
    assert count(html, r'<section class="tw-page"') == expected
    assert "break-after: page" in html


def test_student_pages_cover_tier_2_3_and_monitored_students(printed):
    students = table(printed, "students")
    mine = set(students.loc[students["school_id"] == SCHOOL, "student_id"])
    tiers = table(printed, "tiers")
    need = set(tiers.loc[tiers["tier"].fillna(1) >= 2, "student_id"]) & mine
    decisions = table(printed, "progress_decisions")
    monitored = set(decisions["student_id"]) & mine
    html = school_file(printed, "students.html").read_text()
    shown = set(re.findall(r'id="student-(\w+)"', html))
    assert shown == need | monitored
    assert "<svg" in html  # the monitored students' progress charts


def test_letters_one_per_student_needing_support_in_every_language(printed):
    tiers = table(printed, "tiers")
    students = table(printed, "students")
    mine = set(students.loc[students["school_id"] == SCHOOL, "student_id"])
    need = set(tiers.loc[tiers["tier"].fillna(1) >= 2, "student_id"]) & mine
    for name, greeting in (
        ("letters.html", "Dear family of"),
        ("letters-es.html", "Estimada familia"),
    ):
        html = school_file(printed, name).read_text()
        assert count(html, r'<article class="tw-page tw-letter"') == len(need)
        assert html.count(greeting) == len(need)
    assert '<html lang="es">' in school_file(printed, "letters-es.html").read_text()


def test_each_letter_names_only_its_own_student(printed):
    students = table(printed, "students")
    mine = students[students["school_id"] == SCHOOL]
    full = set(mine["first_name"] + " " + mine["last_name"])
    html = school_file(printed, "letters.html").read_text()
    for letter in html.split('<article class="tw-page tw-letter"')[1:6]:
        text = TextOf.of(letter)
        named = {n for n in full if n in text}
        assert len(named) == 1, named


def test_downloads_neutralise_formulas_and_read_back(printed):
    from openpyxl import load_workbook

    folder = school_file(printed, "downloads")
    for name in ("support", "groups", "unserved"):
        with open(folder / f"{name}.csv", newline="", encoding="utf-8") as f:
            cells = [c for row in csv.reader(f) for c in row]
        sheet = load_workbook(folder / f"{name}.xlsx", read_only=True).active
        cells += [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], name
    support = (folder / "support.csv").read_text(encoding="utf-8")
    assert "'" + INJECTION.replace('"', '""') in support


def test_neutralise_keeps_numbers_and_plain_text():
    frame = pd.DataFrame({"a": ["=1+1", "+x", "-3", "@y", "ok", None], "n": [-1, 2, 3, 4, 5, 6]})
    out = neutralise(frame)
    assert list(out["a"][:5]) == ["'=1+1", "'+x", "'-3", "'@y", "ok"]
    assert pd.isna(out["a"].iloc[5])
    assert list(out["n"]) == [-1, 2, 3, 4, 5, 6]


# --- plain language --------------------------------------------------------------------


class TextOf(HTMLParser):
    """The visible text of an HTML fragment, with sentence ends kept at block ends."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)

    def handle_endtag(self, tag):
        if tag in ("p", "li", "h2"):
            self.parts.append(". ")

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(parser.parts)


def syllables(word: str) -> int:
    """Vowel groups, minus a silent final e, at least one (the usual counting heuristic)."""
    word = word.lower()
    groups = re.findall(r"[aeiouy]+", word)
    n = len(groups) - (1 if word.endswith("e") and not word.endswith(("le", "ee")) else 0)
    return max(1, n)


def flesch_kincaid_grade(text: str) -> float:
    """Flesch-Kincaid grade level: 0.39 (words / sentences) + 11.8 (syllables / words)
    - 15.59 (Kincaid, Fishburne, Rogers & Chissom 1975, Naval Technical Training
    Command Research Branch Report 8-75, formula on p. 14)."""
    sentences = [s for s in re.split(r"[.!?]+(?:\s|$)", text) if re.search(r"[A-Za-z]", s)]
    words = re.findall(r"[A-Za-z][A-Za-z']*", text)
    return (
        0.39 * len(words) / len(sentences)
        + 11.8 * sum(syllables(w) for w in words) / len(words)
        - 15.59
    )


def test_flesch_kincaid_of_known_text():
    # "The cat sat on the mat." 6 words, 1 sentence, 6 syllables: 0.39*6 + 11.8*1 - 15.59
    assert flesch_kincaid_grade("The cat sat on the mat.") == pytest.approx(2.34 + 11.8 - 15.59)


def test_english_letter_reads_at_grade_six_or_below(printed):
    html = school_file(printed, "letters.html").read_text()
    letters = html.split('<article class="tw-page tw-letter"')[1:]
    assert letters
    for letter in letters[:10]:
        body = letter.split("</article>")[0]
        grade = flesch_kincaid_grade(TextOf.of(body.split(">", 1)[1]))
        assert grade <= 6.0, grade


def test_letter_templates_exist_for_every_language():
    from pipeline.reports.letters import load_letter_words

    words = load_letter_words(letters_folder(REPO_ROOT / "config"))
    assert {"en", "es"} <= set(words["languages"])


def test_a_school_whose_pages_fail_is_recorded_and_the_others_still_render(
    printed, monkeypatch, tmp_path
):
    from pipeline.render import engine

    real = engine.write_school_pages

    def fail_first(tables, school_id, *args):
        if school_id == SCHOOL:
            raise ValueError("broken on purpose")
        return real(tables, school_id, *args)

    monkeypatch.setattr(engine, "write_school_pages", fail_first)
    term = term_dir(printed, "processed")
    schools = pd.DataFrame({"school_id": [SCHOOL, "002"]})
    config = load_config(REPO_ROOT / "config")
    results = engine.render_pages(
        printed / "processed",
        tmp_path,
        REPO_ROOT / "config",
        config,
        term.parent.name,
        term.name,
        schools,
        "2026-05-20 09:00",
    )
    assert [r.ok for r in results] == [False, True]
    assert "broken on purpose" in results[0].error
    assert (tmp_path / term.parent.name / term.name / "schools/002/letters.html").exists()
