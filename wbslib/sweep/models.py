"""The speed sweep's models: one per speed (`wbslib.enhance.training.loop.train_model`) or one trained on mixed speeds,
and the comparison of the two strategies on the validation patients.

Mixed-speed model (`train_mixed`): one generator per mode trained on patches of every swept speed.
Each speed's patches come from `wbslib.enhance.datasets.PatchPairDataset` at that speed, so the input is
normalised as `counts · s / C` with one count scale C for all speeds (the speed is folded into the
normalisation, not given as an extra input); a global sample index picks a speed's patch through
a seeded shuffle of all speeds' items per epoch. Same losses, optimisers and step as
`wbslib.enhance.training.loop` (`training.step.gan_step`, `training.step.learning_rate`); step checkpoints
and resume as there. Its checkpoint meta
has `speed_factor` = the fastest speed and `speed_factors` = all of them; enhance with
`enhance_counts(..., speed_factor=s)`.

Comparison (`compare_strategies`): at a few speeds, each strategy's model enhances the real-like
fast scans of the validation patients; L1 and NRMSE against the phantom truth (`train_val`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from wbslib.core.fileio import sha256_file, write_csv
from wbslib.core.masks import bladder_mask
from wbslib.core.params import resolve_device
from wbslib.core.repro import rng, seed_everything
from wbslib.core.scan import speed_label
from wbslib.enhance.checkpoint import (
    checkpoint_meta,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from wbslib.enhance.datasets import PatchPairDataset, StepSampler, load_training_pairs
from wbslib.enhance.preprocess import count_scale
from wbslib.enhance.training import state as ts
from wbslib.enhance.training.loop import train_model, training_config
from wbslib.enhance.training.step import (
    build_parts,
    gan_step,
    learning_rate,
    set_learning_rate,
)
from wbslib.enhance.training.validation import (
    enhance,
    image_errors,
    load_val_cases,
    raw_input,
)
from wbslib.io.manifest.schema import read_manifest

COMPARE_COLUMNS = ("strategy", "mode", "speed", "study_id", "l1", "nrmse", "l1_input", "nrmse_input")


def train_per_speed(
    train_params: dict, mode: str, speed: float, out_dir: str | os.PathLike, progress: bool = True
) -> Path:
    """The final checkpoint of the `mode` model for `speed` under `out_dir` (trained, resumed or found)."""
    return train_model(train_params, {"mode": mode, "speed": speed}, out_dir, progress=progress)


class MixedSpeedDataset(Dataset):
    """Patches of several `PatchPairDataset`s (one per speed) under one global sample index."""

    def __init__(self, parts: list[PatchPairDataset], seed: int):
        self.parts, self.seed = parts, int(seed)
        self.sizes = np.array([len(p) for p in parts])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    def __len__(self) -> int:
        return int(self.sizes.sum())

    def __getitem__(self, index: int):
        epoch, k = divmod(int(index), len(self))
        j = int(rng(self.seed, "mixed-order", epoch).permutation(len(self))[k])
        d = int(np.searchsorted(self.starts, j, side="right") - 1)
        return self.parts[d][epoch * int(self.sizes[d]) + j - int(self.starts[d])]


def mixed_dataset(cfg: dict, roots: dict[float, Path]) -> tuple[MixedSpeedDataset, float]:
    """The mixed-speed dataset over `roots` ({speed: data root with manifest.csv}) and its count scale C."""
    pairs = {
        s: load_training_pairs(
            read_manifest(root / "manifest.csv"), root, cfg["mode"], s, manifest_path=str(root / "manifest.csv")
        )
        for s, root in roots.items()
    }
    standards = [p.standard for p in next(iter(pairs.values()))]
    scale = count_scale(standards, [bladder_mask(s) for s in standards])
    parts = [
        PatchPairDataset(
            pairs[s],
            mode=cfg["mode"],
            speed_factor=s,
            patch_size=cfg["patch_size"],
            seed=int(rng(cfg["seed"], "mixed", speed_label(s)).integers(2**31)),
            count_scale=scale,
        )
        for s in sorted(pairs)
    ]
    return MixedSpeedDataset(parts, cfg["seed"]), scale


def _state(parts, cfg: dict, scale: float, step: int, losses: list) -> dict:
    meta = checkpoint_meta(
        parts.generator,
        mode=cfg["mode"],
        speed_factor=max(cfg["speeds"]),
        count_scale=scale,
        patch_size=cfg["patch_size"],
        perceptual=cfg["perceptual"],
        loss_weights=parts.g_loss.term_weights(),
        step=step,
    )
    meta.update(
        speed_factors=list(cfg["speeds"]),
        config=json.dumps(cfg, sort_keys=True, default=str),
        config_sha=ts.config_sha(cfg),
        gan_loss=cfg["gan_loss"],
    )
    return ts.training_state(
        meta=meta,
        generator=parts.generator,
        discriminator=parts.discriminator,
        opt_g=parts.opt_g,
        opt_d=parts.opt_d,
        scaler=parts.scaler,
        step=step,
        epoch=0,
        batch_index=0,
        log={"losses": json.dumps(losses), "val": "[]"},
    )


def train_mixed(
    train_params: dict, mode: str, roots: dict[float, Path], out_dir: str | os.PathLike, progress: bool = True
) -> Path:
    """Train (resume, or find done) the mixed-speed `mode` model on the speeds of `roots`; its final
    checkpoint `out_dir/checkpoints/mixed-<mode>.pt` (losses in `out_dir/train/mixed-<mode>/`)."""
    speeds = sorted(roots)
    cfg = training_config(train_params, {"mode": mode, "speed": speeds[-1]})
    cfg.update(speed=None, speeds=speeds, manifest_sha256=[sha256_file(roots[s] / "manifest.csv") for s in speeds])
    out_dir, name, sha = Path(out_dir), f"mixed-{mode}", ts.config_sha(cfg)
    final, step_dir = out_dir / "checkpoints" / f"{name}.pt", out_dir / "checkpoints" / name
    if final.is_file():
        meta = load_checkpoint(final)["meta"]
        if meta.get("config_sha") == sha and (cfg["steps"] is None or meta.get("step") == cfg["steps"]):
            return final
    data, scale = mixed_dataset(cfg, roots)
    cfg["steps"] = cfg["steps"] or int(np.ceil(cfg["epochs"] * len(data) / cfg["batch_size"]))
    device = resolve_device(cfg["device"])
    seed_everything(cfg["seed"])
    parts = build_parts(cfg, torch.device(device))
    state, losses = ts.resumable_checkpoint(step_dir, sha), []
    if state is not None:
        ts.restore(
            state,
            generator=parts.generator,
            discriminator=parts.discriminator,
            opt_g=parts.opt_g,
            opt_d=parts.opt_d,
            scaler=parts.scaler,
        )
        losses = json.loads(state["log"]["losses"])
    step = state["step"] if state is not None else 0
    loader = DataLoader(
        data,
        batch_size=cfg["batch_size"],
        sampler=StepSampler(step, cfg["steps"], cfg["batch_size"]),
        num_workers=cfg["workers"],
        pin_memory=device.startswith("cuda"),
    )
    for batch in loader:
        set_learning_rate(parts, learning_rate(cfg, step, cfg["steps"]))
        terms = gan_step(parts, batch)
        step += 1
        losses.append({"step": step, **dict(zip(terms, torch.stack(list(terms.values())).tolist()))})
        if step % cfg["checkpoint_every"] == 0 and step < cfg["steps"]:
            ts.save_step_checkpoint(step_dir, _state(parts, cfg, scale, step, losses), cfg["keep_step_checkpoints"])
    save_checkpoint(final, _state(parts, cfg, scale, step, losses))
    write_csv(pd.DataFrame(losses), out_dir / "train" / name / "losses.csv")
    return final


def compare_strategies(
    checkpoints: dict[tuple[str, str, float], Path], roots: dict[float, Path], seed: int, device: str = "auto"
) -> pd.DataFrame:
    """Validation L1/NRMSE (vs truth, 1x-equivalent counts) of each (strategy, mode, speed) model.

    `checkpoints` maps (strategy, mode, speed) → checkpoint; the model enhances the real-like scans
    at that speed of the validation patients of `roots[speed]`. One row per case (`COMPARE_COLUMNS`).
    """
    device, rows = resolve_device(device), []
    cases = {
        s: load_val_cases(read_manifest(roots[s] / "manifest.csv"), roots[s], s, seed)
        for s in sorted({k[2] for k in checkpoints})
    }
    for (strategy, mode, speed), path in sorted(checkpoints.items()):
        model, meta = load_generator(path, device)
        for case in cases[speed]:
            image = enhance(model, case.counts, speed, float(meta["count_scale"]), device)
            model_err, raw_err = image_errors(image, case.reference), image_errors(raw_input(case), case.reference)
            rows.append(
                {
                    "strategy": strategy,
                    "mode": mode,
                    "speed": speed,
                    "study_id": case.study_id,
                    "l1": model_err["l1"],
                    "nrmse": model_err["nrmse"],
                    "l1_input": raw_err["l1"],
                    "nrmse_input": raw_err["nrmse"],
                }
            )
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))


def summarise_comparison(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean validation L1 and NRMSE per strategy, mode and speed (and of the raw input), n cases."""
    return (
        rows.groupby(["mode", "speed", "strategy"], sort=True)
        .agg(
            n=("study_id", "count"),
            l1=("l1", "mean"),
            nrmse=("nrmse", "mean"),
            l1_input=("l1_input", "mean"),
            nrmse_input=("nrmse_input", "mean"),
        )
        .reset_index()
    )


__all__ = [
    "train_per_speed",
    "train_mixed",
    "mixed_dataset",
    "MixedSpeedDataset",
    "compare_strategies",
    "summarise_comparison",
]
