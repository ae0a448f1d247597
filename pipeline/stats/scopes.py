"""The scopes a statistic is published for: each school (its ``school_id``) and the
whole district (``"district"``), and what a statistic from too few students says."""

from __future__ import annotations

import pandas as pd

DISTRICT = "district"
TOO_SMALL = "n too small"


def with_scopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row twice, with its ``scope``: once for its school, once for the district."""
    return pd.concat(
        [frame.assign(scope=frame["school_id"]), frame.assign(scope=DISTRICT)], ignore_index=True
    )
