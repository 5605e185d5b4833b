"""wbslib.metrics.pixel: one definition of NRMSE/L1/PSNR/SSIM, used by training validation, the
Gaussian baseline's σ choice and Table 4 alike."""

from __future__ import annotations

import numpy as np
import pytest

from wbslib.core.counts import gaussian_counts
from wbslib.core.errors import MetricInputError
from wbslib.enhance.baselines import choose_gaussian_sigma
from wbslib.enhance.training.validation import image_errors
from wbslib.metrics.pixel import l1, nrmse, pixel_metrics


def _pair(seed: int = 0):
    gen = np.random.default_rng(seed)
    reference = gen.uniform(5, 50, (2, 64, 32))
    image = reference + gen.normal(0, 3, reference.shape)
    return image.astype(np.float32), reference.astype(np.float32)


def test_nrmse_is_the_mean_of_the_per_view_values():
    image, reference = _pair()
    per_view = [
        np.linalg.norm(reference[v].astype(np.float64) - image[v]) / np.linalg.norm(reference[v].astype(np.float64))
        for v in range(2)
    ]
    assert nrmse(image, reference) == pytest.approx(np.mean(per_view), rel=1e-12)
    assert l1(image, reference) == pytest.approx(
        np.mean([np.abs(image[v] - reference[v].astype(np.float64)).mean() for v in range(2)]), rel=1e-6
    )


def test_training_validation_and_table4_report_one_nrmse():
    image, reference = _pair(1)
    table4 = pixel_metrics(image, reference)["nrmse"]
    validation = image_errors(image, reference)["nrmse"]
    assert validation == table4 == nrmse(image, reference)


def test_gaussian_sigma_table_uses_the_same_nrmse():
    image, reference = _pair(2)
    _, table = choose_gaussian_sigma([(image, reference)], sigmas=(0.0, 1.0))
    assert table.loc[table["sigma_px"] == 1.0, "nrmse_mean"].iloc[0] == nrmse(gaussian_counts(image, 1.0), reference)


def test_missing_view_is_skipped_and_no_view_gives_nan():
    image, reference = _pair(3)
    image[1] = np.nan
    assert nrmse(image, reference) == pytest.approx(nrmse(image[:1], reference[:1]))
    image[0] = np.nan
    assert np.isnan(nrmse(image, reference)) and np.isnan(l1(image, reference))


def test_mismatched_shapes_are_a_named_error():
    image, reference = _pair(4)
    with pytest.raises(MetricInputError, match="cannot be compared"):
        nrmse(image[:, :32], reference)
