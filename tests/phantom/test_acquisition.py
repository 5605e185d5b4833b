"""Scan simulation: binomial thinning, Poisson noise, the real-like protocol and its misalignment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.registration import phase_cross_correlation

from wbslib.core.counts import thin
from wbslib.core.errors import InvalidCountsError, ParamsError
from wbslib.core.repro import rng
from wbslib.core.scan import HALF_LIFE_MIN
from wbslib.phantom.acquisition import (
    acquire,
    expected_counts,
    plan_protocol,
    scan_minutes,
)
from wbslib.phantom.body import make_phantom
from wbslib.phantom.cohort import cohort_config, phantom_for
from wbslib.phantom.patients import sample_patients


# --- thinning ------------------------------------------------------------------------------------
@given(n=st.integers(1, 400), s=st.floats(1.0, 6.0), dtype=st.sampled_from([np.uint16, np.int16, np.int32, np.int64]))
@settings(max_examples=25, deadline=None)
def test_thin_has_binomial_mean_and_variance(n, s, dtype):
    counts = np.full(40_000, n, dtype=dtype)
    k = thin(counts, s, rng(1, "thin", n))
    p = 1.0 / s
    assert k.dtype == counts.dtype and k.shape == counts.shape
    assert (k <= counts).all() and (k >= 0).all()
    mean_se = np.sqrt(n * p * (1 - p) / k.size)
    assert abs(k.mean() - n * p) <= 5 * mean_se + 1e-12
    var = n * p * (1 - p)
    assert k.var() == pytest.approx(var, rel=0.08, abs=1e-9)  # Poisson(N/s) would give N/s


def test_thin_is_not_poisson_and_s1_keeps_everything():
    counts = np.full(100_000, 20, np.int32)
    k = thin(counts, 2, rng(2, "thin"))
    assert k.var() == pytest.approx(5.0, rel=0.05)  # binomial: 20·½·½, Poisson would be 10
    assert np.array_equal(thin(counts, 1, rng(2, "thin")), counts)
    image = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    assert np.array_equal(thin(image, 2.5, rng(3)), thin(image, 2.5, rng(3)))  # seeded: reproducible


@pytest.mark.parametrize("s", [0.5, 0.999, -2, float("nan"), float("inf"), "fast", None])
def test_thin_rejects_bad_speed(s):
    with pytest.raises(ParamsError):
        thin(np.ones(4, np.int32), s, rng(0))


def test_thin_rejects_float_or_negative_counts():
    with pytest.raises(InvalidCountsError):
        thin(np.ones(4, np.float32), 2, rng(0))
    with pytest.raises(InvalidCountsError):
        thin(np.array([3, -1], np.int32), 2, rng(0))


def test_acquire_is_poisson_and_keeps_zeros():
    expected = np.zeros((2, 200, 100), np.float32)
    expected[:, :100] = 7.5
    counts = acquire(expected, rng(4, "noise"))
    assert counts.dtype == np.int32 and (counts[:, 100:] == 0).all()
    assert counts[:, :100].mean() == pytest.approx(7.5, rel=0.01)
    assert counts[:, :100].var() == pytest.approx(7.5, rel=0.05)


# --- the protocol --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phantom():
    return make_phantom(
        "PH0001", {"sex": "F", "age": 55, "height_cm": 162.0, "bmi": 25.0, "metastatic": True}, rng(9, "phantom")
    )


def test_protocol_order_timing_decay_and_state(phantom):
    scans = plan_protocol(phantom, [1, 2, 3], rng(9, "protocol"))
    assert [a.speed_factor for a in scans] == [3.0, 2.0, 1.0] and [a.order for a in scans] == [0, 1, 2]
    for a, b in zip(scans, scans[1:]):
        assert 0.5 <= b.start_min - (a.start_min + a.duration_min) <= 1.5  # repositioning pause
    assert scans[0].duration_min == pytest.approx(scan_minutes(3.0, 1024, 2.4))
    standard = scans[-1]
    assert standard.decay == 1.0 and standard.minutes_before_1x == 0.0 and standard.state.shifts_mm == {}
    for a in scans[:-1]:
        assert a.decay == pytest.approx(2 ** (a.minutes_before_1x / HALF_LIFE_MIN))
        assert a.decay > 1.0 and a.state.bladder_fill < 1.0 and a.state.soft_factor > 1.0
        assert 3.0 <= np.hypot(*a.state.shifts_mm["body"]) <= 8.0
    assert scans[0].decay > scans[1].decay


def test_protocol_any_speed_and_bad_speeds(phantom):
    scans = plan_protocol(phantom, [2.5, 1.5], rng(9, "protocol"))
    assert [a.speed_factor for a in scans] == [2.5, 1.5]
    assert all(a.minutes_before_1x > 0 for a in scans)  # 1x still comes last
    for bad in ([0.5, 1], [], ["x"]):
        with pytest.raises(ParamsError):
            plan_protocol(phantom, bad, rng(9))


def test_mean_scales_as_one_over_speed(phantom):
    scans = plan_protocol(phantom, [1, 2, 3], rng(9, "protocol"))
    totals = {a.speed_factor: expected_counts(phantom, a).image.sum() for a in scans}
    for a in scans[:-1]:
        ratio = totals[a.speed_factor] * a.speed_factor / totals[1.0]
        assert ratio / a.decay == pytest.approx(1.0, abs=0.03)  # bladder / clearance only
    one = expected_counts(phantom, scans[-1]).image
    assert 1.5e6 <= one[0].sum() <= 2.0e6 and 1.5e6 <= one[1].sum() <= 2.0e6


def test_real_like_scans_are_shifted_thinned_ones_are_not():
    cfg = cohort_config({"cohort": {"n_patients": 10, "n_metastatic": 5, "n_train": 0, "n_val": 0}})
    found, found_simu = [], []
    for patient in sample_patients(cfg, 21).to_dict("records"):
        ph = phantom_for(patient, cfg, 21)
        scans = {a.speed_factor: a for a in plan_protocol(ph, [1, 2], rng(21, "protocol", patient["study_id"]))}
        one = acquire(expected_counts(ph, scans[1.0]).image, rng(21, "n1", patient["study_id"]))[0]
        two = acquire(expected_counts(ph, scans[2.0]).image, rng(21, "n2", patient["study_id"]))[0]
        simu = thin(one, 2, rng(21, "thin", patient["study_id"]))
        found.append(np.hypot(*phase_cross_correlation(one.astype(float), two.astype(float))[0]))
        found_simu.append(np.hypot(*phase_cross_correlation(one.astype(float), simu.astype(float))[0]))
    assert np.mean(np.array(found) >= 1.0) >= 0.8
    assert all(f == 0.0 for f in found_simu)
