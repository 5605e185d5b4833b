"""Perceptual metrics against the 1x standard: LPIPS (torchmetrics, VGG16 backbone as in the paper)
and a per-study FID over patches of the whole-body image (torchmetrics, Inception features).

Count mapping (both metrics): each view is divided by the 99.5th percentile of the 1x image's
counts of that view (`display_scale`, the same scale for the image and its 1x reference, so count
differences count), clipped to [0, 1]; LPIPS takes that × 2 − 1 ([-1, 1]), FID takes [0, 1]
(torchmetrics quantises to 8 bits). Grey values are repeated over the 3 colour channels.

LPIPS: one value per view over the whole view (the network is convolutional), averaged over the
views present. FID per study: 64 × 64 patches at stride 16 whose area is ≥ 50 % body (body mask of
the 1x image, `preprocess.body_mask`), both views pooled, the same patch positions in the image
and in its 1x reference; Inception pool features of dimension 64 (`FID_FEATURE`): a whole-body
study gives ~900 patches, ≈ 14 per feature dimension, so both 64 × 64 covariances are well
conditioned, where 192 (≈ 5 per dimension) or 2048 (singular) would not be. FID is clipped at 0
(round-off). Cost per study (1x + 6 groups, 880 patches): 0.6 s on an H200; on one CPU core
≈ 13 s per image for LPIPS and ≈ 45 s for FID — on CPU pass stride 32 (≈ 4× fewer patches).

Weights policy (docs/DESIGN.md): backbones load only from the local torch cache through
`wbslib.metrics.weights`; any attempt by torchvision or torch-fidelity to download is refused. Without the
weights a metric is NaN and `metric_status()` says "not available (weights missing)" and how to
enable it.
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
import pandas as pd
import torch

from wbslib.core.errors import MissingWeightsError
from wbslib.core.masks import body_mask
from wbslib.metrics.weights import weights_path

SCALE_PERCENTILE = 99.5
FID_FEATURE = 64
FID_PATCH = 64
FID_STRIDE = 16
FID_MIN_BODY = 0.5
BACKBONES = {"lpips": "vgg16", "fid": "inception"}


def _refuse_download(url, dst, *args, **kwargs):
    raise MissingWeightsError(
        f"Pretrained weights {url} are not in the torch cache (looked for {dst}); "
        "downloads are disabled — copy the file there by hand."
    )


@contextmanager
def offline_weights():
    """Within this block torch.hub (used by torchvision and torch-fidelity) cannot download."""
    with mock.patch.object(torch.hub, "download_url_to_file", _refuse_download):
        yield


def load_lpips(device: str = "cpu"):
    """torchmetrics LPIPS with the VGG16 backbone from the local torch cache (MissingWeightsError if absent)."""
    weights_path(BACKBONES["lpips"])
    with offline_weights():
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        metric = LearnedPerceptualImagePatchSimilarity(net_type="vgg", reduction="none")
    return metric.to(device).eval()


def load_fid(device: str = "cpu", feature: int = FID_FEATURE):
    """torchmetrics FID (Inception `feature` dims) from the local torch cache; the real (1x) features
    are kept across `reset()` until `set_reference`. MissingWeightsError if the weights are absent."""
    path = weights_path(BACKBONES["fid"])
    with offline_weights():
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(
            feature=feature, normalize=True, reset_real_features=False, feature_extractor_weights_path=str(path)
        )
    return metric.to(device).eval()


def metric_status() -> pd.DataFrame:
    """Which perceptual metrics can run here: metric, backbone, available, status (with the fix)."""
    rows = []
    for metric, backbone in BACKBONES.items():
        try:
            weights_path(backbone)
            rows.append((metric, backbone, True, "available"))
        except MissingWeightsError as exc:
            rows.append((metric, backbone, False, f"not available (weights missing): {exc}"))
    return pd.DataFrame(rows, columns=["metric", "backbone", "available", "status"])


def display_scale(reference: np.ndarray) -> np.ndarray:
    """Per-view 99.5th percentile of the 1x reference counts (NaN for a missing or empty view)."""
    out = np.full(reference.shape[0], np.nan)
    for v, view in enumerate(reference):
        if np.isfinite(view).all():
            top = np.percentile(view, SCALE_PERCENTILE)
            out[v] = top if top > 0 else np.nan
    return out


def to_unit(view: np.ndarray, scale: float) -> np.ndarray:
    """Counts of one view mapped to [0, 1]: counts / scale, clipped (float32)."""
    return np.clip(np.asarray(view, np.float64) / scale, 0.0, 1.0).astype(np.float32)


def _rgb(unit_views: list[np.ndarray], device: str) -> torch.Tensor:
    return torch.from_numpy(np.stack(unit_views))[:, None].expand(-1, 3, -1, -1).contiguous().to(device)


def lpips_value(metric, image: np.ndarray, reference: np.ndarray, scale: np.ndarray, device: str = "cpu") -> float:
    """LPIPS of `image` against `reference` ((2, rows, cols) counts), mean over views present in both."""
    views = [v for v in range(image.shape[0]) if np.isfinite(scale[v]) and np.isfinite(image[v]).all()]
    if not views:
        return float("nan")
    img = _rgb([to_unit(image[v], scale[v]) * 2 - 1 for v in views], device)
    ref = _rgb([to_unit(reference[v], scale[v]) * 2 - 1 for v in views], device)
    metric.reset()
    with torch.inference_mode():
        metric.update(img, ref)
        value = float(metric.compute().reshape(-1).mean())
    metric.reset()
    return value


def patch_corners(
    body: np.ndarray, patch: int = FID_PATCH, stride: int = FID_STRIDE, min_body: float = FID_MIN_BODY
) -> np.ndarray:
    """(view, row, col) top-left corners of `patch`² windows at `stride` holding ≥ `min_body` body."""
    corners = []
    for v, mask in enumerate(body):
        frac = np.cumsum(np.cumsum(np.pad(mask.astype(np.float64), ((1, 0), (1, 0))), 0), 1)
        for r in range(0, mask.shape[0] - patch + 1, stride):
            for c in range(0, mask.shape[1] - patch + 1, stride):
                area = frac[r + patch, c + patch] - frac[r, c + patch] - frac[r + patch, c] + frac[r, c]
                if area >= min_body * patch * patch:
                    corners.append((v, r, c))
    return np.array(corners, dtype=int).reshape(-1, 3)


def patches(unit: np.ndarray, corners: np.ndarray, patch: int = FID_PATCH) -> np.ndarray:
    """Stack of `patch`² windows (N, patch, patch) cut from [0, 1] views (2, rows, cols)."""
    return (
        np.stack([unit[v, r : r + patch, c : c + patch] for v, r, c in corners])
        if len(corners)
        else np.zeros((0, patch, patch), np.float32)
    )


class PerceptualScorer:
    """LPIPS and per-study FID of images against one study's 1x image at a time.

    A metric whose backbone is missing is NaN and its reason is in `status`; a metric switched off
    (`lpips=False`) is absent from `score`. `batch` patches go through Inception at once.
    """

    def __init__(
        self,
        *,
        lpips: bool = True,
        fid: bool = True,
        device: str = "cpu",
        fid_feature: int = FID_FEATURE,
        patch: int = FID_PATCH,
        stride: int = FID_STRIDE,
        batch: int = 32,
    ):
        self.device, self.patch, self.stride, self.batch = device, patch, stride, batch
        self.status: dict[str, str] = {}
        self._lpips = self._load("lpips", lpips, lambda: load_lpips(device))
        self._fid = self._load("fid", fid, lambda: load_fid(device, fid_feature))
        self._reference = None

    def _load(self, name: str, wanted: bool, loader):
        if not wanted:
            return None
        try:
            metric = loader()
            self.status[name] = "available"
            return metric
        except MissingWeightsError as exc:
            self.status[name] = f"not available (weights missing): {exc}"
            return None

    def _fid_update(self, unit: np.ndarray, real: bool) -> None:
        tiles = patches(unit, self._corners, self.patch)
        for start in range(0, len(tiles), self.batch):
            chunk = torch.from_numpy(np.ascontiguousarray(tiles[start : start + self.batch]))
            self._fid.update(chunk[:, None].expand(-1, 3, -1, -1).to(self.device), real=real)

    def _unit(self, counts: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                to_unit(np.nan_to_num(v), s) if np.isfinite(s) else np.zeros(v.shape, np.float32)
                for v, s in zip(counts, self._scale)
            ]
        )

    def set_reference(self, reference: np.ndarray) -> None:
        """Use this (2, rows, cols) 1x image as the reference of the following `score` calls."""
        self._reference, self._scale = reference, display_scale(reference)
        if self._fid is None:
            return
        valid = np.isfinite(self._scale)[:, None, None]
        body = np.stack([body_mask(v) for v in np.nan_to_num(reference)]) & valid
        self._corners = patch_corners(body, self.patch, self.stride)
        from torchmetrics import Metric

        Metric.reset(self._fid)  # the base reset also forgets the previous study's real features
        if len(self._corners) >= 2:
            with torch.inference_mode():
                self._fid_update(self._unit(reference), real=True)

    def _fid_value(self, image: np.ndarray) -> float:
        if self._fid is None or len(self._corners) < 2:
            return float("nan")
        if not all(np.isfinite(image[v]).all() for v in np.unique(self._corners[:, 0])):
            return float("nan")
        self._fid.reset()
        with torch.inference_mode():
            self._fid_update(self._unit(image), real=False)
            return max(0.0, float(self._fid.compute()))  # round-off can give -1e-12

    def score(self, image: np.ndarray) -> dict[str, float]:
        """{'lpips': …, 'fid': …} of `image` against the reference: NaN where the backbone is missing,
        and FID NaN when `image` lacks a view the reference patches come from."""
        out = {}
        if "lpips" in self.status:
            out["lpips"] = (
                lpips_value(self._lpips, image, self._reference, self._scale, self.device)
                if self._lpips is not None
                else float("nan")
            )
        if "fid" in self.status:
            out["fid"] = self._fid_value(image)
        return out
