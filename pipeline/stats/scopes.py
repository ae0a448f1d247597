"""The scopes a statistic is published for: each school (its ``school_id``) and the
whole district (``"district"``), and what a statistic from too few students, or an effect
without a comparison group, says."""

from __future__ import annotations

import pandas as pd

DISTRICT = "district"
TOO_SMALL = "n too small"
# Where no served student has comparable students without intervention.
NO_COMPARISON = "no comparison group (change since fall is not an effect)"


def with_scopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row twice, with its ``scope``: once for its school, once for the district."""
    return pd.concat(
        [frame.assign(scope=frame["school_id"]), frame.assign(scope=DISTRICT)], ignore_index=True
    )
