"""Likert image quality from a stated rule: an eye-filtered non-prewhitening (NPWE) observer's
detectability of a reference metastasis, per image class.

The reference metastasis is 10 mm across with 1.5 × the bone's activity (an excess of 0.5 × the
bone level), as the system images it: a disk blurred by the whole-body resolution
(`SYSTEM_FWHM_MM`). The NPWE observer (Burgess 1994) matches the expected signal through the
eye's contrast sensitivity E(ν) = ν^1.3 · exp(−c ν²), peaking at 4 cycles per degree, for an
image shown at `PX_PER_DEGREE` image pixels per degree (1 screen pixel of 0.27 mm per image pixel,
seen from 60 cm). For a signal spectrum S and noise power spectrum W on an N-pixel patch,

    d′² = (Σ E² |S|²)² / (N · Σ E⁴ |S|² W).

Unlike an ideal (prewhitening) observer it does not undo noise correlations: noise left at the
lesion's scale by a filter or a generator, and blur of the lesion, both lower d′.

Each image class is measured on images whose truth is known (the observer cohort: never a test
patient), in 1x-equivalent counts, against the noise-free image of the same acquisition:
- **error power** W: the power spectrum of image − truth in `PATCH_PX`-square bone tiles (at least
  `MIN_BONE_FRACTION` skeleton, away from the bladder and every lesion), tile mean removed, Hann
  windowed, divided by the tile's mean truth level: per unit level, so a raw scan at speed s has
  W ≈ s (Poisson noise) and the truth W = 0. The error of anatomy blurred or invented by an
  enhancer counts as noise to the eye: it is not the lesion;
- **lesion transfer**: the median over images of `metrics.lesion.contrast_recovery` (measured /
  true contrast of the phantom's lesions), which scales S (1 when no lesion is measurable).

Per image, the reader sees only its pixels: d′ = d′₁ · √B, with d′₁ the class's d′ at unit level and
B the image's bone level (`ImageFeatures.bone_level`): Poisson-like noise power grows as the level,
signal power as its square. Likert L = 1 + 4 (d′ − `D_POOR`) / (`D_EXCELLENT` − `D_POOR`), clipped
to 1–5, with psychophysical anchors: Likert 1 (non-diagnostic) where a two-alternative forced-choice
reader would be right 75 % of the time (d′ 0.95, the usual detection threshold), 5 (excellent) at
95 % (d′ 2.33). These anchors, the display and the reference lesion are modelling choices; every
report showing virtual-reader Likert scores says so. There is no separate smoothness ("waxy
look") penalty: the truth image, with no error, scores 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import norm

from wbslib.core.scan import PIXEL_MM
from wbslib.metrics.lesion import contrast_recovery, disk, lesion_centre, lesion_radius_px

REFERENCE_DIAMETER_MM = 10.0
REFERENCE_EXCESS = 0.5
SYSTEM_FWHM_MM = 20.0  # whole-body system resolution at ≈ 120 mm depth (docs/DESIGN.md, phantom)
PX_PER_DEGREE = 39.0
EYE_EXPONENT, EYE_PEAK_CPD = 1.3, 4.0
PATCH_PX = 32
MIN_BONE_FRACTION = 0.25
LESION_MARGIN_PX = 8  # tiles keep this far from every lesion edge (system blur ≈ 2 FWHM / 2)
D_POOR, D_EXCELLENT = (float(np.sqrt(2.0) * norm.ppf(p)) for p in (0.75, 0.95))  # 2AFC 75 % and 95 %
RULE = {  # what a cached Likert depends on
    "observer": "NPWE",
    "reference_mm": REFERENCE_DIAMETER_MM,
    "reference_excess": REFERENCE_EXCESS,
    "system_fwhm_mm": SYSTEM_FWHM_MM,
    "px_per_degree": PX_PER_DEGREE,
    "eye": (EYE_EXPONENT, EYE_PEAK_CPD),
    "patch_px": PATCH_PX,
    "anchors": (D_POOR, D_EXCELLENT),
}


def _frequencies(n: int = PATCH_PX) -> np.ndarray:
    """Radial spatial frequency (cycles per pixel) of an n × n FFT grid."""
    f = np.fft.fftfreq(n)
    return np.hypot(f[:, None], f[None, :])


def eye_filter(n: int = PATCH_PX) -> np.ndarray:
    """E(ν) = ν^1.3 exp(−c ν²), peak 1 at `EYE_PEAK_CPD`, on an n × n FFT grid (ν in cycles/degree)."""
    nu = _frequencies(n) * PX_PER_DEGREE
    c = EYE_EXPONENT / (2.0 * EYE_PEAK_CPD**2)
    peak = EYE_PEAK_CPD**EYE_EXPONENT * np.exp(-c * EYE_PEAK_CPD**2)
    return nu**EYE_EXPONENT * np.exp(-c * nu**2) / peak


def reference_lesion(pixel_mm: float = PIXEL_MM, n: int = PATCH_PX) -> np.ndarray:
    """The reference metastasis's excess per unit bone level, as imaged, centred on an n × n patch."""
    radius = lesion_radius_px(REFERENCE_DIAMETER_MM, pixel_mm)
    spot = REFERENCE_EXCESS * disk((n, n), (n // 2, n // 2), radius).astype(np.float64)
    return ndimage.gaussian_filter(spot, SYSTEM_FWHM_MM / pixel_mm / np.sqrt(8 * np.log(2)), mode="constant")


def npwe_dprime(error_power: np.ndarray, transfer: float = 1.0, pixel_mm: float = PIXEL_MM) -> float:
    """NPWE d′ of the reference metastasis at unit level, its signal scaled by `transfer`, in noise
    of power spectrum `error_power` (per unit level, on the `PATCH_PX` FFT grid); inf without noise."""
    n = error_power.shape[0]
    signal = np.abs(transfer * np.fft.fft2(reference_lesion(pixel_mm, n))) ** 2
    eye = eye_filter(n) ** 2
    noise = n * n * float(np.sum(eye**2 * signal * error_power))
    return float(np.sum(eye * signal)) / np.sqrt(noise) if noise > 0 else float("inf")


def _lesion_area(shape: tuple[int, int], lesions: pd.DataFrame, positions: np.ndarray, view: int, pixel_mm: float):
    """Pixels of one view within `LESION_MARGIN_PX` of any lesion's edge."""
    out = np.zeros(shape, bool)
    for i, les in enumerate(lesions.itertuples(index=False)):
        centre = lesion_centre(positions[i], view, shape[1])
        out |= disk(shape, centre, lesion_radius_px(les.diameter_mm, pixel_mm) + LESION_MARGIN_PX)
    return out


class TruthPair(NamedTuple):
    """One 1x-equivalent `image` and the truth of the acquisition it was made from: the noise-free
    `expected` counts (1x-equivalent, same grid), the truth's `skeleton` and `bladder` masks, the
    study's `lesions` table and their `positions` there (`metrics.lesion.acquisition_positions`)."""

    image: np.ndarray
    expected: np.ndarray
    skeleton: np.ndarray
    bladder: np.ndarray
    lesions: pd.DataFrame
    positions: np.ndarray


def error_spectra(pair: TruthPair, pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """(tiles, PATCH_PX, PATCH_PX) power spectra of image − expected per unit level, one per bone
    tile of either view (module doc)."""
    image, expected, skeleton, bladder, lesions, positions = pair
    n = PATCH_PX
    window = np.outer(np.hanning(n), np.hanning(n))
    spectra = []
    for v in range(image.shape[0]):
        if not np.isfinite(image[v]).any():
            continue
        avoid = bladder[v] | _lesion_area(image.shape[1:], lesions, positions, v, pixel_mm)
        for r in range(0, image.shape[1] - n + 1, n):
            for c in range(0, image.shape[2] - n + 1, n):
                tile = (v, slice(r, r + n), slice(c, c + n))
                level = float(expected[tile].mean())
                if skeleton[tile].mean() < MIN_BONE_FRACTION or avoid[tile[1:]].any() or level <= 0:
                    continue
                error = image[tile].astype(np.float64) - expected[tile]
                power = np.abs(np.fft.fft2((error - error.mean()) * window)) ** 2
                spectra.append(power / np.sum(window**2) / level)
    return np.asarray(spectra).reshape(-1, n, n)


class ImageMeasurement(NamedTuple):
    """One image's contribution to its class's quality model: the sum of its tiles' error power
    spectra per unit level (PATCH_PX, PATCH_PX), their number, and its lesion transfer (NaN: none)."""

    power_sum: np.ndarray
    n_tiles: int
    transfer: float


def measure_image(pair: TruthPair, pixel_mm: float = PIXEL_MM) -> ImageMeasurement:
    """Error power and lesion transfer of one image against the truth of its acquisition."""
    spectra = error_spectra(pair, pixel_mm)
    transfer = (
        contrast_recovery(pair.image, pair.expected, pair.skeleton, pair.lesions, pair.positions, pixel_mm)
        if len(pair.lesions)
        else np.nan
    )
    return ImageMeasurement(spectra.sum(axis=0), len(spectra), float(transfer))


@dataclass(frozen=True)
class ImageQuality:
    """An image class's NPWE quality model: `dprime_unit` (d′ of the reference metastasis at unit
    bone level), the lesion `transfer`, `noise_power` (mean error power per unit level, 1 for raw
    1x Poisson noise), and the tiles and images it was measured on."""

    dprime_unit: float
    transfer: float
    noise_power: float
    n_tiles: int
    n_images: int

    def dprime(self, bone_level: float) -> float:
        """d′ of the reference metastasis on bone at `bone_level` (1x-equivalent counts per pixel)."""
        if not np.isfinite(bone_level) or bone_level <= 0:
            return 0.0
        return self.dprime_unit * float(np.sqrt(bone_level))

    def likert(self, bone_level: float) -> float:
        """Continuous Likert quality 1–5 (before reader noise) of an image at `bone_level`."""
        return float(np.clip(1.0 + 4.0 * (self.dprime(bone_level) - D_POOR) / (D_EXCELLENT - D_POOR), 1.0, 5.0))

    def to_dict(self) -> dict:
        return asdict(self)


def combine(measurements: Iterable[ImageMeasurement], pixel_mm: float = PIXEL_MM) -> ImageQuality:
    """The quality model of a class from its images' measurements: mean error power over all their
    tiles, median lesion transfer (1 when none is finite). ValueError without a bone tile."""
    measurements = list(measurements)
    n_tiles = sum(m.n_tiles for m in measurements)
    if not n_tiles:
        raise ValueError("no bone tile in any image of this class: its quality cannot be measured")
    power = sum(m.power_sum for m in measurements) / n_tiles
    finite = [m.transfer for m in measurements if np.isfinite(m.transfer)]
    transfer = float(np.median(finite)) if finite else 1.0
    return ImageQuality(
        dprime_unit=npwe_dprime(power, max(transfer, 0.0), pixel_mm),
        transfer=transfer,
        noise_power=float(power.mean()),
        n_tiles=n_tiles,
        n_images=len(measurements),
    )


def fit_quality(pairs: Iterable[TruthPair], pixel_mm: float = PIXEL_MM) -> ImageQuality:
    """The quality model of one image class from each of its images with its truth; ValueError
    without a bone tile."""
    return combine((measure_image(pair, pixel_mm) for pair in pairs), pixel_mm)
