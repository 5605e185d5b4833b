"""Notebook 03's `enhance:` section of a params file, checked before any work (`enhance_config`).

Keys (defaults in `DEFAULTS`): `groups` — the image-set groups to build and measure, named as in
`wbslib.core.groups` ('1x', '2x', '2x-simu', ...); `baselines` — classical methods among
`wbslib.enhance.baselines.METHODS`; `bm3d_max_studies` — BM3D on at most this many studies (null:
all); `bm3d_speeds` — the speeds BM3D runs at (null: every speed of `groups`);
`selfsupervised_max_studies` — the self-supervised estimate on at most this many test studies
(null: all); `tile` — inference tile side in pixels (null: whole views when memory allows; ≥ 8);
`runtime` — how the generator runs (`wbslib.enhance.engines.RUNTIMES`; 'auto': the fastest exact one on this host);
`pretrained` — split-model groups (e.g. [2x-split]) enhanced by the generator that ships with
wbs-accel (`wbslib.enhance.pretrained`) instead of one trained in this run.
"""

from __future__ import annotations

from wbslib.core.errors import CheckpointError, ParamsError
from wbslib.core.groups import PAPER_GROUPS, parse_group
from wbslib.core.params import section
from wbslib.enhance.baselines import METHODS
from wbslib.enhance.engines import RUNTIMES
from wbslib.enhance.pretrained import pretrained_checkpoint

DEFAULTS = {
    "groups": list(PAPER_GROUPS),
    "baselines": list(METHODS),
    "bm3d_max_studies": None,
    "bm3d_speeds": None,
    "selfsupervised_max_studies": None,
    "tile": None,
    "runtime": "auto",
    "pretrained": [],
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
    bm3d_speeds = cfg["bm3d_speeds"]
    if bm3d_speeds is not None and (
        not isinstance(bm3d_speeds, (list, tuple))
        or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 1 for s in bm3d_speeds)
    ):
        raise ParamsError(
            f"enhance.bm3d_speeds = {bm3d_speeds!r} is not null or a list of speed factors > 1, e.g. [2]."
        )
    if not _whole(cfg["selfsupervised_max_studies"], 1):
        raise ParamsError(
            f"enhance.selfsupervised_max_studies = {cfg['selfsupervised_max_studies']!r} is not a whole number ≥ 1 "
            "or null (all test studies)."
        )
    if not _whole(cfg["tile"], MIN_TILE):
        raise ParamsError(
            f"enhance.tile = {cfg['tile']!r} is not a whole number ≥ {MIN_TILE} px or null (whole views)."
        )
    if cfg["runtime"] not in RUNTIMES:
        raise ParamsError(f"enhance.runtime = {cfg['runtime']!r} is not one of {', '.join(RUNTIMES)}.")
    return {**cfg, "groups": [str(g) for g in groups], "baselines": list(baselines), "pretrained": _pretrained(cfg)}


def _pretrained(cfg: dict) -> list[str]:
    """The checked `pretrained` list: split groups among `groups`, each with a shipped generator."""
    pretrained = cfg["pretrained"] or []
    if not isinstance(pretrained, (list, tuple)):
        raise ParamsError(f"enhance.pretrained = {pretrained!r} is not a list of groups such as [2x-split].")
    for group in map(str, pretrained):
        if group not in cfg["groups"] or parse_group(group)[1] != "split":
            raise ParamsError(
                f"enhance.pretrained holds {group!r}; list split-model groups that are also in enhance.groups "
                "(the shipped generators are split models), e.g. 2x-split."
            )
        try:
            pretrained_checkpoint(parse_group(group)[0])
        except CheckpointError as exc:
            raise ParamsError(f"enhance.pretrained holds {group!r}: {exc}") from None
    return [str(g) for g in pretrained]
