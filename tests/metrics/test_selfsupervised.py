"""wbslib.metrics.selfsupervised: binomial splits, the unbiased NRMSE estimate against the noise-free
image (validated on a phantom-like cohort whose truth is known), the bootstrap summary, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from train_fixtures import synthetic_expected, write_cohort

from wbslib.core.counts import gaussian_counts
from wbslib.core.errors import InvalidCountsError, ParamsError
from wbslib.io.manifest.schema import read_manifest
from wbslib.metrics.pixel import nrmse
from wbslib.metrics.selfsupervised import (
    binomial_split,
    bootstrap_summary,
    estimated_nrmse,
    raw_input,
    selfsupervised_errors,
    standard_scans,
    truth_loader,
)

METHODS = {
    "raw": raw_input,
    "gauss 1 px": lambda fast, s: gaussian_counts(fast * s, 1.0),
    "gauss 2.5 px": lambda fast, s: gaussian_counts(fast * s, 2.5),
}


def test_split_parts_add_up_to_the_counts_and_missing_views_stay_missing():
    counts = np.random.default_rng(0).poisson(20.0, (2, 64, 32)).astype(np.float32)
    counts[1] = np.nan
    fast, rest = binomial_split(counts, 3.0, np.random.default_rng(1))
    assert fast.dtype == rest.dtype == np.float32
    np.testing.assert_array_equal(fast[0] + rest[0], counts[0])
    assert np.isnan(fast[1]).all() and np.isnan(rest[1]).all()
    assert fast[0].mean() == pytest.approx(counts[0].mean() / 3, rel=0.03)


@pytest.mark.parametrize(
    "counts, speed, error, match",
    [
        (np.full((2, 8, 8), 2.5, np.float32), 2.0, InvalidCountsError, "non-integer counts"),
        (np.full((2, 8, 8), 2.0, np.float32), 1.0, ParamsError, "speed factor > 1"),
        (np.full((2, 8, 8), 2.0, np.float32), 0.5, ParamsError, "number ≥ 1"),
    ],
)
def test_bad_input_is_a_named_error(counts, speed, error, match):
    with pytest.raises(error, match=match):
        binomial_split(counts, speed, np.random.default_rng(0))


@pytest.mark.parametrize("speed", [2.0, 3.0])
def test_estimate_of_a_known_error_subtracts_the_poisson_floor_exactly(speed):
    """An image 10 % above the noise-free μ has NRMSE 0.1 exactly: the estimate from one whole-body
    split finds it although the remainder's Poisson noise is 2–3× larger than that error (so a
    floor off by s/(s − 1), or not subtracted at all, would miss it by far)."""
    mu, _ = synthetic_expected(1024, 256)
    counts = np.random.default_rng(3).poisson(mu).astype(np.float32)
    fast, rest = binomial_split(counts, speed, np.random.default_rng(4))
    assert nrmse(1.1 * mu, mu) == pytest.approx(0.1)
    assert estimated_nrmse(1.1 * mu, rest, speed) == pytest.approx(0.1, rel=0.05)
    assert estimated_nrmse(mu, rest, speed) < 0.03  # the noise-free image itself: ≈ 0
    r = rest * speed / (speed - 1)
    assert nrmse(mu, r) > 0.17  # the naive NRMSE against the remainder is dominated by its noise


def test_estimate_agrees_with_the_true_nrmse_on_a_phantom_cohort(tmp_path):
    """Acceptance: on a cohort with known truth (DICOM, manifest and truth files as the phantom writes
    them), the estimate agrees with the true NRMSE against the noise-free 1x image to ≤ 5 % on
    average (mean relative difference, signed and absolute) for the raw input, a light and a heavy
    Gaussian at 2x and 3x."""
    params = write_cohort(tmp_path, rows=1024, cols=256, n_train=4, n_val=0, speeds=(2.0,))
    manifest = read_manifest(params["manifest"])
    frames = [
        selfsupervised_errors(
            standard_scans(manifest, tmp_path, split="train"), METHODS, speed, seed=5, truth=truth_loader(tmp_path)
        )
        for speed in (2.0, 3.0)
    ]
    errors = pd.concat(frames, ignore_index=True)
    assert len(errors) == 4 * 3 * 2 and errors["nrmse_truth"].notna().all()
    relative = errors["nrmse_est"] / errors["nrmse_truth"] - 1
    assert abs(relative.mean()) <= 0.05 and relative.abs().mean() <= 0.05
    assert relative.abs().max() < 0.15
    means = errors.groupby(["speed", "method"])["nrmse_est"].mean()
    assert means["2x", "gauss 1 px"] < means["2x", "raw"] < means["3x", "raw"]  # the ranking truth gives


def test_methods_can_be_limited_to_the_first_studies_and_missing_truth_is_nan():
    mu, _ = synthetic_expected(128, 64, level=20.0)
    scans = [(f"S{i}", np.random.default_rng(i).poisson(mu).astype(np.float32)) for i in range(3)]
    errors = selfsupervised_errors(scans, METHODS, 2.0, seed=1, max_studies={"gauss 2.5 px": 1})
    assert errors.groupby("method").size().to_dict() == {"raw": 3, "gauss 1 px": 3, "gauss 2.5 px": 1}
    assert errors["nrmse_truth"].isna().all() and list(errors["speed"].unique()) == ["2x"]
    again = selfsupervised_errors(scans, METHODS, 2.0, seed=1, max_studies={"gauss 2.5 px": 1})
    pd.testing.assert_frame_equal(errors, again)  # the split is seeded by (seed, study, speed)


def test_bootstrap_summary_means_cis_and_paired_comparison():
    errors = pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D"] * 2,
            "speed": "2x",
            "method": ["model"] * 4 + ["gauss"] * 4,
            "nrmse_est": [0.08, 0.09, 0.07, 0.10, 0.10, 0.10, 0.10, 0.10],
            "nrmse_truth": np.nan,
        }
    )
    summary = bootstrap_summary(errors, reference={"2x": "gauss"}, n_boot=500, seed=3).set_index("method")
    model = summary.loc["model"]
    assert model["studies"] == 4 and model["nrmse_est"] == pytest.approx(0.085)
    assert 0.07 <= model["ci_low"] < 0.085 < model["ci_high"] <= 0.10
    assert model["reference"] == "gauss" and model["vs_reference_pct"] == pytest.approx(-15.0)
    assert -30 < model["vs_ci_low"] < -15 < model["vs_ci_high"] < 0
    assert summary.loc["gauss", "ci_low"] == summary.loc["gauss", "ci_high"] == pytest.approx(0.10)
    assert np.isnan(summary.loc["gauss", "vs_reference_pct"])
    again = bootstrap_summary(errors, reference={"2x": "gauss"}, n_boot=500, seed=3).set_index("method")
    pd.testing.assert_frame_equal(summary, again)
    with pytest.raises(ParamsError, match="level"):
        bootstrap_summary(errors, level=1.5)
