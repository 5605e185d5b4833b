"""Lesion and noise measures on one whole-body image: hottest-lesion counts, lesion contrast
recovery against the phantom truth, and background noise in uniform bone and soft tissue.

Images are (2, rows, cols) counts (ANT, POST) in 1x-equivalent counts; distances in pixels.
Lesion positions in an acquisition (`acquisition_positions`, anterior frame) are the truth's own
`lesion_rc` when it has one (limb motion included), else the lesion table's 1x position (`row`,
`col`) plus the acquisition's whole-body `shift_px`. The posterior view is stored as acquired
(seen from behind, docs/DESIGN.md), so anterior column c lies at column cols − 1 − c there
(`lesion_centre`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from wbslib.core.masks import bladder_mask

PEAK_WINDOW_PX = 3  # hottest-lesion counts: max of the 3×3 mean inside the lesion ROI
ROI_MARGIN_PX = 2  # ROI radius = lesion radius + this margin (blur, limb motion ≤ 6 mm)
RING_GAP_PX = 3  # bone background ring starts this far outside the lesion edge (PSF)
RING_MIN_WIDTH_PX = 3  # ... and is max(this, lesion radius) wide
MIN_RING_PX = 6  # fewer bone pixels in the ring → contrast undefined (NaN)
MIN_TRUE_CONTRAST = 0.1  # lesions fainter than this in the truth give no recovery ratio
MIN_REGION_PX = 50  # fewer uniform pixels → noise CV undefined (NaN)
CLINICAL_SEARCH_PX = 6  # clinical data: hottest-spot search radius around its 1x position


def acquisition_positions(lesions: pd.DataFrame, shift_px, lesion_rc=None) -> np.ndarray:
    """(n, 2) lesion centres (row, col; anterior frame) in one acquisition, in the table's order:
    `lesion_rc` of its truth when it lists every lesion, else table (row, col) + `shift_px`."""
    if lesion_rc is not None and len(lesion_rc) == len(lesions):
        return np.asarray(lesion_rc, np.float64).reshape(-1, 2)
    return lesions[["row", "col"]].to_numpy(np.float64).reshape(-1, 2) + np.asarray(shift_px, np.float64)


def lesion_centre(rc, view: int, cols: int) -> tuple[int, int]:
    """Pixel (row, col) in view `view` (0 ANT, 1 POST) of an anterior-frame position `rc`."""
    r, c = float(rc[0]), float(rc[1])
    if view == 1:
        c = cols - 1 - c
    return int(round(r)), int(round(c))


def lesion_radius_px(diameter_mm: float, pixel_mm: float) -> float:
    """Lesion radius in pixels (at least 1)."""
    return max(1.0, float(diameter_mm) / 2.0 / float(pixel_mm))


def _distance(shape: tuple[int, int], centre: tuple[int, int]) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return np.hypot(rows - centre[0], cols - centre[1])


def disk(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    """Boolean disk of pixels within `radius` of `centre` (empty if the centre is far outside)."""
    return _distance(shape, centre) <= radius


def roi_peak(view: np.ndarray, centre: tuple[int, int], radius: float) -> float:
    """Maximum of the 3×3 mean counts over the disk (`centre`, `radius`); NaN if the disk is empty."""
    roi = disk(view.shape, centre, radius)
    if not roi.any():
        return float("nan")
    mean3 = ndimage.uniform_filter(np.nan_to_num(view.astype(np.float64)), PEAK_WINDOW_PX, mode="nearest")
    return float(mean3[roi].max())


def lesion_contrast(
    view: np.ndarray, centre: tuple[int, int], radius: float, bone: np.ndarray, exclude: np.ndarray | None = None
) -> float:
    """Contrast of a lesion against its local bone background: mean(disk) / mean(ring) − 1.

    The disk has the lesion's radius; the ring runs from radius + RING_GAP_PX to that plus
    max(RING_MIN_WIDTH_PX, radius) and keeps only `bone` pixels not in `exclude` (other lesions).
    NaN when the ring holds fewer than MIN_RING_PX pixels or its mean is not positive.
    """
    dist = _distance(view.shape, centre)
    inner = radius + RING_GAP_PX
    ring = (dist >= inner) & (dist <= inner + max(RING_MIN_WIDTH_PX, radius)) & bone
    if exclude is not None:
        ring &= ~exclude
    lesion = dist <= radius
    if ring.sum() < MIN_RING_PX or not lesion.any():
        return float("nan")
    background = float(view[ring].astype(np.float64).mean())
    if background <= 0:
        return float("nan")
    return float(view[lesion].astype(np.float64).mean()) / background - 1.0


def _on_grid(lesions: pd.DataFrame, positions: np.ndarray, shape: tuple[int, ...], pixel_mm: float) -> list[dict]:
    """Per lesion and view where it is visible: centre on this acquisition's grid and radius."""
    out = []
    for i, les in enumerate(lesions.itertuples(index=False)):
        for v, visible in enumerate((getattr(les, "visible_ant", True), getattr(les, "visible_post", True))):
            if bool(visible):
                out.append(
                    {
                        "index": i,
                        "lesion_id": les.lesion_id,
                        "view": v,
                        "malignant": bool(les.malignant),
                        "centre": lesion_centre(positions[i], v, shape[-1]),
                        "radius": lesion_radius_px(les.diameter_mm, pixel_mm),
                    }
                )
    return out


def _lesion_union(spots: list[dict], view: int, shape: tuple[int, int], margin: float) -> np.ndarray:
    out = np.zeros(shape, bool)
    for s in spots:
        if s["view"] == view:
            out |= disk(shape, s["centre"], s["radius"] + margin)
    return out


def contrast_recovery(
    image: np.ndarray,
    expected: np.ndarray,
    skeleton: np.ndarray,
    lesions: pd.DataFrame,
    positions: np.ndarray,
    pixel_mm: float,
) -> float:
    """Mean over the study's lesions (each view where visible) of measured / true contrast.

    `image` and `expected` (noise-free truth of the same acquisition, 1x-equivalent counts) share
    one grid; true contrast is `lesion_contrast` on `expected`, so a noise-free image gives 1.
    `positions`: `acquisition_positions` of this acquisition. Lesions with true contrast below
    MIN_TRUE_CONTRAST are left out; NaN if none remains.
    """
    spots = _on_grid(lesions, positions, image.shape, pixel_mm)
    ratios = []
    for s in spots:
        others = [o for o in spots if o is not s]
        exclude = _lesion_union(others, s["view"], image.shape[1:], RING_GAP_PX)
        bone = skeleton[s["view"]]
        true = lesion_contrast(expected[s["view"]], s["centre"], s["radius"], bone, exclude)
        if np.isfinite(true) and true >= MIN_TRUE_CONTRAST:
            ratios.append(lesion_contrast(image[s["view"]], s["centre"], s["radius"], bone, exclude) / true)
    ratios = [r for r in ratios if np.isfinite(r)]
    return float(np.mean(ratios)) if ratios else float("nan")


def uniform_regions(
    masks: dict, lesions: pd.DataFrame, positions: np.ndarray, pixel_mm: float
) -> dict[str, np.ndarray]:
    """Uniform background regions (bool (2, rows, cols)) from the truth masks of one acquisition.

    bone: skeleton eroded by 1 px, minus lesions (+ RING_GAP_PX) and bladder/kidneys dilated by 3 px;
    soft: body eroded by 3 px minus skeleton, bladder and kidneys dilated by 4 px (away from blur).
    """
    shape = masks["skeleton"].shape
    spots = _on_grid(lesions, positions, shape, pixel_mm)
    bone, soft = np.zeros(shape, bool), np.zeros(shape, bool)
    for v in range(shape[0]):
        organs = masks["bladder"][v] | masks["kidneys"][v]
        bone[v] = (
            ndimage.binary_erosion(masks["skeleton"][v], iterations=1)
            & ~ndimage.binary_dilation(organs, iterations=3)
            & ~_lesion_union(spots, v, shape[1:], RING_GAP_PX)
        )
        hot = ndimage.binary_dilation(masks["skeleton"][v] | organs, iterations=4)
        soft[v] = ndimage.binary_erosion(masks["body"][v], iterations=3) & ~hot
    return {"bone": bone, "soft": soft}


def noise_cv(image: np.ndarray, expected: np.ndarray, region: np.ndarray, floor: float = 0.5) -> float:
    """Coefficient of variation SD/mean of image / expected over `region` (pixels with expected > `floor`).

    Dividing by the noise-free truth flattens slow anatomy, so in a truly uniform region this is the
    plain CV (Poisson: 1/sqrt(mean counts of the acquisition)); NaN below MIN_REGION_PX pixels.
    """
    sel = region & np.isfinite(image) & (expected > floor)
    if sel.sum() < MIN_REGION_PX:
        return float("nan")
    ratio = image[sel].astype(np.float64) / expected[sel].astype(np.float64)
    mean = ratio.mean()
    return float(ratio.std(ddof=1) / mean) if mean > 0 else float("nan")


def hottest_lesion(reference: np.ndarray, lesions: pd.DataFrame, positions: np.ndarray, pixel_mm: float) -> dict | None:
    """The hottest malignant lesion of a study on its 1x image (`positions` of the 1x acquisition): the
    (lesion, view) with the highest `roi_peak`; a dict (index, lesion_id, view, radius, ...) or None
    when the study has no malignant lesion."""
    spots = [s for s in _on_grid(lesions, positions, reference.shape, pixel_mm) if s["malignant"]]
    best, best_value = None, -np.inf
    for s in spots:
        value = roi_peak(reference[s["view"]], s["centre"], s["radius"] + ROI_MARGIN_PX)
        if np.isfinite(value) and value > best_value:
            best, best_value = s, value
    return best


def lesion_peak(image: np.ndarray, hottest: dict, positions: np.ndarray) -> float:
    """Hottest-lesion counts of `image`: `roi_peak` of the chosen lesion at its position in this
    acquisition (`positions`, from `acquisition_positions`)."""
    centre = lesion_centre(positions[hottest["index"]], hottest["view"], image.shape[-1])
    return roi_peak(image[hottest["view"]], centre, hottest["radius"] + ROI_MARGIN_PX)


def find_focal_spot(reference: np.ndarray, max_area_px: int = 250, candidates: int = 50) -> dict | None:
    """Hottest focal spot of a clinical 1x image, outside the bladder (`preprocess.bladder_mask`).

    Local maxima of the 3×3 mean counts, hottest first; a maximum is focal when the connected
    region above half its value holds at most `max_area_px` pixels (≈ a 40 mm disk at 2.4 mm),
    which rules out large hot organs (kidneys, a bladder the mask missed). Returns a dict
    (view, centre, radius = CLINICAL_SEARCH_PX) or None when no view has a focal spot.
    """
    excluded = bladder_mask(reference)
    found = []
    for v in range(reference.shape[0]):
        view = np.nan_to_num(reference[v].astype(np.float64))
        mean3 = ndimage.uniform_filter(view, PEAK_WINDOW_PX, mode="nearest")
        peaks = (mean3 == ndimage.maximum_filter(mean3, 5)) & (mean3 > 0) & ~excluded[v]
        order = np.argsort(mean3[peaks])[::-1][:candidates]
        for r, c in np.argwhere(peaks)[order]:
            labels, _ = ndimage.label(mean3 >= mean3[r, c] / 2.0)
            if (labels == labels[r, c]).sum() <= max_area_px:
                found.append((mean3[r, c], v, (int(r), int(c))))
                break
    if not found:
        return None
    _, v, centre = max(found)
    return {"view": v, "centre": centre, "radius": float(CLINICAL_SEARCH_PX)}


def spot_peak(image: np.ndarray, spot: dict) -> float:
    """Hottest-spot counts of `image`: `roi_peak` within the search radius around the 1x position."""
    return roi_peak(image[spot["view"]], spot["centre"], spot["radius"])
