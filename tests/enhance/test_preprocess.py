"""wbslib.enhance.preprocess: bladder mask, count-level consistency, registration, patch sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.ndimage import fourier_shift
from train_fixtures import poisson, synthetic_expected

from wbslib.core.counts import from_model_output, to_model_input
from wbslib.core.errors import ParamsError
from wbslib.core.masks import bladder_mask
from wbslib.enhance import preprocess as P


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def fourier_shifted(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    return np.clip(np.fft.ifftn(fourier_shift(np.fft.fftn(image), shift)).real, 0, None)


@pytest.fixture(scope="module")
def scans():
    expected, bladder = synthetic_expected()
    return expected, bladder, poisson(expected, 1)


# --- bladder exclusion ------------------------------------------------------------------------------
def test_bladder_mask_matches_truth_on_both_views(scans):
    expected, truth, counts = scans
    mask = bladder_mask(counts)
    assert mask.shape == counts.shape and mask.dtype == bool
    for v in range(2):
        assert dice(mask[v], truth[v]) >= 0.8
    assert mask[truth].mean() == 1.0  # the dilated margin covers the whole bladder


def test_posterior_mask_mirrors_the_anterior_one_and_stands_alone_without_it(scans):
    counts = scans[2]
    mask = bladder_mask(counts)
    np.testing.assert_array_equal(mask[1], mask[0][:, ::-1])
    for missing in (np.nan, 0.0):
        no_ant = counts.copy()
        no_ant[0] = missing
        alone = bladder_mask(no_ant)
        assert not alone[0].any() and dice(alone[1], scans[1][1]) >= 0.8
    np.testing.assert_array_equal(bladder_mask(counts[0]), mask[0])  # one view alone


def test_bladder_mask_of_missing_or_empty_view_is_empty(scans):
    counts = scans[2].copy()
    counts[1] = np.nan
    mask = bladder_mask(counts)
    assert mask[0].any() and not mask[1].any()
    assert not bladder_mask(np.zeros((2, 64, 32), np.float32)).any()


# --- count-level consistency -------------------------------------------------------------------------
def test_count_ratio_brings_3x_to_1x_level_despite_a_filling_bladder(scans):
    expected, _, standard = scans
    fast = poisson(synthetic_expected(level=1 / 3, bladder=1.0)[0], 3)  # bladder fills between scans
    excluded = bladder_mask(standard) | bladder_mask(fast)
    r = P.count_ratio(fast, standard, excluded)
    assert r == pytest.approx(3.0, rel=0.03)
    bone = (expected[0] > 30) & ~excluded[0]
    assert (fast[0][bone] * r).sum() == pytest.approx(standard[0][bone].sum(), rel=0.03)


def test_count_ratio_scales_inversely_with_the_fast_scan(scans):
    _, _, standard = scans
    fast = poisson(scans[0] / 2, 4)
    assert P.count_ratio(2.5 * fast, standard) == pytest.approx(P.count_ratio(fast, standard) / 2.5, rel=1e-12)


def test_count_ratio_without_counts_is_a_named_error():
    with pytest.raises(ParamsError, match="no block"):
        P.count_ratio(np.zeros((64, 64)), np.zeros((64, 64)))


def test_model_scale_round_trip_gives_1x_equivalent_counts():
    counts = np.array([[0.0, 3.0, 10.0]], np.float32)
    x = to_model_input(counts, speed_factor=3.0, scale=30.0)
    np.testing.assert_allclose(x, [[0.0, 0.3, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(from_model_output(x, 30.0), counts * 3, rtol=1e-6)


def test_count_scale_ignores_the_bladder(scans):
    expected, truth, counts = scans
    with_bladder = P.count_scale([counts], percentile=99.99)
    without = P.count_scale([counts], [bladder_mask(counts)], percentile=99.99)
    assert without < 0.8 * with_bladder and without <= counts[~truth].max()
    with pytest.raises(ParamsError):
        P.count_scale([np.zeros((8, 8), np.float32)])


# --- patch-focused registration ----------------------------------------------------------------------
@pytest.mark.parametrize("shift", [(2.3, -1.7), (-0.6, 3.4), (0.0, 0.0), (-4.5, 0.25)])
def test_known_shift_is_recovered_within_half_a_pixel(scans, shift):
    expected, _, standard = scans
    moved = poisson(fourier_shifted(expected[0], shift) / 2, 5)  # a 2x scan, patient moved by `shift`
    top, left, size = 300, 64, 128  # chest: ribs and spine
    _, _, found = P.registered_pair(moved, standard[0], top, left, size)
    assert np.abs(found + np.asarray(shift)).max() <= 0.5  # moving it back undoes the shift


def test_registered_pair_aligns_the_patches_and_keeps_the_fast_counts_raw(scans):
    expected, _, standard = scans
    moved = poisson(fourier_shifted(expected[0], (3.3, 1.8)), 3)  # a fast scan, patient moved
    top, left, size = 300, 64, 128
    fast, target, found = P.registered_pair(moved, expected[0], top, left, size)
    assert np.allclose(found, (-3.3, -1.8), atol=0.25)
    # the fast patch is the scan's own counts moved by whole pixels: no interpolation, no smoothing
    assert np.array_equal(fast, moved[top + 3 : top + 3 + size, left + 2 : left + 2 + size])
    # the standard takes the sub-pixel rest: together the two moves are the shift found
    wanted = fourier_shifted(expected[0], tuple(-found))[top + 3 : top + 3 + size, left + 2 : left + 2 + size]
    unregistered = expected[0][top : top + size, left : left + size]  # 0.3 / 0.2 px off
    assert np.abs(target - wanted).mean() < 0.02 * np.abs(unregistered - wanted).mean()


def test_subpixel_shift_keeps_the_noise_level():
    noise = np.random.default_rng(3).normal(0.0, 1.0, (128, 128))
    moved = P.subpixel_shift(noise, np.array([0.5, -0.5]))
    assert moved.std() == pytest.approx(noise.std(), rel=0.02)  # all-pass but for the Nyquist row and column
    bilinear = ndimage.shift(noise, (0.5, -0.5), order=1, mode="wrap")
    assert bilinear.std() < 0.55 * noise.std()  # what an interpolated input would have looked like
    assert np.allclose(P.subpixel_shift(noise, np.array([2.0, 1.0])), np.roll(noise, (2, 1), axis=(0, 1)), atol=1e-4)


def test_implausible_shift_is_not_applied():
    rng = np.random.default_rng(0)
    a, b = rng.poisson(5, (64, 64)).astype(float), rng.poisson(5, (64, 64)).astype(float)
    found = P.estimate_shift(a, b, max_shift_px=0.1)
    assert np.array_equal(found, [0.0, 0.0])


# --- patch sampling --------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, -8, 100, 12, 2048, 264])
def test_bad_patch_size_is_a_named_error(size):
    with pytest.raises(ParamsError, match="patch_size"):
        P.check_patch_size(size, (1024, 256))


def test_good_patch_size_passes():
    assert P.check_patch_size(192, (1024, 256)) == 192
    assert P.check_patch_size(256, (1024, 256)) == 256


def test_patches_favour_body_and_bone(scans):
    expected, _, counts = scans
    w = P.patch_weights(counts[0])
    assert w.sum() == pytest.approx(1.0)
    cdf, rng = np.cumsum(w), np.random.default_rng(0)
    centres = []
    for _ in range(400):
        top, left = P.sample_patch(cdf, counts[0].shape, 64, rng)
        centres.append((top + 32, left + 32))
    rows, cols = np.array(centres).T
    inside = expected[0][rows, cols] > 4
    assert inside.mean() > 0.9
    assert (expected[0][rows, cols] > 30).mean() > 1.5 * (expected[0][expected[0] > 4] > 30).mean()


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from([8, 64, 192, 256]), seed=st.integers(0, 2**32 - 1))
def test_sampled_patch_lies_inside_the_image(size, seed):
    shape = (1024, 256)
    w = np.random.default_rng(seed).random(shape[0] * shape[1])
    top, left = P.sample_patch(np.cumsum(w), shape, size, np.random.default_rng(seed))
    assert 0 <= top <= shape[0] - size and 0 <= left <= shape[1] - size


def test_random_flips_apply_the_same_flip_to_all_arrays():
    a = np.arange(12.0).reshape(3, 4)
    seen = set()
    for seed in range(40):
        x, y = P.random_flips([a, a * 10], np.random.default_rng(seed))
        np.testing.assert_array_equal(y, x * 10)
        seen.add((x[0, 0] != a[0, 0] and x[0, 0] in (a[2, 0], a[2, 3]), x[0, 0] in (a[0, 3], a[2, 3])))
        again = P.random_flips([a], np.random.default_rng(seed))[0]
        np.testing.assert_array_equal(again, x)
    assert seen == {(False, False), (True, False), (False, True), (True, True)}


# --- acceptance on the phantom ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    """Three phantom patients scanned at 3x then 1x (real-like protocol), with their truth."""
    from wbslib.enhance.datasets import read_counts
    from wbslib.io.truth import load_truth
    from wbslib.phantom.cohort import cohort_config, simulate_patient
    from wbslib.phantom.patients import sample_patients

    root = tmp_path_factory.mktemp("phantom")
    cfg = cohort_config({"cohort": {"n_patients": 3, "n_metastatic": 1, "n_train": 0, "n_val": 0, "speeds": [1, 3]}})
    out = []
    for patient in sample_patients(cfg, 11).to_dict("records"):
        simulate_patient(patient, cfg, 11, root)
        sid = patient["study_id"]
        out.append({s: (read_counts(root, [f"dicom/{sid}/{s}x.dcm"]), load_truth(root, sid, s)) for s in (1, 3)})
    return out


def test_bladder_mask_covers_the_phantom_bladder(phantom):
    for patient in phantom:
        for counts, truth in patient.values():
            mask = bladder_mask(counts)
            for v in range(2):
                assert dice(mask[v], truth["bladder"][v]) >= 0.8


def test_count_consistency_maps_3x_bone_counts_to_1x_within_3_percent(phantom):
    for patient in phantom:
        (standard, truth1), (fast, truth3) = patient[1], patient[3]
        excluded = bladder_mask(standard) | bladder_mask(fast)
        r = P.count_ratio(fast, standard, excluded)
        bone1, bone3 = truth1["skeleton"] & ~excluded, truth3["skeleton"] & ~excluded
        assert (fast[bone3] * r).sum() == pytest.approx(standard[bone1].sum(), rel=0.03)
        assert 2.7 < r < 3.1  # near the speed factor; decay and clearance move it a little


@pytest.mark.parametrize("shift", [(1.7, -2.4), (-3.2, 0.6)])
def test_known_shift_of_a_phantom_scan_is_recovered(phantom, shift):
    standard = phantom[0][1][0][0]
    moved = poisson(fourier_shifted(phantom[0][1][1]["expected"][0], shift) / 2, 9)  # 2x scan, moved
    for top, left in ((250, 64), (400, 64)):  # chest, pelvis
        _, _, found = P.registered_pair(moved, standard, top, left, 128)
        assert np.abs(found + np.asarray(shift)).max() <= 0.75  # the calibrated phantom's blur (≈ 19 mm FWHM)
