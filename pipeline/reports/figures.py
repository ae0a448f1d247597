"""The report figures, drawn with seaborn (on matplotlib) from published numbers only:
the tier distribution by grade, the programs' effects with their intervals, the share
needing support by grade (school and district) and by school. Each returns
``(figure, alt text)``. The small per-student progress charts are inline SVG instead
(:mod:`pipeline.reports.monitoring`): a school has hundreds, and SVG text costs
milliseconds where a PNG per chart costs seconds.

Colours are colour-blind-safe (after Okabe & Ito); tiers have the same colour everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from pipeline.config import DistrictConfig  # noqa: E402
from pipeline.reports.words import SUBJECT_TITLES, confidence_level  # noqa: E402
from pipeline.rules.labels import TIER_LABELS, grade_label  # noqa: E402
from pipeline.stats import privacy  # noqa: E402
from pipeline.stats.district import NEED, TOTAL  # noqa: E402

if TYPE_CHECKING:
    from pipeline.reports.subjects import SubjectView

TIER_COLORS = {1: "#56B4E9", 2: "#E69F00", 3: "#B2182B"}
DISTRICT_COLOR = "#000000"
# Programs: a clear result (interval not crossing 0) vs an unclear one; not tier colours.
CLEAR_COLOR, UNCLEAR_COLOR = "#0072B2", "#8C8C8C"


def tier_counts_by_grade(tiers: pd.DataFrame) -> pd.DataFrame:
    """Students per subject x grade x tier (long), for the distribution chart."""
    known = tiers.dropna(subset=["tier"])
    return (
        known.groupby(["subject", "grade", "tier"], observed=True)
        .size()
        .rename("students")
        .reset_index()
    )


def tier_distribution_figure(tiers: pd.DataFrame) -> tuple[plt.Figure, str]:
    """Tier shares by grade, one panel per subject: seaborn's histogram of the students
    by grade, stacked by tier and filled to 100 %; returns (fig, alt)."""
    counts = tier_counts_by_grade(tiers)
    subjects = [s for s in SUBJECT_TITLES if s in set(counts["subject"])]
    fig, axes = plt.subplots(
        1,
        max(1, len(subjects)),
        figsize=(4.2 * max(1, len(subjects)), 3.2),
        sharey=True,
        squeeze=False,
    )
    alt_parts = []
    for ax, subject in zip(axes[0], subjects, strict=False):
        rows = counts[counts["subject"] == subject].assign(
            tier=lambda t: t["tier"].astype(int).map(TIER_LABELS)
        )
        sns.histplot(
            data=rows,
            x="grade",
            weights="students",
            hue="tier",
            hue_order=[TIER_LABELS[t] for t in (3, 2, 1)],
            palette={TIER_LABELS[t]: TIER_COLORS[t] for t in (1, 2, 3)},
            multiple="fill",
            discrete=True,
            shrink=0.8,
            edgecolor="white",
            linewidth=0.6,
            alpha=1,
            legend=ax is axes[0][-1],
            ax=ax,
        )
        grades = sorted(rows["grade"].unique())
        ax.set_xticks(grades, [grade_label(g) for g in grades])
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(title=SUBJECT_TITLES[subject], xlabel="Grade", ylabel="Students (%)", ylim=(0, 1))
        alt_parts.append(
            f"{SUBJECT_TITLES[subject]}: share needing support by grade " + _need_shares(rows)
        )
    if subjects:
        sns.move_legend(
            axes[0][-1], "upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title=""
        )
    for ax in axes[0]:
        sns.despine(ax=ax)
    fig.tight_layout()
    return fig, "Tier distribution by grade. " + "; ".join(alt_parts) + "."


def _need_shares(rows: pd.DataFrame) -> str:
    """ "K 40%, 1 35%": the share of each grade in Tier 2 or 3, for the alt text."""
    total = rows.groupby("grade")["students"].sum()
    need = rows[rows["tier"] != TIER_LABELS[1]].groupby("grade")["students"].sum()
    share = (need.reindex(total.index, fill_value=0) / total * 100).round().astype(int)
    return ", ".join(f"{grade_label(g)} {v}%" for g, v in share.items())


def forest_plot_figure(
    effectiveness: pd.DataFrame, config: DistrictConfig, school_id: str | None = None
) -> tuple[plt.Figure, str] | None:
    """Per program, this school and the district: the effect (growth against similar
    students without intervention, SD units) with its interval. Only programs with a
    comparison group are drawn: a change since fall is not an effect; the alt text names
    the programs left out."""
    has = effectiveness["effect_sd"].notna()
    if "has_comparison" in effectiveness:
        has &= effectiveness["has_comparison"].fillna(False).astype(bool)
    e = effectiveness[has].sort_values(
        ["subject", "program", "scope"], ascending=[True, True, False]
    )
    if e.empty:
        return None
    where = lambda s: "district" if s == "district" else "this school" if s == school_id else s  # noqa: E731
    labels = [f"{p} ({where(s)})" for p, s in zip(e["program"], e["scope"], strict=True)]
    y = list(range(len(e)))[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(e) + 1.3))
    colors = ["#0072B2" if s == "district" else "#E69F00" for s in e["scope"]]
    columns = [e["effect_sd"], e["effect_sd_ci_low"], e["effect_sd_ci_high"]]
    for yi, est, low, high, c in zip(y, *columns, colors, strict=True):
        ax.plot([low, high], [yi, yi], color=c, lw=1.6)
        ax.plot([est], [yi], "s", color=c, ms=4)
    ax.axvline(0, color="#999999", lw=0.8)
    level = confidence_level(config)
    ax.set_xlabel(f"Effect in SD ({level} % interval), vs similar students without intervention")
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_yticks(y, labels, fontsize=7)
    fig.tight_layout()
    alt = [
        f"{label}: {est:+.2f} SD [{lo:+.2f}, {hi:+.2f}]"
        for label, est, lo, hi in zip(labels, *columns, strict=True)
    ]
    left_out = sorted(set(effectiveness.loc[~has, "program"]) - set(e["program"]))
    heading = (
        f"Forest plot of program effects with {level}% intervals, compared with similar "
        "students who had no intervention (not a controlled experiment). "
    )
    tail = f" Not shown (no comparison group): {', '.join(left_out)}." if left_out else ""
    return fig, heading + "; ".join(alt) + "." + tail


def forest_figure(
    rows: pd.DataFrame, title: str, config: DistrictConfig
) -> tuple[plt.Figure, str] | None:
    """Each published program's effect with its 95 % interval; 0 = no difference."""
    shown = rows[rows["published"] & rows["effect"].notna() & rows["low"].notna()]
    if shown.empty:
        return None
    shown = shown.iloc[::-1]
    labels = [
        f"{p} ({SUBJECT_TITLES.get(s, s)}, n={n})"
        for p, s, n in zip(shown["program"], shown["subject"], shown["n"], strict=True)
    ]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(shown) + 1.3))
    y = np.arange(len(shown))
    colors = [
        CLEAR_COLOR if lo > 0 or hi < 0 else UNCLEAR_COLOR
        for lo, hi in zip(shown["low"], shown["high"], strict=True)
    ]
    ax.hlines(y, shown["low"], shown["high"], color=colors, linewidth=2.4)
    ax.scatter(shown["effect"], y, color=colors, zorder=3, s=36, edgecolor="black", linewidth=0.5)
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, labels)
    level = confidence_level(config)
    ax.set_xlabel(f"Effect in standard deviations ({level} % interval); right of 0 = more growth")
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    alt = f"{title}. " + "; ".join(
        f"{p}: {e:+.2f} SD, interval {lo:+.2f} to {hi:+.2f}"
        for p, e, lo, hi in zip(
            shown["program"][::-1],
            shown["effect"][::-1],
            shown["low"][::-1],
            shown["high"][::-1],
            strict=True,
        )
    )
    return fig, alt + "."


def need_by_grade_figure(views: list[SubjectView]) -> tuple[plt.Figure, str]:
    """Share needing support per grade, Tier 3 and Tier 2 stacked, with the district's
    share as a marker. Only published numbers are drawn; a hidden grade is labelled."""
    fig, axes = plt.subplots(
        1, len(views), figsize=(4.6 * len(views), 3.4), sharey=True, squeeze=False
    )
    alt = []
    top = 0.0
    for ax, view in zip(axes[0], views, strict=True):
        parts, highest = _grade_bars(ax, view)
        top = max(top, highest)
        alt.append(f"{view.title}: " + ", ".join(parts))
    axes[0][0].set_ylabel("Students needing support (%)")
    axes[0][0].set_ylim(0, max(10.0, min(100.0, top * 1.25 + 2)))
    with_district = any(v.district_share for v in views)
    marker = plt.Line2D([], [], marker="D", color=DISTRICT_COLOR, linestyle="")
    _need_legend(axes[0][-1], marker if with_district else None)
    fig.tight_layout()
    scope = "school and district" if with_district else "district"
    return fig, f"Students needing support by grade, {scope}. " + "; ".join(alt) + "."


def _grade_bars(ax: plt.Axes, view: SubjectView) -> tuple[list[str], float]:
    """One subject's bars by grade (seaborn: Tier 2 or 3 in the Tier 2 colour with Tier 3
    drawn over it, hatched where the split is hidden) and the district's markers; returns
    the alt text's parts and the highest share drawn."""
    g = view.grades
    grades = [r for r in g.counts.index if r != TOTAL]
    labels = [r.replace("Grade ", "") for r in grades]
    shares = pd.DataFrame(
        {
            "grade": labels,
            "need": [g.share(r, NEED) for r in grades],
            "tier3": [g.share(r, ["Tier 3"]) for r in grades],
            "tier2": [g.share(r, ["Tier 2"]) for r in grades],
        }
    ).astype({"need": float, "tier3": float, "tier2": float})
    layers = _need_layers(shares)
    for values, color, hatch in layers:
        sns.barplot(
            x=labels,
            y=values.to_numpy(),
            order=labels,
            color=color,
            hatch=hatch,
            ax=ax,
            **NEED_BAR_STYLE,
        )
    parts = []
    top = float(shares["need"].max()) if shares["need"].notna().any() else 0.0
    for x, grade in enumerate(grades):
        district = view.district_share.get(grade)
        if district is not None:
            ax.plot(x, district, marker="D", color=DISTRICT_COLOR, markersize=6, zorder=4)
            top = max(top, district)
        if pd.isna(shares["need"].iloc[x]):
            label = g.share_text(grade, NEED)
            ax.text(x, 1, label, ha="center", va="bottom", fontsize=8, color="#333333")
            parts.append(f"grade {labels[x]} {label}")
        else:
            parts.append(f"grade {labels[x]} {shares['need'].iloc[x]:.0f}%")
    ax.set(title=view.title, xlabel="Grade", ylabel="")
    sns.despine(ax=ax)
    return parts, top


def _need_legend(ax: plt.Axes, district: plt.Line2D | None) -> None:
    """The legend of the need-for-support bars: Tier 3 and Tier 2 stacked, both hatched
    when the split is hidden, and the district's mark when there is one."""
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=TIER_COLORS[3]),
        plt.Rectangle((0, 0), 1, 1, color=TIER_COLORS[2]),
        plt.Rectangle((0, 0), 1, 1, facecolor=TIER_COLORS[2], hatch="///", edgecolor="white"),
    ]
    names = [TIER_LABELS[3], TIER_LABELS[2], "Tier 2 or 3 (split hidden)"]
    if district is not None:
        handles, names = [*handles, district], [*names, "District"]
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def schools_figure(tables: dict[str, privacy.Suppressed]) -> tuple[plt.Figure, str]:
    """Per subject, each school's share needing support (seaborn bars: Tier 2 or 3 with
    Tier 3 over it, hatched where the split is hidden) with the district's share as a
    line; only published numbers are drawn."""
    subjects = list(tables)
    schools = [r for r in tables[subjects[0]].counts.index if r != TOTAL]
    fig, axes = plt.subplots(
        1,
        len(subjects),
        figsize=(3.6 * len(subjects) + 2.2, 0.42 * len(schools) + 1.4),
        sharey=True,
        squeeze=False,
    )
    alt = []
    for ax, subject in zip(axes[0], subjects, strict=True):
        t = tables[subject]
        parts = _school_bars(ax, t, schools)
        overall = t.share(TOTAL, NEED)
        if overall is not None:
            ax.axvline(overall, color=DISTRICT_COLOR, linewidth=1, linestyle="--")
        ax.set(title=SUBJECT_TITLES[subject], xlabel="Need support (%)", ylabel="")
        sns.despine(ax=ax)
        alt.append(
            f"{SUBJECT_TITLES[subject]}"
            + (f" (district {overall:.0f}%)" if overall is not None else "")
            + ": "
            + ", ".join(parts)
        )
    _need_legend(axes[0][-1], plt.Line2D([], [], color=DISTRICT_COLOR, linestyle="--"))
    fig.tight_layout()
    return fig, "Share of students needing support by school. " + "; ".join(alt) + "."


def _school_bars(ax: plt.Axes, table: privacy.Suppressed, schools: list[str]) -> list[str]:
    """One subject's bar per school, the first school on top; returns the alt text's
    parts."""
    screened = set(table.counts.index)  # a school may not have screened the subject yet

    def share(school: str, rows: list[str]):
        return table.share(school, rows) if school in screened else None

    shares = pd.DataFrame(
        {
            "need": [share(s, NEED) for s in schools],
            "tier3": [share(s, ["Tier 3"]) for s in schools],
            "tier2": [share(s, ["Tier 2"]) for s in schools],
        },
        dtype=float,
    )
    layers = _need_layers(shares)
    for values, color, hatch in layers:
        sns.barplot(
            x=values.to_numpy(),
            y=schools,
            order=schools,
            orient="h",
            color=color,
            hatch=hatch,
            ax=ax,
            **NEED_BAR_STYLE,
        )
    parts = []
    for pos, school in enumerate(schools):
        if school not in screened:
            ax.text(1, pos, "not screened", va="center", fontsize=8)
            parts.append(f"{school} not screened")
            continue
        need = shares["need"].iloc[pos]
        if pd.isna(need):
            label = table.share_text(school, NEED)
            ax.text(1, pos, label, va="center", fontsize=8)
            parts.append(f"{school} {label}")
        else:
            parts.append(f"{school} {need:.0f}%")
    return parts


# The need bars' look, the same in the grade and the schools figures (seaborn.barplot).
NEED_BAR_STYLE = {"saturation": 1, "errorbar": None, "width": 0.7, "edgecolor": "white"}


def _need_layers(shares: pd.DataFrame) -> list[tuple[pd.Series, str, str | None]]:
    """The bar layers of a need share (``need``, ``tier3``, ``tier2`` columns): Tier 2+3
    with Tier 3 over it where both are shown, else the whole need hatched (a tier's share
    suppressed)."""
    split = shares["tier2"].notna() & shares["tier3"].notna()
    return [
        (shares["need"].where(split), TIER_COLORS[2], None),
        (shares["tier3"].where(split), TIER_COLORS[3], None),
        (shares["need"].where(~split), TIER_COLORS[2], "///"),
    ]
