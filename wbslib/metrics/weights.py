"""Pretrained backbones (VGG16, VGG19, FID Inception): find them in the torch cache, verify, load offline.

No package ships these weights and this project never downloads them. They are looked up in the
standard torch cache, `torch.hub.get_dir()/checkpoints/` (= `$TORCH_HOME/hub/checkpoints/`,
default `~/.cache/torch/hub/checkpoints/`), under the file names torchvision, torchmetrics and
torch-fidelity use, so one copy serves this library, LPIPS (torchmetrics, VGG16) and FID
(torchmetrics/torch-fidelity, Inception):

    vgg16      vgg16-397923af.pth                          https://download.pytorch.org/models/
    vgg19      vgg19-dcbb9e9d.pth                          https://download.pytorch.org/models/
    inception  weights-inception-2015-12-05-6726825d.pth   torch-fidelity v0.2.0 release

Checksum: the hex part of each file name is the start of the file's sha256 (torch.hub's
convention); a file whose sha256 does not start with it is refused. Setting the environment
variable `WBS_SKIP_WEIGHT_CHECKSUM=1` skips that check — for tests that write randomly
initialised weights under these names only, never for real results.

Loading never goes through torch.hub or torchvision's `weights=` machinery (which would try the
network): the state dict is read from the file with `torch.load(weights_only=True)` and put into
a torchvision model built without weights.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from wbslib.core.errors import MissingWeightsError, ParamsError
from wbslib.core.fileio import sha256_file

SKIP_CHECKSUM_ENV = "WBS_SKIP_WEIGHT_CHECKSUM"


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained state dict: cache file name, official download URL, who uses it."""

    filename: str
    url: str
    used_for: str

    @property
    def sha256_prefix(self) -> str:
        """The hex digits after the last '-' of the file name: the start of the file's sha256."""
        return re.search(r"-([0-9a-f]{8,})\.pth$", self.filename).group(1)


WEIGHTS = {
    "vgg16": WeightsFile(
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "LPIPS (torchmetrics, VGG16 backbone)",
    ),
    "vgg19": WeightsFile(
        "vgg19-dcbb9e9d.pth",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        "the perceptual loss (VGG19 conv5_4 features)",
    ),
    "inception": WeightsFile(
        "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "FID (torchmetrics/torch-fidelity Inception v3)",
    ),
}

_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) of files whose sha256 matched


def checkpoints_dir() -> Path:
    """The folder the weights must be in: torch.hub.get_dir()/checkpoints ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _entry(name: str) -> WeightsFile:
    if name not in WEIGHTS:
        raise ParamsError(f"Unknown pretrained backbone {name!r}; use one of {sorted(WEIGHTS)}.")
    return WEIGHTS[name]


def weights_path(name: str) -> Path:
    """Path of the verified weights file for 'vgg16', 'vgg19' or 'inception'.

    MissingWeightsError (naming the file, its download URL and the folder) if it is absent or its
    sha256 does not start with the prefix in its name (unless WBS_SKIP_WEIGHT_CHECKSUM=1).
    """
    entry = _entry(name)
    folder = checkpoints_dir()
    path = folder / entry.filename
    if not path.is_file():
        raise MissingWeightsError(
            f"Pretrained {name} weights {entry.filename} (for {entry.used_for}) are not in {folder}; download "
            f"{entry.url} on a machine with internet and copy it into that folder (or point TORCH_HOME to "
            "a folder whose hub/checkpoints/ holds it)."
        )
    if os.environ.get(SKIP_CHECKSUM_ENV) == "1":
        return path
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = sha256_file(path)
        if not digest.startswith(entry.sha256_prefix):
            raise MissingWeightsError(
                f"Pretrained {name} weights {path} have sha256 {digest[:16]}…, which does not start with "
                f"{entry.sha256_prefix} (corrupt or a different file); download {entry.url} again into {folder}."
            )
        _verified.add(key)
    return path


def available(name: str) -> bool:
    """True when `weights_path(name)` finds a verified file (for reports: 'not available (weights missing)')."""
    try:
        weights_path(name)
    except MissingWeightsError:
        return False
    return True


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The state dict of a verified weights file, read on the CPU without any network access.

    Files in torch's zip format are memory-mapped, so only the tensors used are read from disk.
    """
    path = weights_path(name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # truncated zip, unpickling error, ...
        raise MissingWeightsError(
            f"Pretrained {name} weights {path} cannot be read ({type(exc).__name__}); download "
            f"{WEIGHTS[name].url} again into {checkpoints_dir()}."
        ) from exc
    if not isinstance(state, dict):
        raise MissingWeightsError(
            f"Pretrained {name} weights {path} hold no state dict; download "
            f"{WEIGHTS[name].url} again into {checkpoints_dir()}."
        )
    return state


def _load_vgg(name: str, builder) -> torchvision.models.VGG:
    """A torchvision VGG built on the meta device (no init cost) with the file's tensors assigned."""
    state = load_state_dict(name)
    with torch.device("meta"):
        model = builder(weights=None)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise MissingWeightsError(
            f"Pretrained {name} weights {weights_path(name)} do not fit torchvision's {name} "
            f"({str(exc).splitlines()[0][:200]}); download {WEIGHTS[name].url} again into "
            f"{checkpoints_dir()}."
        ) from exc
    return model.eval().requires_grad_(False)


def load_vgg16() -> torchvision.models.VGG:
    """torchvision VGG16 with the ImageNet weights from the torch cache; eval mode, frozen."""
    return _load_vgg("vgg16", torchvision.models.vgg16)


def load_vgg19() -> torchvision.models.VGG:
    """torchvision VGG19 with the ImageNet weights from the torch cache; eval mode, frozen."""
    return _load_vgg("vgg19", torchvision.models.vgg19)


def load_vgg19_features() -> nn.Sequential:
    """VGG19's convolutional part (`features`, 37 layers; index 34 = conv5_4, 35 its ReLU), frozen."""
    return load_vgg19().features
