"""``tierwise validate --suite effects``: do the effect estimates recover the planted truth?

For each scenario (:mod:`pipeline.synth.scenarios`) and seed, a small synthetic district is
drawn and only the statistics are computed (no ingest, no reports): each program's
district-wide effect (:func:`pipeline.stats.comparison.growth_comparison`) and, per subject,
the regression-discontinuity estimate at the tier cut (:func:`pipeline.stats.rd.rd_effect`).
Across seeds the suite reports, per program and for the RD estimate, the mean estimate,
the bias (mean estimate - planted effect) and the coverage of the 95 % intervals.

In the ``by_grade`` scenario a program's planted effect differs by grade, so the pooled
estimate's truth is the planted per-grade effects pooled with the estimate's own weights
(:func:`pipeline.stats.comparison.pooling_se`); the per-grade estimates are checked
against the per-grade truth too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import DistrictConfig
from pipeline.stats.comparison import effects_by_grade, pool_grades, pooling_se, treated_scores
from pipeline.stats.outcomes import outcome_scores
from pipeline.stats.scopes import DISTRICT
from pipeline.synth import SynthSpec, generate
from pipeline.synth.scenarios import SCENARIOS

# A seed's district: small enough that hundreds of seeds run in minutes.
SMALL = {"schools": 8, "students_per_grade": 40}
COVERAGE_FLOOR = 0.90
BIAS_CEILING = 0.05


def typed(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The synthetic tables with the canonical types ingest gives them (the columns the
    effect statistics read)."""
    students = tables["students"].assign(grade=tables["students"]["grade"].astype(int))
    screenings = tables["screenings"].assign(
        date=pd.to_datetime(tables["screenings"]["date"]),
        score=tables["screenings"]["score"].astype(float),
        percentile=tables["screenings"]["percentile"].astype("Float64"),
    )
    return {
        "students": students,
        "screenings": screenings,
        "interventions": tables["interventions"],
    }


def seed_estimates(
    seed: int, scenario: str, config: DistrictConfig, rd: bool = True, size: dict | None = None
) -> list[dict]:
    """One row per planted quantity of one seed: ``kind`` (program, grade or rd), ``name``,
    ``planted``, ``estimate``, ``ci_low``, ``ci_high``."""
    tables, truth = generate(SynthSpec(seed=seed, scenario=scenario, lean=True, **(size or SMALL)))
    t = typed(tables)
    scores = outcome_scores(t["screenings"], t["students"], config, "spring")
    enrol = t["interventions"].merge(t["students"][["student_id", "school_id"]], on="student_id")
    treated = treated_scores(scores, enrol)
    treated = treated[treated["scope"] == DISTRICT]
    level = config.effectiveness.confidence
    cells = effects_by_grade(scores, enrol, level, treated=treated)
    rows = _program_rows(cells, truth, level) + _grade_rows(cells, truth, level)
    if rd:
        rows += _rd_rows(scores, enrol, t["students"], truth, config)
    return [{"seed": seed, "scenario": scenario, **row} for row in rows]


def _program_rows(cells: pd.DataFrame, truth: dict, level: float) -> list[dict]:
    """Each program's pooled district effect against its planted effect (in by_grade: the
    planted per-grade effects pooled with the estimate's weights)."""
    pooled = pool_grades(cells, level).set_index("program")
    rows = []
    for program, by_grade in truth["effect_by_grade"].items():
        mine = cells[cells["program"] == program]
        w = 1.0 / pooling_se(mine)[0] ** 2 if len(mine) else pd.Series(dtype=float)
        planted_g = mine["grade"].astype(str).map(by_grade).astype(float)
        planted = float((w * planted_g).sum() / w.sum()) if len(mine) else np.nan
        est = pooled.loc[program] if program in pooled.index else None
        rows.append(_row("program", program, planted, est, "effect_sd"))
    return rows


def _grade_rows(cells: pd.DataFrame, truth: dict, level: float) -> list[dict]:
    """Each program x grade effect against the planted one (Student's t with the
    estimate's degrees of freedom)."""
    from scipy import stats

    rows = []
    for cell in cells.itertuples():
        planted = truth["effect_by_grade"][cell.program][str(cell.grade)]
        half = stats.t.ppf(0.5 + level / 2, cell.df) * cell.effect_sd_se
        rows.append(
            {
                "kind": "grade",
                "name": f"{cell.program}, grade {cell.grade}",
                "planted": planted,
                "estimate": cell.effect_sd,
                "ci_low": cell.effect_sd - half,
                "ci_high": cell.effect_sd + half,
            }
        )
    return rows


def _rd_rows(scores, enrol, students, truth: dict, config: DistrictConfig) -> list[dict]:
    """Each subject's RD estimate at the tier cut against the planted effect at the cut."""
    from pipeline.stats.rd import rd_effect

    rows = []
    for subject, planted in truth["rd"].items():
        est = rd_effect(scores, enrol, subject, config, diagnostics=False)
        rows.append(
            {
                "kind": "rd",
                "name": f"RD at the cut, {subject}",
                "planted": planted["effect_sd"],
                "estimate": est.get("estimate", np.nan),
                "ci_low": est.get("ci_low", np.nan),
                "ci_high": est.get("ci_high", np.nan),
            }
        )
    return rows


def _row(kind: str, name: str, planted: float, est, prefix: str) -> dict:
    missing = est is None or pd.isna(est[prefix])
    return {
        "kind": kind,
        "name": name,
        "planted": planted,
        "estimate": np.nan if missing else float(est[prefix]),
        "ci_low": np.nan if missing else float(est[f"{prefix}_ci_low"]),
        "ci_high": np.nan if missing else float(est[f"{prefix}_ci_high"]),
    }


def run_effects_suite(
    seeds: range,
    scenarios: list[str],
    config: DistrictConfig,
    rd: bool = True,
    progress=None,
    size: dict | None = None,
) -> pd.DataFrame:
    """Every seed's estimates in every scenario (one row per planted quantity)."""
    rows = []
    for scenario in scenarios:
        for seed in seeds:
            rows += seed_estimates(seed, scenario, config, rd, size)
            if progress is not None:
                progress(scenario, seed)
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario x kind x name: runs with an estimate, planted (mean), mean estimate,
    bias and the coverage of the 95 % intervals; ``passes`` against the acceptance bars
    (coverage >= 90 %; |bias| <= 0.05 SD for program effects)."""
    ok = runs.dropna(subset=["estimate", "ci_low", "ci_high", "planted"])
    ok = ok.assign(
        covered=(ok["ci_low"] <= ok["planted"]) & (ok["planted"] <= ok["ci_high"]),
        error=ok["estimate"] - ok["planted"],
    )
    out = (
        ok.groupby(["scenario", "kind", "name"], sort=False)
        .agg(
            runs=("covered", "size"),
            planted=("planted", "mean"),
            mean_estimate=("estimate", "mean"),
            bias=("error", "mean"),
            coverage=("covered", "mean"),
        )
        .reset_index()
    )
    bias_ok = (out["kind"] != "program") | (out["bias"].abs() <= BIAS_CEILING)
    return out.assign(passes=(out["coverage"] >= COVERAGE_FLOOR) & bias_ok)


def scenario_names(choice: str) -> list[str]:
    """``all`` or one scenario's name."""
    return list(SCENARIOS) if choice == "all" else [choice]


def report(summary: pd.DataFrame) -> str:
    """The summary as the text ``tierwise validate`` prints: programs and RD per scenario,
    then the per-grade cells in one line per scenario."""
    lines = []
    for scenario, rows in summary.groupby("scenario", sort=False):
        main = rows[rows["kind"] != "grade"]
        lines.append(f"scenario {scenario}:")
        lines.append(
            main.drop(columns=["scenario"]).to_string(
                index=False, float_format=lambda v: f"{v:.3f}"
            )
        )
        grades = rows[rows["kind"] == "grade"]
        if not grades.empty:
            lines.append(
                f"  per grade x program ({len(grades)} cells): coverage "
                f"{grades['coverage'].min():.3f} to {grades['coverage'].max():.3f}, "
                f"largest |bias| {grades['bias'].abs().max():.3f} SD"
            )
    return "\n".join(lines)


def run(args, config: DistrictConfig) -> int:
    """``tierwise validate --suite effects``: print the summary; 1 when a program effect or
    an RD estimate misses its bar (per-grade cells are reported, not judged)."""
    import time

    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    chunks = []
    for scenario in scenario_names(args.scenario):
        for seed in seeds:
            chunk = pd.DataFrame(seed_estimates(seed, scenario, config))
            if args.out is not None:  # seed by seed, so a stopped run keeps what it did
                chunk.to_csv(args.out, mode="a", header=not chunks, index=False)
            chunks.append(chunk)
    runs = pd.concat(chunks, ignore_index=True)
    summary = summarise(runs)
    print(report(summary), flush=True)
    judged = summary[summary["kind"] != "grade"]
    failed = judged[~judged["passes"]]
    took = time.perf_counter() - started
    print(
        f"{len(seeds)} seeds per scenario in {took:.0f} s; {len(failed)} of {len(judged)} "
        "quantities miss their bar (coverage >= 90 %, |bias| <= 0.05 SD for programs)"
    )
    return 1 if len(failed) else 0
