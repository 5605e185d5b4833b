"""Preprocessing of fast/standard pairs: bladder exclusion, count-level consistency, patch-focused
registration and patch sampling (the group's Med Phys 2024 recipe, as PAPER.md describes it).

Arrays are photon counts, (rows, cols) for one view or (2, rows, cols) for (ANT, POST); the head is
at row 0. Distances are in pixels (≈ 2.4 mm). Each function does one step and is tested alone.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from .errors import ParamsError

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
        window[r0:r1, int(max(0, centre - half)):int(centre + half) + 1] = True
    return window


def bladder_region(view: np.ndarray, *, sigma_px: float = 2.0, level: float = 0.4, margin_px: int = 2,
                   max_radius_px: int = 30) -> np.ndarray:
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
    rows, cols = np.ogrid[:view.shape[0], :view.shape[1]]
    near = (rows - seed[0]) ** 2 + (cols - seed[1]) ** 2 <= max_radius_px ** 2
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


def _as_views(a: np.ndarray) -> np.ndarray:
    """(rows, cols) → (1, rows, cols); (views, rows, cols) unchanged."""
    a = np.asarray(a)
    return a[None] if a.ndim == 2 else a


def count_ratio(fast: np.ndarray, standard: np.ndarray, exclude: np.ndarray | None = None, *,
                block_px: int = 16, min_block_counts: float = 400.0, bright_fraction: float = 0.5,
                trim: float = 0.1) -> float:
    """Robust factor r that brings a fast scan to the standard scan's count level (standard ≈ r·fast).

    Both scans are summed over `block_px`² blocks; blocks touching `exclude` (the bladder, which
    fills between scans) or holding fewer than `min_block_counts` standard counts are dropped, and
    of the rest the brightest `bright_fraction` (bone-dominated) are kept. Blocks whose ratio lies in
    the lowest or highest `trim` fraction (a lesion or injection site that changed, a moved limb)
    are dropped, and r is the ratio of the remaining blocks' summed counts: insensitive to outliers,
    the filling bladder and, summed over many blocks, to counts a small movement carries across
    block edges. Works on one view or on (2, rows, cols); a missing (NaN) view is skipped.
    """
    fast, standard = _as_views(fast), _as_views(standard)
    exclude = np.zeros(fast.shape, bool) if exclude is None else _as_views(exclude)
    sums = []
    for f, s, x in zip(fast, standard, exclude):
        if not (np.isfinite(f).all() and np.isfinite(s).all()):
            continue
        rb, cb = f.shape[0] // block_px, f.shape[1] // block_px
        crop = (slice(0, rb * block_px), slice(0, cb * block_px))

        def blocks(a, reduce):
            return reduce(a[crop].reshape(rb, block_px, cb, block_px), axis=(1, 3))
        fb, sb, xb = blocks(f.astype(np.float64), np.sum), blocks(s.astype(np.float64), np.sum), blocks(x, np.any)
        keep = (~xb) & (sb >= min_block_counts) & (fb > 0)
        if keep.sum() == 0:
            continue
        bright = sb[keep] >= np.quantile(sb[keep], 1.0 - bright_fraction)
        sums.append((sb[keep][bright], fb[keep][bright]))
    if not sums:
        raise ParamsError("count_ratio: no block has enough counts outside the excluded region; "
                          "check that both scans hold counts and the masks are not all-True.")
    sb, fb = (np.concatenate(parts) for parts in zip(*sums))
    ratio = sb / fb
    low, high = np.quantile(ratio, trim), np.quantile(ratio, 1.0 - trim)
    inlier = (ratio >= low) & (ratio <= high)
    return float(sb[inlier].sum() / fb[inlier].sum())


def count_scale(standards: list[np.ndarray], excludes: list[np.ndarray] | None = None,
                percentile: float = 99.9) -> float:
    """The checkpoint's constant C: the `percentile` of standard (1x) counts, bladder excluded.

    Model input is `counts · s / C` and output `· C` is in 1x-equivalent counts, so bone peaks
    sit near 1 whatever the cohort's count level.
    """
    values = []
    for i, counts in enumerate(standards):
        keep = np.isfinite(counts)
        if excludes is not None:
            keep &= ~excludes[i]
        values.append(counts[keep].ravel())
    c = float(np.percentile(np.concatenate(values), percentile)) if values else 0.0
    if not c > 0:
        raise ParamsError("count_scale: the standard scans hold no counts; check the training data.")
    return c


def to_model_input(counts: np.ndarray, speed_factor: float, scale: float) -> np.ndarray:
    """Counts of an acquisition at `speed_factor` → model input `counts · s / C` (float32)."""
    return (np.asarray(counts, np.float32) * np.float32(speed_factor / scale)).astype(np.float32)


def from_model_output(values: np.ndarray, scale: float) -> np.ndarray:
    """Model output → 1x-equivalent counts (`· C`); totals are not rescaled afterwards."""
    return (np.asarray(values, np.float32) * np.float32(scale)).astype(np.float32)


def estimate_shift(moving: np.ndarray, fixed: np.ndarray, *, upsample: int = 20, smooth_px: float = 1.0,
                   max_shift_px: float | None = None) -> np.ndarray:
    """Sub-pixel (row, col) shift that, applied to `moving` (e.g. `ndimage.shift`), aligns it to `fixed`.

    Cross-correlation (skimage `phase_cross_correlation`, plain normalisation: sturdier than phase
    correlation at low counts) of the Gaussian-smoothed (`smooth_px`), mean-free, Hann-windowed
    images (the window stops the FFT's wrap-around from pulling the estimate to 0), refined to
    1/`upsample` px. A shift larger than `max_shift_px` is not trusted and (0, 0) is returned.
    """
    m = ndimage.gaussian_filter(np.nan_to_num(moving).astype(np.float64), smooth_px)
    f = ndimage.gaussian_filter(np.nan_to_num(fixed).astype(np.float64), smooth_px)
    if m.std() == 0 or f.std() == 0:
        return np.zeros(2)
    hann = window("hann", f.shape)
    shift, _, _ = phase_cross_correlation((f - f.mean()) * hann, (m - m.mean()) * hann, upsample_factor=upsample,
                                          normalization=None)
    if max_shift_px is not None and np.abs(shift).max() > max_shift_px:
        return np.zeros(2)
    return np.asarray(shift, float)


def shift_image(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """`image` moved by (row, col) `shift` px, bilinear (keeps counts ≥ 0), edges repeated."""
    return ndimage.shift(np.asarray(image, np.float32), shift, order=1, mode="nearest").astype(np.float32)


def _span(start: int, size: int, extent: int, length: int) -> slice:
    """A `length`-wide slice of [0, extent) centred on [start, start + size) (as far as it fits)."""
    length = min(length, extent)
    lo = int(np.clip(start + size // 2 - length // 2, 0, extent - length))
    return slice(lo, lo + length)


def _crop(view: np.ndarray, top: int, left: int, rows: int, cols: int) -> np.ndarray:
    """`view[top:top + rows, left:left + cols]` with the edge rows/columns repeated beyond the image."""
    r = np.clip(np.arange(top, top + rows), 0, view.shape[0] - 1)
    c = np.clip(np.arange(left, left + cols), 0, view.shape[1] - 1)
    return np.nan_to_num(view[np.ix_(r, c)]).astype(np.float32)


def subpixel_shift(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """`image` moved by (row, col) `shift` px with a Fourier (all-pass) shift: unlike an
    interpolating resampler it neither blurs the image nor lowers its noise; the borders wrap, so
    give it a margin and crop."""
    moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(np.asarray(image, np.float64)), shift)).real
    return moved.astype(np.float32)


def registered_pair(fast_view: np.ndarray, standard_view: np.ndarray, top: int, left: int, size: int, *,
                    margin_px: int = 8, context_px: int = 32, min_context_px: int = 160,
                    upsample: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fast scan's patch registered to the standard scan's patch at (top, left, size).

    The shift is estimated locally (patients move between scans, limbs and head on their own) on
    the patch plus `context_px` around it, at least `min_context_px` wide (a 64-px patch of soft
    tissue holds too little structure to register; with it, 92 % of 64-px, 93 % of 128-px and 98 %
    of 192-px phantom patches at 2x/3x came within 0.5 px of a known shift, against 30 % and 54 %
    for bare 64-px and 128-px patches without the window). Shifts beyond `margin_px` are not
    trusted (none applied). The fast patch moves by the whole pixels of the shift only, so its
    counts stay untouched Poisson counts (an interpolated input is smoother than any real scan
    and teaches the model to sharpen noise); the standard patch takes the remaining sub-pixel part
    (`subpixel_shift`, from a window 2 · `margin_px` wider). Returns (fast patch, standard patch,
    shift (row, col) px), both patches float32 counts.
    """
    rows_c = _span(top, size, fast_view.shape[0], max(size + 2 * context_px, min_context_px))
    cols_c = _span(left, size, fast_view.shape[1], max(size + 2 * context_px, min_context_px))
    shift = estimate_shift(fast_view[rows_c, cols_c], standard_view[rows_c, cols_c], upsample=upsample,
                           max_shift_px=margin_px)
    whole = np.rint(shift).astype(int)
    fast = _crop(fast_view, top - whole[0], left - whole[1], size, size)
    window = _crop(standard_view, top - margin_px, left - margin_px, size + 2 * margin_px, size + 2 * margin_px)
    standard = subpixel_shift(window, whole - shift)[margin_px:margin_px + size, margin_px:margin_px + size]
    return fast, standard, shift


def check_patch_size(size: int, shape: tuple[int, int]) -> int:
    """`size` if it is a positive multiple of 8 no larger than the image (rows, cols), else ParamsError."""
    if int(size) != size or size <= 0 or size % 8:
        raise ParamsError(f"train.patch_size {size} must be a positive multiple of 8 (the generator's "
                          "up/down path); choose e.g. 64 or 192.")
    if size > min(shape):
        raise ParamsError(f"train.patch_size {size} is larger than the image {shape[0]}×{shape[1]}; "
                          f"choose at most {min(shape) // 8 * 8}.")
    return int(size)


def patch_weights(standard_view: np.ndarray, *, sigma_px: float = 2.0, bone_weight: float = 4.0) -> np.ndarray:
    """Sampling weight per pixel (a patch centre), float64, summing to 1: favours body and bone.

    Inside the body each pixel weighs 1 + `bone_weight` × (smoothed counts / their 99th percentile,
    capped at 1); outside the body 0.02, so background is seen now and then.
    """
    view = np.nan_to_num(standard_view).astype(np.float64)
    smooth = ndimage.gaussian_filter(view, sigma_px)
    top = np.percentile(smooth, 99.0)
    bright = np.clip(smooth / top, 0.0, 1.0) if top > 0 else np.zeros_like(smooth)
    w = np.where(body_mask(view), 1.0 + bone_weight * bright, 0.02)
    return w / w.sum()


def sample_patch(cdf: np.ndarray, shape: tuple[int, int], size: int, rng: np.random.Generator) -> tuple[int, int]:
    """(top, left) of a `size`² patch whose centre is drawn from the cumulative weights `cdf`."""
    centre = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), cdf.size - 1)
    row, col = divmod(centre, shape[1])
    top = int(np.clip(row - size // 2, 0, shape[0] - size))
    left = int(np.clip(col - size // 2, 0, shape[1] - size))
    return top, left


def random_flips(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random up-down and left-right flips (each with probability ½) applied to every array."""
    flip_rows, flip_cols = rng.random(2) < 0.5
    out = []
    for a in arrays:
        if flip_rows:
            a = a[..., ::-1, :]
        if flip_cols:
            a = a[..., ::-1]
        out.append(np.ascontiguousarray(a))
    return out
