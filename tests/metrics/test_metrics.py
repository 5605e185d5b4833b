"""wbslib.metrics.measure / metrics_lesion: pixel metrics, lesion and noise measures, the tidy cohort table.

Known answers: identical images, a constant offset (exact PSNR/NRMSE), pure shifts, Poisson noise
of known mean, a lesion of known contrast on a noise-free image, and the shift mapping of lesions.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from wbslib.core.errors import MetricInputError
from wbslib.core.repro import rng
from wbslib.metrics import lesion
from wbslib.metrics.measure import (
    TIDY_COLUMNS,
    measure_cohort,
    pixel_metrics,
    summarise,
)

ROWS, COLS = 160, 64


def blob_image(rows=ROWS, cols=COLS, centre=(80, 32), sigma=6.0, peak=100.0) -> np.ndarray:
    """Two identical views of a Gaussian blob on a faint background (float64 counts)."""
    r, c = np.mgrid[:rows, :cols]
    view = 2.0 + peak * np.exp(-((r - centre[0]) ** 2 + (c - centre[1]) ** 2) / (2 * sigma**2))
    return np.stack([view, view])


# --- pixel metrics --------------------------------------------------------------------------------
def test_identical_images_are_perfect():
    img = blob_image()
    m = pixel_metrics(img, img.copy())
    assert m["psnr"] == np.inf and m["ssim"] == pytest.approx(1.0, abs=1e-12) and m["nrmse"] == 0.0


def test_constant_offset_gives_exact_psnr_and_nrmse():
    ref = blob_image()
    m = pixel_metrics(ref + 1.0, ref)  # MSE = 1, data_range = max(ref) per view
    assert m["psnr"] == pytest.approx(20 * np.log10(ref[0].max()), abs=1e-9)
    assert m["nrmse"] == pytest.approx(1.0 / np.sqrt(np.mean(ref[0] ** 2)), rel=1e-12)
    assert m["ssim"] < 1.0


def test_nrmse_grows_and_ssim_falls_with_shift():
    ref = blob_image()
    res = [pixel_metrics(np.roll(ref, k, axis=1), ref) for k in (1, 2, 4, 8)]
    nrmse, ssim = [r["nrmse"] for r in res], [r["ssim"] for r in res]
    assert 0 < nrmse[0] < nrmse[1] < nrmse[2] < nrmse[3]
    assert 1 > ssim[0] > ssim[1] > ssim[2] > ssim[3]


def test_missing_view_is_skipped():
    ref, img = blob_image(), blob_image(peak=90.0)
    both = pixel_metrics(img, ref)
    img_post_nan = img.copy()
    img_post_nan[1] = np.nan
    assert pixel_metrics(img_post_nan, ref) == pytest.approx(both)  # identical views: same mean
    img_all_nan = np.full_like(img, np.nan)
    assert all(np.isnan(v) for v in pixel_metrics(img_all_nan, ref).values())


def test_shape_mismatch_is_named_error():
    with pytest.raises(MetricInputError, match="cannot be compared"):
        pixel_metrics(blob_image(), blob_image(rows=100))


# --- lesions ----------------------------------------------------------------------------------------
def bone_phantom(lesions: list[tuple[int, int, float, float]], shape=(ROWS, COLS), bone=100.0):
    """Noise-free view: a uniform bone slab (cols 8..56) with disk lesions (row, col, radius, ratio)."""
    view = np.full(shape, 5.0)
    skeleton = np.zeros(shape, bool)
    skeleton[:, 8:56] = True
    view[skeleton] = bone
    for r, c, radius, ratio in lesions:
        view[lesion.disk(shape, (r, c), radius)] = bone * ratio
    return view, skeleton


def lesion_table(spec, study="S1"):
    """Lesion table rows (contract of wbslib.io.truth.load_lesions) for (row, col, diameter_mm, malignant)."""
    return pd.DataFrame(
        [
            {
                "study_id": study,
                "lesion_id": i,
                "type": "met" if m else "benign",
                "malignant": m,
                "row": r,
                "col": c,
                "diameter_mm": d,
                "contrast": 3.0,
                "visible_ant": True,
                "visible_post": True,
            }
            for i, (r, c, d, m) in enumerate(spec)
        ]
    )


def test_lesion_contrast_known_value():
    view, skeleton = bone_phantom([(80, 32, 4.0, 3.0)])
    assert lesion.lesion_contrast(view, (80, 32), 4.0, skeleton) == pytest.approx(2.0, abs=1e-12)
    assert lesion.lesion_contrast(view, (40, 32), 4.0, skeleton) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(lesion.lesion_contrast(view, (80, 32), 4.0, np.zeros_like(skeleton)))  # no bone ring


def two_view_case(shift=(0, 0), half_contrast=False):
    """Image, truth and skeleton (2, ROWS, COLS) with one lesion at (80, 24) + shift (anterior frame;
    POST column mirrored), and its table."""
    table = lesion_table([(80, 24, 9.6, True)])  # radius 2 px at 2.4 mm
    here = np.array([80.0, 24.0]) + shift
    views, bones = [], []
    for v in range(2):
        centre = lesion.lesion_centre(here, v, COLS)
        view, skeleton = bone_phantom([(centre[0], centre[1], 2.0, 3.0)])
        views.append(view)
        bones.append(skeleton)
    truth = np.stack(views)
    image = truth.copy()
    if half_contrast:  # lesion 2.0 → 1.0 contrast: recovery 0.5
        for v in range(2):
            centre = lesion.lesion_centre(here, v, COLS)
            image[v][lesion.disk((ROWS, COLS), centre, 2.0)] = 200.0
    return image, truth, np.stack(bones), table


def test_contrast_recovery_noise_free_is_one_and_halved_contrast_is_half():
    image, truth, skeleton, table = two_view_case()
    at_1x = lesion.acquisition_positions(table, (0, 0))
    assert lesion.contrast_recovery(truth, truth, skeleton, table, at_1x, 2.4) == pytest.approx(1.0)
    image, truth, skeleton, table = two_view_case(half_contrast=True)
    assert lesion.contrast_recovery(image, truth, skeleton, table, at_1x, 2.4) == pytest.approx(0.5)


@pytest.mark.parametrize("shift", [(3, 0), (-2, 5), (4, -3)])
def test_contrast_recovery_unchanged_under_mapped_shift(shift):
    image, truth, skeleton, table = two_view_case(half_contrast=True)
    base = lesion.contrast_recovery(image, truth, skeleton, table, lesion.acquisition_positions(table, (0, 0)), 2.4)
    image, truth, skeleton, table = two_view_case(shift, half_contrast=True)
    mapped = lesion.acquisition_positions(table, shift)
    assert lesion.contrast_recovery(image, truth, skeleton, table, mapped, 2.4) == pytest.approx(base)
    unmapped = lesion.acquisition_positions(table, (0, 0))
    assert lesion.contrast_recovery(image, truth, skeleton, table, unmapped, 2.4) != pytest.approx(base)


def test_positions_shift_and_mirror():
    table = lesion_table([(10, 20, 9.6, True), (30, 40, 9.6, False)])
    positions = lesion.acquisition_positions(table, (2, 3))
    assert positions.tolist() == [[12, 23], [32, 43]]
    assert lesion.lesion_centre(positions[0], 0, 256) == (12, 23)
    assert lesion.lesion_centre(positions[0], 1, 256) == (12, 256 - 1 - 23)
    own = np.array([[11.6, 24.4], [33.0, 40.0]])  # the truth's own centres (limb motion) win
    assert lesion.acquisition_positions(table, (2, 3), own).tolist() == own.tolist()
    assert lesion.acquisition_positions(table, (2, 3), own[:1]).tolist() == positions.tolist()  # incomplete


def test_hottest_lesion_is_the_hottest_malignant_one():
    spec = [(40, 24, 9.6, True), (80, 40, 9.6, True), (120, 24, 9.6, False)]
    ratios = [2.0, 3.0, 5.0]  # the benign mimic is the hottest spot but not a lesion of interest
    ant, skeleton = bone_phantom([(r, c, 2.0, q) for (r, c, _, _), q in zip(spec, ratios)])
    post, _ = bone_phantom([(r, COLS - 1 - c, 2.0, q) for (r, c, _, _), q in zip(spec, ratios)])
    image, table = np.stack([ant, post]), lesion_table(spec)
    positions = lesion.acquisition_positions(table, (0, 0))
    hottest = lesion.hottest_lesion(image, table, positions, 2.4)
    assert hottest["lesion_id"] == 1
    assert lesion.lesion_peak(image, hottest, positions) == pytest.approx(300.0)
    moved = np.roll(image, (2, -1), axis=(1, 2))  # next scan: 2 rows down, 1 col left (ANT), +1 col (POST)
    assert lesion.lesion_peak(moved, hottest, positions) == pytest.approx(300.0)  # within the ROI margin
    benign = table[~table["malignant"]]
    assert lesion.hottest_lesion(image, benign, lesion.acquisition_positions(benign, (0, 0)), 2.4) is None


def test_focal_spot_found_outside_bladder():
    ant, _ = bone_phantom([(40, 30, 2.0, 2.5)])
    ant[np.hypot(*np.mgrid[:ROWS, :COLS] - np.array([90, 32])[:, None, None]) <= 10] = 600.0  # bladder
    image = np.stack([ant, ant])
    spot = lesion.find_focal_spot(image)
    assert spot is not None and abs(spot["centre"][0] - 40) <= 1 and abs(spot["centre"][1] - 30) <= 1
    shifted = np.roll(image, (0, 3, -2), axis=(0, 1, 2))  # patient moved 3 rows, -2 cols
    assert lesion.spot_peak(shifted, spot) == pytest.approx(250.0)


# --- noise -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mean,speed", [(100.0, 1.0), (25.0, 1.0), (100.0, 3.0)])
def test_noise_cv_of_poisson_is_one_over_sqrt_mean(mean, speed):
    expected = np.full((64, 64), mean)  # 1x-equivalent
    image = rng(3, "cv", int(mean), int(speed)).poisson(expected / speed) * speed
    region = np.ones(expected.shape, bool)
    cv = lesion.noise_cv(image, expected, region)
    assert cv == pytest.approx(np.sqrt(speed / mean), rel=0.05)  # SE of an SD over 4096 pixels ≈ 1.1 %
    assert lesion.noise_cv(expected, expected, region) == 0.0
    assert np.isnan(lesion.noise_cv(image, expected, np.zeros_like(region)))


def test_noise_cv_divides_out_anatomy():
    r = np.arange(64)[:, None]
    expected = np.broadcast_to(50.0 + 2.0 * r, (64, 64)).astype(np.float64)  # a ramp, not uniform
    image = rng(4, "ramp").poisson(expected).astype(np.float64)
    cv = lesion.noise_cv(image, expected, np.ones((64, 64), bool))
    plain = image.std(ddof=1) / image.mean()
    target = np.mean(1 / np.sqrt(expected))
    assert cv == pytest.approx(target, rel=0.06) and plain > 3 * cv


def test_uniform_regions_avoid_lesions_and_organs():
    shape = (2, ROWS, COLS)
    skeleton = np.zeros(shape, bool)
    skeleton[:, :, 8:56] = True
    body = np.ones(shape, bool)
    bladder = np.zeros(shape, bool)
    bladder[:, 140:150, 20:40] = True
    masks = {"skeleton": skeleton, "body": body, "bladder": bladder, "kidneys": np.zeros(shape, bool)}
    table = lesion_table([(80, 24, 9.6, True)])
    regions = lesion.uniform_regions(masks, table, lesion.acquisition_positions(table, (0, 0)), 2.4)
    assert not regions["bone"][0, 80, 24] and not regions["bone"][1, 80, COLS - 1 - 24]
    assert regions["bone"][0, 40, 30] and not regions["bone"][0, 145, 30]
    # soft tissue: body eroded by 3 px (cols 3..60) minus the skeleton dilated by 4 px (cols 4..59)
    assert regions["soft"][0, 40].nonzero()[0].tolist() == [3, 60]
    assert not regions["soft"][:, :3].any() and not (regions["soft"] & skeleton).any()


# --- the tidy table ---------------------------------------------------------------------------------------
def image_sets(studies=("S1", "S2")):
    rows = []
    for sid in studies:
        for group, speed in (("1x", 1.0), ("2x", 2.0), ("2x-real", 2.0)):
            rows.append(
                {
                    "study_id": sid,
                    "group": group,
                    "speed_factor": speed,
                    "method": group,
                    "path": "",
                    "to_1x": speed,
                    "split": "test",
                    "label": 1,
                }
            )
    rows.append({**rows[0], "study_id": "T9", "split": "train"})
    return pd.DataFrame(rows)


HOT = dict(centre=(30, 32), sigma=2.0, peak=200.0)  # a focal spot above the pelvis


def fake_counts(row):
    """1x-equivalent counts: 1x noise-free, 2x Poisson at half the counts × 2, 2x-real at 1/1.25 × 1.25."""
    base = blob_image(**HOT)
    if row["group"] == "1x":
        return base
    speed = 2.0 if row["group"] == "2x" else 1.25
    return rng(5, str(row["study_id"]), str(row["group"])).poisson(base / speed) * speed


def test_measure_cohort_clinical_mode(tmp_path):
    tidy = measure_cohort(image_sets(), tmp_path, lpips=False, fid=False, load_counts=fake_counts, progress=False)
    assert list(tidy.columns) == TIDY_COLUMNS and set(tidy["study_id"]) == {"S1", "S2"}  # test split only
    assert set(tidy["metric"]) == {"psnr", "ssim", "nrmse", "hottest_lesion_counts"}
    vs1x = tidy[tidy["reference"] == "1x"]
    assert "1x" not in set(vs1x["group"])
    nrmse = vs1x[vs1x["metric"] == "nrmse"].set_index(["study_id", "group"])["value"]
    assert (nrmse.xs("2x-real", level="group") < nrmse.xs("2x", level="group")).all()  # less noise, lower error
    hot = tidy[tidy["metric"] == "hottest_lesion_counts"]
    d2 = np.add.outer(np.arange(-1, 2) ** 2, np.arange(-1, 2) ** 2)
    peak_3x3 = 2.0 + 200.0 * np.exp(-d2 / (2 * 2.0**2)).mean()
    assert len(hot) == 6 and hot[hot["group"] == "1x"]["value"].tolist() == pytest.approx([peak_3x3] * 2)
    assert hot[hot["group"] != "1x"]["value"].tolist() == pytest.approx([peak_3x3] * 4, rel=0.15)


def fake_truth_module(truth_by_speed, table):
    module = types.ModuleType("wbslib.io.truth")
    module.load_truth = lambda data_root, study_id, speed: truth_by_speed[float(speed)]
    module.load_lesions = lambda data_root: table
    return module


def test_measure_cohort_phantom_truth(tmp_path, monkeypatch):
    """Truth of each acquisition is used on its own grid: 2x shifted by (3, -2) px, enhanced 2x noise-free."""
    table = lesion_table([(80, 24, 9.6, True)], study="S1")
    truth_by_speed = {}
    for speed, shift in ((1.0, (0, 0)), (2.0, (3, -2))):
        image, truth, skeleton, _ = two_view_case(shift)
        masks = {
            "skeleton": skeleton,
            "body": np.ones_like(skeleton),
            "bladder": np.zeros_like(skeleton),
            "kidneys": np.zeros_like(skeleton),
        }
        truth_by_speed[speed] = {"expected": truth / speed, "shift_px": np.array(shift), **masks}
    monkeypatch.setitem(sys.modules, "wbslib.io.truth", fake_truth_module(truth_by_speed, table))
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "lesions.csv").write_text("placeholder: the fake loader answers\n")

    def counts(row):
        truth = truth_by_speed[float(row["speed_factor"])]["expected"] * row["speed_factor"]
        if row["group"] == "2x":
            return rng(8, "2x").poisson(truth / 2.0) * 2.0
        return truth

    tidy = measure_cohort(image_sets(["S1"]), tmp_path, lpips=False, fid=False, load_counts=counts, progress=False)
    value = tidy.set_index(["group", "metric", "reference"])["value"]
    assert value[("2x-real", "nrmse", "truth")] == 0.0 and value[("2x-real", "nrmse", "1x")] > 0.05
    assert value[("2x-real", "contrast_recovery", "truth")] == pytest.approx(1.0)
    assert value[("2x", "noise_cv_bone", "truth")] == pytest.approx(np.sqrt(2 / 100), rel=0.15)
    assert value[("1x", "noise_cv_bone", "truth")] == 0.0
    for group in ("1x", "2x-real"):
        assert value[(group, "hottest_lesion_counts", "none")] == pytest.approx(300.0)


def test_measure_cohort_bad_input(tmp_path):
    with pytest.raises(MetricInputError, match="lacks column"):
        measure_cohort(image_sets().drop(columns="split"), tmp_path, lpips=False, fid=False, load_counts=fake_counts)
    no_standard = image_sets()
    no_standard = no_standard[no_standard["group"] != "1x"]
    with pytest.raises(MetricInputError, match="exactly one standard"):
        measure_cohort(no_standard, tmp_path, lpips=False, fid=False, load_counts=fake_counts, progress=False)


def test_summarise_mean_sd_and_not_available():
    tidy = pd.DataFrame(
        [
            ("S1", "3x", "ssim", 0.5, "1x"),
            ("S2", "3x", "ssim", 0.7, "1x"),
            ("S1", "2x", "ssim", 0.8, "1x"),
            ("S1", "2x", "lpips", np.nan, "1x"),
            ("S2", "2x", "lpips", np.nan, "1x"),
        ],
        columns=TIDY_COLUMNS,
    )
    table = summarise(tidy)
    assert table["group"].tolist() == ["2x", "2x", "3x"]
    row = table[(table["group"] == "3x")].iloc[0]
    assert (row["n"], row["mean"], row["sd"], row["text"]) == (
        2,
        pytest.approx(0.6),
        pytest.approx(np.sqrt(0.02)),
        "0.600 ± 0.141",
    )
    assert table.set_index(["group", "metric"]).loc[("2x", "lpips"), "text"] == "not available"
    with pytest.raises(MetricInputError):
        summarise(tidy.drop(columns="reference"))
