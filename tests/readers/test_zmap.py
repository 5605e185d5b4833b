"""The per-class null model (`wbslib.readers.zmap`): cell statistics, gain invariance, and a
named error without normal images. Its calibration on held-out patients is T5 in
test_observer_validity."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_observer import patient, scan

from wbslib.core.errors import ReaderStudyError
from wbslib.readers.zmap import bone_contrast, fit_null, null_calibration, z_values


@pytest.fixture(scope="module")
def normals():
    out = []
    for i in range(3):
        expected, _, ph = patient(f"ZN{i}", False)
        out.append(scan(expected, 2.0, ph.study_id))
    return out


def test_in_sample_z_has_mean_zero_and_unit_sd_in_every_cell(normals):
    contrasts = [bone_contrast(x) for x in normals]
    null = fit_null(contrasts)
    z = np.concatenate([z_values(null, x) for x in contrasts])
    _, r, c, v = (np.concatenate(x) for x in zip(*contrasts))
    cell = (v * 1000 + r) * 100 + c
    big = [k for k in np.unique(cell) if (cell == k).sum() >= 200]
    # shrinkage towards the view's statistics (weight n / (n + 5)) leaves a little bias in small cells
    assert big and all(abs(z[cell == k].mean()) < 0.1 and 0.9 < z[cell == k].std() < 1.02 for k in big)
    mean, sd = null_calibration(null, contrasts)
    assert abs(mean) < 0.01 and 0.95 < sd < 1.0  # shrinkage to the view's spread in the small cells


def test_a_gain_changes_no_z(normals):
    null = fit_null(bone_contrast(x) for x in normals[:2])
    image = normals[2].astype(np.float64)
    z, gained = z_values(null, bone_contrast(image)), z_values(null, bone_contrast(image * 1.3))
    assert z.size > 1000 and np.allclose(z, gained, rtol=0, atol=1e-9)


def test_no_normal_image_is_a_named_error():
    with pytest.raises(ReaderStudyError, match="images with bone"):
        fit_null([])


def test_metastases_are_left_out_of_the_null_model_and_nothing_else():
    expected, lesions, ph = patient("ZM0", True)
    image = scan(expected, 1.0, ph.study_id)
    everything, without = bone_contrast(image), bone_contrast(image, lesions)
    malignant = lesions[lesions["malignant"].astype(str).str.lower().isin(("true", "1", "1.0"))]
    assert len(malignant) and 0 < everything[0].size - without[0].size < 0.2 * everything[0].size
    healthy = lesions.iloc[:0]
    assert np.array_equal(bone_contrast(image, healthy)[0], everything[0])
