"""Training the real, simu and split models (notebook 02): `train_model` for one model,
`train_from_params` for every model a params file lists.

Outputs (ARCHITECTURE.md): `runs/<run>/checkpoints/<mode>-<speed>.pt` (final),
`runs/<run>/checkpoints/<mode>-<speed>/step-*.pt` (step checkpoints, newest two kept) and
`runs/<run>/train/<mode>-<speed>/{losses,val}.csv`. A model whose final checkpoint was written for
the same configuration is skipped; an interrupted one resumes from its newest step checkpoint and
ends bit for bit where an uninterrupted run would (CPU, same thread count). Under `torchrun`
(WORLD_SIZE > 1) it trains data-parallel (DDP; gloo on CPU, NCCL on CUDA): `batch_size` is the
global batch, split over the ranks, and rank 0 validates and writes. `perceptual: auto` is resolved
once per model (`wbslib.enhance.losses.resolve_perceptual`), printed, and recorded in the
checkpoint meta (`perceptual` = the term used, `perceptual_requested` = what the params asked).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader
from tqdm import tqdm

from wbslib.core.errors import ParamsError
from wbslib.core.fileio import sha256_file, write_csv
from wbslib.core.groups import MODES
from wbslib.core.masks import bladder_mask
from wbslib.core.params import resolve_device, resolve_path, run_dir, section, unknown_keys
from wbslib.core.repro import seed_everything
from wbslib.core.scan import speed_label
from wbslib.enhance.checkpoint import checkpoint_meta, load_checkpoint, load_generator, save_checkpoint
from wbslib.enhance.datasets import PatchPairDataset, StepSampler, load_training_pairs
from wbslib.enhance.losses import resolve_perceptual
from wbslib.enhance.models.rrdbnet import check_arch
from wbslib.enhance.preprocess import count_scale
from wbslib.enhance.pretrained import nearest_checkpoint
from wbslib.enhance.training import state as ts
from wbslib.enhance.training.step import (
    LR_SCHEDULES,
    build_parts,
    gan_step,
    learning_rate,
    set_learning_rate,
    unwrap,
)
from wbslib.enhance.training.validation import VAL_COLUMNS, load_val_cases, validate

DEFAULTS = {
    "nf": 64,
    "nb": 9,
    "gc": 32,
    "d_nf": None,
    "patch_size": 192,
    "batch_size": 1,
    "steps": None,
    "epochs": None,
    "val_every": 500,
    "checkpoint_every": 500,
    "lr": 2.0e-4,
    "loss_weights": {"l1": 0.005, "bce": 0.01, "gan": 0.001},
    "perceptual": "vgg19",
    "gan_loss": "vanilla",
    "workers": 0,
    "keep_step_checkpoints": 2,
    "lr_schedule": "constant",
    "init": "scratch",
}
INITS = ("scratch", "pretrained")  # fresh weights, or the shipped generator nearest in speed (fine-tuning)


def model_name(model_spec: dict) -> str:
    """'<mode>-<speed label>', e.g. 'simu-2x': the model's file and folder name."""
    return f"{model_spec['mode']}-{speed_label(model_spec['speed'])}"


def training_config(params: dict, model_spec: dict) -> dict:
    """The resolved configuration of one model: train-section defaults, the model's mode and speed,
    the seed, the manifest's sha256 (so changed data means a new model) and the perceptual term
    ('auto' resolved; the request kept as `perceptual_requested`). Unknown keys → ParamsError."""
    cfg = section(params, "train", {**DEFAULTS, "models": None})
    cfg.pop("models")
    if (cfg["steps"] is None) == (cfg["epochs"] is None):
        raise ParamsError("Params section 'train' must give exactly one of 'steps' or 'epochs'.")
    if cfg["lr_schedule"] not in LR_SCHEDULES:
        raise ParamsError(f"train.lr_schedule {cfg['lr_schedule']!r} is not one of {LR_SCHEDULES}.")
    if cfg["d_nf"] is None:
        cfg["d_nf"] = cfg["nf"]
    check_arch({"nf": cfg["nf"], "nb": cfg["nb"], "gc": cfg["gc"]}, "the params file's train section")
    if cfg["init"] not in INITS:
        raise ParamsError(f"train.init {cfg['init']!r} is not one of {INITS}.")
    if not isinstance(model_spec, dict):
        raise ParamsError(f"train.models entry {model_spec!r} is not a mapping such as {{mode: simu, speed: 2}}.")
    unknown_keys(model_spec, ("mode", "speed"), f"train.models entry {model_spec!r}")
    speed = model_spec.get("speed")
    if (
        model_spec.get("mode") not in MODES
        or isinstance(speed, bool)
        or not isinstance(speed, (int, float))
        or not (math.isfinite(speed) and speed > 1)
    ):
        raise ParamsError(f"train.models entry {model_spec!r} needs mode {'|'.join(MODES)} and a speed > 1.")
    if cfg["init"] == "pretrained":
        cfg["init_checkpoint"], cfg["init_count_scale"] = _pretrained_start(cfg, float(speed))
    cfg["perceptual_requested"] = cfg["perceptual"]
    cfg["perceptual"] = resolve_perceptual(cfg["perceptual"])[0]
    manifest = resolve_path(params["manifest"]) if params.get("manifest") else None
    cfg.update(
        mode=model_spec["mode"],
        speed=float(speed),
        seed=int(params.get("seed", 0)),
        device=params.get("device", "auto"),
        manifest_sha256=sha256_file(manifest) if manifest and manifest.is_file() else None,
    )
    return cfg


def _pretrained_start(cfg: dict, speed: float) -> tuple[str, float]:
    """('<file> <sha256>', count scale C) of the shipped generator a `train.init: pretrained` model
    starts from (the nearest shipped speed; the model keeps its units); ParamsError when the train
    section's generator size differs from it."""
    path = nearest_checkpoint(speed)
    meta = load_checkpoint(path)["meta"]
    arch = meta["arch_kwargs"]
    want = {k: cfg[k] for k in ("nf", "nb", "gc")}
    have = {k: arch.get(k) for k in want}
    if have != want:
        raise ParamsError(
            f"train.init: pretrained starts from {path.name} (nf {have['nf']}, nb {have['nb']}, gc {have['gc']}); "
            f"the train section asks for nf {want['nf']}, nb {want['nb']}, gc {want['gc']}. "
            "Match it or use init: scratch."
        )
    return f"{path.name} {sha256_file(path)}", float(meta["count_scale"])


def _distributed(device: str) -> tuple[int, int, str]:
    """(rank, world size, device) — joins the torchrun process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def _final_is_current(path: Path, sha: str, steps: int) -> bool:
    """True when `path` holds a finished model of configuration `sha` (corrupt → CheckpointError)."""
    if not path.is_file():
        return False
    meta = load_checkpoint(path)["meta"]
    return meta.get("config_sha") == sha and meta.get("step") == steps


def _training_data(params: dict, cfg: dict, rank: int) -> tuple[PatchPairDataset, list, float]:
    """The patch dataset, the validation cases (rank 0, when validating) and the count scale C."""
    from wbslib.io.manifest.schema import read_manifest

    manifest_path = resolve_path(params["manifest"])
    manifest = read_manifest(manifest_path)
    data_root = resolve_path(params["data_root"])
    pairs = load_training_pairs(manifest, data_root, cfg["mode"], cfg["speed"], manifest_path=str(manifest_path))
    if cfg["init"] == "pretrained":  # keep the units the shipped generator learned in
        scale = cfg["init_count_scale"]
    else:
        scale = count_scale([p.standard for p in pairs], [bladder_mask(p.standard) for p in pairs])
    data = PatchPairDataset(
        pairs,
        mode=cfg["mode"],
        speed_factor=cfg["speed"],
        patch_size=cfg["patch_size"],
        seed=cfg["seed"],
        count_scale=scale,
    )
    val = load_val_cases(manifest, data_root, cfg["speed"], cfg["seed"]) if rank == 0 and cfg["val_every"] else []
    return data, val, scale


def _state(parts, cfg, scale, step, n_items, log) -> dict:
    g = unwrap(parts.generator)
    meta = checkpoint_meta(
        g,
        mode=cfg["mode"],
        speed_factor=cfg["speed"],
        count_scale=scale,
        patch_size=cfg["patch_size"],
        perceptual=cfg["perceptual"],
        loss_weights=parts.g_loss.term_weights(),
        step=step,
    )
    meta.update(
        config=json.dumps(cfg, sort_keys=True, default=str),
        config_sha=ts.config_sha(cfg),
        gan_loss=cfg["gan_loss"],
        perceptual_requested=cfg["perceptual_requested"],
    )
    epoch, batch_index = divmod(step * cfg["batch_size"], n_items)
    return ts.training_state(
        meta=meta,
        generator=g,
        discriminator=unwrap(parts.discriminator),
        opt_g=parts.opt_g,
        opt_d=parts.opt_d,
        scaler=parts.scaler,
        step=step,
        epoch=epoch,
        batch_index=batch_index,
        log={"losses": json.dumps(log["losses"]), "val": json.dumps(log["val"])},
    )


@threadpool_limits.wrap(limits=1, user_api="blas")
def train_model(
    params: dict,
    model_spec: dict,
    run_dir: str | os.PathLike,
    *,
    force: bool = False,
    progress: bool = True,
    on_step: Callable[[int, dict], None] | None = None,
) -> Path:
    """Train (or resume, or skip) one model; returns the final checkpoint's path.

    `model_spec` = {'mode': 'real'|'simu'|'split', 'speed': s}. `force` retrains even when a current
    final checkpoint exists. `on_step(step, losses)` is called after each step (after its checkpoint).
    NumPy's BLAS keeps one thread meanwhile: its idle threads spin after each call in the patch
    pipeline (registration of real pairs) and took the cores from torch's convolutions (2.6 × slower
    on 2 cores).
    """
    cfg = training_config(params, model_spec)
    name, sha = model_name(model_spec), ts.config_sha(cfg)
    if cfg["perceptual_requested"] == "auto":
        print(f"{name}: {resolve_perceptual('auto')[1]}")
    run_dir = Path(run_dir)
    final, step_dir, log_dir = (
        run_dir / "checkpoints" / f"{name}.pt",
        run_dir / "checkpoints" / name,
        run_dir / "train" / name,
    )
    rank, world, device = _distributed(resolve_device(cfg["device"]))
    if cfg["batch_size"] % world:
        raise ParamsError(f"train.batch_size {cfg['batch_size']} does not split over {world} ranks; use a multiple.")
    if cfg["steps"] and not force and _final_is_current(final, sha, cfg["steps"]):
        return final
    data, val_cases, scale = _training_data(params, cfg, rank)
    steps = cfg["steps"] or math.ceil(cfg["epochs"] * len(data) / cfg["batch_size"])
    if cfg["epochs"] and not force and _final_is_current(final, sha, steps):
        return final

    seed_everything(cfg["seed"])
    parts = build_parts(cfg, torch.device(device), ddp=world > 1)
    log = {"losses": [], "val": []}
    state = None if force else ts.resumable_checkpoint(step_dir, sha)
    if state is not None and state["step"] > steps:  # a longer run of this configuration: start over
        state = None
    if state is None and rank == 0:
        for _, stale in ts.step_checkpoints(step_dir):
            stale.unlink()
    if state is None and cfg["init"] == "pretrained":
        start_net, _ = load_generator(nearest_checkpoint(cfg["speed"]))
        unwrap(parts.generator).load_state_dict(start_net.state_dict())
    if state is not None:
        ts.restore(
            state,
            generator=unwrap(parts.generator),
            discriminator=unwrap(parts.discriminator),
            opt_g=parts.opt_g,
            opt_d=parts.opt_d,
            scaler=parts.scaler,
        )
        log = {k: json.loads(v) for k, v in state["log"].items()}
    start = state["step"] if state is not None else 0

    per_rank = cfg["batch_size"] // world
    loader = DataLoader(
        data,
        batch_size=per_rank,
        sampler=StepSampler(start, steps, per_rank, rank, world),
        num_workers=cfg["workers"],
        generator=torch.Generator().manual_seed(cfg["seed"]),
        pin_memory=device.startswith("cuda"),
    )
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start, desc=name, disable=not progress or rank != 0, mininterval=2.0)
    step = start
    for batch in loader:
        lr = set_learning_rate(parts, learning_rate(cfg, step, steps))
        terms = gan_step(parts, batch)
        step += 1
        values = torch.stack(list(terms.values())).tolist()  # one device sync per step
        losses = {
            "step": step,
            "epoch": step * cfg["batch_size"] // len(data),
            "lr": lr,
            **dict(zip(terms, values)),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        log["losses"].append(losses)
        bar.update(1)
        if rank == 0 and cfg["val_every"] and (step % cfg["val_every"] == 0 or step == steps):
            log["val"] += [
                {"step": step, **row}
                for row in validate(unwrap(parts.generator), val_cases, scale, device, parts.amp_dtype)
            ]
        if rank == 0 and (step % cfg["checkpoint_every"] == 0 or step == steps):
            ts.save_step_checkpoint(
                step_dir, _state(parts, cfg, scale, step, len(data), log), keep=cfg["keep_step_checkpoints"]
            )
            _write_logs(log, log_dir)
        if on_step is not None:
            on_step(step, losses)
    bar.close()
    if rank == 0:
        save_checkpoint(final, _state(parts, cfg, scale, step, len(data), log))
        _write_logs(log, log_dir)
    if world > 1:
        dist.barrier()
    return final


def _write_logs(log: dict, folder: Path) -> None:
    write_csv(pd.DataFrame(log["losses"]), folder / "losses.csv")
    write_csv(pd.DataFrame(log["val"], columns=list(VAL_COLUMNS)), folder / "val.csv")


def train_from_params(params: dict, *, force: bool = False, progress: bool = True) -> list[Path]:
    """Train every model of `params['train']['models']` under runs/<run>/; final checkpoint paths."""
    models = (params.get("train") or {}).get("models") or []
    if not models:
        raise ParamsError("Params section 'train' lists no models; add e.g. models: [{mode: simu, speed: 2}].")
    out = run_dir(params["run"])
    return [train_model(params, spec, out, force=force, progress=progress) for spec in models]
