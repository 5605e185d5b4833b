"""The phantom: analytic parts, projection physics, lesions, and realism against docs/DESIGN.md's ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbslib.core.repro import rng
from wbslib.phantom import render as pr
from wbslib.phantom.body import BodyState, make_phantom
from wbslib.phantom.cohort import cohort_config, phantom_for
from wbslib.phantom.lesions import MALIGNANT_KIND
from wbslib.phantom.parts import Part, chord, ellipsoid, rod
from wbslib.phantom.patients import sample_patients
from wbslib.phantom.realism import TARGETS_10CM_MIN, realism_summary, realism_table

PATIENT = {"sex": "M", "age": 60, "height_cm": 172.0, "bmi": 23.0, "metastatic": True}


# --- analytic parts ------------------------------------------------------------------------------
def test_chords_have_known_values():
    r = rod("r", "x", (0, 0), (0, 100), 10, 10, k=0.5)
    assert chord(r, np.array(0.0), np.array(50.0)) == pytest.approx(10.0)  # 2·k·r on the axis
    assert chord(r, np.array(6.0), np.array(50.0)) == pytest.approx(2 * 0.5 * 8.0)  # 2k·sqrt(r² − d²)
    assert chord(r, np.array(0.0), np.array(-10.5)) == 0.0  # beyond the cap
    e = ellipsoid("e", "x", (5, 5), 20, 10, 7)
    assert chord(e, np.array(5.0), np.array(5.0)) == pytest.approx(14.0)
    assert chord(e, np.array(15.0), np.array(5.0)) == pytest.approx(14.0 * np.sqrt(0.75))
    shell = Part("s", "skull", "shell", (0.0, 0.0, 70.0, 90.0, 80.0, 7.0))
    assert chord(shell, np.array(0.0), np.array(0.0)) == pytest.approx(14.0)  # two walls of 7 mm
    torso = Part("t", "body", "torso", (np.array([0.0, 100.0]), np.array([50.0, 50.0]), np.array([200.0, 200.0])))
    assert chord(torso, np.array(0.0), np.array(50.0)) == pytest.approx(200.0)
    assert chord(torso, np.array(60.0), np.array(50.0)) == 0.0


@given(dx=st.floats(-30, 30), dy=st.floats(-30, 30), x=st.floats(-40, 40), y=st.floats(-40, 140))
@settings(max_examples=60, deadline=None)
def test_moving_a_part_translates_its_chord(dx, dy, x, y):
    for part in (rod("r", "x", (0, 0), (10, 100), 8, 12), ellipsoid("e", "x", (0, 50), 20, 30, 9, angle=0.4)):
        moved = part.moved(dx, dy)
        assert chord(moved, np.array(x + dx), np.array(y + dy)) == pytest.approx(
            chord(part, np.array(x), np.array(y)), abs=1e-9
        )


def test_rasterised_volume_and_subpixel_shift():
    grid = pr.Grid(128, 64, 2.4, row0=10.0, col0=31.5)
    part = ellipsoid("e", "x", (0, 100), 12, 9, 6)
    volume = 4 / 3 * np.pi * 12 * 9 * 6
    sums = []
    for shift in (0.0, 0.3, 0.5, 1.1):
        rs, cs, c = pr.rasterise(part.moved(shift, shift / 2), grid)
        sums.append(c.sum() * grid.pixel_mm**2)
    assert sums[0] == pytest.approx(volume, rel=0.02)
    assert np.ptp(sums) / volume < 0.01


def test_lehr_resolution_matches_design():
    assert pr.fwhm_mm(0.0) == pytest.approx(4.0, abs=0.1)
    assert pr.fwhm_mm(100.0) == pytest.approx(7.5, abs=0.4)
    assert pr.fwhm_mm(200.0) == pytest.approx(12.0, abs=0.3)
    assert np.all(np.diff(pr.fwhm_mm(np.arange(0, 300, 10))) > 0)


def test_self_attenuation_is_the_mean_of_the_exponential():
    for length in (1.0, 40.0, 120.0):
        z = ((np.arange(20000) + 0.5) / 20000 - 0.5) * length  # midpoint rule
        assert pr.self_attenuation(np.array(length)) == pytest.approx(np.exp(-pr.MU_PER_MM * z).mean(), rel=1e-6)


def test_projection_attenuates_by_depth_and_mirrors_the_posterior_view():
    grid = pr.Grid(256, 256, 2.4, row0=0.0, col0=127.5)
    part = ellipsoid("spot", "x", (-30.0, 300.0), 3, 3, 3, density=1.0, depth=40.0, thick=200.0)
    proj = pr.Projector(grid)
    rs, cs, c = proj.add(part)
    amount = float((c * pr.self_attenuation(c)).sum())
    ant, post = proj.blurred(0), proj.blurred(1)
    assert ant.sum() == pytest.approx(amount * np.exp(-0.015 * 40.0), rel=2e-3)
    assert post.sum() == pytest.approx(amount * np.exp(-0.015 * 160.0), rel=2e-3)
    out = pr.finish(np.stack([ant, post]), grid.pixel_mm)
    col_ant = np.unravel_index(np.argmax(out[0]), out[0].shape)[1]
    col_post = np.unravel_index(np.argmax(out[1]), out[1].shape)[1]
    assert col_ant + col_post == grid.cols - 1  # seen from behind
    assert out[0].sum() == pytest.approx(ant.sum() * (1 + pr.SCATTER_TO_PRIMARY), rel=0.01)


# --- one patient ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phantom():
    return make_phantom("PH0001", PATIENT, rng(3, "phantom"), counts_1x=1.75e6)


def test_count_level_and_label(phantom):
    totals = phantom.render().image.sum(axis=(1, 2))
    assert 1.75e6 * 0.88 <= totals.mean() <= 1.75e6 * 1.12
    assert phantom.label == 1 and any(l.kind == MALIGNANT_KIND for l in phantom.lesions)
    calm = make_phantom("PH0002", {**PATIENT, "metastatic": False}, rng(3, "phantom2"))
    assert calm.label == 0 and not any(l.malignant for l in calm.lesions)


def test_same_key_same_phantom_other_key_differs(phantom):
    again = make_phantom("PH0001", PATIENT, rng(3, "phantom"), counts_1x=1.75e6)
    assert np.array_equal(again.render().image, phantom.render().image)
    other = make_phantom("PH0001", PATIENT, rng(4, "phantom"), counts_1x=1.75e6)
    assert not np.array_equal(other.render().image, phantom.render().image)


def test_body_state_moves_limbs_and_fills_bladder(phantom):
    ref = phantom.render()
    moved = phantom.render(BodyState(shifts_mm={"body": (4.8, 0.0), "arm_R": (0.0, 4.8)}, bladder_fill=0.8))
    assert moved.masks["bladder"][0].sum() < ref.masks["bladder"][0].sum()
    trunk = [i for i, l in enumerate(phantom.lesions) if l.group == "trunk"]
    assert np.allclose(moved.lesion_rc[trunk] - ref.lesion_rc[trunk], [0.0, 2.0])  # 4.8 mm = 2 px
    assert (moved.image >= 0).all() and moved.image.dtype == np.float32


def test_lesions_are_in_bone_and_in_range(phantom):
    ref = phantom.render()
    for (r, c), lesion in zip(ref.lesion_rc, phantom.lesions):
        assert ref.masks["skeleton"][0, int(round(r)), int(round(c))]
        assert ref.masks["skeleton"][1, int(round(r)), phantom.grid.cols - 1 - int(round(c))]
        if lesion.malignant:
            assert 5.0 <= lesion.diameter_mm <= 30.0 and 1.5 <= lesion.contrast <= 5.0
    table = phantom.lesion_table()
    assert [row["lesion_id"] for row in table] == list(range(1, len(phantom.lesions) + 1))
    assert all(row["visible_ant"] == int(row["snr_ant"] >= 5.0) for row in table)


# --- a population ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def population():
    cfg = cohort_config({"cohort": {"n_patients": 30, "n_metastatic": 14, "n_train": 0, "n_val": 0}})
    patients = sample_patients(cfg, 5).to_dict("records")
    phantoms = [phantom_for(p, cfg, 5) for p in patients]
    return patients, phantoms, realism_table(phantoms)


def test_population_matches_the_real_scan_ranges(population):
    _, _, table = population
    summary = realism_summary(table).set_index("level")["share_in_target"]
    assert summary["counts_1x_ant"] == 1.0 and summary["counts_1x_post"] >= 0.95  # 1.5–2.0 M per 1x view
    assert summary["bladder hottest organ"] >= 0.8
    assert summary["posterior spine > anterior"] == 1.0
    assert summary["bone_to_soft"] >= 0.85
    for level in ("bladder", "sternum", "spine", "ribs", "soft_abdomen", "soft_arms"):
        assert summary[level] >= 0.75, level
    assert set(TARGETS_10CM_MIN) <= set(summary.index)


def test_every_malignant_lesion_in_bone_and_label_is_any_malignant(population):
    patients, phantoms, _ = population
    for patient, ph in zip(patients, phantoms):
        assert ph.label == patient["label"] == int(any(l.malignant for l in ph.lesions))
        skeleton = ph.render().masks["skeleton"][0]
        for (r, c), lesion in zip(ph.render().lesion_rc, ph.lesions):
            assert skeleton[int(round(r)), int(round(c))], (ph.study_id, lesion.bone)
    sites = [l.site for ph in phantoms for l in ph.lesions if l.malignant]
    axial = {"spine", "cervical", "rib", "pelvis", "skull", "sternum"}
    assert np.mean([s in axial for s in sites]) > 0.6  # mostly axial


def test_metastases_are_detectable_but_not_trivial(population):
    _, phantoms, _ = population
    snr = np.array(
        [max(row["snr_ant"], row["snr_post"]) for ph in phantoms for row in ph.lesion_table() if row["malignant"]]
    )
    at_1x, at_3x = np.mean(snr >= 5.0), np.mean(snr / np.sqrt(3) >= 5.0)  # Rose, SNR ∝ √counts
    assert 0.3 <= at_1x <= 0.95 and at_3x <= at_1x - 0.05
