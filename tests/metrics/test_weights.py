"""Pretrained-weights policy: torch-cache lookup, checksums, clear errors, offline loading."""

from __future__ import annotations

import shutil
import urllib.request

import pytest
import torch
import torchvision
from fixtures_weights import fake_torch_home, random_vgg_state_dict  # noqa: F401  (pytest fixture)

from wbslib.core.errors import MissingWeightsError, ParamsError
from wbslib.core.fileio import sha256_file
from wbslib.metrics import weights as W


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt through torch.hub or urllib fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_standard_file_names_urls_and_prefixes():
    assert {k: (v.filename, v.sha256_prefix) for k, v in W.WEIGHTS.items()} == {
        "vgg16": ("vgg16-397923af.pth", "397923af"),
        "vgg19": ("vgg19-dcbb9e9d.pth", "dcbb9e9d"),
        "inception": ("weights-inception-2015-12-05-6726825d.pth", "6726825d"),
    }
    for name in ("vgg16", "vgg19"):
        assert W.WEIGHTS[name].url == getattr(torchvision.models, f"VGG{name[3:]}_Weights").IMAGENET1K_V1.url
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert W.WEIGHTS["inception"].url == URL_INCEPTION_V3


@pytest.mark.parametrize("name", ["vgg16", "vgg19", "inception"])
def test_missing_weights_name_file_url_and_folder(name):
    entry = W.WEIGHTS[name]
    with pytest.raises(MissingWeightsError) as info:
        W.weights_path(name)
    message = str(info.value)
    assert entry.filename in message and entry.url in message and str(W.checkpoints_dir()) in message
    assert not W.available(name)


def test_checkpoints_dir_follows_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert W.checkpoints_dir() == tmp_path / "th" / "hub" / "checkpoints"


def test_unknown_backbone_is_a_params_error():
    with pytest.raises(ParamsError, match="alexnet"):
        W.weights_path("alexnet")


def test_checksum_is_checked_unless_switched_off(fake_torch_home, monkeypatch):
    assert W.available("vgg19")  # the fixture switched the check off
    monkeypatch.delenv(W.SKIP_CHECKSUM_ENV)
    with pytest.raises(MissingWeightsError, match="does not start with dcbb9e9d"):
        W.weights_path("vgg19")
    assert not W.available("vgg19")
    monkeypatch.setenv(W.SKIP_CHECKSUM_ENV, "yes")  # only "1" switches it off
    assert not W.available("inception")


def test_matching_checksum_passes_and_a_changed_file_is_rechecked(fake_torch_home, monkeypatch):
    monkeypatch.delenv(W.SKIP_CHECKSUM_ENV)
    folder = fake_torch_home / "hub" / "checkpoints"
    source = folder / W.WEIGHTS["vgg19"].filename
    digest = sha256_file(source)
    entry = W.WeightsFile(f"vgg19-{digest[:8]}.pth", W.WEIGHTS["vgg19"].url, "test")
    monkeypatch.setitem(W.WEIGHTS, "vgg19", entry)
    shutil.copyfile(source, folder / entry.filename)
    assert W.weights_path("vgg19") == folder / entry.filename
    assert isinstance(W.load_vgg19_features(), torch.nn.Sequential)
    (folder / entry.filename).write_bytes(b"replaced by something else")
    with pytest.raises(MissingWeightsError, match=f"does not start with {digest[:8]}"):
        W.weights_path("vgg19")


def test_loaders_use_the_cached_file_and_never_the_network(fake_torch_home, no_network):
    file_state = torch.load(W.weights_path("vgg16"), weights_only=True)
    vgg16 = W.load_vgg16()
    assert isinstance(vgg16, torchvision.models.VGG) and not vgg16.training
    assert torch.equal(vgg16.features[28].weight, file_state["features.28.weight"])
    assert not any(p.requires_grad for p in vgg16.parameters())
    feats = W.load_vgg19_features()
    vgg19_file = torch.load(W.weights_path("vgg19"), weights_only=True)
    assert len(feats) == 37 and torch.equal(feats[34].weight, vgg19_file["features.34.weight"])
    with torch.no_grad():
        assert feats(torch.rand(1, 3, 32, 32)).shape == (1, 512, 1, 1)


@pytest.mark.parametrize(
    "content,match", [("truncated", "cannot be read"), ("alien", "do not fit"), ("tensor", "no state dict")]
)
def test_unreadable_or_foreign_weights(tmp_path, monkeypatch, content, match):
    folder = tmp_path / "th" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv(W.SKIP_CHECKSUM_ENV, "1")
    path = folder / W.WEIGHTS["vgg16"].filename
    if content == "truncated":
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif content == "alien":
        torch.save({"conv.weight": torch.zeros(2)}, path)
    else:
        torch.save(torch.zeros(3), path)
    with pytest.raises(MissingWeightsError, match=match):
        W.load_vgg16()


def test_fixture_weights_are_seeded():
    a = random_vgg_state_dict(torchvision.models.vgg16, 7)
    b = random_vgg_state_dict(torchvision.models.vgg16, 7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["classifier.0.weight"].shape == (4096, 25088) and a["classifier.0.weight"].stride() == (0, 0)


def test_fake_torch_home_serves_torchmetrics_lpips_and_fid_offline(fake_torch_home, no_network):
    """The fixture is what other modules' tests rely on: torchmetrics must load from it, offline."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    lpips = LearnedPerceptualImagePatchSimilarity(net_type="vgg")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.isfinite(lpips(x, x.flip(-1)))
    fid = FrechetInceptionDistance(feature=64, feature_extractor_weights_path=str(W.weights_path("inception")))
    fid.update(torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8), real=True)
