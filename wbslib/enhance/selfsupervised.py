"""Notebook 03's self-supervised evaluation in one call: every standard scan of a cohort split
binomially (`wbslib.metrics.selfsupervised`), its fast part enhanced by each model group, the
Gaussian and BM3D baselines and the raw input (× s), each scored against the independent remainder
with the Poisson floor subtracted — an unbiased estimate of the NRMSE against the noise-free 1x
image that needs no truth and no fast scan, so it runs on a clinical archive as on the phantom
(where the true NRMSE of the same images is reported beside it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from wbslib.core.counts import gaussian_counts
from wbslib.core.groups import SPEED_RTOL, group_key
from wbslib.core.params import resolve_path
from wbslib.core.scan import speed_label
from wbslib.enhance.baselines import GROUP_SUFFIX, bm3d_counts, runs_bm3d
from wbslib.enhance.infer import check_checkpoint_speed, enhance_counts, load_model, parse_group
from wbslib.metrics.selfsupervised import (
    Enhancer,
    bootstrap_summary,
    raw_input,
    selfsupervised_errors,
    standard_scans,
    truth_loader,
)


def split_methods(
    checkpoints: Mapping[str, str | os.PathLike],
    speed: float,
    *,
    sigma_px: float | None = None,
    baselines: tuple[str, ...] = ("gaussian", "bm3d"),
    device: str = "auto",
    tile: int | None = None,
) -> dict[str, Enhancer]:
    """{group: callable(fast counts, s) → 1x-equivalent counts} at `speed`: the raw input ('2x'), each
    model group of `checkpoints` at that speed ('2x-real', ...), '2x-gauss' (when `sigma_px` is given)
    and '2x-bm3d' (when listed in `baselines`)."""
    label = speed_label(speed)
    methods: dict[str, Enhancer] = {label: raw_input}
    for group, checkpoint in checkpoints.items():
        group_speed, mode = parse_group(group)
        if abs(group_speed / speed - 1) > SPEED_RTOL:
            continue
        model, meta = load_model(checkpoint, device, expect={"mode": mode})
        check_checkpoint_speed(meta, speed, str(checkpoint))

        def enhance(counts, s, model=model, meta=meta):
            return enhance_counts(counts, model, meta, speed_factor=s, device=device, tile=tile)

        methods[str(group)] = enhance
    if "gaussian" in baselines and sigma_px is not None:
        methods[f"{label}-{GROUP_SUFFIX['gaussian']}"] = lambda counts, s: gaussian_counts(counts * s, sigma_px)
    if "bm3d" in baselines:
        methods[f"{label}-{GROUP_SUFFIX['bm3d']}"] = bm3d_counts
    return methods


def selfsupervised_evaluation(
    manifest_df: pd.DataFrame,
    data_root: str | os.PathLike,
    checkpoints: Mapping[str, str | os.PathLike],
    *,
    speeds: list[float],
    sigmas: Mapping[float, float] | None = None,
    baselines: tuple[str, ...] = ("gaussian", "bm3d"),
    bm3d_max_studies: int | None = None,
    bm3d_speeds: list[float] | None = None,
    seed: int = 0,
    split: str | None = "test",
    max_studies: int | None = None,
    device: str = "auto",
    tile: int | None = None,
    n_boot: int = 2000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per study × speed × method rows, summary) for the standard scans of `split` (None: all).

    Rows: `wbslib.metrics.selfsupervised.ERROR_COLUMNS` (nrmse_truth NaN without phantom truth).
    Summary: per speed and group, the mean estimate with a bootstrap CI over studies, the mean true
    NRMSE, and each method relative to the Gaussian baseline ('<s>x-gauss') with a paired CI.
    `sigmas` maps speed → the Gaussian σ (px) notebook 03 chose; BM3D runs on the first
    `bm3d_max_studies` studies (by id) only, at the `bm3d_speeds` only when given.
    """
    root = resolve_path(data_root)
    truth = truth_loader(root)
    errors, reference = [], {}
    for speed in speeds:
        label = speed_label(speed)
        methods = split_methods(
            checkpoints,
            speed,
            sigma_px=(sigmas or {}).get(speed),
            baselines=tuple(b for b in baselines if b != "bm3d" or runs_bm3d(speed, bm3d_speeds)),
            device=device,
            tile=tile,
        )
        limits = {f"{label}-bm3d": bm3d_max_studies} if bm3d_max_studies is not None else None
        scans = standard_scans(manifest_df, root, split, max_studies)
        errors.append(selfsupervised_errors(scans, methods, speed, seed, max_studies=limits, truth=truth))
        reference[label] = f"{label}-{GROUP_SUFFIX['gaussian']}"
    rows = pd.concat(errors, ignore_index=True)
    summary = bootstrap_summary(rows, reference=reference, n_boot=n_boot, seed=seed)
    summary = summary.sort_values("method", key=lambda m: m.map(group_key), kind="stable")
    return rows, summary.reset_index(drop=True)
