"""The null model of one image class: a z-map of the matched-filter contrast over bone.

At every bone pixel outside the bladder (`wbslib.readers.candidates` regions) the lesion-scale
contrast R_1.5 = G_1.5·I / G_6·I − 1 is standardised against the mean and SD of the same
contrast at the same body position (`wbslib.readers.atlas` cells: view, row fraction, lateral
fraction; not smoothed, each cell holds thousands of pixels) in the class's images of the
observer cohort — every bone pixel of every patient except within a metastasis's reach (radius
+ `EXCLUDE_MARGIN_PX`), so joints, benign spots and the injection site stay in the
background: z = (R − mean_cell) / SD_cell. For a class whose statistics are right, z over the
bone of held-out normal images has mean ≈ 0 and SD ≈ 1 (issue 12, T5); another class's
statistics fit less well (1x statistics applied to a 4x image, whose contrast is noisier, spread
its z wider; applied to the noise-free truth, narrower). The z-map is the per-class calibration
of the contrast the lesion observer's features are built on; the observer's decision variable is
`wbslib.readers.observer`'s, not the z-map's maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbslib.core.errors import ReaderStudyError
from wbslib.metrics.lesion import disk
from wbslib.readers.atlas import cell_index, cell_statistics
from wbslib.readers.candidates import SIGMA_LESION_PX, body_position, view_maps
from wbslib.readers.observer import lesion_column, malignant_lesions, spot_radius_px

EXCLUDE_MARGIN_PX = 3 * SIGMA_LESION_PX  # beyond a metastasis's edge its contrast fades within this
Z_MEAN_LIMIT = 0.1  # T5: |mean z| over held-out normal bone
Z_SD_RANGE = (0.9, 1.1)  # T5: SD of z over held-out normal bone


@dataclass(frozen=True)
class NullModel:
    """Per view and body cell, the mean and SD of the bone contrast in a class's images, metastases left out."""

    mean: np.ndarray  # (2 views, ROW_BINS, COL_BINS)
    sd: np.ndarray  # (2 views, ROW_BINS, COL_BINS)


def _metastases(shape: tuple[int, int, int], lesions: pd.DataFrame | None) -> np.ndarray:
    """Pixels (views, rows, cols) within a metastasis's radius + `EXCLUDE_MARGIN_PX` (ANT frame;
    the posterior view mirrored), where its contrast reaches the lesion-scale filter."""
    mask = np.zeros(shape, bool)
    if lesions is None or lesions.empty:
        return mask
    for _, lesion in malignant_lesions(lesions).iterrows():
        reach = spot_radius_px(lesion) + EXCLUDE_MARGIN_PX
        for v in range(shape[0]):
            mask[v] |= disk(shape[1:], (float(lesion["row"]), float(lesion_column(lesion, v, shape[2]))), reach)
    return mask


def bone_contrast(
    counts: np.ndarray, lesions: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(contrast, row bin, column bin, view) of every bone pixel outside the bladder of one image
    set (2, rows, cols) in counts, leaving out the metastases of `lesions` (the study's truth rows
    where they lie in this image set); a gain changes nothing (the image set is first normalised)."""
    maps, _ = view_maps(counts)
    excluded = _metastases(np.shape(counts), lesions)
    parts = []
    for v, m in maps.items():
        r, c = np.nonzero(m["bone"] & ~excluded[v])
        rows, cols = cell_index(*body_position(m["body"], r, c))
        parts.append((m["contrast_small"][r, c], rows, cols, np.full(r.size, v)))
    if not parts:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tuple(np.concatenate(x) for x in zip(*parts))


def fit_null(contrasts: Iterable[tuple]) -> NullModel:
    """The null model from `bone_contrast` of a class's image sets, their metastases left out."""
    parts = list(contrasts)
    if not parts or not sum(len(p[0]) for p in parts):
        raise ReaderStudyError("The null model needs images with bone outside metastases; none was given.")
    contrast, r, c, views = (np.concatenate(x) for x in zip(*parts))
    mean, sd = cell_statistics(contrast[:, None], r, c, views, smooth=False)
    return NullModel(mean[:, 0], sd[:, 0])


def z_values(null: NullModel, contrast: tuple) -> np.ndarray:
    """z of every bone pixel of one image set (its `bone_contrast`) against the null model: the z-map."""
    values, r, c, views = contrast
    return (values - null.mean[views, r, c]) / null.sd[views, r, c]


def null_calibration(null: NullModel, contrasts: Iterable[tuple]) -> tuple[float, float]:
    """(mean, SD) of z over the bone of held-out normal image sets (their `bone_contrast`), pooled."""
    z = np.concatenate([z_values(null, x) for x in contrasts] or [np.zeros(0)])
    return (float(z.mean()), float(z.std())) if z.size else (float("nan"), float("nan"))
