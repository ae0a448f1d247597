"""End to end: ingest, process and render two schools into a temp dir; read the HTML."""

import os
import re

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.render import engine as render

from .conftest import REPO_ROOT

NETWORK_REF = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def rendered(small_district, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    locations = [
        "--raw",
        str(small_district),
        "--processed",
        str(out / "processed"),
        "--reports",
        str(out / "reports"),
        "--config",
        str(REPO_ROOT / "config"),
    ]
    assert main(["ingest", *locations]) == 0
    assert main(["process", *locations]) == 0
    code = main(["render", *locations, "--school", "001", "--school", "002", "--workers", "2"])
    assert code == 0
    return out


def school_html(out, school_id):
    return (out / "reports/2025-2026/spring/schools" / school_id / "specialist.html").read_text()


def test_each_school_report_has_its_students_and_no_others(rendered, small_district):
    students = pd.read_csv(small_district / "students.csv", dtype=str)
    tiers = pd.read_parquet(rendered / "processed/2025-2026/spring/tiers.parquet")
    needing = set(tiers.loc[tiers["tier"] >= 2, "student_id"])
    for school_id, other in (("001", "002"), ("002", "001")):
        page = school_html(rendered, school_id)
        mine = students[students["school_id"] == school_id]
        assert mine["school_name"].iloc[0] in page
        for row in mine[mine["student_id"].isin(needing)].itertuples():
            assert row.student_id in page
            assert f"{row.last_name}, {row.first_name}" in page
        for student_id in students.loc[students["school_id"] == other, "student_id"]:
            assert student_id not in page


def test_report_hides_code_shows_figure_and_loads_nothing_from_the_network(rendered):
    page = school_html(rendered, "001")
    assert "from pipeline import report" not in page
    assert "load_school(" not in page
    assert 'src="data:image/png;base64,' in page
    assert re.search(r'<img [^>]*alt="Tier distribution by grade', page)
    assert not NETWORK_REF.search(page)
    assert "<script src" not in page


def test_index_links_every_rendered_school(rendered):
    index = (rendered / "reports/2025-2026/spring/index.html").read_text()
    assert 'href="schools/001/specialist.html"' in index
    assert 'href="schools/002/specialist.html"' in index
    assert not NETWORK_REF.search(index)
    root = (rendered / "reports/index.html").read_text()
    assert 'href="2025-2026/spring/index.html"' in root


def test_a_failing_report_is_reported_and_the_others_still_render(rendered, tmp_path):
    good, bad = render.school_jobs(
        rendered / "processed",
        tmp_path,
        REPO_ROOT / "config",
        "2025-2026",
        "spring",
        ["001", "999"],
        generated_at="test",
    )
    results = render.run_jobs([bad, good], workers=2, progress=False)
    assert [r.ok for r in results] == [False, True]
    assert "LookupError" in results[0].error and "cell" in results[0].error
    assert "999" in results[0].error
    assert good.output.exists() and not bad.output.exists()


PROBE = REPO_ROOT / "tests" / "fixtures" / "notebooks" / "kernel_probe.ipynb"


def probe_jobs(out, n):
    return [
        render.ReportJob(f"probe {k}", PROBE, out / f"probe-{k}.html", {"label": f"s{k}"})
        for k in range(n)
    ]


@pytest.mark.parametrize("fork", [True, False], ids=["forked-from-template", "started-fresh"])
def test_no_kernel_serves_two_reports(tmp_path, fork):
    jobs = probe_jobs(tmp_path, 4)
    results = render.run_jobs(jobs, workers=1, progress=False, fork_kernels=fork)
    assert all(r.ok for r in results), [r.error for r in results]
    pids, parents = set(), set()
    for k in range(4):
        page = (tmp_path / f"probe-{k}.html").read_text()
        match = re.search(r"label=s(\d+) reports-in-kernel=(\d+) pid=(\d+)", page)
        assert match and match.group(1) == str(k)
        assert match.group(2) == "1"  # a reused kernel would count 2, 3, ...
        pids.add(match.group(3))
        state = re.search(r"state=([\w,]*) parent=(\d+)", page)
        assert state.group(1) == f"school_state_s{k}"  # no earlier report's variables
        parents.add(state.group(2))
    assert len(pids) == 4
    # Forked kernels share one parent, the template process; the others are our children.
    assert len(parents) == 1
    assert (parents != {str(os.getpid())}) == fork


def test_parallel_render_gives_the_same_html_as_serial(rendered, tmp_path):
    def jobs(reports):
        return render.school_jobs(
            rendered / "processed", reports, REPO_ROOT / "config", "2025-2026", "spring",
            ["001", "002", "003"], generated_at="fixed",
        )  # fmt: skip

    serial = render.run_jobs(jobs(tmp_path / "serial"), workers=1, progress=False)
    parallel = render.run_jobs(jobs(tmp_path / "parallel"), workers=2, progress=False)
    assert all(r.ok for r in serial + parallel)
    for a, b in zip(serial, parallel, strict=True):
        assert a.output != b.output
        assert a.output.read_text() == b.output.read_text()
