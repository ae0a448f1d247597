"""The process stage's steps in a process pool: where a step runs cannot change a table."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.ingest.terms import Term
from pipeline.stages import process

from .conftest import REPO_ROOT


def _processed(raw, out, workers: int) -> dict[str, pd.DataFrame]:
    locations = ["--raw", str(raw), "--processed", str(out), "--config", str(REPO_ROOT / "config")]
    assert main(["ingest", *locations, "--reports", str(out.parent / "reports")]) == 0
    (term,) = [p for p in out.glob("*/*") if p.is_dir()]
    config = load_config(REPO_ROOT / "config")
    year, window = term.parent.name, term.name
    process.run_process(out, raw, config, Term(year, window), workers=workers)
    return {name: pd.read_parquet(term / f"{name}.parquet") for name in process.TABLES}


def test_a_pool_gives_the_tables_of_one_process(small_district, tmp_path):
    alone = _processed(small_district, tmp_path / "one", workers=0)
    shared = _processed(small_district, tmp_path / "two", workers=process.WORKERS)
    assert set(alone) == set(process.TABLES)
    assert len(alone["tiers"]) and len(alone["fall_tiers"]) and len(alone["effectiveness"])
    for name in process.TABLES:
        pd.testing.assert_frame_equal(alone[name], shared[name], check_dtype=True, obj=name)


def test_the_cli_writes_every_table(small_district, tmp_path):
    out = tmp_path / "processed"
    locations = ["--raw", str(small_district), "--processed", str(out)]
    locations += ["--config", str(REPO_ROOT / "config")]
    assert main(["ingest", *locations, "--reports", str(tmp_path / "reports")]) == 0
    assert main(["process", *locations]) == 0
    (term,) = [p for p in out.glob("*/*") if p.is_dir()]
    assert all((term / f"{name}.parquet").exists() for name in process.TABLES)


def _fails(value: int) -> int:
    raise ValueError(f"step failed on {value}")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_failing_step_raises_its_own_error_in_the_caller(workers):
    with process._executor(workers) as pool:
        future = pool.submit(_fails, 7)
        with pytest.raises(ValueError, match="step failed on 7"):
            future.result()
        assert pool.submit(pow, 2, 5).result() == 32


def _bad_input() -> None:
    from pipeline.errors import InputError

    raise InputError("staff.csv", "is not a whole number", column="max_groups", row=2, value="x")


def test_an_input_error_in_a_worker_reaches_the_caller_as_itself():
    from pipeline.errors import InputError

    with process._executor(1) as pool:
        with pytest.raises(InputError) as caught:
            pool.submit(_bad_input).result()
    assert (caught.value.file, caught.value.column, caught.value.row) == (
        "staff.csv",
        "max_groups",
        2,
    )
    assert (
        str(caught.value)
        == "staff.csv, column 'max_groups', row 2: max_groups 'x' is not a whole number"
    )


def test_tiers_read_by_measure_are_the_tiers_of_every_screening(small_district, tmp_path):
    """The stage reads only the rows of the measures with a tier rule, and the domain
    scores of the Tier 2 and 3 pairs alone (picked in Arrow as they are read): the tiers
    are those of assign_tiers on every screening of the window, domain focus included."""
    from pipeline.rules.domains import DOMAINS, domain_rows_of
    from pipeline.rules.tiers import assign_tiers

    out = tmp_path / "processed"
    locations = ["--raw", str(small_district), "--processed", str(out)]
    locations += ["--config", str(REPO_ROOT / "config"), "--reports", str(tmp_path / "r")]
    assert main(["ingest", *locations]) == 0
    (folder,) = [p for p in out.glob("*/*") if p.is_dir()]
    config = load_config(REPO_ROOT / "config")
    term = Term(folder.parent.name, folder.name)
    process._fall_tiers(out, config, term)
    written = pd.read_parquet(folder / "fall_tiers.parquet")
    every = process._read_screenings(out, term, ["fall"])
    domain = {name for names in config.domain_measures().values() for name in names}
    assert domain & set(every["measure"])  # the window has domain scores too
    expected = assign_tiers(every, process._read_roster(out, term), config, "fall")
    pd.testing.assert_frame_equal(written, expected)
    skills = {skill for skills in DOMAINS.values() for skill in skills}
    named = written["focus"].dropna().str.split(" + ", regex=False)
    assert named.map(lambda parts: bool(set(parts) & skills)).sum() > 10
    # The read by student id keeps every domain score of the pairs, and of no pair none.
    need = written.loc[written["tier"].fillna(1).ge(2), ["student_id", "subject"]]
    read = process._domain_scores(out, term, config, "fall", need)
    want = domain_rows_of(every, need, config)
    assert len(want) > 0
    pd.testing.assert_frame_equal(read.reset_index(drop=True), want.reset_index(drop=True))
    assert process._domain_scores(out, term, config, "fall", need.iloc[0:0]).empty
