"""Notebook 03's `enhance:` section of a params file, checked before any work (`enhance_config`).

Keys (defaults in `DEFAULTS`): `groups` — the image-set groups to build and measure, named as in
`wbslib.core.groups` ('1x', '2x', '2x-simu', ...); `baselines` — classical methods among
`wbslib.enhance.baselines.METHODS`; `bm3d_max_studies` — BM3D on at most this many studies (null:
all); `tile` — inference tile side in pixels (null: whole views when memory allows; ≥ 8); `runtime` —
how the generator runs (`wbslib.enhance.engines.RUNTIMES`; 'auto': the fastest exact one on this host).
"""

from __future__ import annotations

from wbslib.core.errors import ParamsError
from wbslib.core.groups import PAPER_GROUPS, parse_group
from wbslib.core.params import section
from wbslib.enhance.baselines import METHODS
from wbslib.enhance.engines import RUNTIMES

DEFAULTS = {
    "groups": list(PAPER_GROUPS),
    "baselines": list(METHODS),
    "bm3d_max_studies": None,
    "tile": None,
    "runtime": "auto",
}
MIN_TILE = 8  # pixels


def _whole(value, low: int) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= low)


def enhance_config(enhance: dict | None) -> dict:
    """params['enhance'] with `DEFAULTS` filled in; ParamsError for an unknown key (closest suggested)
    or a bad value."""
    cfg = section({"enhance": enhance}, "enhance", DEFAULTS)
    groups = cfg["groups"]
    if not isinstance(groups, (list, tuple)) or not groups:
        raise ParamsError(f"enhance.groups = {groups!r} is not a non-empty list of groups such as [1x, 2x, 2x-simu].")
    for group in groups:
        try:
            parse_group(group)
        except ValueError:
            raise ParamsError(
                f"enhance.groups holds {group!r}, not a group name; use <speed>x, <speed>x-<mode> or "
                "<speed>x-<baseline>, e.g. 2x or 2x-simu."
            ) from None
    baselines = cfg["baselines"] or []
    if not isinstance(baselines, (list, tuple)) or set(baselines) - set(METHODS):
        raise ParamsError(f"enhance.baselines = {baselines!r} must be a list drawn from {', '.join(METHODS)}.")
    if not _whole(cfg["bm3d_max_studies"], 0):
        raise ParamsError(
            f"enhance.bm3d_max_studies = {cfg['bm3d_max_studies']!r} is not a whole number ≥ 0 or null (all studies)."
        )
    if not _whole(cfg["tile"], MIN_TILE):
        raise ParamsError(
            f"enhance.tile = {cfg['tile']!r} is not a whole number ≥ {MIN_TILE} px or null (whole views)."
        )
    if cfg["runtime"] not in RUNTIMES:
        raise ParamsError(f"enhance.runtime = {cfg['runtime']!r} is not one of {', '.join(RUNTIMES)}.")
    return {**cfg, "groups": [str(g) for g in groups], "baselines": list(baselines)}
