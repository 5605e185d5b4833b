"""Checkpoints: atomic save, safe load, and rebuilding the generator a checkpoint describes.

A checkpoint is a `torch.save`d dict with at least
  - `meta`: what inference needs to refuse a wrong model (keys `META_KEYS`): `arch` ('RRDBNet'),
    `arch_kwargs` (in_ch, out_ch, nf, nb, gc), `mode` ('real'|'simu'|'split'), `speed_factor`,
    `count_scale` (C: model input = counts · s / C, output · C = 1x-equivalent counts),
    `patch_size` (pixels), `perceptual` ('vgg19'|'feature_matching'|'none'), `loss_weights` (dict),
    `step`, `git_sha`;
  - `generator`: the generator's state dict (a 'module.' or '_orig_mod.' prefix from DDP or
    torch.compile is accepted and stripped on load).
Any other keys (discriminator, optimisers, RNG states, epoch, ...) are the training loop's own.
The sizes in `arch_kwargs` are checked against `models.rrdbnet.ARCH_BOUNDS` (one channel in and out,
nf ≤ 256, nb ≤ 32, gc ≤ 128) before any layer is allocated, and the weights must be finite.
Values must be tensors, Python scalars/containers or NumPy arrays/scalars: files are read with
`torch.load(weights_only=True)` (no arbitrary code runs when a checkpoint is opened).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from wbslib.core.errors import CheckpointError, ParamsError
from wbslib.core.fileio import atomic_path
from wbslib.core.groups import MODES
from wbslib.core.repro import git_sha
from wbslib.enhance.models.rrdbnet import RRDBNet, arch_problems

META_KEYS = (
    "arch",
    "arch_kwargs",
    "mode",
    "speed_factor",
    "count_scale",
    "patch_size",
    "perceptual",
    "loss_weights",
    "step",
    "git_sha",
)
ARCH_KEYS = ("in_ch", "out_ch", "nf", "nb", "gc")
PERCEPTUAL = ("vgg19", "feature_matching", "none")  # the perceptual term a model was trained with
EXPECTABLE = (*ARCH_KEYS, "arch", "mode", "speed_factor", "count_scale", "patch_size", "perceptual")
_PREFIXES = ("module.", "_orig_mod.")
_SAFE_NUMPY = [
    np._core.multiarray._reconstruct,
    np.ndarray,
    np.dtype,
    np._core.multiarray.scalar,
    *(
        type(np.dtype(t))
        for t in (
            "bool",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
        )
    ),
]


def checkpoint_meta(
    model: RRDBNet,
    *,
    mode: str,
    speed_factor: float,
    count_scale: float,
    patch_size: int,
    perceptual: str,
    loss_weights: Mapping[str, float],
    step: int,
) -> dict:
    """The `meta` dict for `model` (arch and arch_kwargs from the model, git_sha from the tree)."""
    meta = {
        "arch": type(model).__name__,
        "arch_kwargs": dict(model.arch_kwargs),
        "mode": mode,
        "speed_factor": float(speed_factor),
        "count_scale": float(count_scale),
        "patch_size": int(patch_size),
        "perceptual": perceptual,
        "loss_weights": {k: float(v) for k, v in loss_weights.items()},
        "step": int(step),
        "git_sha": git_sha(),
    }
    _check_meta(meta, "the checkpoint being built")
    return meta


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_meta(meta: object, where: str) -> dict:
    """Raise CheckpointError unless `meta` has every key of META_KEYS with a sensible value."""
    if not isinstance(meta, Mapping):
        raise CheckpointError(
            f"Checkpoint {where} has no 'meta' dict; it was not written by wbslib.enhance.training.loop."
        )
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise CheckpointError(
            f"Checkpoint {where} lacks meta keys {missing}; retrain or re-save it with "
            "wbslib.enhance.checkpoint.checkpoint_meta."
        )
    problems = []
    if meta["arch"] != "RRDBNet":
        problems.append(f"arch {meta['arch']!r} is not 'RRDBNet'")
    kwargs = meta["arch_kwargs"]
    if not isinstance(kwargs, Mapping) or set(kwargs) - set(ARCH_KEYS):
        problems.append(f"arch_kwargs {kwargs!r} is not a dict with keys among {ARCH_KEYS}")
    else:
        problems += [f"arch_kwargs {p}" for p in arch_problems(kwargs)]
    if meta["mode"] not in MODES:
        problems.append(f"mode {meta['mode']!r} is not one of {MODES}")
    if meta["perceptual"] not in PERCEPTUAL:
        problems.append(f"perceptual {meta['perceptual']!r} is not one of {PERCEPTUAL}")
    if not _is_number(meta["speed_factor"]) or meta["speed_factor"] < 1:
        problems.append(f"speed_factor {meta['speed_factor']!r} is not a number ≥ 1")
    if not _is_number(meta["count_scale"]) or meta["count_scale"] <= 0:
        problems.append(f"count_scale {meta['count_scale']!r} is not a number > 0")
    if problems:
        raise CheckpointError(f"Checkpoint {where} has invalid meta: {'; '.join(problems)}; retrain the model.")
    return dict(meta)


def save_checkpoint(path: str | os.PathLike, state: Mapping) -> Path:
    """Write `state` (a dict with valid `meta` and a `generator` state dict) atomically to `path`.

    The bytes go to a temporary file beside `path`, are flushed to disk (fsync), then renamed onto
    `path`; on any failure the temporary file is removed and an existing `path` stays as it was.
    """
    path = Path(path)
    if not isinstance(state, Mapping) or not isinstance(state.get("generator"), Mapping):
        raise CheckpointError(
            f"Checkpoint state for {path} must be a dict with a 'generator' state dict; nothing was written."
        )
    _check_meta(state.get("meta"), f"state for {path}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(dict(state), f)
            f.flush()
            os.fsync(f.fileno())
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint onto the CPU; CheckpointError if missing, corrupt, truncated or not ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; train the model (notebook 02) or fix the path.")
    try:
        with torch.serialization.safe_globals(_SAFE_NUMPY):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, zipfile errors, ...
        raise CheckpointError(
            f"Checkpoint {path} cannot be read ({type(exc).__name__}: it is corrupt, truncated, "
            "not a torch file, or holds objects beyond tensors and plain data); retrain or "
            "restore it."
        ) from exc
    if not isinstance(state, dict) or "meta" not in state:
        raise CheckpointError(
            f"Checkpoint {path} is a torch file but not a wbs-accel checkpoint (no 'meta' "
            "dict); pass a file written by wbslib.enhance.training.loop."
        )
    return state


def build_generator(meta: Mapping) -> RRDBNet:
    """A freshly initialised generator of the architecture and size `meta` describes."""
    meta = _check_meta(meta, "meta")
    try:
        return RRDBNet(**meta["arch_kwargs"])
    except ParamsError as exc:
        raise CheckpointError(
            f"Checkpoint meta arch_kwargs {meta['arch_kwargs']!r} are invalid ({exc}); retrain the model."
        ) from exc


def _check_expectations(meta: dict, expect: Mapping, path: Path) -> None:
    """CheckpointError listing every expected value the checkpoint does not have."""
    expect = {("speed_factor" if key == "speed" else key): value for key, value in expect.items()}
    unknown = set(expect) - set(EXPECTABLE)
    if unknown:
        raise ParamsError(f"load_generator expect keys {sorted(unknown)} are unknown; use keys among {EXPECTABLE}.")
    have = {**meta["arch_kwargs"], **meta}
    wrong = []
    for key, want in expect.items():
        got = have.get(key)
        if key in ("speed_factor", "count_scale"):
            same = _is_number(got) and _is_number(want) and math.isclose(got, want, rel_tol=1e-9)
        else:
            same = got == want
        if not same:
            wrong.append(f"{key}={got!r} (wanted {want!r})")
    if wrong:
        raise CheckpointError(
            f"Checkpoint {path} does not match what was asked: {', '.join(wrong)}; "
            "pick the checkpoint trained for this mode, speed and size."
        )


def _check_finite(weights: Mapping, path: Path) -> None:
    """CheckpointError naming the first generator tensor holding NaN or infinite values."""
    for key, value in weights.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(
                f"Checkpoint {path} holds generator weights that are not finite (NaN or infinite values in "
                f"{key}), so the training diverged or the file was damaged; retrain or restore the checkpoint."
            )


def _strip_prefixes(state_dict: Mapping) -> dict:
    out = {}
    for key, value in state_dict.items():
        for prefix in _PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def load_generator(
    path: str | os.PathLike, device: str | torch.device = "cpu", expect: Mapping | None = None
) -> tuple[RRDBNet, dict]:
    """The trained generator (eval mode, on `device`) and its meta from a checkpoint file.

    `expect` names what the caller requires, e.g. {'mode': 'simu', 'speed_factor': 2.0, 'nf': 64};
    keys among `EXPECTABLE` ('speed' is accepted for 'speed_factor'; speeds compare to 1e-9). A mismatch,
    or weights that do not fit the architecture, raise
    CheckpointError; the file is only read, never modified.
    """
    path = Path(path)
    state = load_checkpoint(path)
    meta = _check_meta(state["meta"], str(path))
    if expect:
        _check_expectations(meta, expect, path)
    weights = state.get("generator")
    if not isinstance(weights, Mapping):
        raise CheckpointError(f"Checkpoint {path} holds no 'generator' state dict; pass a generator checkpoint.")
    _check_finite(weights, path)
    model = build_generator(meta)
    try:
        model.load_state_dict(_strip_prefixes(weights), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:2]
        raise CheckpointError(
            f"Checkpoint {path} weights do not fit {meta['arch']}({meta['arch_kwargs']}) "
            f"({' '.join(first)[:300]}); the file is damaged or its meta is wrong."
        ) from exc
    return model.to(device).eval(), meta


def latest_checkpoint(directory: str | os.PathLike, pattern: str = "*.pt") -> Path | None:
    """The most recently written checkpoint matching `pattern` in `directory` (None if there is none).

    Newest by modification time, ties broken by name; hidden and temporary files are ignored.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    files = [p for p in directory.glob(pattern) if p.is_file() and not p.name.startswith(".")]
    if not files:
        return None
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
