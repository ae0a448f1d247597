"""The process stage's two processes: where a step runs cannot change a table."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.stages import process

from .conftest import REPO_ROOT


def _processed(raw, out, monkeypatch, side: str) -> dict[str, pd.DataFrame]:
    monkeypatch.setenv("TIERWISE_SIDE", side)
    locations = ["--raw", str(raw), "--processed", str(out), "--config", str(REPO_ROOT / "config")]
    assert main(["ingest", *locations, "--reports", str(out.parent / "reports")]) == 0
    assert main(["process", *locations]) == 0
    (term,) = [p for p in out.glob("*/*") if p.is_dir()]
    return {name: pd.read_parquet(term / f"{name}.parquet") for name in process.TABLES}


def test_side_process_gives_the_tables_of_one_process(small_district, tmp_path, monkeypatch):
    alone = _processed(small_district, tmp_path / "one", monkeypatch, "0")
    shared = _processed(small_district, tmp_path / "two", monkeypatch, "1")
    assert set(alone) == set(process.TABLES)
    assert len(alone["tiers"]) and len(alone["fall_tiers"]) and len(alone["effectiveness"])
    for name in process.TABLES:
        pd.testing.assert_frame_equal(alone[name], shared[name], check_dtype=True, obj=name)


def _square_or_die(value: int) -> int:
    """Dies in a worker process; computes in the caller."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return value * value


def test_a_step_whose_worker_dies_is_computed_here(monkeypatch):
    monkeypatch.setenv("TIERWISE_SIDE", "1")
    with process._Side() as side:
        assert side._pool is not None
        side.submit(_square_or_die, 3)
        side.submit(_square_or_die, 4)
        assert side.results() == [9, 16]


def test_without_a_worker_each_step_runs_at_once(monkeypatch):
    monkeypatch.setenv("TIERWISE_SIDE", "0")
    with process._Side() as side:
        assert side._pool is None
        side.submit(_square_or_die, 5)
        assert side._steps[0][-1] == 25  # computed on submit
        assert side.results() == [25]


def test_an_error_here_stops_the_worker(monkeypatch):
    monkeypatch.setenv("TIERWISE_SIDE", "1")
    with pytest.raises(RuntimeError, match="stop"):
        with process._Side() as side:
            side.submit(__import__("time").sleep, 60)
            side._steps[0][0].join()  # submitted (the worker started)
            workers = list(side._pool._processes.values())
            raise RuntimeError("stop")
    for worker in workers:
        worker.join(timeout=10)
        assert not worker.is_alive()
