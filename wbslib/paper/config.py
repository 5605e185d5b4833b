"""Notebook 05's `statistics:` section of a params file, checked before any work (`statistics_config`).

Keys (defaults in `DEFAULTS`): `alpha` — the two-sided significance level of every test and
confidence interval (default 0.05, i.e. 95 % CIs), a number in (0, 0.5).
"""

from __future__ import annotations

import math

from wbslib.core.errors import ParamsError
from wbslib.core.params import section

DEFAULTS = {"alpha": 0.05}


def statistics_config(statistics: dict | None) -> dict:
    """params['statistics'] with `DEFAULTS` filled in; ParamsError for an unknown key (closest
    suggested) or an alpha outside (0, 0.5)."""
    cfg = section({"statistics": statistics}, "statistics", DEFAULTS)
    alpha = cfg["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (math.isfinite(alpha) and 0 < alpha < 0.5):
        raise ParamsError(f"statistics.alpha = {alpha!r} is not a number in (0, 0.5); use 0.05 for 95 % intervals.")
    return {"alpha": float(alpha)}
