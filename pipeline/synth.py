"""A synthetic district with planted truth, written in the canonical CSV layout.

Everything is drawn from one seed, so the same seed gives byte-identical files.

Model, per student and subject:

* a latent standing ``z`` (standard normal, shifted by school and subgroup) fixes the
  student's norm percentile; the true fall score is the published norm at that
  percentile (Hasbrouck & Tindal 2017 ORF for grades 1-6, simple tables elsewhere);
* true growth from fall to spring is the norm growth at that percentile plus
  individual noise; scores are observed with measurement error;
* students below the 25th percentile in fall are "at risk"; a random 30 % of them
  (``unserved_share``) is not enrolled, as limited staff capacity leaves some out in
  real schools, so a comparison group at the same fall level exists;
* an enrolled student's true score gains ``effect_sd x SD`` by spring over what the
  same student would have had without the program, accruing linearly in weeks since
  the fall screening, where SD is the standard deviation of the observed fall scores
  of the student's grade on that measure across the district. This is the planted
  truth the effectiveness statistics must recover (``_truth.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy import stats

NORMS_DIR = Path(__file__).resolve().parent.parent / "config" / "norms"
SCHOOL_YEAR = "2025-2026"
WEEKS_FALL_TO_SPRING = 32
WINDOW_WEEK = {"fall": 0, "winter": 18, "spring": 34}
NORM_PERCENTILES = np.array([10, 25, 50, 75, 90])

PROGRAMS: dict[str, dict] = {
    "Phonics Boost": {"subject": "reading", "effect_sd": 0.40, "sessions_per_week": 4},
    "Fluency Builders": {"subject": "reading", "effect_sd": 0.25, "sessions_per_week": 3},
    "Reading Circle": {"subject": "reading", "effect_sd": 0.0, "sessions_per_week": 3},
    "Number Sense Lab": {"subject": "math", "effect_sd": 0.35, "sessions_per_week": 3},
    "Math Facts Sprint": {"subject": "math", "effect_sd": 0.15, "sessions_per_week": 4},
}

SCHOOL_NAMES = [
    "Maple Grove Elementary",
    "Riverside Elementary",
    "Cedar Hill Elementary",
    "Lincoln Park Elementary",
    "Sunnyside Elementary",
    "Oak Ridge Elementary",
    "Willow Creek Elementary",
    "Lakeview Elementary",
    "Pine Valley Elementary",
    "Harbor View Elementary",
    "Meadowbrook Elementary",
    "Stonebridge Elementary",
]
FIRST_NAMES = [
    "Ava",
    "Liam",
    "Sofia",
    "Noah",
    "Maya",
    "Mateo",
    "Zoe",
    "Ethan",
    "Amara",
    "Lucas",
    "Isla",
    "Diego",
    "Hana",
    "Owen",
    "Priya",
    "Elijah",
    "Leila",
    "Caleb",
    "Nora",
    "Omar",
    "Ruby",
    "Jayden",
    "Mei",
    "Samuel",
    "Aaliyah",
    "Henry",
    "Camila",
    "Kai",
    "Fatima",
    "Julian",
    "Grace",
    "Arjun",
    "Chloe",
    "Marcus",
    "Yara",
    "Felix",
    "Luna",
    "Andre",
    "Ivy",
    "Tomas",
    "Nia",
    "Hugo",
    "Sara",
    "Malik",
    "Elena",
    "Ravi",
    "Lucia",
    "Theo",
]
LAST_NAMES = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Patel",
    "Williams",
    "Kim",
    "Brown",
    "Lopez",
    "Jones",
    "Chen",
    "Miller",
    "Hernandez",
    "Davis",
    "Ali",
    "Wilson",
    "Martinez",
    "Moore",
    "Okafor",
    "Taylor",
    "Rossi",
    "Anderson",
    "Sato",
    "Thomas",
    "Jackson",
    "Silva",
    "White",
    "Cohen",
    "Harris",
    "Novak",
    "Martin",
    "Khan",
    "Clark",
    "Diaz",
    "Lewis",
    "Walker",
]
INTERVENTIONISTS = [
    "Ms. Alvarez",
    "Mr. Brooks",
    "Ms. Chen",
    "Mrs. Dube",
    "Mr. Evans",
    "Ms. Farah",
    "Mr. Greene",
    "Ms. Holm",
    "Mrs. Ibarra",
    "Mr. Jensen",
    "Ms. Kowalski",
    "Mr. Lund",
]
RACE_ETHNICITY = ["Hispanic/Latino", "White", "Black", "Asian", "Two or more", "Other"]
RACE_WEIGHTS = [0.34, 0.33, 0.15, 0.10, 0.06, 0.02]


@dataclass(frozen=True)
class SynthSpec:
    """Size and randomness of a synthetic district."""

    schools: int = 8
    students_per_grade: int = 60
    grades: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    seed: int = 2026
    unserved_share: float = 0.30
    defect_rate: float = 0.0
    school_year: str = SCHOOL_YEAR
    programs: dict[str, dict] = field(default_factory=lambda: PROGRAMS)


def _orf_norms() -> pd.DataFrame:
    """H&T 2017 ORF quantiles by grade and window; grade 1 fall extrapolated back."""
    norms = pd.read_csv(NORMS_DIR / "hasbrouck_tindal_2017_orf.csv")
    g1 = norms["grade"] == 1
    # No published grade-1 fall norms: step back from winter at the winter-spring pace.
    fall_g1 = norms.loc[g1, "winter"] - 0.55 * (norms.loc[g1, "spring"] - norms.loc[g1, "winter"])
    norms.loc[g1, "fall"] = fall_g1.clip(lower=1).round()
    return norms


def _quantile_tables() -> dict[tuple[str, int], np.ndarray]:
    """(measure, grade) -> array of shape (3 windows, 5 percentiles) of scores."""
    tables: dict[tuple[str, int], np.ndarray] = {}
    z = stats.norm.ppf(NORM_PERCENTILES / 100)
    orf = _orf_norms()
    for grade, rows in orf.groupby("grade"):
        rows = rows.sort_values("percentile")
        tables[("dibels8_orf_wrc", int(grade))] = rows[["fall", "winter", "spring"]].to_numpy().T
    # Kindergarten letter naming: skewed, floor at 0 (illustrative, not a published norm).
    tables[("dibels8_lnf", 0)] = np.array(
        [[2, 8, 18, 30, 42], [14, 25, 36, 48, 58], [22, 33, 45, 55, 65]], dtype=float
    )
    for grade in range(0, 9):
        # MAP-like math RIT: normal, mean rising about 10 points a grade.
        fall_mean, growth, sd = 140 + 11 * grade, 16 - grade, 13 + 0.6 * grade
        means = np.array([fall_mean, fall_mean + 0.55 * growth, fall_mean + growth])
        tables[("map_math_rit", grade)] = means[:, None] + sd * z[None, :]
        # Computation CBM (digits correct): ~0.5 digits a week of growth.
        cbm_fall, cbm_sd = 8 + 5 * grade, 5 + grade
        cbm = np.array([cbm_fall, cbm_fall + 8, cbm_fall + 16])
        tables[("math_cbm_dcpm", grade)] = (cbm[:, None] + cbm_sd * z[None, :]).clip(min=0)
    return tables


def reading_measure(grade: int) -> str:
    return "dibels8_lnf" if grade <= 0 else "dibels8_orf_wrc"


def _interp_window(table: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Quantile scores at any week, linear between the window weeks: (n, 5)."""
    weeks = np.array([WINDOW_WEEK[w] for w in ("fall", "winter", "spring")], dtype=float)
    out = np.empty((week.size, table.shape[1]))
    for k in range(table.shape[1]):
        out[:, k] = np.interp(week, weeks, table[:, k])
    return out


def score_at_z(table: np.ndarray, week: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Score at standing ``z``: piecewise-linear in z through the norm points."""
    zq = stats.norm.ppf(NORM_PERCENTILES / 100)
    q = _interp_window(table, week)
    idx = np.clip(np.searchsorted(zq, z) - 1, 0, len(zq) - 2)
    rows = np.arange(z.size)
    lo, hi = q[rows, idx], q[rows, idx + 1]
    frac = (z - zq[idx]) / (zq[idx + 1] - zq[idx])
    return lo + frac * (hi - lo)


def percentile_of(table: np.ndarray, week: np.ndarray, score: np.ndarray) -> np.ndarray:
    """National percentile (1-99) of a score: the inverse of :func:`score_at_z`."""
    zq = stats.norm.ppf(NORM_PERCENTILES / 100)
    q = _interp_window(table, week)
    j = np.clip((score[:, None] >= q[:, 1:-1]).sum(axis=1), 0, len(zq) - 2)
    rows = np.arange(score.size)
    lo, hi = q[rows, j], q[rows, j + 1]
    width = np.where(hi > lo, hi - lo, 1.0)
    z = zq[j] + (score - lo) / width * (zq[j + 1] - zq[j])
    return np.clip(np.round(stats.norm.cdf(z) * 100), 1, 99)


def _students(spec: SynthSpec, rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    next_id = 1
    for s in range(spec.schools):
        school_id = f"{s + 1:03d}"
        school_name = SCHOOL_NAMES[s % len(SCHOOL_NAMES)] + (
            f" {s // len(SCHOOL_NAMES) + 1}" if s >= len(SCHOOL_NAMES) else ""
        )
        shift = rng.normal(0, 0.25)
        econ_rate = float(np.clip(0.45 - 1.2 * shift, 0.1, 0.9))
        for grade in spec.grades:
            n = max(4, int(round(spec.students_per_grade * rng.uniform(0.85, 1.15))))
            ids = [f"{i:07d}" for i in range(next_id, next_id + n)]
            next_id += n
            homerooms = max(1, round(n / 22))
            frames.append(
                pd.DataFrame(
                    {
                        "student_id": ids,
                        "school_id": school_id,
                        "school_name": school_name,
                        "grade": grade,
                        "first_name": rng.choice(FIRST_NAMES, n),
                        "last_name": rng.choice(LAST_NAMES, n),
                        "gender": rng.choice(["F", "M"], n),
                        "race_ethnicity": rng.choice(RACE_ETHNICITY, n, p=RACE_WEIGHTS),
                        "ell": rng.random(n) < 0.12,
                        "iep": rng.random(n) < 0.13,
                        "section_504": rng.random(n) < 0.03,
                        "econ_disadvantaged": rng.random(n) < econ_rate,
                        "homeroom": [
                            f"{'K' if grade == 0 else grade}-{chr(65 + k % homerooms)}"
                            for k in range(n)
                        ],
                        "_shift": shift,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _screening_dates(
    students: pd.DataFrame, spec: SynthSpec, rng: np.random.Generator
) -> dict[str, pd.Series]:
    first = int(spec.school_year.split("-")[0])
    base = {
        "fall": pd.Timestamp(first, 9, 8),
        "winter": pd.Timestamp(first + 1, 1, 12),
        "spring": pd.Timestamp(first + 1, 5, 4),
    }
    schools = students["school_id"].unique()
    out = {}
    for window, day in base.items():
        school_offset = pd.Series(rng.integers(0, 10, schools.size), index=schools)
        days = students["school_id"].map(school_offset).to_numpy() + rng.integers(
            0, 5, len(students)
        )
        out[window] = pd.Series(day + pd.to_timedelta(days, unit="D"), index=students.index)
    return out


def _subject_scores(
    students: pd.DataFrame,
    measure_of_grade,
    z: np.ndarray,
    growth_noise_sd: float,
    error_sd: float,
    tables: dict,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """True fall score and true typical growth (fall -> spring) for each student."""
    n = len(students)
    fall_true = np.empty(n)
    spring_true = np.empty(n)
    measures = np.array([measure_of_grade(g) for g in students["grade"]], dtype=object)
    for (measure, grade), idx in students.groupby([measures, students["grade"]]).indices.items():
        table = tables[(measure, int(grade))]
        fall_true[idx] = score_at_z(table, np.zeros(idx.size), z[idx])
        spring_true[idx] = score_at_z(
            table, np.full(idx.size, float(WINDOW_WEEK["spring"])), z[idx]
        )
    growth = spring_true - fall_true + rng.normal(0, growth_noise_sd, n)
    return {"measure": measures, "fall_true": fall_true, "growth": growth, "error_sd": error_sd}


def generate(spec: SynthSpec) -> tuple[dict[str, pd.DataFrame], dict]:
    """Build the district: canonical tables and the planted truth."""
    rng = np.random.default_rng(spec.seed)
    tables = _quantile_tables()
    students = _students(spec, rng)
    n = len(students)
    dates = _screening_dates(students, spec, rng)
    subgroup_shift = (
        -0.35 * students["ell"] - 0.45 * students["iep"] - 0.2 * students["econ_disadvantaged"]
    ).to_numpy(dtype=float)
    base = 0.25 + students["_shift"].to_numpy() + subgroup_shift
    general = rng.normal(0, 1, n)

    subjects = {
        "reading": (reading_measure, 8.0, 6.0, {0: 6.0}),
        "math": (lambda g: "map_math_rit", 4.0, 3.5, {}),
    }
    screening_rows = []
    enrol_rows = []
    progress_rows = []
    truth_programs = {
        name: {"subject": p["subject"], "effect_sd": p["effect_sd"]}
        for name, p in spec.programs.items()
    }
    staff = {}
    for s_idx, school_id in enumerate(sorted(students["school_id"].unique())):
        staff[school_id] = [
            INTERVENTIONISTS[(s_idx * 3 + k) % len(INTERVENTIONISTS)] for k in range(3)
        ]

    for subject, (measure_of_grade, growth_sd, error_sd, _) in subjects.items():
        z = base + 0.75 * general + 0.6 * rng.normal(0, 1, n)
        z = z / np.sqrt(0.75**2 + 0.6**2 + 0.1)
        sub = _subject_scores(students, measure_of_grade, z, growth_sd, error_sd, tables, rng)
        # Observed fall scores decide risk and define the SD the effect is planted in.
        week_fall = np.zeros(n)
        observed = {}
        observed["fall"] = sub["fall_true"] + rng.normal(0, error_sd, n)
        lo_hi = {m: (0.0, 400.0) for m in set(sub["measure"])}
        fall_pct = np.empty(n)
        sd_by_grade = np.empty(n)
        for (measure, grade), idx in students.groupby(
            [sub["measure"], students["grade"]]
        ).indices.items():
            fall = np.round(np.clip(observed["fall"][idx], *lo_hi[measure]))
            observed["fall"][idx] = fall
            fall_pct[idx] = percentile_of(tables[(measure, int(grade))], week_fall[idx], fall)
            sd_by_grade[idx] = np.std(np.round(fall), ddof=1)
        at_risk = fall_pct < 25
        programs = [p for p, v in spec.programs.items() if v["subject"] == subject]
        enrolled = at_risk & (rng.random(n) >= spec.unserved_share)
        program = np.where(enrolled, rng.choice(programs, n), None)
        effect = np.array([spec.programs[p]["effect_sd"] if p else 0.0 for p in program])
        effect_raw = effect * sd_by_grade
        for window in ("winter", "spring"):
            week = WINDOW_WEEK[window]
            true = sub["fall_true"] + sub["growth"] * week / WINDOW_WEEK["spring"]
            true = true + effect_raw * week / WINDOW_WEEK["spring"]
            observed[window] = true + rng.normal(0, error_sd, n)
        for window in ("fall", "winter", "spring"):
            score = np.round(np.clip(observed[window], 0, None))
            pct = np.empty(n)
            for (measure, grade), idx in students.groupby(
                [sub["measure"], students["grade"]]
            ).indices.items():
                pct[idx] = percentile_of(
                    tables[(measure, int(grade))],
                    np.full(idx.size, float(WINDOW_WEEK[window])),
                    score[idx],
                )
            screening_rows.append(
                pd.DataFrame(
                    {
                        "student_id": students["student_id"],
                        "school_year": spec.school_year,
                        "window": window,
                        "date": dates[window].dt.strftime("%Y-%m-%d"),
                        "measure": sub["measure"],
                        "subject": subject,
                        "score": score.astype(int),
                        "percentile": pct.astype(int),
                        "vendor_level": "",
                    }
                )
            )
        # Enrolment and sessions.
        idx = np.flatnonzero(enrolled)
        fall_dates = dates["fall"].iloc[idx]
        start = fall_dates + pd.to_timedelta(rng.integers(10, 21, idx.size), unit="D")
        end = dates["spring"].iloc[idx] - pd.Timedelta(days=3)
        weeks = ((end - start).dt.days / 7).to_numpy()
        per_week = np.array([spec.programs[p]["sessions_per_week"] for p in program[idx]])
        planned = np.round(weeks * per_week).astype(int)
        attended = np.minimum(planned, np.round(planned * rng.beta(9, 2, idx.size))).astype(int)
        tier = np.where(fall_pct[idx] < 10, 3, 2)
        school_ids = students["school_id"].iloc[idx].to_numpy()
        frame = pd.DataFrame(
            {
                "student_id": students["student_id"].iloc[idx].to_numpy(),
                "program": program[idx],
                "school_id": school_ids,
                "grade": students["grade"].iloc[idx].to_numpy(),
                "subject": subject,
                "tier": tier,
                "start_date": start.dt.strftime("%Y-%m-%d").to_numpy(),
                "end_date": end.dt.strftime("%Y-%m-%d").to_numpy(),
                "sessions_planned": planned,
                "sessions_attended": attended,
                "minutes_per_session": np.where(tier == 3, 45, 30),
            }
        )
        frame = frame.sort_values(["school_id", "program", "grade", "student_id"])
        seq = frame.groupby(["school_id", "program", "grade"]).cumcount() // 4
        prog_code = frame["program"].map({p: f"{k + 1:02d}" for k, p in enumerate(spec.programs)})
        frame["group_id"] = (
            frame["school_id"]
            + "-"
            + prog_code
            + "-G"
            + frame["grade"].astype(str)
            + "-"
            + (seq + 1).astype(str)
        )
        frame["interventionist"] = [
            staff[sch][hash_index(gid, len(staff[sch]))]
            for sch, gid in zip(frame["school_id"], frame["group_id"], strict=True)
        ]
        enrol_rows.append(frame.drop(columns=["school_id", "grade"]))
        progress_rows.append(
            _probes(students, idx, start, end, sub, z, effect, effect_raw, subject, tables, rng)
        )

    behavior_z = base * 0.5 + rng.normal(0, 1, n)
    for window in ("fall", "winter", "spring"):
        score = np.clip(np.round(44 + 6 * (behavior_z + rng.normal(0, 0.4, n))), 0, 57)
        screening_rows.append(
            pd.DataFrame(
                {
                    "student_id": students["student_id"],
                    "school_year": spec.school_year,
                    "window": window,
                    "date": dates[window].dt.strftime("%Y-%m-%d"),
                    "measure": "saebrs_total",
                    "subject": "behavior",
                    "score": score.astype(int),
                    "percentile": pd.array([pd.NA] * n, dtype="Int64"),
                    "vendor_level": "",
                }
            )
        )

    out = {
        "students": students.drop(columns=["_shift"]),
        "screenings": pd.concat(screening_rows, ignore_index=True),
        "interventions": pd.concat(enrol_rows, ignore_index=True),
        "progress": pd.concat(progress_rows, ignore_index=True),
    }
    clean_screenings = out["screenings"]
    out, defects = inject_defects(out, spec, rng)
    out["screenings"] = pd.concat(
        [out["screenings"], reading_subtests(students, clean_screenings, spec)],
        ignore_index=True,
    )
    out["staff"] = staff_table(students)
    out["overrides"] = overrides_table(students, spec)
    truth = {
        "seed": spec.seed,
        "school_year": spec.school_year,
        "schools": spec.schools,
        "students": int(n),
        "students_per_grade": spec.students_per_grade,
        "grades": list(spec.grades),
        "unserved_share": spec.unserved_share,
        "effect_definition": (
            "extra fall-to-spring growth of enrolled students over comparable non-enrolled "
            "students, in SDs of the observed fall scores of the student's grade and measure "
            "across the district; accrues linearly in weeks since the fall screening"
        ),
        "programs": truth_programs,
        "defects": defects,
    }
    return out, truth


# Reading subtests (skill focus) and staff: drawn from their own random stream so the
# measures above and the planted effects stay exactly as they are.
SUBTEST_SEED_SALT = 41
BENCHMARKS_CSV = NORMS_DIR.parent / "benchmarks" / "dibels8.csv"
SUBTESTS_BY_GRADE = {
    0: ("dibels8_psf", "dibels8_nwf_cls", "dibels8_composite"),
    1: ("dibels8_psf", "dibels8_nwf_cls", "dibels8_orf_accuracy", "dibels8_composite"),
    2: ("dibels8_orf_accuracy", "dibels8_maze", "dibels8_composite"),
    3: ("dibels8_orf_accuracy", "dibels8_maze", "dibels8_composite"),
}
SUBTEST_RANGE = {
    "dibels8_psf": (0, 150),
    "dibels8_nwf_cls": (0, 300),
    "dibels8_orf_accuracy": (0, 100),
    "dibels8_maze": (0, 80),
    "dibels8_composite": (200, 1000),
}
# Per grade above 3 (beyond the published sheet): added to the grade 3 location.
SUBTEST_GRADE_STEP = {"dibels8_maze": 3.0, "dibels8_composite": 20.0, "dibels8_orf_accuracy": 0.5}
Z_BELOW, Z_BENCHMARK = stats.norm.ppf(0.20), stats.norm.ppf(0.40)


def _subtest_location(measure: str, grade: int, window: str, cuts: pd.DataFrame):
    """Mean and SD of a subtest so that the DIBELS 8 Below cut sits near the 20th and the
    benchmark goal near the 40th percentile (the sheet's legend); grades past the sheet
    step on from grade 3."""
    top = int(cuts.loc[cuts["measure"] == measure, "grade"].max())
    mine = cuts[(cuts["measure"] == measure) & (cuts["window"] == window)]
    row = mine[mine["grade"] == min(grade, top)].set_index("level")["min_score"]
    sd = max((row["benchmark"] - row["below"]) / (Z_BENCHMARK - Z_BELOW), 1.0)
    mean = (
        row["benchmark"]
        - Z_BENCHMARK * sd
        + SUBTEST_GRADE_STEP.get(measure, 0) * max(0, grade - top)
    )
    return mean, sd


def reading_subtests(
    students: pd.DataFrame, screenings: pd.DataFrame, spec: SynthSpec
) -> pd.DataFrame:
    """DIBELS 8 subtests beside each student's reading screening, so skill focus shows.

    PSF and NWF-CLS in K-1, ORF accuracy in 1-5, Maze in 2-5 and the composite in K-5.
    Each student has lasting strengths and weaknesses: decoding (NWF, accuracy) follows
    the reading standing with its own deviation, phonemic awareness follows decoding,
    comprehension (Maze) follows reading. Scores sit on the published DIBELS 8 cuts
    (:func:`_subtest_location`); percentiles are the standing's normal percentile.
    """
    rng = np.random.default_rng([spec.seed, SUBTEST_SEED_SALT])
    cuts = pd.read_csv(BENCHMARKS_CSV)
    base = screenings[screenings["measure"].isin(["dibels8_orf_wrc", "dibels8_lnf"])]
    base = base.merge(students[["student_id", "grade"]], on="student_id")
    lasting = pd.DataFrame(
        rng.normal(0, 1, (len(students), 3)),
        columns=["e_decode", "e_pa", "e_comp"],
        index=students["student_id"],
    )
    base = base.join(lasting, on="student_id")
    n = len(base)
    z_read = stats.norm.ppf(base["percentile"].clip(1, 99).to_numpy(dtype=float) / 100)
    noise = rng.normal(0, 0.3, (n, 4))
    z_decode = 0.75 * z_read + 0.62 * base["e_decode"].to_numpy() + noise[:, 0]
    z = {
        "dibels8_nwf_cls": z_decode,
        "dibels8_orf_accuracy": z_decode + noise[:, 1] * 0.5,
        "dibels8_psf": 0.6 * z_decode + 0.75 * base["e_pa"].to_numpy() + noise[:, 2],
        "dibels8_maze": 0.7 * z_read + 0.68 * base["e_comp"].to_numpy() + noise[:, 3],
        "dibels8_composite": 0.85 * z_read + 0.45 * z_decode,
    }
    z["dibels8_composite"] = z["dibels8_composite"] / np.std(z["dibels8_composite"])
    grade = base["grade"].to_numpy()
    frames = []
    for measure in SUBTEST_RANGE:
        has = np.array([measure in SUBTESTS_BY_GRADE[min(int(g), 3)] for g in grade])
        if not has.any():
            continue
        rows = base[has]
        zm = z[measure][has]
        score = np.empty(len(rows))
        for (g, window), idx in rows.groupby(["grade", "window"]).indices.items():
            mean, sd = _subtest_location(measure, int(g), window, cuts)
            score[idx] = mean + sd * zm[idx]
        lo, hi = SUBTEST_RANGE[measure]
        step = 0.5 if measure == "dibels8_maze" else 1.0
        score = np.clip(np.round(score / step) * step, lo, hi)
        frames.append(
            pd.DataFrame(
                {
                    "student_id": rows["student_id"].to_numpy(),
                    "school_year": rows["school_year"].to_numpy(),
                    "window": rows["window"].to_numpy(),
                    "date": rows["date"].to_numpy(),
                    "measure": measure,
                    "subject": "reading",
                    "score": score,
                    "percentile": np.clip(np.round(stats.norm.cdf(zm) * 100), 1, 99).astype(int),
                    "vendor_level": "",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


STAFF_SUBJECTS = ("reading", "reading", "reading;math", "math", "behavior", "reading;behavior")
STAFF_SLOTS = ("8:00", "8:45", "9:30", "10:15", "11:00", "11:45", "12:30", "1:15", "2:00", "2:45")


def staff_table(students: pd.DataFrame) -> pd.DataFrame:
    """``staff.csv``: six interventionists per school with capacity and time slots.

    The first three are the names the intervention log already uses at that school.
    """
    rows = []
    for s_idx, school_id in enumerate(sorted(students["school_id"].unique())):
        for k, subjects in enumerate(STAFF_SUBJECTS):
            rows.append(
                {
                    "school_id": school_id,
                    "interventionist": INTERVENTIONISTS[(s_idx * 3 + k) % len(INTERVENTIONISTS)],
                    "subjects": subjects,
                    "max_groups": 10,
                    "max_students": 40,
                    "slots": ";".join(STAFF_SLOTS),
                }
            )
    return pd.DataFrame(rows)


OVERRIDE_EXAMPLES = (
    (
        "reading",
        3,
        "Moved from another district; records show a year of intensive phonics support",
        "Reading team",
    ),
    (
        "reading",
        1,
        "Screening fell on a bad day; a retest with an alternate form was at benchmark",
        "Grade-level team",
    ),
    ("behavior", 2, "Teacher and counselor report frequent withdrawal in class", "MTSS team"),
)


def overrides_table(students: pd.DataFrame, spec: SynthSpec) -> pd.DataFrame:
    """``overrides.csv``: a few documented team decisions per school, so the demo shows them."""
    rng = np.random.default_rng([spec.seed, SUBTEST_SEED_SALT + 1])
    first = int(spec.school_year.split("-")[0])
    rows = []
    for _school, mine in students.groupby("school_id", sort=True):
        picks = rng.choice(
            mine["student_id"].to_numpy(), size=len(OVERRIDE_EXAMPLES), replace=False
        )
        for student_id, (subject, tier, reason, who) in zip(picks, OVERRIDE_EXAMPLES, strict=True):
            rows.append(
                {
                    "student_id": student_id,
                    "subject": subject,
                    "tier": tier,
                    "reason": reason,
                    "decided_by": who,
                    "date": f"{first}-10-{int(rng.integers(1, 28)):02d}",
                }
            )
    return pd.DataFrame(rows)


def hash_index(text: str, modulo: int) -> int:
    """A stable (not salted, unlike ``hash``) index from a string."""
    return sum(ord(ch) * (k + 1) for k, ch in enumerate(text)) % modulo


def _probes(students, idx, start, end, sub, z, effect, effect_raw, subject, tables, rng):
    """Weekly progress probes from each enrolled student's start to end date.

    Reading is monitored on the screening measure itself (its growth and planted effect
    carry over); math on a computation CBM whose slope gets the same planted effect in
    that measure's own SD units.
    """
    grades = students["grade"].iloc[idx].to_numpy()
    if subject == "reading":
        measures = sub["measure"][idx]
    else:
        measures = np.full(idx.size, "math_cbm_dcpm", dtype=object)
    n_weeks = np.floor((end - start).dt.days.to_numpy() / 7).astype(int) + 1
    start_week = rng.integers(2, 4, idx.size)  # weeks since the fall screening
    same = measures == sub["measure"][idx]
    base_score = np.where(same, sub["fall_true"][idx], 0.0)
    slope = (sub["growth"][idx] + effect_raw[idx]) / WINDOW_WEEK["spring"]
    noise = np.where(measures == "dibels8_orf_wrc", 9.0, 5.0)
    for (measure, grade), rows in (
        pd.DataFrame({"m": measures, "g": grades}).groupby(["m", "g"]).indices.items()
    ):
        if measure == "math_cbm_dcpm":
            table = tables[(measure, int(grade))]
            sd = float(table[0, 3] - table[0, 1]) / 1.349  # IQR -> SD
            base_score[rows] = score_at_z(table, np.zeros(rows.size), z[idx[rows]])
            slope[rows] = (
                0.45
                + rng.normal(0, 0.12, rows.size)
                + effect[idx[rows]] * sd / WINDOW_WEEK["spring"]
            )
            noise[rows] = 2.5
    owner = np.repeat(np.arange(idx.size), n_weeks)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)
    weeks_since_fall = start_week[owner] + offset
    score = base_score[owner] + slope[owner] * weeks_since_fall
    score = score + rng.normal(0, 1, owner.size) * noise[owner]
    probe_dates = start.to_numpy()[owner] + (7 * offset).astype("timedelta64[D]")
    keep = rng.random(owner.size) > 0.1  # a probe missed now and then
    return pd.DataFrame(
        {
            "student_id": students["student_id"].to_numpy()[idx[owner[keep]]],
            "date": pd.DatetimeIndex(probe_dates[keep]).strftime("%Y-%m-%d"),
            "measure": measures[owner[keep]],
            "score": np.round(np.clip(score[keep], 0, None)).astype(int),
        }
    )


def inject_defects(
    tables: dict[str, pd.DataFrame], spec: SynthSpec, rng: np.random.Generator
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Plant data defects at ``spec.defect_rate`` of screening rows; report their counts.

    Kinds: duplicate screening (same student, measure and window, earlier date),
    unknown student id, score outside the measure's valid range, percentile outside
    1-99, a screening dated outside its window, and a roster grade written out as a word.
    """
    counts = {
        "duplicate_screening": 0,
        "unknown_student": 0,
        "score_out_of_range": 0,
        "percentile_out_of_range": 0,
        "date_outside_window": 0,
        "grade_as_word": 0,
    }
    if spec.defect_rate <= 0:
        return tables, counts
    screenings = tables["screenings"].copy()
    screenings["percentile"] = screenings["percentile"].astype("Int64")
    n_each = max(1, int(round(len(screenings) * spec.defect_rate / 5)))
    picks = rng.choice(len(screenings), size=5 * n_each, replace=False)
    dup, unknown, score_bad, pct_bad, date_bad = np.split(picks, 5)

    duplicates = screenings.iloc[dup].copy()
    duplicates["date"] = (pd.to_datetime(duplicates["date"]) - pd.Timedelta(days=2)).dt.strftime(
        "%Y-%m-%d"
    )
    duplicates["score"] = duplicates["score"] + rng.integers(-5, 6, len(duplicates))
    duplicates["score"] = duplicates["score"].clip(lower=0)
    counts["duplicate_screening"] = len(duplicates)

    screenings.loc[screenings.index[unknown], "student_id"] = [
        f"9{k:06d}" for k in range(len(unknown))
    ]
    counts["unknown_student"] = len(unknown)
    screenings.loc[screenings.index[score_bad], "score"] = 999
    counts["score_out_of_range"] = len(score_bad)
    pct_rows = screenings.index[pct_bad][screenings["percentile"].iloc[pct_bad].notna().to_numpy()]
    screenings.loc[pct_rows, "percentile"] = 100 + rng.integers(1, 50, len(pct_rows))
    counts["percentile_out_of_range"] = len(pct_rows)
    first = int(spec.school_year.split("-")[0])
    screenings.loc[screenings.index[date_bad], "date"] = f"{first + 1}-07-15"
    counts["date_outside_window"] = len(date_bad)

    # Duplicates go at the end, as re-uploaded rows do.
    tables["screenings"] = pd.concat([screenings, duplicates], ignore_index=True)

    students = tables["students"].copy()
    students["grade"] = students["grade"].astype(str)
    words = {"1": "One", "2": "Two", "3": "Three", "4": "Four", "5": "Five"}
    candidates = np.flatnonzero(students["grade"].isin(list(words)).to_numpy())
    n_word = min(len(candidates), max(1, int(round(len(students) * spec.defect_rate / 4))))
    chosen = students.index[rng.choice(candidates, size=n_word, replace=False)]
    students.loc[chosen, "grade"] = students.loc[chosen, "grade"].map(words)
    counts["grade_as_word"] = int(n_word)
    tables["students"] = students
    return tables, counts


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV as an analyst's export would be; pyarrow's writer is ~5x faster than pandas'."""
    options = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path, write_options=options)


def write_district(spec: SynthSpec, raw_dir: Path | str) -> dict:
    """Generate the district and write it to ``raw_dir`` (canonical CSV layout)."""
    raw = Path(raw_dir)
    raw.mkdir(parents=True, exist_ok=True)
    tables, truth = generate(spec)
    for name, frame in tables.items():
        write_csv(frame, raw / f"{name}.csv")
    (raw / "_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return truth
