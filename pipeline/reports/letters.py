"""Family letters: one page per student needing support, in each language the district
has a template for (``config/letters/<language>.html.j2``, words in ``letters.yml``).

:func:`letter_contexts` says, per student, what the letter is about (the subjects the
student needs support in, the program and how often, how progress is checked);
:func:`render_letter` fills one language's template with it. A letter names only its own
student.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from pipeline.errors import ConfigError
from pipeline.reports.rosters import PrintableData
from pipeline.rules.labels import FOCUS_JOIN, grade_label

LETTERS_FILE = "letters.yml"


def load_letter_words(letters_dir: Path) -> dict:
    """``letters.yml``: the contact lines and each language's words."""
    path = letters_dir / LETTERS_FILE
    try:
        words = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the family-letter words ({err})") from err
    if not words.get("languages"):
        raise ConfigError(f"{path}: `languages` lists no language")
    for language in words["languages"]:
        if not (letters_dir / f"{language}.html.j2").exists():
            raise ConfigError(f"{path}: language {language!r} has no template {language}.html.j2")
    return words


@functools.lru_cache(maxsize=8)
def letter_environment(letters_dir: Path) -> jinja2.Environment:
    """The district's letter templates, escaped like every report page (one environment
    per folder: it compiles each template once, and recompiles one that changed)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(letters_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _per_week(row) -> int | None:
    """Sessions a week of an enrolment: planned sessions over its weeks."""
    if pd.isna(row.sessions_planned) or pd.isna(row.start_date) or pd.isna(row.end_date):
        return None
    weeks = (row.end_date - row.start_date).days / 7
    return max(1, round(row.sessions_planned / weeks)) if weeks >= 1 else None


def check_weeks(decisions: pd.DataFrame) -> dict[str, int]:
    """Student -> how many weeks apart their probes are (median over their measures,
    rounded, at least one)."""
    d = decisions[decisions["n_probes"] > 1]
    if d.empty:
        return {}
    gap = (d["weeks_span"] / (d["n_probes"] - 1)).groupby(d["student_id"]).median()
    return {i: max(1, round(float(v))) for i, v in gap.items()}


def _need(row, enrolment) -> dict:
    """One subject of a letter: the tier, the skill and the support given."""
    return {
        "subject": row.subject,
        "tier": int(row.tier),
        # A focus may name two skills ("computation + concepts"): each has its own words.
        "focus": row.focus.split(FOCUS_JOIN) if isinstance(row.focus, str) else [],
        "program": enrolment.program if enrolment is not None else "",
        "per_week": _per_week(enrolment) if enrolment is not None else None,
        "minutes": None
        if enrolment is None or pd.isna(enrolment.minutes_per_session)
        else int(enrolment.minutes_per_session),
    }


def letter_contexts(data: PrintableData) -> list[dict]:
    """One letter per student in Tier 2 or 3 in any subject, by grade, homeroom, name."""
    from pipeline.reports.student_pages import _by_student

    tiers = data.school.tiers
    need = _by_student(tiers[tiers["tier"].fillna(1) >= 2].sort_values("subject"))
    enrolments = data.interventions.sort_values("start_date").drop_duplicates(
        ["student_id", "subject"], keep="last"
    )
    latest = {(r.student_id, r.subject): r for r in enrolments.itertuples(index=False)}
    decisions = data.monitoring.decisions
    checks = check_weeks(decisions) if len(decisions) else {}
    students = data.school.students[data.school.students["student_id"].isin(need)]
    students = students.sort_values(["grade", "homeroom", "last_name", "first_name"])
    return [
        {
            "student": {
                "first_name": s.first_name,
                "last_name": s.last_name,
                "grade": grade_label(s.grade),
            },
            "needs": [_need(r, latest.get((s.student_id, r.subject))) for r in need[s.student_id]],
            "checks": checks.get(s.student_id),
        }
        for s in students.itertuples(index=False)
    ]


def render_letter(
    env: jinja2.Environment,
    words: dict,
    language: str,
    letter: dict,
    school: PrintableData,
    date: str,
) -> str:
    """One letter in ``language`` as an HTML fragment."""
    school_id = school.school.school_id
    contact = {**words.get("contact", {}), **(words.get("schools", {}) or {}).get(school_id, {})}
    lang = words["languages"][language]
    name = school.school.school_name
    contact = {**contact, "name": lang["contact_name"].format(school=name)}
    return env.get_template(f"{language}.html.j2").render(
        **letter,
        school=name,
        district=school.school.district_name,
        window=school.school.window,
        date=date,
        contact=contact,
        words=lang,
    )
