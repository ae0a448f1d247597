"""The report figures, drawn with matplotlib from published numbers only: the tier
distribution by grade, the programs' effects with their intervals, the share needing
support by grade (school and district) and by school. Each returns ``(figure, alt text)``.

Colours are colour-blind-safe (after Okabe & Ito); tiers have the same colour everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

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
    """Stacked bars of tier shares by grade, one panel per subject; returns (fig, alt)."""
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
        table = (
            counts[counts["subject"] == subject]
            .pivot_table(index="grade", columns="tier", values="students", fill_value=0)
            .reindex(columns=[1, 2, 3], fill_value=0)
        )
        shares = table.div(table.sum(axis=1), axis=0) * 100
        bottom = pd.Series(0.0, index=shares.index)
        labels = [grade_label(g) for g in shares.index]
        for tier in (1, 2, 3):
            ax.bar(
                labels,
                shares[tier],
                bottom=bottom,
                color=TIER_COLORS[tier],
                label=TIER_LABELS[tier],
                edgecolor="white",
                linewidth=0.6,
            )
            bottom = bottom + shares[tier]
        ax.set_title(SUBJECT_TITLES[subject])
        ax.set_xlabel("Grade")
        ax.set_ylim(0, 100)
        support = (shares[2] + shares[3]).round().astype(int)
        alt_parts.append(
            f"{SUBJECT_TITLES[subject]}: share needing support by grade "
            + ", ".join(f"{lab} {v}%" for lab, v in zip(labels, support, strict=True))
        )
    axes[0][0].set_ylabel("Students (%)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    for ax in axes[0]:
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig, "Tier distribution by grade. " + "; ".join(alt_parts) + "."


def forest_plot_figure(
    effectiveness: pd.DataFrame, config: DistrictConfig, school_id: str | None = None
) -> tuple[plt.Figure, str] | None:
    """Per program: pre/post Hedges' g and the growth difference against comparable
    students (SD units), each with its 95 % interval; this school and the district."""
    e = effectiveness.dropna(subset=["hedges_g"], how="all")
    if e.empty:
        return None
    e = e.sort_values(["subject", "program", "scope"], ascending=[True, True, False])
    labels = [
        f"{p} ({'district' if s == 'district' else 'this school' if s == school_id else s})"
        for p, s in zip(e["program"], e["scope"], strict=True)
    ]
    y = list(range(len(e)))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.38 * len(e) + 1.2), sharey=True)
    panels = [
        ("hedges_g", "g_ci_low", "g_ci_high", "Pre/post Hedges' g"),
        ("effect_sd", "effect_sd_ci_low", "effect_sd_ci_high", "Growth vs comparison (SD)"),
    ]
    alt = []
    for ax, (col, lo, hi, title) in zip(axes, panels, strict=True):
        colors = ["#0072B2" if s == "district" else "#E69F00" for s in e["scope"]]
        for yi, est, low, high, c in zip(y, e[col], e[lo], e[hi], colors, strict=True):
            if pd.isna(est):
                ax.text(0, yi, "n too small", fontsize=6.5, va="center", color="#6E6E6E")
                continue
            ax.plot([low, high], [yi, yi], color=c, lw=1.6)
            ax.plot([est], [yi], "s", color=c, ms=4)
        ax.axvline(0, color="#999999", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(y, labels, fontsize=7)
    for label, g, s in zip(labels, e["hedges_g"], e["effect_sd"], strict=True):
        g_text = "n too small" if pd.isna(g) else f"{g:.2f}"
        s_text = "n too small" if pd.isna(s) else f"{s:.2f}"
        alt.append(f"{label}: g {g_text}, vs comparison {s_text} SD")
    fig.tight_layout()
    heading = f"Forest plot of program effects with {confidence_level(config)}% intervals. "
    return fig, heading + "; ".join(alt) + "."


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
    """One subject's bars by grade and the district's markers; returns the alt text's
    parts and the highest share drawn."""
    g = view.grades
    grades = [r for r in g.counts.index if r != TOTAL]
    labels = [r.replace("Grade ", "") for r in grades]
    parts = []
    top = 0.0
    for x, grade in enumerate(grades):
        need = g.share(grade, NEED)
        t3 = g.share(grade, ["Tier 3"])
        t2 = g.share(grade, ["Tier 2"])
        district = view.district_share.get(grade)
        if district is not None:
            ax.plot(x, district, marker="D", color=DISTRICT_COLOR, markersize=6, zorder=4)
            top = max(top, district)
        if need is None:
            label = g.share_text(grade, NEED)
            ax.text(x, 1, label, ha="center", va="bottom", fontsize=8, color="#333333")
            parts.append(f"grade {labels[x]} {label}")
            continue
        if t2 is not None and t3 is not None:
            ax.bar(x, t3, color=TIER_COLORS[3], edgecolor="white", width=0.7)
            ax.bar(x, t2, bottom=t3, color=TIER_COLORS[2], edgecolor="white", width=0.7)
        else:
            ax.bar(x, need, color=TIER_COLORS[2], hatch="///", edgecolor="white", width=0.7)
        top = max(top, need)
        parts.append(f"grade {labels[x]} {need:.0f}%")
    ax.set_xticks(range(len(grades)), labels)
    ax.set_title(view.title)
    ax.set_xlabel("Grade")
    ax.spines[["top", "right"]].set_visible(False)
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
    """Per subject, each school's share needing support (Tier 3 and Tier 2 stacked) with
    the district's share as a line; only published numbers are drawn."""
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
    y = np.arange(len(schools))[::-1]
    for ax, subject in zip(axes[0], subjects, strict=True):
        t = tables[subject]
        parts = _school_bars(ax, t, y, schools)
        overall = t.share(TOTAL, NEED)
        if overall is not None:
            ax.axvline(overall, color=DISTRICT_COLOR, linewidth=1, linestyle="--")
        ax.set_title(SUBJECT_TITLES[subject])
        ax.set_xlabel("Need support (%)")
        ax.spines[["top", "right"]].set_visible(False)
        alt.append(
            f"{SUBJECT_TITLES[subject]}"
            + (f" (district {overall:.0f}%)" if overall is not None else "")
            + ": "
            + ", ".join(parts)
        )
    axes[0][0].set_yticks(y, schools)
    _need_legend(axes[0][-1], plt.Line2D([], [], color=DISTRICT_COLOR, linestyle="--"))
    fig.tight_layout()
    return fig, "Share of students needing support by school. " + "; ".join(alt) + "."


def _school_bars(
    ax: plt.Axes, table: privacy.Suppressed, y: np.ndarray, schools: list[str]
) -> list[str]:
    """One subject's bar per school; returns the alt text's parts."""
    parts = []
    for pos, school in zip(y, schools, strict=True):
        if school not in table.counts.index:  # no screening of this subject at the school
            ax.text(1, pos, "not screened", va="center", fontsize=8)
            parts.append(f"{school} not screened")
            continue
        need = table.share(school, NEED)
        t3, t2 = table.share(school, ["Tier 3"]), table.share(school, ["Tier 2"])
        if need is None:
            label = table.share_text(school, NEED)
            ax.text(1, pos, label, va="center", fontsize=8)
            parts.append(f"{school} {label}")
        elif t2 is not None and t3 is not None:
            ax.barh(pos, t3, color=TIER_COLORS[3], edgecolor="white", height=0.7)
            ax.barh(pos, t2, left=t3, color=TIER_COLORS[2], edgecolor="white", height=0.7)
            parts.append(f"{school} {need:.0f}%")
        else:
            ax.barh(pos, need, color=TIER_COLORS[2], hatch="///", edgecolor="white", height=0.7)
            parts.append(f"{school} {need:.0f}%")
    return parts
