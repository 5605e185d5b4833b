"""Baselines: Gaussian filter with σ chosen on validation patients, BM3D on Anscombe-transformed counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_infer import poisson_image, tiny_cohort
from scipy import ndimage

from wbslib.core.counts import gaussian_counts
from wbslib.core.errors import ParamsError
from wbslib.core.fileio import sha256_file
from wbslib.enhance import baselines as bl
from wbslib.io.dicom import read_wholebody


def test_gaussian_keeps_totals_and_nan_views():
    counts = poisson_image(np.full((2, 64, 32), 5.0), seed=0)
    counts[1] = np.nan
    out = gaussian_counts(counts, 1.5)
    assert np.isnan(out[1]).all()
    assert out[0].sum() == pytest.approx(counts[0].sum(), rel=1e-5)
    assert out[0].std() < counts[0].std() / 2
    np.testing.assert_array_equal(gaussian_counts(counts, 0.0)[0], counts[0])


def test_inverse_anscombe_is_unbiased_for_poisson_counts():
    rng = np.random.default_rng(0)
    for mean in (1.0, 3.0, 10.0, 50.0):
        d = bl.anscombe(rng.poisson(mean, 200_000)).mean()
        assert bl.inverse_anscombe(d) == pytest.approx(mean, rel=0.01)
    assert bl.inverse_anscombe(bl.anscombe(np.zeros(3))).max() == pytest.approx(0.0, abs=1e-3)
    assert bl.inverse_anscombe(np.array([0.1])) >= 0  # below A(0): no negative counts


def test_bm3d_denoises_keeps_the_level_and_leaves_empty_background_at_zero():
    expected = np.zeros((2, 96, 64))
    expected[:, 16:80, 12:52] = 10.0  # a 'body' of 10 counts/pixel at 2x
    raw = poisson_image(expected, seed=1)
    raw[1] = np.nan  # missing view
    out = bl.bm3d_counts(raw, speed_factor=2.0)
    assert np.isnan(out[1]).all()
    inside = out[0, 24:72, 20:44]
    assert inside.mean() == pytest.approx(20.0, rel=0.03)  # 1x-equivalent: × s, no bias
    assert inside.std() < (raw[0, 24:72, 20:44] * 2).std() / 3
    assert (out[0, :4] == 0).all() and (out[0] >= 0).all()


def test_sigma_choice_known_answers():
    truth = ndimage.gaussian_filter(np.pad(np.full((2, 48, 24), 30.0), ((0, 0), (8, 8), (8, 8))), (0, 2, 2))
    sigma, table = bl.choose_gaussian_sigma([(truth.astype(np.float32), truth)])
    assert sigma == 0.0 and table.loc[0, "nrmse_mean"] == pytest.approx(0.0, abs=1e-6)  # no noise: no filter
    pairs = [(poisson_image(truth, seed=s), truth) for s in range(3)]
    sigma, table = bl.choose_gaussian_sigma(pairs)
    assert sigma >= 1.0 and list(table.columns) == ["sigma_px", "nrmse_mean", "nrmse_sd"]
    assert table["nrmse_mean"].min() < table.loc[table["sigma_px"] == 0.0, "nrmse_mean"].item() / 2


def test_validation_pairs_fall_back_to_the_1x_scan_without_truth(tmp_path):
    manifest = tiny_cohort(tmp_path)
    pairs, reference = bl.validation_pairs(manifest, tmp_path, 2.0)
    assert reference == "1x" and len(pairs) == 1
    noisy, ref = pairs[0]
    raw = read_wholebody(tmp_path / "dicom" / "V01" / "2x.dcm").counts
    np.testing.assert_array_equal(noisy, raw * 2.0)
    np.testing.assert_array_equal(ref, read_wholebody(tmp_path / "dicom" / "V01" / "1x.dcm").counts)


def test_enhance_baselines_writes_derived_dicom_and_limits_bm3d(tmp_path):
    root, out_root = tmp_path / "data", tmp_path / "enhanced"
    manifest = tiny_cohort(root)
    test = manifest[manifest["split"] == "test"]
    before = {p: sha256_file(root / p) for p in manifest["path"]}
    rows, bad = bl.enhance_baselines(
        test, root, out_root, speeds=[2.0], sigmas={2.0: 1.25}, bm3d_max_studies=1, progress=False
    )
    assert bad.empty
    assert sorted(zip(rows["group"], rows["study_id"])) == [
        ("2x-bm3d", "S01"),
        ("2x-gauss", "S01"),
        ("2x-gauss", "S02"),
    ]
    assert set(rows["method"]) == {"gaussian", "bm3d"}
    gauss = read_wholebody(out_root / "2x-gauss" / "S01.dcm")
    raw = read_wholebody(root / "dicom" / "S01" / "2x.dcm").counts
    assert gauss.derived_1x_equivalent
    assert np.abs(gauss.counts - gaussian_counts(raw * 2.0, 1.25)).max() <= 0.5 + 1e-3
    assert {p: sha256_file(root / p) for p in manifest["path"]} == before
    with pytest.raises(ParamsError, match="σ"):
        bl.enhance_baselines(test, root, out_root, speeds=[2.0], methods=("gaussian",), progress=False)
    elsewhere, _ = bl.enhance_baselines(
        test, root, tmp_path / "elsewhere", speeds=[2.0], sigmas={2.0: 1.25}, bm3d_speeds=[3], progress=False
    )
    assert set(elsewhere["group"]) == {"2x-gauss"}  # BM3D only at the speeds named
    assert bl.runs_bm3d(2.0, None) and bl.runs_bm3d(2.03, [2]) and not bl.runs_bm3d(2.0, [2.5, 3])
    with pytest.raises(ParamsError, match="unknown"):
        bl.enhance_baselines(test, root, out_root, speeds=[2.0], methods=("median",), progress=False)


def test_bm3d_cap_applies_to_each_split():
    rows = [
        {"study_id": sid, "views": "ANT+POST", "speed_factor": 2.0, "kind": "fast-real", "path": f"{sid}/2x.dcm",
         "sha256": "0" * 64, "split": split, "label": 1}
        for sid, split in (("S01", "test"), ("S02", "test"), ("S03", "test"), ("S04", "observer"), ("S05", "observer"))
    ]  # fmt: skip
    jobs = bl.baseline_jobs(pd.DataFrame(rows), "bm3d", 2.0)
    assert [j.study_id for j in bl.first_per_split(jobs, 1)] == ["S01", "S04"]
    assert [j.study_id for j in bl.first_per_split(jobs, 2)] == ["S01", "S02", "S04", "S05"]
    assert [j.study_id for j in bl.first_per_split(jobs, 0)] == []
    assert [j.study_id for j in bl.first_per_split(jobs, None)] == ["S01", "S02", "S03", "S04", "S05"]
