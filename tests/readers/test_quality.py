"""wbslib.readers.quality: the virtual readers' Likert rule, an NPWE observer per image class.

Known answers: with a flat eye filter the NPWE d′ is the ideal observer's √(Σ s² / σ²) in white
noise; raw Poisson scans at speed s measure an error power ≈ s per unit level, so d′ falls as
1/√s; the truth has no error (d′ ∞, Likert 5); the anchors map d′ 0.95 / 2.33 to Likert 1 / 5.
Smoothing a scan (correlated noise, blurred lesions) lowers d′. Bad input: no bone tile is a named error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from wbslib.core.repro import rng
from wbslib.readers import quality
from wbslib.readers.quality import (
    D_EXCELLENT,
    D_POOR,
    PATCH_PX,
    ImageQuality,
    TruthPair,
    eye_filter,
    fit_quality,
    measure_image,
    npwe_dprime,
    reference_lesion,
)

LEVEL = 40.0
NO_LESIONS = pd.DataFrame(columns=["row", "col", "diameter_mm", "malignant"])


def flat_bone(rows: int = 256, cols: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noise-free image of uniform bone at LEVEL counts per pixel, its skeleton and (empty) bladder."""
    expected = np.full((2, rows, cols), LEVEL)
    return expected, np.ones(expected.shape, bool), np.zeros(expected.shape, bool)


def with_lesions(expected: np.ndarray) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """`expected` with 12 blurred hot lesions (12 mm, 2 × bone) and their table and positions."""
    rows, cols = expected.shape[1:]
    positions = np.array([[r, c] for r in range(24, rows - 20, 40) for c in (32, 96)][:12], float)
    spots = np.zeros((rows, cols))
    for r, c in positions:
        spots[int(r), int(c)] = 1.0
    disks = ndimage.binary_dilation(spots > 0, iterations=2).astype(float)
    excess = ndimage.gaussian_filter(LEVEL * disks, 2.0)
    lesions = pd.DataFrame(
        {"lesion_id": range(len(positions)), "row": positions[:, 0], "col": positions[:, 1], "diameter_mm": 12.0}
    ).assign(malignant=1)
    image = expected + np.stack([excess, excess[:, ::-1]])
    return image, lesions, positions


def poisson(expected: np.ndarray, speed: float, key: str) -> np.ndarray:
    return rng(3, "quality", key, speed).poisson(expected / speed) * speed


def test_flat_eye_filter_gives_the_ideal_observer_in_white_noise(monkeypatch):
    monkeypatch.setattr(quality, "eye_filter", lambda n=PATCH_PX: np.ones((n, n)))
    signal = reference_lesion()
    for sigma2 in (1.0, 3.0):
        expected = np.sqrt(np.sum(signal**2) / sigma2)
        assert npwe_dprime(np.full((PATCH_PX, PATCH_PX), sigma2)) == pytest.approx(expected, rel=1e-12)
    assert npwe_dprime(np.full((PATCH_PX, PATCH_PX), 2.0), transfer=0.5) == pytest.approx(
        0.5 * npwe_dprime(np.full((PATCH_PX, PATCH_PX), 2.0)), rel=1e-12
    )


def test_eye_filter_peaks_at_4_cycles_per_degree():
    e = eye_filter(256)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256))) * quality.PX_PER_DEGREE
    assert e.max() == pytest.approx(1.0, abs=1e-3) and f.flat[np.argmax(e)] == pytest.approx(4.0, abs=0.2)
    assert e[0, 0] == 0.0  # the eye ignores the mean level


def test_raw_scans_measure_poisson_noise_and_d_prime_falls_as_one_over_root_speed():
    expected, skeleton, bladder = flat_bone()
    models = {}
    for s in (1.0, 2.0, 4.0):
        images = [
            TruthPair(poisson(expected, s, f"p{i}"), expected, skeleton, bladder, NO_LESIONS, np.zeros((0, 2)))
            for i in range(3)
        ]
        models[s] = fit_quality(images)
        assert models[s].noise_power == pytest.approx(s, rel=0.03)
        assert models[s].n_tiles == 3 * 2 * (256 // PATCH_PX) * (128 // PATCH_PX) and models[s].transfer == 1.0
    for s in (2.0, 4.0):
        assert models[s].dprime_unit / models[1.0].dprime_unit == pytest.approx(1 / np.sqrt(s), rel=0.05)
    white = npwe_dprime(np.full((PATCH_PX, PATCH_PX), 1.0))
    assert models[1.0].dprime_unit == pytest.approx(white, rel=0.05)


def test_truth_scores_5_and_the_anchors_map_onto_1_to_5():
    expected, skeleton, bladder = flat_bone()
    truth = fit_quality([TruthPair(expected, expected, skeleton, bladder, NO_LESIONS, np.zeros((0, 2)))])
    assert truth.dprime_unit == np.inf and truth.noise_power == 0.0 and truth.likert(30.0) == 5.0
    q = ImageQuality(dprime_unit=1.0, transfer=1.0, noise_power=1.0, n_tiles=1, n_images=1)
    assert q.likert(D_POOR**2) == pytest.approx(1.0) and q.likert(D_EXCELLENT**2) == pytest.approx(5.0)
    assert q.likert(((D_POOR + D_EXCELLENT) / 2) ** 2) == pytest.approx(3.0)
    assert q.likert(0.01) == 1.0 and q.likert(100.0) == 5.0 and q.likert(float("nan")) == 1.0
    assert q.dprime(4.0) == 2.0  # d′ grows as √(bone level)
    assert round(D_POOR, 3) == 0.954 and round(D_EXCELLENT, 3) == 2.326  # 2AFC 75 % and 95 %


def test_smoothing_lowers_the_rating_and_lesions_stay_out_of_the_noise_tiles():
    expected, skeleton, bladder = flat_bone(512, 128)
    hot, lesions, positions = with_lesions(expected)
    raw = [poisson(hot, 2.0, f"s{i}") for i in range(2)]
    smooth = [np.stack([ndimage.gaussian_filter(v, 2.0) for v in r]) for r in raw]
    rated = {
        name: fit_quality(TruthPair(img, hot, skeleton, bladder, lesions, positions) for img in images)
        for name, images in (("raw", raw), ("smoothed", smooth))
    }
    assert rated["raw"].transfer == pytest.approx(1.0, abs=0.1) and rated["smoothed"].transfer < 0.9
    assert rated["smoothed"].noise_power < 0.5 * rated["raw"].noise_power  # less noise overall ...
    assert rated["smoothed"].dprime_unit < rated["raw"].dprime_unit  # ... yet a lower rating
    tiles_without = measure_image(TruthPair(raw[0], expected, skeleton, bladder, NO_LESIONS, np.zeros((0, 2)))).n_tiles
    assert measure_image(TruthPair(raw[0], hot, skeleton, bladder, lesions, positions)).n_tiles < tiles_without


def test_no_bone_tile_is_a_named_error():
    expected, skeleton, bladder = flat_bone()
    with pytest.raises(ValueError, match="no bone tile"):
        fit_quality([TruthPair(expected, expected, ~skeleton, bladder, NO_LESIONS, np.zeros((0, 2)))])
    with pytest.raises(ValueError, match="no bone tile"):
        fit_quality([TruthPair(expected, expected, skeleton, ~bladder, NO_LESIONS, np.zeros((0, 2)))])
