"""What the reports say about program effects: an effect only against a comparison group.

Vendors do not always send national percentiles. Without them no student has a fall
level to be matched on, so no program has a comparison group: the reports must then show
the change since fall, say it is not an effect, and never call it one: no "grew more than
similar students" anywhere, and the program planted with no effect (synthetic truth) under
no "Effect" heading, in no key finding and on no forest plot.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.reports import data, figures, principal
from pipeline.reports.programs import NOT_AN_EFFECT, summary_table
from pipeline.stats.scopes import DISTRICT
from pipeline.synth import SynthSpec, write_district

GREW_MORE = "grew more than similar students"


def processed_district(root, drop_percentiles: bool):
    raw, processed, reports = root / "raw", root / "processed", root / "reports"
    write_district(SynthSpec(schools=3, students_per_grade=40, seed=5), raw)
    if drop_percentiles:
        path = raw / "screenings.csv"
        pd.read_csv(path, dtype=str).drop(columns=["percentile"]).to_csv(path, index=False)
    folders = ["--raw", str(raw), "--processed", str(processed), "--reports", str(reports)]
    assert main(["ingest", *folders]) == 0
    assert main(["process", *folders]) == 0
    truth = json.loads((raw / "_truth.json").read_text())
    null = [p for p, v in truth["programs"].items() if v["effect_sd"] == 0]
    term = data.load_term(processed, "", "")
    return term, null


@pytest.fixture(scope="module")
def without_percentiles(tmp_path_factory):
    return processed_district(tmp_path_factory.mktemp("no-percentiles"), True)


@pytest.fixture(scope="module")
def with_percentiles(tmp_path_factory):
    return processed_district(tmp_path_factory.mktemp("percentiles"), False)


def report_texts(term) -> tuple[list[str], list[pd.DataFrame]]:
    """Every program sentence and table the three reports and the index print."""
    effectiveness = term.table("effectiveness")
    scopes = [DISTRICT, *term.schools()["school_id"]]
    sentences = [
        text
        for scope in scopes
        for text in principal.key_findings([], effectiveness, scope, term.config)
    ]
    tables = [summary_table(effectiveness, term.config)]
    for scope in scopes:
        rows = principal.program_rows(effectiveness, scope)
        tables.append(principal.program_display(rows, term.config))
        plot = figures.forest_figure(rows, "Program effect", term.config)
        if plot is not None:
            sentences.append(plot[1])
        forest = figures.forest_plot_figure(effectiveness, term.config, scope)
        if forest is not None:
            sentences.append(forest[1])
    return sentences, tables


def test_without_percentiles_no_report_calls_a_change_an_effect(without_percentiles):
    term, null = without_percentiles
    assert null, "the synthetic district plants one program with no effect"
    effectiveness = term.table("effectiveness")
    assert not effectiveness["has_comparison"].any()
    sentences, tables = report_texts(term)
    assert not any(GREW_MORE in s for s in sentences)
    assert not any(p in s for s in sentences for p in null)
    for table in tables:
        text = table.to_string()
        assert GREW_MORE not in text
        for column in [c for c in table.columns if c.startswith("Effect")]:
            assert not table[column].astype(str).str.match(r"^[+-]?\d").any(), column
    # The change since fall is shown, and said not to be an effect.
    summary = tables[0]
    assert summary["Change since fall (points)"].str.contains(NOT_AN_EFFECT, regex=False).any()


def test_with_percentiles_the_programs_have_effects(with_percentiles):
    # The same district with percentiles: the comparison exists and effects are shown,
    # the null program's among them (so the test above is not passing by showing nothing).
    term, null = with_percentiles
    rows = principal.program_rows(term.table("effectiveness"), DISTRICT)
    shown = principal.program_display(rows, term.config).set_index("Program")
    assert shown.loc[null[0], "Effect (SD)"].lstrip("+-")[0].isdigit()
    assert rows["has_comparison"].all()
