"""The one home of image masks: the body, the pelvic search window and the bladder.

Arrays are photon counts, (rows, cols) for one view or (2, rows, cols) for (ANT, POST); the head is
at row 0. Distances in pixels (≈ 2.4 mm). Phantom truth files carry their own exact masks, named
by `TRUTH_MASKS`; these functions find masks on any scan, clinical or phantom.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

TRUTH_MASKS = ("skeleton", "bladder", "kidneys", "body")  # masks stored with the phantom's truth
BBOX_MARGIN_PX = 16

# Lower pelvis, as fractions of the body's length from the top of the head (bladder ≈ 0.47–0.5).
PELVIS_ROWS = (0.40, 0.58)
# Half-width of the central column band searched for the bladder, as a fraction of body width.
PELVIS_HALF_WIDTH = 0.12


def body_mask(view: np.ndarray, sigma_px: float = 3.0, level: float = 0.02) -> np.ndarray:
    """Pixels inside the body: smoothed counts above `level` × the 99th percentile of the view."""
    smooth = ndimage.gaussian_filter(np.nan_to_num(view).astype(np.float64), sigma_px)
    top = np.percentile(smooth, 99.0)
    if top <= 0:
        return np.zeros(view.shape, bool)
    return smooth > level * top


def pelvic_window(body: np.ndarray) -> np.ndarray:
    """Where the bladder is searched: rows PELVIS_ROWS of the body's length, central columns."""
    window = np.zeros(body.shape, bool)
    rows = np.flatnonzero(body.any(axis=1))
    if rows.size == 0:
        return window
    top, length = rows[0], rows[-1] - rows[0] + 1
    r0, r1 = top + int(PELVIS_ROWS[0] * length), top + int(PELVIS_ROWS[1] * length) + 1
    cols = np.flatnonzero(body[r0:r1].any(axis=0))
    if cols.size:
        centre, half = (cols[0] + cols[-1]) / 2.0, PELVIS_HALF_WIDTH * (cols[-1] - cols[0] + 1)
        window[r0:r1, int(max(0, centre - half)) : int(centre + half) + 1] = True
    return window


def bladder_region(
    view: np.ndarray, *, sigma_px: float = 2.0, level: float = 0.4, margin_px: int = 2, max_radius_px: int = 30
) -> np.ndarray:
    """Bladder mask (bool, same shape) found on one view.

    The bladder is the hottest compact region of the lower pelvis: the maximum of the smoothed
    counts (Gaussian `sigma_px`) inside `pelvic_window` is its seed; the region is the connected
    pixels within `max_radius_px` of the seed whose smoothed counts exceed the window's median
    (soft tissue) by `level` × (peak − median), dilated by `margin_px` so that its blurred rim is
    excluded too. A view without counts gives an empty mask.
    """
    out = np.zeros(view.shape, bool)
    body = body_mask(view)
    window = pelvic_window(body)
    if not (window & body).any():
        return out
    smooth = ndimage.gaussian_filter(np.nan_to_num(view).astype(np.float64), sigma_px)
    seed = np.unravel_index(np.argmax(np.where(window, smooth, -np.inf)), view.shape)
    background = np.median(smooth[window & body])
    rows, cols = np.ogrid[: view.shape[0], : view.shape[1]]
    near = (rows - seed[0]) ** 2 + (cols - seed[1]) ** 2 <= max_radius_px**2
    labels, _ = ndimage.label((smooth >= background + level * (smooth[seed] - background)) & near)
    region = labels == labels[seed]
    return ndimage.binary_dilation(region, iterations=margin_px) if margin_px > 0 else region


def bladder_mask(counts: np.ndarray, **kwargs) -> np.ndarray:
    """Bladder mask (bool (2, rows, cols)) on both views of a scan (ANT, POST as acquired).

    The bladder lies in front: the anterior view shows it sharp and clear of the sacrum, which on
    the posterior view merges with it. So it is found on ANT (`bladder_region`, `kwargs` passed on)
    and the posterior mask is that region mirrored left–right (opposed heads see mirror images);
    with ANT missing (NaN or all zero), it is found on POST itself. A missing view gets an empty
    mask. A single (rows, cols) view is searched on its own.
    """
    counts = np.asarray(counts)
    if counts.ndim == 2:
        return bladder_region(counts, **kwargs) if np.isfinite(counts).all() else np.zeros(counts.shape, bool)
    out = np.zeros(counts.shape, bool)
    present = [bool(np.isfinite(v).all() and v.any()) for v in counts]  # NaN or all-zero: no view
    if present[0]:
        out[0] = bladder_region(counts[0], **kwargs)
        if present[1]:
            out[1] = out[0][:, ::-1]
    elif present[1]:
        out[1] = bladder_region(counts[1], **kwargs)
    return out


def body_box(view: np.ndarray, margin: int = BBOX_MARGIN_PX) -> tuple[slice, slice]:
    """Rows and columns holding counts, widened by `margin`."""
    rows, cols = np.flatnonzero(view.any(axis=1)), np.flatnonzero(view.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return (
        slice(max(0, rows[0] - margin), rows[-1] + margin + 1),
        slice(max(0, cols[0] - margin), cols[-1] + margin + 1),
    )
