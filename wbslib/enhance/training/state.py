"""Training state on disk: what a checkpoint holds beyond the generator, and exact resume.

A training checkpoint (written with `wbslib.enhance.checkpoint.save_checkpoint`, atomically) holds
`meta` (ARCHITECTURE.md keys plus `config` and `config_sha`, the training configuration it
belongs to), `generator`, `discriminator`, `opt_g`, `opt_d`, `scaler`, `rng` (Python, NumPy,
torch CPU and CUDA states), `step` (optimiser steps done), `epoch`, `batch_index` (position in
that epoch, in samples) and `log` (the loss and validation rows so far, as JSON text), so a
resumed run continues bit for bit where the checkpoint left it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import numpy as np
import torch

from wbslib.core.errors import CheckpointError
from wbslib.enhance.checkpoint import load_checkpoint, save_checkpoint

STEP_PATTERN = re.compile(r"^step-(\d{9})\.pt$")
# Configuration keys that do not change the weights of the steps done so far (resume ignores them).
NEUTRAL_KEYS = ("val_every", "checkpoint_every", "workers", "device", "keep_step_checkpoints", "perceptual_requested")
# ... and, with a constant learning rate, the run's length (a longer run resumes a shorter one).
LENGTH_KEYS = ("steps", "epochs")


def config_sha(config: dict) -> str:
    """sha256 (16 hex) of the configuration keys that decide the weights (`NEUTRAL_KEYS` left out,
    and the run's length too when the learning rate does not depend on it)."""
    neutral = NEUTRAL_KEYS + (LENGTH_KEYS if config.get("lr_schedule", "constant") == "constant" else ())
    decisive = {k: v for k, v in sorted(config.items()) if k not in neutral}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:16]


def step_path(folder: Path, step: int) -> Path:
    """`folder/step-000000042.pt`, the checkpoint written after `step` optimiser steps."""
    return Path(folder) / f"step-{step:09d}.pt"


def step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the step checkpoints in `folder`, oldest first."""
    folder = Path(folder)
    found = [(int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := STEP_PATTERN.match(p.name))]
    return sorted(found)


def rng_state() -> dict:
    """Every random-number state of this process: Python, NumPy (global), torch CPU and CUDA."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore `rng_state()`'s states (the CUDA ones only where CUDA is present)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(
    *, meta: dict, generator, discriminator, opt_g, opt_d, scaler, step: int, epoch: int, batch_index: int, log: dict
) -> dict:
    """The dict a training checkpoint stores (models unwrapped from DDP by the caller; `log` maps
    names to JSON text)."""
    return {
        "meta": meta,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(),
        "step": int(step),
        "epoch": int(epoch),
        "batch_index": int(batch_index),
        "log": dict(log),
    }


def save_step_checkpoint(folder: Path, state: dict, keep: int = 2) -> Path:
    """Write `state` as `step-<step>.pt` atomically; keep the newest `keep` step checkpoints."""
    path = save_checkpoint(step_path(folder, state["step"]), state)
    for _, old in step_checkpoints(folder)[:-keep]:
        old.unlink()
    return path


def resumable_checkpoint(folder: Path, sha: str) -> dict | None:
    """The newest step checkpoint in `folder` written for configuration `sha`, loaded; None if none.

    A corrupt newest checkpoint raises CheckpointError (it is left in place, never overwritten): a
    resume must not silently start over or fall back to older weights.
    """
    found = step_checkpoints(folder)
    if not found:
        return None
    step, path = found[-1]
    state = load_checkpoint(path)
    missing = [
        k for k in ("generator", "discriminator", "opt_g", "opt_d", "scaler", "rng", "step", "log") if k not in state
    ]
    if missing:
        raise CheckpointError(
            f"Checkpoint {path} lacks training state {missing}, so training cannot resume; "
            "move it away to start this model afresh."
        )
    if state["meta"].get("config_sha") != sha:
        return None
    return state


def restore(state: dict, *, generator, discriminator, opt_g, opt_d, scaler) -> None:
    """Load a training checkpoint into freshly built models and optimisers, and restore every RNG."""
    path_hint = f"step {state.get('step')}"
    try:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        scaler.load_state_dict(state["scaler"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"Training checkpoint at {path_hint} does not fit the configured models "
            f"({type(exc).__name__}); move it away to start afresh."
        ) from exc
    set_rng_state(state["rng"])
