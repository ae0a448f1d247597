"""The statistical figures are drawn with seaborn and say in their alt text what the
tables say: the tier distribution's share needing support per grade equals a plain count
of the tiers table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from pipeline.reports import figures


def test_tier_distribution_alt_text_matches_a_plain_count():
    rows = []
    # grade 0: 6 students, 3 need support (50 %); grade 1: 4 students, 1 needs it (25 %)
    for grade, tiers in ((0, [1, 1, 1, 2, 3, 3]), (1, [1, 1, 1, 3])):
        rows += [{"subject": "reading", "grade": grade, "tier": t} for t in tiers]
    tiers = pd.DataFrame(rows).assign(student_id=lambda t: t.index.astype(str))
    fig, alt = figures.tier_distribution_figure(tiers)
    assert "Reading: share needing support by grade K 50%, 1 25%" in alt
    # filled to 100 %: each grade's stacked bars reach the top
    heights = {}
    for patch in fig.axes[0].patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        heights[x] = heights.get(x, 0) + patch.get_height()
    assert all(abs(h - 1) < 1e-9 for h in heights.values() if h), heights
    plt.close(fig)
