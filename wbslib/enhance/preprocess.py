"""Preprocessing of fast/standard pairs: bladder exclusion, count-level consistency, patch-focused
registration and patch sampling (the group's Med Phys 2024 recipe, as docs/PAPER.md describes it).

Arrays are photon counts, (rows, cols) for one view or (2, rows, cols) for (ANT, POST); the head is
at row 0. Distances are in pixels (≈ 2.4 mm). Each function does one step and is tested alone.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from wbslib.core.errors import ParamsError
from wbslib.core.masks import body_mask


def _as_views(a: np.ndarray) -> np.ndarray:
    """(rows, cols) → (1, rows, cols); (views, rows, cols) unchanged."""
    a = np.asarray(a)
    return a[None] if a.ndim == 2 else a


def count_ratio(
    fast: np.ndarray,
    standard: np.ndarray,
    exclude: np.ndarray | None = None,
    *,
    block_px: int = 16,
    min_block_counts: float = 400.0,
    bright_fraction: float = 0.5,
    trim: float = 0.1,
) -> float:
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

        shape = (rb, block_px, cb, block_px)
        fb = f[crop].astype(np.float64).reshape(shape).sum(axis=(1, 3))
        sb = s[crop].astype(np.float64).reshape(shape).sum(axis=(1, 3))
        xb = x[crop].reshape(shape).any(axis=(1, 3))
        keep = (~xb) & (sb >= min_block_counts) & (fb > 0)
        if keep.sum() == 0:
            continue
        bright = sb[keep] >= np.quantile(sb[keep], 1.0 - bright_fraction)
        sums.append((sb[keep][bright], fb[keep][bright]))
    if not sums:
        raise ParamsError(
            "count_ratio: no block has enough counts outside the excluded region; "
            "check that both scans hold counts and the masks are not all-True."
        )
    sb, fb = (np.concatenate(parts) for parts in zip(*sums))
    ratio = sb / fb
    low, high = np.quantile(ratio, trim), np.quantile(ratio, 1.0 - trim)
    inlier = (ratio >= low) & (ratio <= high)
    return float(sb[inlier].sum() / fb[inlier].sum())


def count_scale(
    standards: list[np.ndarray], excludes: list[np.ndarray] | None = None, percentile: float = 99.9
) -> float:
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


def estimate_shift(
    moving: np.ndarray,
    fixed: np.ndarray,
    *,
    upsample: int = 20,
    smooth_px: float = 1.0,
    max_shift_px: float | None = None,
) -> np.ndarray:
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
    shift, _, _ = phase_cross_correlation(
        (f - f.mean()) * hann, (m - m.mean()) * hann, upsample_factor=upsample, normalization=None
    )
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


def registered_pair(
    fast_view: np.ndarray,
    standard_view: np.ndarray,
    top: int,
    left: int,
    size: int,
    *,
    margin_px: int = 8,
    context_px: int = 32,
    min_context_px: int = 160,
    upsample: int = 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    shift = estimate_shift(
        fast_view[rows_c, cols_c], standard_view[rows_c, cols_c], upsample=upsample, max_shift_px=margin_px
    )
    whole = np.rint(shift).astype(int)
    fast = _crop(fast_view, top - whole[0], left - whole[1], size, size)
    window = _crop(standard_view, top - margin_px, left - margin_px, size + 2 * margin_px, size + 2 * margin_px)
    standard = subpixel_shift(window, whole - shift)[margin_px : margin_px + size, margin_px : margin_px + size]
    return fast, standard, shift


def check_patch_size(size: int, shape: tuple[int, int]) -> int:
    """`size` if it is a positive multiple of 8 no larger than the image (rows, cols), else ParamsError."""
    if int(size) != size or size <= 0 or size % 8:
        raise ParamsError(
            f"train.patch_size {size} must be a positive multiple of 8 (the generator's "
            "up/down path); choose e.g. 64 or 192."
        )
    if size > min(shape):
        raise ParamsError(
            f"train.patch_size {size} is larger than the image {shape[0]}×{shape[1]}; "
            f"choose at most {min(shape) // 8 * 8}."
        )
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
