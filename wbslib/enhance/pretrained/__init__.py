"""The pretrained generators that ship with wbs-accel, so `wbs enhance STUDY.dcm` works with no
training run (model card: docs/models.md; RESEARCH USE – NOT FOR DIAGNOSIS).

`SHIPPED` maps a speed factor to its file in this folder: split-mode generators (archive-only
training on the calibrated phantom's standard scans) of the workstation profile
(`notebooks/params/workstation.yaml`). `SHA256SUMS` holds each file's sha256; a changed or missing
file is a named error, never used. `publish` strips a training checkpoint to its generator and meta
and writes it here:

    python -m wbslib.enhance.pretrained runs/workstation/checkpoints/split-{2,3}x.pt
"""

from __future__ import annotations

import os
from pathlib import Path

from wbslib.core.errors import CheckpointError
from wbslib.core.fileio import sha256_file, write_text
from wbslib.core.groups import SPEED_RTOL
from wbslib.core.scan import speed_label
from wbslib.enhance.checkpoint import load_checkpoint, save_checkpoint

FOLDER = Path(__file__).resolve().parent
SUMS = FOLDER / "SHA256SUMS"


def _name(speed: float) -> str:
    return f"split-{speed_label(speed)}.pt"


def checksums() -> dict[str, str]:
    """{file name: sha256} from SHA256SUMS (empty when nothing is shipped)."""
    if not SUMS.is_file():
        return {}
    pairs = (line.split() for line in SUMS.read_text().splitlines() if line.strip())
    return {name: sha for sha, name in pairs}


def shipped_speeds() -> list[float]:
    """Speed factors with a shipped generator, increasing."""
    return sorted(float(name[len("split-") : -len("x.pt")]) for name in checksums())


def pretrained_checkpoint(speed: float) -> Path:
    """The shipped generator for scans at `speed` (within 2 %); CheckpointError if none is shipped
    for that speed, or its file is missing or not the published one."""
    speeds = shipped_speeds()
    match = [s for s in speeds if abs(s - float(speed)) <= SPEED_RTOL * s]
    if not match:
        have = ", ".join(speed_label(s) for s in speeds) or "none"
        raise CheckpointError(
            f"No pretrained model ships for {speed_label(speed)} scans (shipped: {have}); pass --model "
            "with a checkpoint trained for that speed."
        )
    path = FOLDER / _name(match[0])
    if not path.is_file() or sha256_file(path) != checksums()[path.name]:
        raise CheckpointError(
            f"The pretrained model {path} is missing or changed since it was published; reinstall wbs-accel."
        )
    return path


def nearest_checkpoint(speed: float) -> Path:
    """The shipped generator whose speed is closest to `speed` (ties: the slower one), to start
    training from (`train.init: pretrained`); CheckpointError when nothing ships or a file changed."""
    speeds = shipped_speeds()
    if not speeds:
        raise CheckpointError("No pretrained model ships with this installation; use train.init: scratch.")
    return pretrained_checkpoint(min(speeds, key=lambda s: (abs(s - float(speed)), s)))


def publish(checkpoint: str | os.PathLike) -> Path:
    """Copy a training checkpoint's generator and meta (nothing else) into this folder under
    split-<s>x.pt and record its sha256 in SHA256SUMS; returns the new file."""
    state = load_checkpoint(checkpoint)
    meta = state["meta"]
    if meta.get("mode") != "split":
        raise CheckpointError(f"{checkpoint} is a {meta.get('mode')} model; the shipped models are split-mode.")
    path = save_checkpoint(FOLDER / _name(meta["speed_factor"]), {"meta": meta, "generator": state["generator"]})
    sums = {**checksums(), path.name: sha256_file(path)}
    write_text("".join(f"{sha}  {name}\n" for name, sha in sorted(sums.items())), SUMS)
    return path
