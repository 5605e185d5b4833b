"""wbslib.metrics.perceptual: LPIPS and per-study FID end to end with random backbone weights, the
count mapping, the patch grid, and the weights policy (missing → NaN + status, never a download).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fixtures_weights import fake_torch_home  # noqa: F401  (pytest finds it by name)

from wbslib.core.errors import MissingWeightsError
from wbslib.core.repro import rng
from wbslib.metrics.measure import measure_cohort
from wbslib.metrics.perceptual import (
    PerceptualScorer,
    display_scale,
    metric_status,
    offline_weights,
    patch_corners,
    to_unit,
)
from wbslib.metrics.weights import weights_path

ROWS, COLS = 96, 48  # tiny views: 12 FID patches of 32² at stride 16 per view


def phantom() -> np.ndarray:
    """Two views of smooth 'bone' stripes on a body, zero outside it (1x-equivalent counts)."""
    r, c = np.mgrid[:ROWS, :COLS]
    view = 20.0 + 80.0 * (np.sin(r / 5.0) > 0.3) * (np.abs(c - COLS / 2) < 10)
    view[:, :4] = view[:, -4:] = 0.0
    return np.stack([view, view[:, ::-1]])


def noisy(image: np.ndarray, key: str, speed: float = 3.0) -> np.ndarray:
    return rng(11, key).poisson(image / speed) * speed


def test_display_scale_and_unit_mapping():
    image = np.stack([np.arange(1000.0).reshape(40, 25), np.zeros((40, 25))])
    scale = display_scale(image)
    assert scale[0] == pytest.approx(np.percentile(np.arange(1000.0), 99.5)) and np.isnan(scale[1])
    unit = to_unit(image[0], scale[0])
    assert unit.dtype == np.float32 and unit.min() == 0.0 and unit.max() == 1.0
    assert unit[0, 10] == pytest.approx(10.0 / scale[0])


def test_patch_corners_keep_body_patches_only():
    body = np.zeros((2, 64, 48), bool)
    body[0, :, :24] = True  # left half of ANT; POST empty
    # windows at rows 0, 16, 32 and cols 0, 16: col 0 holds 75 % body, col 16 holds 25 %
    corners = patch_corners(body, patch=32, stride=16, min_body=0.5)
    assert sorted(map(tuple, corners.tolist())) == [(0, r, 0) for r in (0, 16, 32)]
    corners = patch_corners(body, patch=32, stride=16, min_body=0.25)
    assert sorted(map(tuple, corners.tolist())) == [(0, r, c) for r in (0, 16, 32) for c in (0, 16)]


def test_missing_weights_give_nan_and_status_without_download(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    status = metric_status().set_index("metric")
    assert not status["available"].any()
    assert status.loc["lpips", "status"].startswith("not available (weights missing)")
    assert "vgg16-397923af.pth" in status.loc["lpips", "status"] and "hub/checkpoints" in status.loc["lpips", "status"]
    assert "weights-inception-2015-12-05-6726825d.pth" in status.loc["fid", "status"]
    scorer = PerceptualScorer(patch=32, stride=16)
    scorer.set_reference(phantom())
    values = scorer.score(noisy(phantom(), "a"))
    assert set(values) == {"lpips", "fid"} and all(np.isnan(v) for v in values.values())
    assert scorer.status["fid"].startswith("not available (weights missing)")


def test_offline_guard_refuses_downloads(tmp_path):
    with offline_weights(), pytest.raises(MissingWeightsError, match="downloads are disabled"):
        torch.hub.load_state_dict_from_url("https://example.invalid/w-0123abcd.pth", model_dir=str(tmp_path))


def test_lpips_and_fid_end_to_end_with_random_weights(fake_torch_home):
    torch.manual_seed(0)
    assert metric_status()["available"].all()
    scorer = PerceptualScorer(device="cpu", fid_feature=64, patch=32, stride=16)
    reference = phantom()
    scorer.set_reference(reference)
    strong_image = noisy(reference, "s", 6.0)
    same, mild, strong = (scorer.score(x) for x in (reference.copy(), noisy(reference, "m", 1.5), strong_image))
    for values in (same, mild, strong):
        assert np.isfinite(values["lpips"]) and np.isfinite(values["fid"])
    assert same["lpips"] == pytest.approx(0.0, abs=1e-6) and same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert 0 < mild["lpips"] < strong["lpips"] and 0 < mild["fid"] < strong["fid"]
    # the backbones are the cache's files, not torchvision's or torch-fidelity's own initialisation
    vgg = torch.load(weights_path("vgg16"), weights_only=True)
    assert torch.equal(scorer._lpips.net.net.slice1[0].weight, vgg["features.0.weight"])
    inception = torch.load(weights_path("inception"), weights_only=False)
    assert torch.equal(scorer._fid.inception.Conv2d_1a_3x3.conv.weight, inception["Conv2d_1a_3x3.conv.weight"])
    # a view missing in the image: LPIPS over the view left, FID undefined (its patches span both views)
    partial = strong_image.copy()
    partial[1] = np.nan
    values = scorer.score(partial)
    assert np.isfinite(values["lpips"]) and np.isnan(values["fid"])
    # a new reference replaces the old one: scoring that reference against itself is 0 again
    scorer.set_reference(strong_image)
    again = scorer.score(strong_image)
    assert again["fid"] == pytest.approx(0.0, abs=1e-6) and again["lpips"] == pytest.approx(0.0, abs=1e-6)


def test_measure_cohort_perceptual_columns(fake_torch_home, tmp_path):
    sets = pd.DataFrame(
        [{"study_id": "S1", "group": g, "speed_factor": s, "split": "test"} for g, s in (("1x", 1.0), ("3x", 3.0))]
    )

    def counts(row):
        return phantom() if row["group"] == "1x" else noisy(phantom(), "3x")

    tidy = measure_cohort(sets, tmp_path, device="cpu", fid_patch=32, fid_stride=16, load_counts=counts, progress=False)
    values = tidy.set_index(["group", "metric"])["value"]
    assert values[("3x", "lpips")] > 0 and values[("3x", "fid")] > 0
    assert ("1x", "lpips") not in values.index


@pytest.mark.gpu
def test_cuda_gives_the_cpu_values(fake_torch_home):
    reference, image = phantom(), noisy(phantom(), "gpu")
    values = {}
    for device in ("cpu", "cuda"):
        scorer = PerceptualScorer(device=device, patch=32, stride=16)
        scorer.set_reference(reference)
        values[device] = scorer.score(image)
    assert values["cuda"]["lpips"] == pytest.approx(values["cpu"]["lpips"], rel=0.02)
    assert values["cuda"]["fid"] == pytest.approx(values["cpu"]["fid"], rel=0.05)
