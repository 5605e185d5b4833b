"""What a model observer sees in one whole-body image set: lesion candidates and the bone level.

Pixels only: the input is the (2, rows, cols) = (ANT, POST as acquired) image in 1x-equivalent
counts; nothing about the patient, the group, the speed or the truth. Per view present:
- **regions**: the body (smoothed counts above 2 % of their 99th percentile, as
  `preprocess.body_mask`), the bladder (`preprocess.bladder_mask`, dilated `BLADDER_MARGIN_PX`)
  and bone (body pixels whose σ 3 px smoothed counts exceed `BONE_FACTOR` × the body median);
- **matched filter**: contrast maps R_σ = G_σ·I / L − 1 at the lesion scale σ 1.5 px (≈ 8 mm
  FWHM) and σ 3 px, against the local level L = G_6·I (σ 6 px, ≈ 34 mm FWHM): a ratio of two
  linear filters of the image, so a gain leaves it unchanged, and L averages ≈ 450 pixels, so
  noise and denoising barely move it — no per-image noise estimate divides any feature (a
  denoised image's features keep their mean; only their spread shrinks, which the per-class
  statistics of `wbslib.readers.virtual` learn);
- **bone level**: the median σ 3 px counts over bone (`bone_level`, in the image's own counts):
  the level a reference metastasis would sit on (`wbslib.readers.quality`);
- **candidates**: every local maximum (7 × 7) of R_1.5 in the body outside the bladder.
Each candidate gets the features in `FEATURES`: contrast at two scales, focality
(least and largest excess over the neighbours 4 px away along four directions: a metastasis is a
focal spot, normal spine, ribs and long bones are ridges), support in the other view at the
mirrored column and at the left–right mirror position in the same view (normal joints come in
pairs), asymmetry (excess over the mirror position: most normal anatomy is paired, most
metastases are one-sided), neighbour excess (over the next vertebra or rib above and below),
hotness relative to the median σ 3 px counts of bone, position along the body (0 top of the body, 1
bottom) and across it (signed, in body half widths from the midline, in that view's own frame).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from wbslib.core.masks import bladder_mask

SIGMA_LESION_PX = 1.5
SIGMA_MID_PX = 3.0
SIGMA_LEVEL_PX = 6.0
TRUNCATE = 3.0
BODY_LEVEL = 0.02
BONE_FACTOR = 1.6
BLADDER_MARGIN_PX = 6
PEAK_WINDOW_PX = 7
SUPPORT_WINDOW_PX = 9
FOCAL_STEP_PX = 4
NORMALISED_TOTAL = 3.5e6  # counts of an image set as features see it (a 1x whole-body scan's)
MIRROR_SLACK_PX = 2  # the body is never exactly symmetric about its midline column
NEIGHBOUR_PX = (6, 14)  # the next vertebra or rib above and below (≈ 15–35 mm)
MIN_CONTRAST = 0.05
CACHE_SIZE = 2048  # image sets whose features are kept (≈ 50 kB each)
_CACHE: OrderedDict[str, ImageFeatures] = OrderedDict()
FEATURES = (
    "contrast_small",
    "contrast_mid",
    "focality",
    "ridge",
    "neighbour_excess",
    "asymmetry",
    "support_other_view",
    "support_mirror",
    "hotness",
    "row_fraction",
    "lateral_fraction",
)


class ImageFeatures(NamedTuple):
    """Candidates of one image set: `features` (K, len(FEATURES)) float64, `where` (K, 3) int
    (view, row, col) in that view's own pixel grid, and `bone_level` (median σ 3 px counts per
    pixel over bone, in the image's own counts; NaN without a bone region)."""

    features: np.ndarray
    where: np.ndarray
    bone_level: float


def _smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(img, sigma, truncate=TRUNCATE)


def _bladder(counts: np.ndarray) -> np.ndarray:
    """`preprocess.bladder_mask` of both views found on the 2 × 2-binned image (4 × faster; its
    pixel-unit defaults then span twice the distance), back on the full grid and dilated."""
    rows, cols = (counts.shape[1] // 2) * 2, (counts.shape[2] // 2) * 2
    binned = counts[:, :rows, :cols].reshape(counts.shape[0], rows // 2, 2, cols // 2, 2).sum(axis=(2, 4))
    full = np.zeros(counts.shape, bool)
    full[:, :rows, :cols] = bladder_mask(binned).repeat(2, axis=1).repeat(2, axis=2)
    return np.stack([ndimage.binary_dilation(v, iterations=BLADDER_MARGIN_PX) if v.any() else v for v in full])


def _maps(view: np.ndarray, bladder: np.ndarray) -> dict:
    """Smoothed images, contrast against the surrounding bone and regions of a view."""
    img = np.nan_to_num(view)
    small, mid = _smooth(img, SIGMA_LESION_PX), _smooth(img, SIGMA_MID_PX)
    top = float(np.percentile(mid, 99.0))
    body = mid > BODY_LEVEL * top if top > 0 else np.zeros(img.shape, bool)
    level = float(np.median(mid[body])) if body.any() else 1.0
    bone = body & (mid > BONE_FACTOR * level) & ~bladder
    local = np.maximum(_smooth(img, SIGMA_LEVEL_PX), 1e-3 * max(level, 1e-3))
    maps = {
        "small": small,
        "mid": mid,
        "local": local,
        "contrast_small": small / local - 1.0,
        "contrast_mid": mid / local - 1.0,
        "body": body,
        "bone": bone,
        "search": body & ~bladder,
    }
    return maps


def _midline_and_extent(body: np.ndarray) -> tuple[float, float, int, int]:
    """Body midline column, half width (px, 95th percentile) and first/last body row of one view."""
    rows, cols = np.nonzero(body)
    if rows.size == 0:
        return body.shape[1] / 2.0, body.shape[1] / 2.0, 0, body.shape[0] - 1
    centre = float(np.median(cols))
    return centre, max(float(np.percentile(np.abs(cols - centre), 95)), 1.0), int(rows.min()), int(rows.max())


def body_position(body: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row fraction (0 top of the body, 1 bottom) and signed lateral fraction (body half widths
    from the midline) of pixels (r, c) of one view with body mask `body`."""
    midline, half_width, top, bottom = _midline_and_extent(body)
    return (r - top) / max(bottom - top, 1), (c - midline) / half_width


def _sample(image: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """image[r, c] with coordinates clipped to the image."""
    return image[np.clip(r, 0, image.shape[0] - 1), np.clip(c, 0, image.shape[1] - 1)]


def _focality(maps: dict, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least and largest excess of the σ 3 px counts over the two neighbours FOCAL_STEP_PX away,
    over four directions, relative to the local level L."""
    mid, level = maps["mid"], maps["local"][r, c]
    excess = []
    for dr, dc in ((1, 0), (0, 1), (1, 1), (1, -1)):
        sr, sc = FOCAL_STEP_PX * dr, FOCAL_STEP_PX * dc
        excess.append((mid[r, c] - (_sample(mid, r + sr, c + sc) + _sample(mid, r - sr, c - sc)) / 2.0) / level)
    excess = np.asarray(excess)
    return excess.min(axis=0), excess.max(axis=0)


def _neighbour_excess(maps: dict, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Excess of the σ 1.5 px counts over the mean of the hottest σ 1.5 px counts NEIGHBOUR_PX
    above and below (± 1 column), relative to L: ≈ 0 for a normal vertebra or rib among its
    like, the lesion's contrast for a hot spot in any of them."""
    near, far = NEIGHBOUR_PX
    hottest = ndimage.maximum_filter(maps["small"], size=(far - near + 1, 3), mode="nearest")
    offset = (near + far) // 2
    above, below = _sample(hottest, r - offset, c), _sample(hottest, r + offset, c)
    return (maps["small"][r, c] - np.maximum(above, below)) / maps["local"][r, c]


def _asymmetry(maps: dict, r: np.ndarray, c: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Excess of the σ 1.5 px counts over the hottest σ 1.5 px counts within ± `MIRROR_SLACK_PX`
    of the left–right mirror position, relative to L: ≈ 0 for paired normal anatomy (ribs,
    pelvis, shoulders), the lesion's contrast for a one-sided hot spot."""
    hottest = ndimage.maximum_filter(maps["small"], 2 * MIRROR_SLACK_PX + 1)
    return (maps["small"][r, c] - _sample(hottest, r, mirror)) / maps["local"][r, c]


def _candidates(maps: dict) -> np.ndarray:
    """(row, col) of every local maximum of the small-scale contrast in the search region."""
    c = maps["contrast_small"]
    return np.argwhere((c == ndimage.maximum_filter(c, PEAK_WINDOW_PX)) & maps["search"] & (c > MIN_CONTRAST))


def _view_features(m: dict, other: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows (K, len(FEATURES)) and (row, col) (K, 2) of the candidates of one view."""
    rc = _candidates(m)
    r, c = rc[:, 0], rc[:, 1]
    midline = _midline_and_extent(m["body"])[0]
    bone_median = float(np.median(m["mid"][m["bone"]])) if m["bone"].any() else 1.0
    support = ndimage.maximum_filter(np.maximum(m["contrast_small"], 0.0), SUPPORT_WINDOW_PX)
    other_support = (
        ndimage.maximum_filter(np.maximum(other["contrast_small"], 0.0), SUPPORT_WINDOW_PX)[:, ::-1]
        if other is not None
        else np.zeros_like(support)
    )
    mirror = np.round(2 * midline - c).astype(np.int64)
    lateral = np.abs(c - midline) >= SUPPORT_WINDOW_PX
    least, largest = _focality(m, r, c)
    features = np.column_stack(
        [
            m["contrast_small"][r, c],
            m["contrast_mid"][r, c],
            least,
            largest,
            _neighbour_excess(m, r, c),
            np.where(lateral, _asymmetry(m, r, c, mirror), 0.0),
            other_support[r, c],
            np.where(lateral, _sample(support, r, mirror), 0.0),
            np.log(np.maximum(m["small"][r, c], 1e-3) / max(bone_median, 1e-3)),
            *body_position(m["body"], r, c),
        ]
    )
    return features.astype(np.float64), rc


def view_maps(counts: np.ndarray) -> tuple[dict[int, dict], float]:
    """({view index: smoothed images, contrast maps and regions} of each view present, the factor
    the counts were divided by to reach `NORMALISED_TOTAL`)."""
    counts = np.asarray(counts, np.float64)
    total = float(np.nansum(counts))
    scale = total / NORMALISED_TOTAL if total > 0 else 1.0
    counts = counts / scale
    present = [v for v in range(counts.shape[0]) if np.isfinite(counts[v]).any()]
    bladder = _bladder(np.nan_to_num(counts))
    return {v: _maps(counts[v], bladder[v]) for v in present}, scale


def image_features(counts: np.ndarray) -> ImageFeatures:
    """Lesion candidates and bone level of one image set (2, rows, cols) in 1x-equivalent counts.

    The image set is first scaled to `NORMALISED_TOTAL` counts (float64), so that a gain changes
    no feature at all; `bone_level` is scaled back to the image's own counts. Features are a
    function of the pixels alone, so the last `CACHE_SIZE` results are kept, keyed by a hash of
    the pixels (an image set read under two codes, or by two analyses, is computed once); their
    arrays are read-only.
    """
    counts = np.ascontiguousarray(counts)
    key = f"{counts.dtype}{counts.shape}" + hashlib.blake2b(counts.tobytes(), digest_size=16).hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    feats = _image_features(counts)
    for array in (feats.features, feats.where):
        array.setflags(write=False)
    _CACHE[key] = feats
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return feats


def _image_features(counts: np.ndarray) -> ImageFeatures:
    maps, scale = view_maps(counts)
    feats, where = [np.zeros((0, len(FEATURES)))], [np.zeros((0, 3), np.int64)]
    for v, m in maps.items():
        f, rc = _view_features(m, next((maps[o] for o in maps if o != v), None))
        feats.append(f)
        where.append(np.column_stack([np.full(len(rc), v), rc]))
    levels = [float(np.median(m["mid"][m["bone"]])) for m in maps.values() if m["bone"].any()]
    bone_level = float(np.median(levels)) * scale if levels else float("nan")
    return ImageFeatures(np.vstack(feats), np.vstack(where).astype(np.int64), bone_level)
