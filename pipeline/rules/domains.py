"""Skill focus from domain scores: math computation vs concepts, behaviour externalizing
vs internalizing (DESIGN.md, "Skill focus").

A domain measure (``role: domain`` in ``district.yml``: a MAP Growth goal score, an
i-Ready domain score, a SAEBRS sub-scale) never decides a tier; it says how far its
domain is at risk, as a level 1-3 read like a tier:

* its vendor label through ``level_tiers`` (MAP goal adjective Low -> 3, LoAvg -> 2;
  i-Ready relative placement "2 Grade Levels Below" -> 3);
* else its raw score through ``score_bands`` (a SAEBRS sub-scale cut);
* else its national percentile in the default percentile bands.

A domain is at risk at level 2 or 3. The focus of a Tier 2 or 3 student in math or
behaviour is the skill most at risk (:func:`domain_focus`); a focus the tiered skill
measures already found keeps its measure and gains the skills.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline import fast
from pipeline.config import DistrictConfig
from pipeline.rules.labels import DIAGNOSTIC

# The subjects whose focus names domains, each in the order a focus names them.
DOMAINS: dict[str, tuple[str, ...]] = {
    "math": ("computation", "concepts"),
    "behavior": ("externalizing", "internalizing"),
}
DOMAIN_COLUMNS = ["student_id", "subject", "measure", "skill", "score", "level", "reason"]
# The screening columns the levels read.
DOMAIN_INPUTS = ["student_id", "window", "date", "measure", "score", "percentile", "vendor_level"]


def domain_levels(screenings: pd.DataFrame, config: DistrictConfig, window: str) -> pd.DataFrame:
    """Each domain score of ``window`` (the latest per student x measure) with its risk
    ``level`` (1-3, missing when nothing tells) and a ``reason`` such as
    "MAP Number and Operations 182 RIT (Low)" (:data:`DOMAIN_COLUMNS`)."""
    domain = {n: config.measures[n] for ns in config.domain_measures().values() for n in ns}
    rows = screenings[screenings["measure"].isin(list(domain))]
    if "window" in rows:
        rows = rows[rows["window"] == window]
    if rows.empty:
        return pd.DataFrame(columns=DOMAIN_COLUMNS)
    if "date" in rows:
        rows = rows.sort_values("date", kind="stable")
    rows = rows.drop_duplicates(["student_id", "measure"], keep="last")
    inputs = pd.DataFrame(
        {
            "measure": rows["measure"],
            "label": _column(rows, "vendor_level").astype("string").str.strip(),
            "score": pd.to_numeric(rows["score"], errors="coerce").astype(float),
            "percentile": pd.to_numeric(_column(rows, "percentile"), errors="coerce"),
        }
    ).astype({"percentile": float})
    # A level and its reason depend on these four inputs only: each distinct combination
    # is read once and copied to its rows (a few thousand against millions of scores).
    code, first = fast.distinct_rows(inputs, list(inputs.columns))
    read = _levels(inputs.iloc[first].reset_index(drop=True), domain, config).take(code)
    return pd.concat(
        [rows["student_id"].astype(str).reset_index(drop=True), read.reset_index(drop=True)],
        axis=1,
    )[DOMAIN_COLUMNS]


def _levels(inputs: pd.DataFrame, domain: dict, config: DistrictConfig) -> pd.DataFrame:
    """The subject, skill, level and reason of each row of ``inputs`` (measure, label,
    score, percentile): the vendor's label through the measure's ``level_tiers``, else the
    score through its ``score_bands``, else the percentile through its percentile bands."""
    measure, label = inputs["measure"], inputs["label"]
    score, percentile = inputs["score"], inputs["percentile"]
    # One lookup of "measure|label" for every label a measure's level_tiers knows.
    known = {f"{n}|{v}": t for n, m in domain.items() for v, t in m.level_tiers.items()}
    by_label = fast.map_distinct(measure + "|" + label, known, "Float64")
    by_bands, cut = _level_from_bands(measure, score, domain)
    level = by_label.fillna(by_bands)
    level = level.fillna(_level_from_percentile(measure, percentile, domain, config))
    name = fast.map_distinct(measure, {n: config.measure_name(n) for n in domain}, "str")
    unit = fast.map_distinct(measure, {n: m.short_unit or m.unit for n, m in domain.items()}, "str")
    # Why: the vendor's label, else the cut the score is under, else the percentile.
    detail = ("percentile " + percentile.map("{:g}".format)).where(percentile.notna(), "")
    detail = cut.where(by_bands.notna(), detail).where(by_label.isna(), label)
    reason = name + " " + score.map("{:g}".format) + " " + unit + " (" + detail + ")"
    reason = reason.str.replace(" ()", "", regex=False)
    return pd.DataFrame(
        {
            "subject": fast.map_distinct(measure, {n: m.subject for n, m in domain.items()}, "str"),
            "measure": measure,
            "skill": fast.map_distinct(measure, {n: m.skill for n, m in domain.items()}, "str"),
            "score": score,
            "level": level,
            "reason": reason.fillna(name),
        }
    )


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    return rows[name] if name in rows else pd.Series(pd.NA, index=rows.index, dtype="object")


def _level_from_bands(
    measure: pd.Series, score: pd.Series, domain: dict
) -> tuple[pd.Series, pd.Series]:
    """Level by the measure's ``score_bands`` (missing without bands or score), and the
    cut that placed it ("under 13"; "" at level 1)."""
    bands = {n: m.score_bands for n, m in domain.items() if m.score_bands is not None}
    tier3 = fast.map_distinct(measure, {n: b.tier3 for n, b in bands.items()})
    tier2 = fast.map_distinct(measure, {n: b.tier2 for n, b in bands.items()})
    low = fast.map_distinct(measure, {n: b.risk for n, b in bands.items()}, "str").eq("low")
    level = np.select(
        [
            low & (score < tier3),
            low & (score < tier2),
            ~low & (score >= tier3),
            ~low & (score >= tier2),
        ],
        [3.0, 2.0, 3.0, 2.0],
        1.0,
    )
    known = tier3.notna() & score.notna()
    level = pd.Series(level, index=measure.index, dtype="Float64").where(known)
    three = level.fillna(1).eq(3).to_numpy()
    at = pd.Series(np.where(three, tier3, tier2), index=measure.index).map("{:g}".format)
    cut = np.where(low.to_numpy(), "under " + at, at + " or more")
    cut = pd.Series(cut, index=measure.index, dtype="string").where(level.fillna(1) >= 2, "")
    return level, cut


def _level_from_percentile(
    measure: pd.Series, percentile: pd.Series, domain: dict, config: DistrictConfig
) -> pd.Series:
    """Level by the national percentile in the measure's percentile bands."""
    cuts = {n: config.percentile_bands[m.percentile_preset] for n, m in domain.items()}
    tier3 = fast.map_distinct(measure, {n: c[0] for n, c in cuts.items()})
    tier2 = fast.map_distinct(measure, {n: c[1] for n, c in cuts.items()})
    level = np.select([percentile < tier3, percentile < tier2], [3.0, 2.0], 1.0)
    return pd.Series(level, index=measure.index, dtype="Float64").where(percentile.notna())


def domain_focus(levels: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per student x subject with a domain at risk: ``domains``, the focus ``measure`` and
    ``score``, and ``reason`` ("At risk: ..." naming every domain score at risk).

    A skill (computation, concepts, ...) is at risk when any of its domain scores is at
    level 2 or 3. The focus is the skill at risk with the highest level, then the highest
    mean level over its domain scores; skills still equal are all named, in
    :data:`DOMAINS` order ("computation + concepts"). The focus measure is the chosen
    skills' lowest score at that level (``order``: config order, breaks ties).
    """
    keys = ["student_id", "subject"]
    scored = levels.assign(level=levels["level"].fillna(1).astype(float))
    per_skill = scored.groupby([*keys, "skill"], as_index=False)["level"].agg(["max", "mean"])
    per_skill = per_skill[per_skill["max"] >= 2]
    if per_skill.empty:
        return pd.DataFrame(
            columns=["student_id", "subject", "domains", "measure", "score", "reason"]
        )
    rank = {s: k for domains in DOMAINS.values() for k, s in enumerate(domains)}
    per_skill = per_skill.assign(rank=fast.map_distinct(per_skill["skill"], rank))
    top = per_skill[per_skill["max"].eq(per_skill.groupby(keys)["max"].transform("max"))]
    chosen = top[top["mean"].eq(top.groupby(keys)["mean"].transform("max"))]
    chosen = chosen.sort_values([*keys, "rank"])
    domains = fast.join_in_groups(chosen, keys, "skill", " + ")
    rows = scored.merge(chosen[[*keys, "skill", "max"]], on=[*keys, "skill"])
    rows = rows[rows["level"] == rows["max"]].assign(
        order=lambda d: fast.map_distinct(d["measure"], {n: k for k, n in enumerate(order)})
    )
    first = rows.sort_values([*keys, "score", "order"]).drop_duplicates(keys).set_index(keys)
    risky = scored[scored["level"] >= 2].assign(rank=lambda d: fast.map_distinct(d["skill"], rank))
    risky = risky.sort_values([*keys, "level", "rank"], ascending=[True, True, False, True])
    reasons = fast.join_in_groups(risky, keys, "reason", "; ")
    return pd.DataFrame(
        {
            "domains": domains,
            "measure": first["measure"],
            "score": first["score"].astype(float),
            "reason": "At risk: " + reasons,
        }
    ).reset_index()


def with_domain_focus(
    tiers: pd.DataFrame,
    domain_scores: Callable[[pd.DataFrame], pd.DataFrame],
    config: DistrictConfig,
    window: str,
) -> pd.DataFrame:
    """``tiers`` (:func:`~pipeline.rules.tiers.assign_tiers`) with the focus of its Tier 2
    and 3 math and behaviour rows taken from their domain scores where any is at risk: a
    "needs a diagnostic" focus becomes the domain; a domain focus the tiered measures
    found gains the domains the scores add.

    ``domain_scores(need)`` gives the domain screening rows (:data:`DOMAIN_INPUTS`) of the
    student x subject pairs of ``need`` (student_id, subject): only these rows' focus
    reads domain scores (:func:`domain_rows_of` takes them from the screenings)."""
    if tiers.empty:
        return tiers
    # Only a Tier 2 or 3 row of a subject with domains can take a domain focus.
    at = np.flatnonzero(tiers["tier"].fillna(1).ge(2) & tiers["subject"].isin(list(DOMAINS)))
    need = tiers[["student_id", "subject"]].iloc[at]
    found = domain_focus(domain_levels(domain_scores(need), config, window), list(config.measures))
    if found.empty:
        return tiers
    keys = pd.MultiIndex.from_arrays([need["student_id"].astype(str), need["subject"]])
    hit = found.set_index(["student_id", "subject"]).reindex(keys)
    has = hit["domains"].notna().to_numpy()
    if not has.any():
        return tiers
    at, hit = at[has], hit[has]
    out = tiers.copy()
    old = out["focus"].iloc[at].astype("string").to_numpy(dtype=object, na_value=None)
    unknown = np.array([f is None or f == DIAGNOSTIC for f in old], dtype=bool)
    focus = _merged(old, hit["domains"].to_numpy(dtype=object), unknown)
    reason = hit["reason"].to_numpy(dtype=object)
    before = out["focus_reason"].iloc[at].astype("string").to_numpy(dtype=object, na_value="")
    column = out.columns.get_loc
    out.iloc[at, column("focus")] = focus
    out.iloc[at, column("focus_reason")] = np.where(unknown, reason, before + "; " + reason)
    replace = at[unknown]
    out.iloc[replace, column("focus_measure")] = hit["measure"].to_numpy(dtype=object)[unknown]
    out.iloc[replace, column("focus_score")] = hit["score"].to_numpy(dtype=float)[unknown]
    return out


def domain_rows_of(
    screenings: pd.DataFrame, need: pd.DataFrame, config: DistrictConfig
) -> pd.DataFrame:
    """The domain scores in ``screenings`` (:data:`DOMAIN_INPUTS`) of each student x
    subject pair of ``need`` (student_id, subject), in the order of ``screenings``."""
    subject_of = {n: s for s, ns in config.domain_measures().items() for n in ns}
    subject = fast.map_distinct(screenings["measure"], subject_of, "str")  # else missing
    keep = np.zeros(len(screenings), dtype=bool)
    for name, ids in need.groupby("subject")["student_id"]:
        mine = subject.eq(name).to_numpy()
        keep[mine] = fast.isin_text(screenings["student_id"][mine], ids)
    return screenings.loc[keep, [c for c in DOMAIN_INPUTS if c in screenings]]


def _merged(old: np.ndarray, domains: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """The domains of a known focus and of the scores together, in :data:`DOMAINS` order."""
    order = {s: k for ds in DOMAINS.values() for k, s in enumerate(ds)}
    merged = []
    for before, added, blank in zip(old, domains, unknown, strict=True):
        parts = set(added.split(" + ")) | (set() if blank else set(str(before).split(" + ")))
        merged.append(" + ".join(sorted(parts, key=lambda s: (order.get(s, 99), s))))
    return np.array(merged, dtype=object)
