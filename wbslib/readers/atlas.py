"""A normal database of lesion-candidate features by body position, as bone-scan CAD uses one.

Normal anatomy makes hot spots too (sternum, sternoclavicular joints, shoulders, knees); what
marks a metastasis is a spot hotter or more focal than the *same place* is in patients without
one there. The atlas holds, per view (ANT, POST) and per cell of a body grid — row fraction
(head 0 → feet 1) in `ROW_BINS` and signed lateral fraction (−1.2 … 1.2 half widths) in
`COL_BINS` — the mean and SD of each feature in `ATLAS_FEATURES` over the training candidates
that are not on a malignant lesion. Cells are smoothed (Gaussian, 1 cell) and shrunk towards the
view's overall mean and SD where they hold few candidates (weight n / (n + `SHRINK`)).
A candidate's z-scores against its cell are extra features of the lesion observer.

Coarser than the cells, `REGIONS` split the body along its length into head and neck, chest,
abdomen and pelvis, and legs (edges `REGION_EDGES` in row fraction): the lesion observer's score is
calibrated per region (`wbslib.readers.observer`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from wbslib.readers.candidates import FEATURES

ATLAS_FEATURES = ("contrast_small", "contrast_mid", "focality", "ridge", "neighbour_excess", "asymmetry", "hotness")
ROW_BINS, COL_BINS = 48, 17  # an odd count: the midline (spine, sternum) lies in the middle of a cell
LATERAL_RANGE = 1.2
SHRINK = 5.0
MIN_SD = 1e-2
REGIONS = ("head and neck", "chest", "abdomen and pelvis", "legs")
REGION_EDGES = (0.12, 0.45, 0.62)  # row fraction where the next region starts
_COLUMNS = [FEATURES.index(f) for f in ATLAS_FEATURES]
_ROW, _LATERAL = FEATURES.index("row_fraction"), FEATURES.index("lateral_fraction")


def cell_index(row_fraction: np.ndarray, lateral_fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row bin, column bin) of body positions given as row fraction (0 top … 1 bottom of the body)
    and signed lateral fraction (body half widths from the midline)."""
    r = np.clip((np.asarray(row_fraction) * ROW_BINS).astype(np.int64), 0, ROW_BINS - 1)
    c = np.clip(
        ((np.asarray(lateral_fraction) + LATERAL_RANGE) / (2 * LATERAL_RANGE) * COL_BINS).astype(np.int64),
        0,
        COL_BINS - 1,
    )
    return r, c


def cells(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row bin, column bin) of each candidate (features (K, len(FEATURES)))."""
    return cell_index(features[:, _ROW], features[:, _LATERAL])


def regions(features: np.ndarray) -> np.ndarray:
    """Index into `REGIONS` of each candidate (features (K, len(FEATURES))), from its row fraction."""
    return np.searchsorted(np.asarray(REGION_EDGES), features[:, _ROW], side="right")


def _smooth(a: np.ndarray) -> np.ndarray:
    return ndimage.gaussian_filter(a, 1.0, mode="nearest")


def cell_statistics(
    values: np.ndarray, r: np.ndarray, c: np.ndarray, views: np.ndarray, smooth: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD, arrays (2 views, F, ROW_BINS, COL_BINS), of `values` (K, F) in their cells
    (r, c) per view (0 ANT / 1 POST; a view without values uses all), smoothed over 1 cell (unless
    `smooth` is False: the smoothing adds neighbouring cells' mean differences to the variance)
    and shrunk towards the view's overall mean and SD where a cell holds few values."""
    values = np.asarray(values, np.float64)
    mean = np.zeros((2, values.shape[1], ROW_BINS, COL_BINS))
    sd = np.ones_like(mean)
    spread = _smooth if smooth else (lambda a: a)
    for v in (0, 1):
        sel = views == v
        if not sel.any():
            sel = np.ones(len(views), bool)
        flat = r[sel] * COL_BINS + c[sel]
        n = spread(np.bincount(flat, minlength=ROW_BINS * COL_BINS).reshape(ROW_BINS, COL_BINS).astype(float)) + 1e-6
        weight = n / (n + SHRINK)
        for k in range(values.shape[1]):
            x = values[sel, k]
            total = np.bincount(flat, weights=x, minlength=ROW_BINS * COL_BINS).reshape(ROW_BINS, COL_BINS)
            squares = np.bincount(flat, weights=x**2, minlength=ROW_BINS * COL_BINS).reshape(ROW_BINS, COL_BINS)
            m = spread(total) / n
            var = np.maximum(spread(squares) / n - m**2, 0.0)
            mean[v, k] = weight * m + (1 - weight) * x.mean()
            sd[v, k] = np.maximum(np.sqrt(weight * var + (1 - weight) * x.var()), MIN_SD)
    return mean, sd


def fit_atlas(features: np.ndarray, views: np.ndarray) -> dict[str, np.ndarray]:
    """{'mean', 'sd'}: arrays (2 views, len(ATLAS_FEATURES), ROW_BINS, COL_BINS) from normal candidates
    (features (K, len(FEATURES)), views (K,) 0 ANT / 1 POST)."""
    mean, sd = cell_statistics(features[:, _COLUMNS], *cells(features), np.asarray(views))
    return {"mean": mean, "sd": sd}


def atlas_z(atlas: dict[str, np.ndarray], features: np.ndarray, views: np.ndarray) -> np.ndarray:
    """z-scores (K, len(ATLAS_FEATURES)) of each candidate's features against its view and cell."""
    r, c = cells(features)
    v = np.asarray(views, np.int64)
    mean = np.asarray(atlas["mean"])[v, :, r, c]
    sd = np.asarray(atlas["sd"])[v, :, r, c]
    return (features[:, _COLUMNS] - mean) / sd
