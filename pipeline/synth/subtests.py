"""DIBELS 8 subtests beside each student's reading screening, so skill focus shows.

Drawn from their own random stream (seeded with the district's seed and a salt), so the
measures drawn before them and the planted effects stay exactly as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.synth.norms import CONFIG_DIR
from pipeline.synth.spec import SynthSpec

SUBTEST_SEED_SALT = 41
BENCHMARKS_CSV = CONFIG_DIR / "benchmarks" / "dibels8.csv"
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
    z = _subtest_standings(base, rng)
    grade = base["grade"].to_numpy()
    frames = []
    for measure in SUBTEST_RANGE:
        has = np.array([measure in SUBTESTS_BY_GRADE[min(int(g), 3)] for g in grade])
        if has.any():
            frames.append(_subtest_rows(measure, base[has], z[measure][has], cuts))
    return pd.concat(frames, ignore_index=True)


def _subtest_standings(base: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each screening's standing on each subtest, from the reading standing (its
    percentile), the student's lasting deviations and some noise."""
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
    return z


def _subtest_rows(
    measure: str, rows: pd.DataFrame, zm: np.ndarray, cuts: pd.DataFrame
) -> pd.DataFrame:
    """One subtest's screenings: scores on the published cuts, percentiles from ``zm``."""
    score = np.empty(len(rows))
    for (g, window), idx in rows.groupby(["grade", "window"]).indices.items():
        mean, sd = _subtest_location(measure, int(g), window, cuts)
        score[idx] = mean + sd * zm[idx]
    lo, hi = SUBTEST_RANGE[measure]
    step = 0.5 if measure == "dibels8_maze" else 1.0
    score = np.clip(np.round(score / step) * step, lo, hi)
    return pd.DataFrame(
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
