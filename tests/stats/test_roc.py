"""wbslib.stats.roc: pROC oracles (aSAH, data-free example), brute-force DeLong, properties, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_oracles import oracle_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from wbslib.core.errors import StatisticsError
from wbslib.stats.roc import (
    auc_delong,
    delong_covariance,
    delong_paired,
    noninferiority_auc,
    roc_curve_points,
)

FAST = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def asah():
    df = oracle_csv("aSAH.csv")
    assert (len(df), int((df["outcome"] == "Poor").sum())) == (113, 41)
    return (df["outcome"] == "Poor").astype(int).to_numpy(), df


# --- oracles ----------------------------------------------------------------------------------------
def test_pROC_direction_auto_is_controls_below_cases_on_oracle_data(asah):
    # pROC's direction="auto" compares medians; on every oracle marker it picks '<', our fixed rule
    truth, df = asah
    for marker in ("wfns", "s100b", "ndka"):
        assert df[marker][truth == 0].median() <= df[marker][truth == 1].median()
    i = np.arange(1, 51)
    truth_free = np.r_[np.zeros(20), np.ones(30)]
    for marker in (i % 4, i % 8):
        assert np.median(marker[truth_free == 0]) <= np.median(marker[truth_free == 1])


def test_delong_oracle_asah_wfns_vs_s100b(asah):
    truth, df = asah
    res = delong_paired(truth, df["wfns"], df["s100b"])
    assert round(res["auc_a"], 7) == 0.8236789
    assert round(res["auc_b"], 7) == 0.7313686
    assert res["z"] == pytest.approx(2.20898359144091, abs=1e-12)
    assert res["p"] == pytest.approx(0.0271757822291882, abs=1e-14)
    assert (round(res["ci_low"], 6), round(res["ci_high"], 6)) == (0.010406, 0.174214)
    assert res["diff"] == pytest.approx(res["auc_a"] - res["auc_b"])


def test_delong_oracle_asah_wfns_vs_ndka(asah):
    truth, df = asah
    res = delong_paired(truth, df["wfns"], df["ndka"])
    assert res["z"] == pytest.approx(2.79777591868904, abs=1e-12)
    assert res["p"] == pytest.approx(0.00514557970691098, abs=1e-15)


def test_delong_oracle_data_free_example():
    i = np.arange(1, 51)
    res = delong_paired(np.r_[np.zeros(20), np.ones(30)], i % 4, i % 8)
    assert res["auc_a"] == pytest.approx(0.5, abs=1e-12)
    assert round(res["auc_b"], 7) == 0.5233333
    assert round(res["z"], 8) == -0.27058646
    assert round(res["p"], 7) == 0.7867091


def test_noninferiority_lower_bound_is_the_delong_ci_lower_end(asah):
    truth, df = asah
    res = noninferiority_auc(truth, df["wfns"], df["s100b"], margin=0.05)
    assert round(res["lower"], 6) == 0.010406  # one-sided 97.5 % bound = two-sided 95 % lower end
    assert res["non_inferior"] and res["p"] < 0.001
    worse = noninferiority_auc(truth, df["s100b"], df["wfns"], margin=0.05)
    assert worse["diff"] == pytest.approx(-res["diff"]) and not worse["non_inferior"]
    same = noninferiority_auc(truth, df["wfns"], df["wfns"], margin=0.05)
    assert (same["diff"], same["se"], same["lower"], same["non_inferior"], same["p"]) == (0.0, 0.0, 0.0, True, 0.0)


# --- unit checks against brute force and sklearn ---------------------------------------------------
def _brute_force_delong(truth, scores):
    """O(m·n) DeLong: kernel matrix ψ(case, control) → placements → covariance (ddof 1)."""
    v10s, v01s = [], []
    for s in scores:
        psi = (s[truth == 1][:, None] > s[truth == 0][None, :]) + 0.5 * (
            s[truth == 1][:, None] == s[truth == 0][None, :]
        )
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    v10, v01 = np.array(v10s), np.array(v01s)
    return v10.mean(axis=1), np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]


def test_delong_covariance_matches_brute_force_and_sklearn():
    rng = np.random.default_rng(20240611)
    truth = (rng.random(1500) < 0.3).astype(int)
    scores = [
        np.round(truth * 0.8 + rng.normal(size=1500), 1),  # many ties
        rng.integers(1, 6, size=1500) + truth,
        rng.normal(size=1500),
    ]
    auc, cov = delong_covariance(truth, *scores)
    auc_bf, cov_bf = _brute_force_delong(truth, scores)
    np.testing.assert_allclose(auc, auc_bf, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, cov_bf, rtol=1e-10, atol=0)
    np.testing.assert_allclose(auc, [roc_auc_score(truth, s) for s in scores], atol=1e-12)


def test_auc_delong_interval(asah):
    truth, df = asah
    res = auc_delong(truth, df["wfns"])
    assert res.auc == pytest.approx(0.8236789, abs=5e-8)
    assert res.ci_low == pytest.approx(res.auc - 1.959963984540054 * res.se)
    assert res.ci_high == pytest.approx(res.auc + 1.959963984540054 * res.se)
    perfect = auc_delong([0, 0, 1, 1], [1, 2, 3, 4])
    assert (perfect.auc, perfect.se, perfect.ci_low, perfect.ci_high) == (1.0, 0.0, 1.0, 1.0)


def test_roc_curve_points(asah):
    truth, df = asah
    pts = roc_curve_points(truth, df["wfns"])
    assert list(pts.columns) == ["fpr", "tpr", "threshold"]
    assert len(pts) == 6  # wfns takes 5 values, plus the start at +inf
    assert (pts.iloc[0]["fpr"], pts.iloc[0]["tpr"], pts.iloc[-1]["fpr"], pts.iloc[-1]["tpr"]) == (0, 0, 1, 1)
    assert pts.iloc[1]["tpr"] == pytest.approx(18 / 41)  # 18 poor-outcome patients have wfns 5
    assert np.trapezoid(pts["tpr"], pts["fpr"]) == pytest.approx(0.8236789, abs=5e-8)


# --- properties ------------------------------------------------------------------------------------
samples = st.integers(4, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda t: 2 <= sum(t) <= len(t) - 2),
        st.lists(st.integers(-5, 5), min_size=n, max_size=n),
        st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n),
    )
)


@FAST
@given(samples)
def test_auc_properties(sample):
    truth, ordinal, continuous = (np.array(x) for x in sample)
    for scores in (ordinal, continuous):
        res = auc_delong(truth, scores)
        assert 0.0 <= res.ci_low <= res.auc <= res.ci_high <= 1.0
        assert auc_delong(truth, -scores).auc == pytest.approx(1.0 - res.auc, abs=1e-12)
        assert auc_delong(truth, -scores).se == pytest.approx(res.se, abs=1e-12)
    paired = delong_paired(truth, ordinal, continuous)
    assert 0.0 <= paired["p"] <= 1.0 and paired["ci_low"] <= paired["diff"] <= paired["ci_high"]


@FAST
@given(samples)
def test_delong_paired_marker_with_itself(sample):
    truth, _, scores = (np.array(x) for x in sample)
    res = delong_paired(truth, scores, scores)
    assert (res["diff"], res["se"], res["z"], res["p"]) == (0.0, 0.0, 0.0, 1.0)
    assert res["auc_a"] == res["auc_b"]


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "truth, scores, words",
    [
        ([1, 1, 1, 1], [1, 2, 3, 4], "at least 2 of each"),
        ([0, 0, 0, 1, 1], [1, 2, 3, 4, 5], None),  # fine: 3 and 2
        ([0, 1, 1, 1], [1, 2, 3, 4], "at least 2 of each"),
        ([0, 0, 1, 1], [1, 2, 3], "differ in length"),
        ([0, 0, 1, 1], [1, 2, np.nan, 4], "missing"),
        ([], [], "non-empty"),
        ([0, 0, 1, 2], [1, 2, 3, 4], "0/1"),
    ],
)
def test_bad_input(truth, scores, words):
    if words is None:
        assert auc_delong(truth, scores).auc == 1.0
        return
    with pytest.raises(StatisticsError, match=words):
        auc_delong(truth, scores)


def test_bad_paired_and_margin_input():
    with pytest.raises(StatisticsError, match="differ in length"):
        delong_paired([0, 0, 1, 1], [1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(StatisticsError, match="margin"):
        noninferiority_auc([0, 0, 1, 1], [1, 2, 3, 4], [1, 2, 3, 4], margin=0)
    with pytest.raises(StatisticsError, match="alpha"):
        noninferiority_auc([0, 0, 1, 1], [1, 2, 3, 4], [1, 2, 3, 4], margin=0.1, alpha=0.7)
