"""The per-measure rows as integer codes, so that "per student x subject" is a sort and a
count (:mod:`pipeline.fast`) rather than a groupby of text ids over millions of rows."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from pipeline import fast


class MeasureKeys(NamedTuple):
    """Codes of the per-measure rows: ``pair`` per student x subject (numbered in student,
    then subject order), ``subject`` and ``measure`` into their distinct values, and
    ``decision`` (optional): rows with one code have one reason."""

    pair: np.ndarray
    subject: fast.Coded
    measure: fast.Coded
    decision: np.ndarray | None = None


def measure_keys(
    per_measure: pd.DataFrame, student: np.ndarray | None = None, decision=None
) -> MeasureKeys:
    """:class:`MeasureKeys` of ``per_measure``; ``student``: a code per row (e.g. its
    roster position; by default the student_id's order of appearance)."""
    if student is None:
        student, _ = pd.factorize(per_measure["student_id"])
    subject = fast.Coded.of(per_measure["subject"])
    measure = fast.Coded.of(per_measure["measure"])
    pair = fast.group_codes(student, subject.codes)
    return MeasureKeys(pair, subject, measure, decision)


def config_order(measures) -> dict[str, int]:
    """Each measure's place in ``config.measures`` (ties are decided in this order)."""
    return {name: k for k, name in enumerate(measures)}
