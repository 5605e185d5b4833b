"""The one definition of the pixel metrics: PSNR, SSIM, NRMSE and L1 of an image against a reference.

Images are (views, rows, cols) counts (1x-equivalent), compared in float64. Every metric is
computed per view and then averaged over the views present in both arrays (a view that is NaN in
either, or all zero in the reference, is skipped), so a two-view study and a one-view study give
comparable numbers. PSNR/SSIM/NRMSE follow skimage: data_range of each view = max of the reference
view; SSIM with an 11 × 11 Gaussian window (σ = 1.5) and population covariances (Wang et al.
2004); NRMSE = ‖reference − image‖ / ‖reference‖; L1 = mean |image − reference| (counts/pixel).
Training validation, the Gaussian σ choice and Table 4 all call these, so they report one number
for one image pair.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import (
    normalized_root_mse,
    peak_signal_noise_ratio,
    structural_similarity,
)

from wbslib.core.errors import MetricInputError

METRICS = ("psnr", "ssim", "nrmse", "l1")


def _views(image: np.ndarray, reference: np.ndarray):
    """(image view, reference view) float64 pairs that both hold and the reference has counts."""
    for img, ref in zip(np.asarray(image, np.float64), np.asarray(reference, np.float64)):
        if np.isfinite(img).all() and np.isfinite(ref).all() and ref.max() > 0:
            yield img, ref


def check_pair(image: np.ndarray, reference: np.ndarray, what: str) -> None:
    if image.ndim != 3 or image.shape != reference.shape:
        raise MetricInputError(
            f"{what}: image of shape {image.shape} cannot be compared with reference of shape "
            f"{reference.shape}; pass (views, rows, cols) arrays of one study on one grid."
        )


def pixel_metrics(image: np.ndarray, reference: np.ndarray, what: str = "image") -> dict[str, float]:
    """PSNR (dB), SSIM and NRMSE of `image` against `reference`, each the mean over views present in both.

    float64; data_range of each view = max of the reference view; a view that is NaN in either
    array, or all zero in the reference, is skipped; all three NaN when no view is left.
    """
    check_pair(image, reference, what)
    values: dict[str, list[float]] = {"psnr": [], "ssim": [], "nrmse": []}
    for img, ref in _views(image, reference):
        data_range = float(ref.max())
        with np.errstate(divide="ignore"):
            values["psnr"].append(float(peak_signal_noise_ratio(ref, img, data_range=data_range)))
        values["ssim"].append(
            float(
                structural_similarity(
                    ref, img, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
                )
            )
        )
        values["nrmse"].append(float(normalized_root_mse(ref, img, normalization="euclidean")))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in values.items()}


def nrmse(image: np.ndarray, reference: np.ndarray) -> float:
    """‖reference − image‖ / ‖reference‖ per view, mean over the views present (NaN when none)."""
    check_pair(np.asarray(image), np.asarray(reference), "image")
    values = [normalized_root_mse(ref, img, normalization="euclidean") for img, ref in _views(image, reference)]
    return float(np.mean(values)) if values else float("nan")


def l1(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean |image − reference| (counts per pixel) per view, mean over the views present."""
    check_pair(np.asarray(image), np.asarray(reference), "image")
    values = [np.abs(img - ref).mean() for img, ref in _views(image, reference)]
    return float(np.mean(values)) if values else float("nan")
