"""Operations on photon counts that every stage shares: speed factors, binomial thinning, the
Gaussian counts filter and the model's count scaling.

The model sees `counts · s / C` (s the acquisition's speed factor, C a constant stored in the
checkpoint); its output `· C` is in 1x-equivalent counts, clamped at 0 (negative counts are
unphysical) and never rescaled to match a total (docs/DESIGN.md, "Counts are sacred").
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from wbslib.core.errors import InvalidCountsError, ParamsError


def check_speed(speed_factor, what: str = "speed factor") -> float:
    """`speed_factor` as float; `ParamsError` unless it is a finite number ≥ 1."""
    try:
        s = float(speed_factor)
    except (TypeError, ValueError):
        s = math.nan
    if not (math.isfinite(s) and s >= 1.0):
        raise ParamsError(
            f"The {what} {speed_factor!r} is not a number ≥ 1; a scan can only be as fast as or "
            "faster than the standard 20 cm/min (use e.g. 1, 2, 2.5, 3)."
        )
    return s


def thin(counts: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """Binomial thinning: each count kept with probability 1/s; same integer dtype and shape.

    Mean N/s and variance N/s·(1 − 1/s) per pixel, never above the input. `counts` must be a
    non-negative integer array (`InvalidCountsError` otherwise); `s` ≥ 1 (`ParamsError`).
    """
    s = check_speed(s)
    arr = np.asarray(counts)
    if arr.dtype.kind not in "iu":
        raise InvalidCountsError(
            f"Counts to thin are of type {arr.dtype}; pass integer photon counts "
            "(e.g. a scan's counts cast with .astype(np.int32))."
        )
    if arr.size and arr.min() < 0:
        raise InvalidCountsError(
            f"Counts to thin hold negative values (minimum {arr.min()}); photon counts must be ≥ 0."
        )
    return rng.binomial(arr, 1.0 / s).astype(arr.dtype, copy=False)


def gaussian_counts(counts: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-filtered counts (σ in pixels, per view, 'reflect' edges so totals are kept)."""
    out = np.asarray(counts, dtype=np.float32).copy()
    for i, view in enumerate(out):
        if np.isfinite(view).all() and sigma_px > 0:
            out[i] = ndimage.gaussian_filter(view.astype(np.float64), sigma_px, mode="reflect")
    return out


def to_model_input(counts: np.ndarray, speed_factor: float, scale: float) -> np.ndarray:
    """Counts of an acquisition at `speed_factor` → model input `counts · s / C` (float32)."""
    return (np.asarray(counts, np.float32) * np.float32(speed_factor / scale)).astype(np.float32)


def from_model_output(values: np.ndarray, scale: float) -> np.ndarray:
    """Model output → 1x-equivalent counts (`· C`), clamped at 0; totals are not rescaled afterwards."""
    return np.clip(np.asarray(values, np.float32) * np.float32(scale), 0.0, None).astype(np.float32)
