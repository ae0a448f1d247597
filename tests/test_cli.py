import subprocess
import sys

import pytest

from pipeline.cli import build_parser, main

COMMANDS = ["demo-data", "ingest", "process", "render", "reports"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_useful_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--raw" in text and "--processed" in text and "--reports" in text
    assert len(text.splitlines()) > 8


def test_python_dash_m_pipeline_runs():
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout


def test_missing_processed_data_is_a_clear_error(tmp_path, capsys):
    code = main(["process", "--processed", str(tmp_path / "nothing"), "--raw", str(tmp_path)])
    assert code == 2
    assert "run `tierwise ingest` first" in capsys.readouterr().err


def test_demo_data_then_ingest_picks_the_latest_term(tmp_path, capsys):
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    # Every location under tmp_path: without --reports, ingest would write the data-quality
    # pages into the checkout's reports/.
    locations = ["--raw", str(raw), "--processed", str(processed)]
    locations += ["--reports", str(tmp_path / "reports")]
    assert main(["demo-data", *locations, "--schools", "1", "--students-per-grade", "8"]) == 0
    assert main(["ingest", *locations]) == 0
    assert (processed / "2025-2026" / "spring" / "students.parquet").exists()
    assert (tmp_path / "reports" / "2025-2026" / "spring" / "data-quality").is_dir()
    assert main(["ingest", *locations, "--window", "winter"]) == 0
    assert (processed / "2025-2026" / "winter" / "screenings.parquet").exists()
