"""Fixture `fake_torch_home`: randomly initialised VGG16/VGG19/Inception weights in a temporary torch cache.

Use it in any test that needs the pretrained-weights code paths (perceptual loss, LPIPS, FID):

    from fixtures_weights import fake_torch_home  # noqa: F401  (pytest finds it by name)

    def test_lpips_runs(fake_torch_home): ...

For that test only, `$TORCH_HOME` points to `<tmp_path>/torch` whose `hub/checkpoints/` holds
`vgg16-397923af.pth`, `vgg19-dcbb9e9d.pth` and `weights-inception-2015-12-05-6726825d.pth`
(the names torchvision, torchmetrics and torch-fidelity look for, so their loaders find them without
the network), and `WBS_SKIP_WEIGHT_CHECKSUM=1` switches off the checksum check (random weights
cannot match the real files' sha256). The weights are random, so metric *values* are meaningless;
the point is that the real loading and metric code runs end to end.

The files are generated once per test session from fixed seeds (≈ 240 MB, a few seconds) in
pytest's temporary folder and linked into each test's cache. VGG convolutions get torchvision's
own init (Kaiming normal, fan_out, zero bias); the classifier layers, which no metric or loss
reads, are stored as stride-0 broadcast zeros so they take a few bytes instead of 0.5 GB per file.
The Inception file is the state dict of torch-fidelity's `FeatureExtractorInceptionV3` (PyTorch's
default init, BatchNorm at running mean 0 / variance 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from wbslib.metrics.weights import SKIP_CHECKSUM_ENV, WEIGHTS

SEED = 20240  # fixed: the same random weights in every session
_store: dict[str, Path] = {}  # session cache: folder holding the generated files


def random_vgg_state_dict(builder, seed: int) -> dict[str, torch.Tensor]:
    """A full torchvision VGG state dict: seeded Kaiming convs, broadcast-zero classifier."""
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in builder(weights=None).state_dict().items()}
    state = {}
    for key, shape in shapes.items():
        if key.startswith("features.") and key.endswith(".weight"):
            w = torch.empty(shape)
            torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=gen)
            state[key] = w
        elif key.startswith("features."):
            state[key] = torch.zeros(shape)
        else:
            state[key] = torch.zeros(1).expand(shape)
    return state


def random_inception_state_dict(seed: int, scratch: Path) -> dict[str, torch.Tensor]:
    """The state dict of torch-fidelity's FID Inception v3, randomly initialised from `seed`."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class RandomInception(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    empty = scratch / "empty-state-dict.pth"
    torch.save({}, empty)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RandomInception("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    empty.unlink()
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def write_random_weights(folder: Path, seed: int = SEED) -> Path:
    """Write the three random state dicts under their standard file names into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(random_vgg_state_dict(torchvision.models.vgg16, seed), folder / WEIGHTS["vgg16"].filename)
    torch.save(random_vgg_state_dict(torchvision.models.vgg19, seed + 1), folder / WEIGHTS["vgg19"].filename)
    torch.save(random_inception_state_dict(seed + 2, folder), folder / WEIGHTS["inception"].filename)
    return folder


def _random_weights_folder(tmp_path_factory) -> Path:
    folder = _store.get("folder")
    if folder is None or not all((folder / w.filename).is_file() for w in WEIGHTS.values()):
        folder = write_random_weights(tmp_path_factory.mktemp("random-weights"))
        _store["folder"] = folder
    return folder


@pytest.fixture
def fake_torch_home(tmp_path, monkeypatch, tmp_path_factory) -> Path:
    """$TORCH_HOME with random VGG16/VGG19/Inception weights and the checksum check off (this test only)."""
    home = tmp_path / "torch"
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for entry in WEIGHTS.values():
        (checkpoints / entry.filename).symlink_to(_random_weights_folder(tmp_path_factory) / entry.filename)
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv(SKIP_CHECKSUM_ENV, "1")
    return home
