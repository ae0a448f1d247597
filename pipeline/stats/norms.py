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


# The published percentile rows of the H&T table; a score in a band takes the AWI of the
# band's lower percentile (below the 10th: the 10th's).
HT_PERCENTILES = (10, 25, 50, 75, 90)
ORF_MEASURE = "dibels8_orf_wrc"


def typical_growth_at_percentile(
    rows: pd.DataFrame, norms: pd.DataFrame, growth_norms: pd.DataFrame
) -> pd.Series:
    """Weekly growth typical of students at each row's own percentile (Hasbrouck &
    Tindal 2017): ``rows`` has measure, grade, window (the season of the score) and score.
    ORF: the printed average weekly improvement (AWI) of the highest published percentile
    at or below the score in that season's norms (a season without norms, such as grade 1
    fall, takes the next season's). Other measures: the 50th-percentile ``typical`` column
    of ``config/norms/weekly_growth.csv`` (no percentile norms)."""
    awi = norms.pivot_table(index="grade", columns="percentile", values="awi")
    band_of = _ht_band(rows, norms)
    at_band = pd.Series(np.nan, index=rows.index)
    orf = (rows["measure"] == ORF_MEASURE) & band_of.notna()
    for percentile in HT_PERCENTILES:
        pick = orf & (band_of == percentile)
        if pick.any() and percentile in awi.columns:
            at_band[pick] = rows.loc[pick, "grade"].map(awi[percentile]).to_numpy()
    median = rows[["measure", "grade"]].merge(
        growth_norms[["measure", "grade", "typical"]], on=["measure", "grade"], how="left"
    )["typical"]
    return at_band.fillna(pd.Series(median.to_numpy(), index=rows.index))


def _ht_band(rows: pd.DataFrame, norms: pd.DataFrame) -> pd.Series:
    """The lower percentile (10, 25, 50, 75, 90) of each score's band in its grade and
    season's ORF norms; missing where the grade has no norms."""
    seasons = ["fall", "winter", "spring"]
    out = pd.Series(np.nan, index=rows.index)
    for grade, table in norms.groupby("grade"):
        table = table.sort_values("percentile")
        in_grade = rows["grade"] == grade
        for k, season in enumerate(seasons):
            usable = [s for s in seasons[k:] if table[s].notna().all()]
            pick = in_grade & (rows["window"] == season)
            if not usable or not pick.any():
                continue
            cuts = table[usable[0]].to_numpy(dtype=float)
            scores = rows.loc[pick, "score"].to_numpy(dtype=float)
            above = (scores[:, None] >= cuts[None, :]).sum(axis=1)
            band = table["percentile"].to_numpy()[np.clip(above - 1, 0, len(cuts) - 1)]
            out[pick] = band
    return out
