"""Screening scores against published norms: the percentile band of a score among the
Hasbrouck & Tindal (2017) oral-reading-fluency norms, and the fall-to-spring rate of
improvement the way their average weekly improvement (AWI) is computed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.stats.probes import ols_slopes

NORM_BANDS = ("below 10th", "10th-24th", "25th-49th", "50th-74th", "75th-89th", "90th and above")
# Hasbrouck & Tindal's AWI divides the fall-to-spring difference by 32 weeks.
WEEKS_FALL_TO_SPRING = 32


def norm_band(scores: pd.DataFrame, norms: pd.DataFrame) -> pd.Series:
    """Each score's band against the published percentile scores of its grade and
    season (``scores``: grade, window, score; ``norms``: ``config.orf_norms``). At or
    above the 50th percentile score is "50th-74th" and so on; missing where the norms
    have no row (e.g. grade 1 fall)."""
    long = norms.melt(
        id_vars=["grade", "percentile"], value_vars=["fall", "winter", "spring"], var_name="window"
    ).pivot_table(index=["grade", "window"], columns="percentile", values="value")
    cuts = scores[["grade", "window"]].merge(long.reset_index(), on=["grade", "window"], how="left")
    pcts = sorted(c for c in long.columns)
    above = np.column_stack(
        [(scores["score"].to_numpy(dtype=float) >= cuts[p].to_numpy(dtype=float)) for p in pcts]
    )
    band = above.sum(axis=1)
    known = cuts[pcts].notna().all(axis=1).to_numpy() & scores["score"].notna().to_numpy()
    labels = np.array(NORM_BANDS, dtype=object)[band]
    return pd.Series(np.where(known, labels, None), index=scores.index, dtype="str")


def fall_to_spring_roi(screenings: pd.DataFrame) -> pd.DataFrame:
    """Per student x measure: fall and spring scores and ROI = (spring - fall) / 32 weeks,
    the OLS slope through the two screenings placed 32 weeks apart (Hasbrouck & Tindal's
    convention for AWI)."""
    week = {"fall": 0.0, "spring": float(WEEKS_FALL_TO_SPRING)}
    two = screenings[screenings["window"].isin(list(week))]
    two = two.assign(week=two["window"].map(week))
    both = two.groupby(["student_id", "measure"])["window"].transform("nunique") == 2
    fit = ols_slopes(two[both], ["student_id", "measure"])
    wide = two[both].pivot_table(index=["student_id", "measure"], columns="window", values="score")
    return (
        wide.reset_index()
        .merge(fit[["student_id", "measure", "slope"]], on=["student_id", "measure"])
        .rename(columns={"slope": "roi"})
    )
