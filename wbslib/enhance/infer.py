"""Whole-body inference: a fast scan's counts through a trained generator, back to 1x-equivalent counts.

Counts are sacred (docs/DESIGN.md): the model sees `counts · s / C` (s the acquisition's speed factor,
C the checkpoint's count scale) and its output `· C` is in 1x-equivalent counts. Nothing rescales
totals afterwards; the one change made to the model's output is a clamp at 0 (negative counts are
unphysical; where the model undershoots the clamp adds a little, which notebook 03's counts check
measures). A missing view (all NaN) stays NaN. How the model runs — whole views or tiles, fp32 or
reduced precision — is `wbslib.enhance.runtime`'s job. Batch enhancement of a manifest writes
through `wbslib.enhance.batch` (skip what is done, quarantine bad files, outputs manifest); `wbs enhance`
on a file or a folder is `wbslib.enhance.studies`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from wbslib.core.counts import check_speed
from wbslib.core.errors import (
    AlreadyEnhancedError,
    CheckpointError,
    InvalidCountsError,
    ParamsError,
    SpeedUnknownError,
)
from wbslib.core.fileio import sha256_file
from wbslib.core.groups import MODES, SPEED_RTOL, is_model
from wbslib.core.groups import parse_group as core_parse_group
from wbslib.core.params import resolve_device, run_dir
from wbslib.core.scan import WholeBodyScan, speed_label
from wbslib.enhance.background import as_views, margin_px, skipping_forward
from wbslib.enhance.batch import input_jobs, run_batch
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.engines import Engine, check_runtime
from wbslib.enhance.pretrained import pretrained_checkpoint
from wbslib.enhance.runtime import (
    activation_bytes,
    choose_precision,
    default_overlap,
    largest_tile,
    memory_budget_bytes,
    memory_format,
    tiled_forward,
)


def _present_views(counts: np.ndarray) -> list[int]:
    """Indices of views with counts; a view partly NaN/infinite is a named error."""
    present = []
    for i, view in enumerate(counts):
        finite = np.isfinite(view)
        if finite.all():
            present.append(i)
        elif finite.any() or not np.isnan(view).all():
            raise InvalidCountsError(
                f"View {i} of the counts to enhance is partly NaN or infinite; pass whole "
                "views (a missing view must be all NaN)."
            )
    return present


def enhance_counts(
    counts: np.ndarray,
    model: torch.nn.Module,
    meta: Mapping,
    *,
    speed_factor: float | None = None,
    device: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
    precision: str = "auto",
    runtime: str = "auto",
    skip_background: bool = True,
    info: dict | None = None,
) -> np.ndarray:
    """Enhance one scan's counts (views, rows, cols) acquired at `speed_factor` (default: the checkpoint's).

    Returns float32 1x-equivalent counts ≥ 0, NaN where the input view is missing. `tile` forces
    tiles of at most tile × tile px (default: whole views when memory allows); `overlap` in px
    (default `runtime.default_overlap`); `precision` 'auto' | 'fp32' | 'bf16' | 'fp16'; `runtime`
    one of `engines.RUNTIMES` ('auto': the fastest exact one on this host); `skip_background`: run
    the model on the body's box only (`wbslib.enhance.background`). `info`, if given, receives
    runtime (the one used), precision and skipped (share of the frame not computed).
    """
    counts = np.asarray(counts, dtype=np.float32)
    if counts.ndim != 3:
        raise InvalidCountsError(f"Counts to enhance have shape {counts.shape}; pass (views, rows, cols).")
    s = float(meta["speed_factor"] if speed_factor is None else speed_factor)
    scale = float(meta["count_scale"])
    out = np.full(counts.shape, np.nan, dtype=np.float32)
    present = _present_views(counts)
    if not present:
        return out
    check_runtime(runtime)
    device = resolve_device(device)
    arch = meta.get("arch_kwargs", {})
    fmt = memory_format(device, arch)
    model = model.to(device).eval().to(memory_format=fmt)
    x = torch.from_numpy(counts[present] * np.float32(s / scale))[:, None].to(device)
    dtype = choose_precision(model, x, precision, fmt)
    engine = Engine(model, runtime, device, dtype)
    rows, cols = counts.shape[1:]
    if tile is None:
        budget = memory_budget_bytes(device)
        if activation_bytes(len(present), rows, cols, arch, 2 if dtype else 4) > budget:
            tile = largest_tile(rows, cols, arch, budget)
    run = engine
    if tile is not None and tile < max(rows, cols):
        size, overlap = int(tile), default_overlap(int(tile), arch) if overlap is None else int(overlap)
        run = lambda t: tiled_forward(engine, t, size, overlap)  # noqa: E731
    if skip_background:
        y, skipped = skipping_forward(run, x, margin_px(arch), engine.cache)
    else:
        y, skipped = as_views(run(x)), 0.0
    out[present] = np.maximum(y * np.float32(scale), 0.0)
    if info is not None:
        info.update(runtime=engine.name, precision=str(dtype or torch.float32).replace("torch.", ""), skipped=skipped)
    return out


def check_checkpoint_speed(meta: Mapping, speed_factor: float, where: str) -> None:
    """CheckpointError unless the scan's speed factor is the checkpoint's (within 2 %), or, for a
    model trained on several speeds (meta `speed_factors`), lies within their range."""
    speeds = [float(v) for v in meta.get("speed_factors") or [meta["speed_factor"]]]
    low, high = min(speeds) * (1 - SPEED_RTOL), max(speeds) * (1 + SPEED_RTOL)
    if not low <= float(speed_factor) <= high:
        trained = " to ".join(dict.fromkeys(speed_label(v) for v in (min(speeds), max(speeds))))
        raise CheckpointError(
            f"The checkpoint for {where} was trained for {trained} scans but the scan's counts "
            f"are at {speed_label(speed_factor)}; pick the {speed_label(speed_factor)} checkpoint."
        )


def load_model(
    checkpoint: str | os.PathLike | tuple, device: str = "auto", expect: Mapping | None = None
) -> tuple[torch.nn.Module, dict]:
    """(model, meta) from a checkpoint path (checked against `expect`, see `load_generator`), or a
    loaded (model, meta) pair whose model must have the architecture and size its meta states."""
    if isinstance(checkpoint, tuple):
        model, meta = checkpoint
        if getattr(model, "arch_kwargs", None) != dict(meta.get("arch_kwargs", {})):
            raise CheckpointError(
                f"The model passed for enhancement ({type(model).__name__}) does not have the "
                f"architecture its meta states ({meta.get('arch_kwargs')}); load it with "
                "wbslib.enhance.checkpoint.load_generator."
            )
        return model, dict(meta)
    return load_generator(checkpoint, resolve_device(device), expect=expect)


def enhance_scan(
    scan: WholeBodyScan,
    checkpoint: str | os.PathLike | tuple,
    *,
    speed_factor: float | None = None,
    expect: Mapping | None = None,
    device: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
    precision: str = "auto",
    runtime: str = "auto",
) -> WholeBodyScan:
    """The enhanced scan: same header facts, counts 1x-equivalent (`derived_1x_equivalent`).

    The speed factor comes from the header (`count_equivalent_speed`) unless `speed_factor`
    overrides it (a finite number ≥ 1, else ParamsError); neither → SpeedUnknownError. An
    already enhanced scan → AlreadyEnhancedError. A checkpoint for another speed, or not matching
    `expect` (e.g. {'mode': 'simu', 'nf': 64}), → CheckpointError. `runtime`: see `enhance_counts`.
    """
    where = scan.source_paths[0] if scan.source_paths else "the scan"
    if scan.derived_1x_equivalent:
        raise AlreadyEnhancedError(
            f"{where} is already enhanced (a derived series whose counts are 1x-equivalent); "
            "enhance the original fast scan instead."
        )
    s = check_speed(speed_factor, "--speed-factor") if speed_factor is not None else scan.count_equivalent_speed
    if s is None:
        raise SpeedUnknownError(
            f"{where} has no Scan Velocity in its header; pass --speed-factor (speed_factor= in Python), "
            "e.g. 2 for a scan at twice the standard speed."
        )
    model, meta = load_model(checkpoint, device, expect)
    check_checkpoint_speed(meta, s, where)
    counts = enhance_counts(
        scan.counts,
        model,
        meta,
        speed_factor=s,
        device=device,
        tile=tile,
        overlap=overlap,
        precision=precision,
        runtime=runtime,
    )
    return replace(scan, counts=counts, derived_1x_equivalent=True, flags=list(scan.flags))


def describe_model(meta: Mapping, checkpoint_sha256: str) -> tuple[str, str]:
    """(method, description) for the derived DICOM, naming model mode and speed."""
    label = speed_label(meta["speed_factor"])
    kwargs = meta["arch_kwargs"]
    method = (
        f"RRDB-GAN {meta['mode']} {label} (nf {kwargs['nf']}, nb {kwargs['nb']}, gc {kwargs['gc']}, "
        f"step {meta['step']}, checkpoint sha256 {checkpoint_sha256[:12]})"
    )
    return method, f"WBS {label} RRDB-GAN {meta['mode']}"


def parse_group(group: str) -> tuple[float, str]:
    """'2x-simu' → (2.0, 'simu'), '3x-split' → (3.0, 'split'); a group naming no model is a ParamsError."""
    if not is_model(group):
        raise ParamsError(
            f"Group {group!r} names no enhancement model; use '<speed>x-<mode>' with mode {'|'.join(MODES)}, "
            "e.g. '2x-split'."
        )
    return core_parse_group(group)


def find_checkpoints(run: str, groups, pretrained=()) -> dict[str, Path]:
    """{group: runs/<run>/checkpoints/<mode>-<speed>.pt} for each model group of `groups` whose
    checkpoint exists (raw and baseline groups are ignored); the groups of `pretrained` map to the
    shipped generator for their speed instead (`wbslib.enhance.pretrained`)."""
    found = {}
    for group in groups:
        if str(group) in pretrained:
            found[str(group)] = pretrained_checkpoint(parse_group(group)[0])
        elif is_model(group):
            speed, mode = parse_group(group)
            path = run_dir(run) / "checkpoints" / f"{mode}-{speed_label(speed)}.pt"
            if path.is_file():
                found[str(group)] = path
    return found


def enhance_manifest(
    manifest_df: pd.DataFrame,
    data_root: str | os.PathLike,
    checkpoints: Mapping[str, str | os.PathLike],
    out_root: str | os.PathLike,
    force: bool = False,
    *,
    device: str = "auto",
    tile: int | None = None,
    precision: str = "auto",
    runtime: str = "auto",
    input_kind: str = "fast-real",
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Enhance every study of `manifest_df` with the checkpoint of each group ({'2x-simu': path, ...}).

    Group '<s>x-<mode>' enhances each study's acquisition of kind `input_kind` at speed s (as in the
    paper, both models are applied to the real fast scans). Writes `<out_root>/<group>/<study_id>.dcm`,
    skips outputs already done (unless `force`), quarantines inputs that raise a WbsError; returns
    (output rows, quarantine rows) — see `wbslib.enhance.batch`. A checkpoint whose mode or speed
    does not match its group raises CheckpointError before anything is written.
    """
    jobs = []
    for group, checkpoint in checkpoints.items():
        speed, mode = parse_group(group)
        model, meta = load_model(checkpoint, device, expect={"mode": mode})
        check_checkpoint_speed(meta, speed, str(checkpoint))
        method, description = describe_model(meta, sha256_file(checkpoint))

        def enhance(scan, model=model, meta=meta, method=method, description=description):
            out = enhance_scan(scan, (model, meta), device=device, tile=tile, precision=precision, runtime=runtime)
            return out.counts, method, description

        jobs += input_jobs(
            manifest_df,
            group=group,
            method=f"rrdb-{mode}",
            speed_factor=speed,
            provenance=sha256_file(checkpoint),
            enhance=enhance,
            kind=input_kind,
        )
    return run_batch(jobs, data_root, out_root, force=force, progress=progress, desc="enhance")
