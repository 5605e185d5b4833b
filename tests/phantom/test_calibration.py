"""Calibration against the real scan: the two figures at matched counts, their edge cases, and the
acceptance on a handful of phantom patients (±15 % of the real scan's best-Gaussian σ and p99/p50)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import ndimage

from wbslib.core.errors import InvalidCountsError
from wbslib.core.repro import rng
from wbslib.phantom import render as pr
from wbslib.phantom.calibration import (
    MATCHED_COUNTS,
    REAL_SCAN_TARGETS,
    SIGMA_GRID_MM,
    TOLERANCE,
    best_sigma_mm,
    calibration_summary,
    calibration_table,
    matched_view,
    p99_p50,
    plot_calibration,
)
from wbslib.phantom.cohort import cohort_config, phantom_for
from wbslib.phantom.parts import ellipsoid
from wbslib.phantom.patients import sample_patients


def spots(sigma_px: float, shape=(256, 128)) -> np.ndarray:
    """Point sources on a faint slab, blurred by `sigma_px` (a sharper or blurrier 'scan')."""
    image = np.zeros(shape)
    image[20:-20, 10:-10] = 1.0
    gen = np.random.default_rng(0)
    image[gen.integers(30, shape[0] - 30, 60), gen.integers(20, shape[1] - 20, 60)] += 400.0
    return ndimage.gaussian_filter(image, sigma_px)


def test_matched_view_holds_the_matched_counts_and_keeps_zeros():
    expected = spots(2.0)
    expected[:10] = 0.0
    clean, noisy = matched_view(expected, rng(1, "m"))
    assert clean.sum() == pytest.approx(MATCHED_COUNTS, rel=1e-12)
    assert np.allclose(clean, expected * (MATCHED_COUNTS / expected.sum()), rtol=1e-12, atol=0)
    assert abs(noisy.sum() - MATCHED_COUNTS) < 5 * np.sqrt(MATCHED_COUNTS)  # Poisson total
    assert np.array_equal(noisy, np.rint(noisy)) and not noisy[:10].any()


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8)), np.full((8, 8), np.nan), -np.ones((8, 8)), np.ones((2, 8, 8)), np.ones(8)]
)
def test_matched_view_rejects_views_that_are_not_counts(bad):
    with pytest.raises(InvalidCountsError, match="noise-free view"):
        matched_view(bad, rng(1, "bad"))


def test_best_sigma_follows_the_blur_and_the_noise():
    px = 2.4
    sharp, blurry = (matched_view(spots(s), rng(2, "s", s)) for s in (1.0, 3.0))
    assert best_sigma_mm(sharp[1], sharp[0], px) < best_sigma_mm(blurry[1], blurry[0], px)  # blur → wider σ
    clean, noisy = matched_view(spots(1.0), rng(2, "rich"), counts=1e13)
    assert best_sigma_mm(noisy, clean, px) == SIGMA_GRID_MM[0]  # almost no noise: the least smoothing wins
    flat = np.ones((64, 64))
    clean, noisy = matched_view(flat, rng(2, "flat"), counts=1e5)
    assert best_sigma_mm(noisy, clean, px) == SIGMA_GRID_MM[-1]  # nothing to keep: the most smoothing wins


def test_best_sigma_on_the_body_box_equals_the_whole_view():
    clean, noisy = matched_view(np.pad(spots(2.0), 40), rng(3, "pad"))
    grid = (1.0, 2.0, 3.0, 4.0)
    errors = [np.linalg.norm(ndimage.gaussian_filter(noisy, s / 2.4, mode="reflect") - clean) for s in grid]
    assert best_sigma_mm(noisy, clean, 2.4, grid) == grid[int(np.argmin(errors))]


def test_p99_p50_of_a_two_level_body_is_the_level_ratio():
    view = np.zeros((1024, 256))
    view[100:900, 40:216] = 20.0  # body at 20 counts/pixel (10 cm/min)
    view[400:460, 80:120] = 100.0  # a hot block: its interior (2 px in from its edge) is 1.4 % of the body
    assert p99_p50(view, 2.4) == pytest.approx(5.0, rel=1e-9)


def test_lehr_blur_per_layer_then_the_clinical_blur_is_the_system_blur():
    """The projector blurs each layer with LEHR and the sum once with the clinical blur; one part
    alone (`part_projection`) takes the system blur in one go: Gaussians add in quadrature."""
    grid = pr.Grid(256, 128, 2.4, row0=0.0, col0=63.5)
    spot = ellipsoid("spot", "x", (0.0, 300.0), 2, 2, 2, density=1.0, depth=60.0, thick=200.0)
    proj = pr.Projector(grid)
    proj.add(spot)
    rs, cs, alone = pr.part_projection(spot, grid, 0)
    full = proj.blurred(0)
    core = alone > 0.01 * alone.max()  # discrete kernels truncated at 3σ: peaks agree to a few %
    np.testing.assert_allclose(full[rs, cs][core], alone[core], rtol=0.03)
    assert full.sum() == pytest.approx(float(alone.sum()), rel=5e-3)
    assert pr.system_fwhm_mm(100.0) == pytest.approx(np.hypot(pr.fwhm_mm(100.0), pr.CLINICAL_BLUR_FWHM_MM))


@pytest.fixture(scope="module")
def handful():
    """Three phantom patients of the demo cohort (seed 7), both views at matched counts."""
    cfg = cohort_config({"cohort": {"n_patients": 3, "n_metastatic": 1, "n_train": 0, "n_val": 0}})
    phantoms = [phantom_for(p, cfg, 7) for p in sample_patients(cfg, 7).to_dict("records")]
    return calibration_table(phantoms, 7)


def test_the_phantom_matches_the_real_scan_within_tolerance(handful):
    """Acceptance (issue 13): best-Gaussian σ 4.5 mm and p99/p50 4.28 of the real scan, ±15 %."""
    assert REAL_SCAN_TARGETS == {"best_sigma_mm": 4.5, "p99_p50": 4.28} and TOLERANCE == 0.15
    assert list(handful.columns) == ["study_id", "view", "best_sigma_mm", "p99_p50"] and len(handful) == 6
    summary = calibration_summary(handful)
    for name, target in REAL_SCAN_TARGETS.items():
        assert abs(summary.at[name, "phantom median"] / target - 1) <= TOLERANCE, name
        assert summary.at[name, "share in band"] >= 0.75, name


def test_plot_calibration_draws_every_view_and_the_target(handful):
    fig = plot_calibration(handful)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections[1:]) == len(handful) + 1
