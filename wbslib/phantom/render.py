"""Projection of the phantom's parts onto the gamma camera: attenuation, depth-dependent blur, scatter.

Each part's projected activity (concentration × chord, averaged over 2 × 2 points per pixel, which
is the detector's integration over its 2.2–2.4 mm pixel) is attenuated by exp(−μ·depth) towards
each detector (μ = 0.15 /cm, water at 140 keV; self-attenuation along the chord included) and added
to the depth layer of its distance to the collimator (depth + patient–collimator gap). Every layer
is blurred with the LEHR collimator and detector response in air at that distance (4 mm at the
face, ≈ 7.7 mm at 10 cm, ≈ 12 mm at 20 cm; six layers) and their sum once with the calibrated
clinical blur of a whole-body scan (`CLINICAL_BLUR_FWHM_MM`); Gaussians add in quadrature, so each
layer ends with the whole-body system resolution `system_fwhm_mm`. Then a broad, low-amplitude
scatter blur is added. Soft tissue is a uniform
concentration in the body volume, integrated in closed form over its thickness. Images are in the
anterior frame internally; the posterior view is mirrored at the end (as acquired, seen from
behind). Output: float32 (2, rows, cols) = (ANT, POST) in relative units. The numbers and what
they stand for are in docs/DESIGN.md ("The phantom").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from wbslib.core.scan import PIXEL_MM
from wbslib.phantom.parts import Part, chord

SHAPE = (1024, 256)
MU_PER_MM = 0.015  # linear attenuation of water at 140 keV (0.15 /cm)
GAP_MM = (50.0, 50.0)  # skin-to-collimator gap: anterior (contour clearance), posterior (pallet + mattress)
CLINICAL_BLUR_FWHM_MM = 18.0  # calibrated whole-body blur beyond the in-air LEHR response (docs/DESIGN.md)
LAYER_EDGES_MM = (85.0, 120.0, 160.0, 205.0, 260.0)  # distance bins: system FWHM within ±0.6 mm to 205 mm
LAYER_CENTRES_MM = (67.0, 102.0, 140.0, 182.0, 232.0, 295.0)
SOFT_DISTANCE_MM = 130.0  # representative distance of soft-tissue activity for its blur (mid-body + gap)
SCATTER_TO_PRIMARY = 0.35  # scatter counts in the photopeak window per primary count
SCATTER_FWHM_MM = 60.0  # width of the broad scatter kernel
SKELETON_MIN_CHORD_MM = 2.0  # a pixel is bone where the bone chord reaches this
SUPERSAMPLE = 2


def fwhm_mm(distance_mm):
    """LEHR collimator + detector resolution in air, FWHM (mm) at `distance_mm` from the collimator
    face: sqrt(3.5² + (2.0 + 0.048·d)²) — 4.0 mm at 0, 7.7 mm at 100 mm, 12.1 mm at 200 mm."""
    d = np.asarray(distance_mm, dtype=np.float64)
    return np.sqrt(3.5**2 + (2.0 + 0.048 * d) ** 2)


def system_fwhm_mm(distance_mm):
    """Whole-body system resolution FWHM (mm) at `distance_mm`: `fwhm_mm` and the clinical blur
    `CLINICAL_BLUR_FWHM_MM` in quadrature — 18.9 mm at 50 mm, 20.5 mm at 150 mm, 23.1 mm at 250 mm."""
    return np.sqrt(fwhm_mm(distance_mm) ** 2 + CLINICAL_BLUR_FWHM_MM**2)


def sigma_px(distance_mm: float, pixel_mm: float = PIXEL_MM) -> float:
    """Gaussian sigma in pixels of the whole-body system blur at `distance_mm`."""
    return float(system_fwhm_mm(distance_mm)) / 2.3548 / pixel_mm


def lehr_sigma_px(distance_mm: float, pixel_mm: float = PIXEL_MM) -> float:
    """Gaussian sigma in pixels of the LEHR part alone (`fwhm_mm`) at `distance_mm`."""
    return float(fwhm_mm(distance_mm)) / 2.3548 / pixel_mm


def clinical_sigma_px(pixel_mm: float = PIXEL_MM) -> float:
    """Gaussian sigma in pixels of the clinical blur `CLINICAL_BLUR_FWHM_MM`."""
    return CLINICAL_BLUR_FWHM_MM / 2.3548 / pixel_mm


@dataclass(frozen=True)
class Grid:
    """The image grid: `row0`, `col0` are the (fractional) pixel of the vertex on the midline."""

    rows: int = SHAPE[0]
    cols: int = SHAPE[1]
    pixel_mm: float = PIXEL_MM
    row0: float = 30.0
    col0: float = 127.5

    def to_pixel(self, x_mm, y_mm):
        """(row, col) of patient point (x, y) mm in the anterior frame."""
        return self.row0 + np.asarray(y_mm) / self.pixel_mm, self.col0 + np.asarray(x_mm) / self.pixel_mm

    def to_mm(self, row, col):
        """(x, y) mm of pixel (row, col) in the anterior frame."""
        return (np.asarray(col) - self.col0) * self.pixel_mm, (np.asarray(row) - self.row0) * self.pixel_mm


def rasterise(part: Part, grid: Grid, supersample: int = SUPERSAMPLE):
    """(row slice, col slice, chord mm per pixel, the mean of supersample² points per pixel) of
    `part` over its bounding box; None if off-grid."""
    x0, x1, y0, y1 = part.extent()
    r_lo, c_lo = grid.to_pixel(x0, y0)
    r_hi, c_hi = grid.to_pixel(x1, y1)
    ra, rb = max(int(np.floor(r_lo)), 0), min(int(np.ceil(r_hi)) + 1, grid.rows)
    ca, cb = max(int(np.floor(c_lo)), 0), min(int(np.ceil(c_hi)) + 1, grid.cols)
    if ra >= rb or ca >= cb:
        return None
    n = supersample
    offsets = (np.arange(n) + 0.5) / n - 0.5
    rr = (np.arange(ra, rb)[:, None] + offsets[None, :]).ravel()
    cc = (np.arange(ca, cb)[:, None] + offsets[None, :]).ravel()
    x, y = grid.to_mm(rr[:, None], cc[None, :])
    c = chord(part, x, y)
    if n > 1:
        c = c.reshape(rb - ra, n, cb - ca, n).sum(axis=(1, 3)) / (n * n)
    return slice(ra, rb), slice(ca, cb), c.astype(np.float32)


def self_attenuation(chord_mm: np.ndarray) -> np.ndarray:
    """Mean of exp(−μ z) over a uniform chord centred at depth 0: sinh(μL/2)/(μL/2)."""
    h = np.maximum(MU_PER_MM * chord_mm / 2.0, 1e-6)
    return np.sinh(h) / h


def layer_index(distance_mm: float) -> int:
    """Depth layer of a source at `distance_mm` from the collimator face."""
    return int(np.searchsorted(LAYER_EDGES_MM, distance_mm))


class Projector:
    """Accumulates attenuated parts into depth layers of both views and blurs them once."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.layers = np.zeros((2, len(LAYER_CENTRES_MM), grid.rows, grid.cols), np.float32)
        self.used = np.array([[[grid.rows, 0]] * len(LAYER_CENTRES_MM)] * 2)

    def add(self, part: Part, scale: float = 1.0):
        """Project `part` (concentration × `scale`); returns its (rows, cols, chord) or None."""
        hit = rasterise(part, self.grid)
        if hit is None:
            return None
        rs, cs, c = hit
        amount = (part.density * scale) * c * self_attenuation(c)
        for view, depth in enumerate((part.depth_mm, part.thick_mm - part.depth_mm)):
            depth = max(depth, 0.0)
            li = layer_index(depth + GAP_MM[view])
            self.layers[view, li, rs, cs] += amount * np.float32(np.exp(-MU_PER_MM * depth))
            self.used[view, li] = (min(self.used[view, li, 0], rs.start), max(self.used[view, li, 1], rs.stop))
        return hit

    def blurred(self, view: int) -> np.ndarray:
        """Sum over layers of each layer blurred with the system resolution at its distance (float32):
        the LEHR part per layer, then the clinical part once on the sum (Gaussians add in quadrature)."""
        out = np.zeros((self.grid.rows, self.grid.cols), np.float32)
        for li, dist in enumerate(LAYER_CENTRES_MM):
            lo, hi = self.used[view, li]
            if lo >= hi:
                continue
            sig = lehr_sigma_px(dist, self.grid.pixel_mm)
            pad = int(np.ceil(3 * sig)) + 1
            a, b = max(lo - pad, 0), min(hi + pad, self.grid.rows)
            out[a:b] += ndimage.gaussian_filter(self.layers[view, li, a:b], sig, mode="constant", truncate=3.0)
        return ndimage.gaussian_filter(out, clinical_sigma_px(self.grid.pixel_mm), mode="constant", truncate=3.0)


def broad_blur(image: np.ndarray, fwhm: float, pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """Gaussian blur of FWHM `fwhm` mm computed on a 4× coarser grid (for the scatter kernel)."""
    rows, cols = image.shape
    small = image.reshape(rows // 4, 4, cols // 4, 4).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, fwhm / 2.3548 / pixel_mm / 4.0, mode="constant")
    big = np.repeat(np.repeat(small.astype(np.float32), 4, axis=0), 4, axis=1)
    return ndimage.uniform_filter(big, 4, mode="constant")


def body_thickness(parts: list[Part], grid: Grid) -> np.ndarray:
    """Anterior–posterior body thickness (mm) per pixel: the union (maximum) of the segments."""
    out = np.zeros((grid.rows, grid.cols), np.float32)
    for part in parts:
        hit = rasterise(part, grid, supersample=1)
        if hit is not None:
            rs, cs, c = hit
            np.maximum(out[rs, cs], c, out=out[rs, cs])
    return out


def soft_tissue(thickness_mm: np.ndarray, density: float) -> np.ndarray:
    """Projected soft-tissue activity of a uniform slab: density·(1 − exp(−μT))/μ (same for both views)."""
    return (density * (1.0 - np.exp(-MU_PER_MM * thickness_mm)) / MU_PER_MM).astype(np.float32)


def finish(primary: np.ndarray, pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """Add scatter to both primary views (anterior frame) and mirror the posterior view."""
    out = np.empty_like(primary)
    for view in range(2):
        out[view] = primary[view] + SCATTER_TO_PRIMARY * broad_blur(primary[view], SCATTER_FWHM_MM, pixel_mm)
    out[1] = out[1, :, ::-1]
    return out


def part_projection(part: Part, grid: Grid, view: int):
    """(row slice, col slice, blurred projected activity) of one part alone in view 0 (ANT) or 1
    (POST), anterior frame, no scatter; the box is padded for the blur. None if off-grid."""
    hit = rasterise(part, grid)
    if hit is None:
        return None
    rs, cs, c = hit
    depth = max(part.depth_mm if view == 0 else part.thick_mm - part.depth_mm, 0.0)
    amount = part.density * c * self_attenuation(c) * np.float32(np.exp(-MU_PER_MM * depth))
    sig = sigma_px(LAYER_CENTRES_MM[layer_index(depth + GAP_MM[view])], grid.pixel_mm)
    pad = int(np.ceil(3 * sig)) + 1
    ra, rb = max(rs.start - pad, 0), min(rs.stop + pad, grid.rows)
    ca, cb = max(cs.start - pad, 0), min(cs.stop + pad, grid.cols)
    box = np.zeros((rb - ra, cb - ca), np.float32)
    box[rs.start - ra : rs.stop - ra, cs.start - ca : cs.stop - ca] = amount
    return slice(ra, rb), slice(ca, cb), ndimage.gaussian_filter(box, sig, mode="constant", truncate=3.0)
