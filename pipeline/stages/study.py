"""``tierwise study SPEC --out DIR``: run a published-analysis spec
(``config/real/analyses/*.yml``, :mod:`pipeline.stats.study_analyses`) and write one
``DIR/<name>.csv`` per analysis, one row per estimated quantity."""

from __future__ import annotations

from pathlib import Path

from pipeline.stats.study_analyses import load_study_spec, run_analysis

# The public research files, beside the repository (see config/real/README.md).
DEFAULT_DATA_DIR = Path("../shared/data/real")


def run_study(
    spec_path: Path | str, out_dir: Path | str, data_dir: Path | str = DEFAULT_DATA_DIR
) -> list[Path]:
    """Run every analysis of the spec on the files in ``data_dir``; the CSVs written."""
    spec = load_study_spec(spec_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for analysis in spec.analyses:
        path = out_dir / f"{analysis.name}.csv"
        run_analysis(analysis, data_dir).to_csv(path, index=False)
        written.append(path)
    return written
