"""wbslib.stats.proportions: oracle values from R (McNemar, Wilcoxon, irr kappa), known answers,
properties, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbslib.core.errors import StatisticsError, WbsError
from wbslib.stats.proportions import (
    Proportion,
    bland_altman,
    diagnostic_performance,
    mcnemar_paired,
    mcnemar_table,
    newcombe_paired_ci,
    paired_difference_ci,
    pearson_ci,
    weighted_kappa,
    wilcoxon_paired,
    wilson,
)

FAST = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
Z95 = 1.959963984540054


def _paired1_patients():
    """Patient-level reads giving the DTComPair 'Paired1' discordant cells (oracles README).

    Diseased: A+B− 22, A−B+ 78 (b = 22, c = 78); non-diseased: A correct/B wrong 22, A wrong/B
    correct 53; concordant pairs added in both strata.
    """
    rows = (
        [(1, 1, 0)] * 22
        + [(1, 0, 1)] * 78
        + [(1, 1, 1)] * 100
        + [(1, 0, 0)] * 30
        + [(0, 0, 1)] * 22
        + [(0, 1, 0)] * 53
        + [(0, 0, 0)] * 150
        + [(0, 1, 1)] * 10
    )
    truth, a, b = (np.array(col) for col in zip(*rows))
    return truth, a, b


# --- diagnostic performance ------------------------------------------------------------------------
def _wilson_by_hand(k, n, z=Z95):
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return centre - half, centre + half


def test_diagnostic_performance_counts_and_wilson_intervals():
    truth = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    calls = [1, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    res = diagnostic_performance(truth, calls)
    assert res["accuracy"][:3] == (7, 10, 0.7)
    assert res["sensitivity"][:3] == (3, 4, 0.75)
    assert res["specificity"][:3] == (4, 6, pytest.approx(4 / 6))
    for prop in res.values():
        assert isinstance(prop, Proportion)
        assert (prop.ci_low, prop.ci_high) == pytest.approx(_wilson_by_hand(prop.k, prop.n), abs=1e-12)


def test_reference_standard_fixed_by_truth_not_by_calls():
    truth = [1, 1, 0, 0, 0]
    res = diagnostic_performance(truth, [1, 1, 1, 1, 1])  # every call positive
    assert (res["sensitivity"].n, res["specificity"].n) == (2, 3)
    assert (res["sensitivity"].k, res["specificity"].k) == (2, 0)
    assert res["specificity"].ci_low == 0.0


@pytest.mark.parametrize(
    "truth, calls, words",
    [
        ([], [], "non-empty"),
        ([1, 0, 1], [1, 0], "differ in length"),
        ([1, 0, 2], [1, 0, 1], "0/1"),
        ([1, 0, 1], [1, 0.5, 1], "0/1"),
        ([1, 1, 1], [1, 0, 1], "need both"),
        ([0, 0], [0, 1], "need both"),
        ([1, 0, 1], [1, np.nan, 1], "missing"),
    ],
)
def test_diagnostic_performance_bad_input(truth, calls, words):
    with pytest.raises(StatisticsError, match=words):
        diagnostic_performance(truth, calls)


def test_statistics_error_is_a_wbs_error():
    assert issubclass(StatisticsError, WbsError)
    with pytest.raises(StatisticsError, match="no cases"):
        wilson(0, 0)


@FAST
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_estimate(kn):
    k, n = kn
    prop = wilson(k, n)
    assert 0.0 <= prop.ci_low <= prop.estimate <= prop.ci_high <= 1.0
    assert prop.ci_low < prop.ci_high


# --- McNemar -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "b, c, chi2, p_chi2, p_exact",
    [
        (22, 78, 31.36, 2.14e-08, 1.59e-08),
        (22, 53, 12.81, 3.44e-04, 4.50e-04),
    ],
)
def test_mcnemar_oracle_strata(b, c, chi2, p_chi2, p_exact):
    table = [[40, b], [c, 60]]
    uncorrected = mcnemar_table(table, exact=False, correction=False)
    assert round(uncorrected["statistic"], 2) == chi2
    assert float(f"{uncorrected['p']:.2e}") == p_chi2
    exact = mcnemar_table(table)
    assert (exact["b"], exact["c"], exact["exact"]) == (b, c, True)
    assert float(f"{exact['p']:.2e}") == p_exact


def test_mcnemar_oracle_agresti_corrected():
    res = mcnemar_table([[794, 150], [86, 570]], exact=False, correction=True)
    assert round(res["statistic"], 3) == 16.818
    assert float(f"{res['p']:.3e}") == 4.115e-05


def test_mcnemar_paired_uses_the_measure_stratum():
    truth, a, b = _paired1_patients()
    sens = mcnemar_paired(truth, a, b, "sensitivity")
    spec = mcnemar_paired(truth, a, b, "specificity")
    acc = mcnemar_paired(truth, a, b, "accuracy")
    assert (sens["b"], sens["c"], sens["n"]) == (22, 78, 230)
    assert (spec["b"], spec["c"], spec["n"]) == (22, 53, 235)
    assert (acc["b"], acc["c"], acc["n"]) == (44, 131, 465)
    assert float(f"{sens['p']:.2e}") == 1.59e-08
    assert float(f"{spec['p']:.2e}") == 4.50e-04
    assert sens["table"] == [[100, 22], [78, 30]]
    flipped = mcnemar_paired(truth, a, np.where(truth == 0, 1 - b, b), "sensitivity")
    assert flipped == sens  # non-diseased reads do not enter the sensitivity test


def test_mcnemar_without_discordant_pairs_gives_p_one():
    for exact in (True, False):
        res = mcnemar_table([[10, 0], [0, 5]], exact=exact)
        assert (res["statistic"], res["p"]) == (0.0, 1.0)


def test_mcnemar_bad_input():
    with pytest.raises(StatisticsError, match="2×2"):
        mcnemar_table([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(StatisticsError, match="2×2"):
        mcnemar_table([[1, -2], [3, 4]])
    with pytest.raises(StatisticsError, match="measure"):
        mcnemar_paired([1, 0], [1, 0], [1, 0], "ppv")
    with pytest.raises(StatisticsError, match="stratum"):
        mcnemar_paired([0, 0], [1, 0], [1, 0], "sensitivity")


# --- paired difference of proportions ----------------------------------------------------------------
def test_newcombe_paired_known_answer():
    # Cavo et al. (2012) in Fagerland, Lydersen & Laake: -0.0621 (95 % CI -0.1186 to -0.0046)
    res = newcombe_paired_ci([[59, 6], [16, 80]])
    assert [round(res[k], 4) for k in ("diff", "ci_low", "ci_high")] == [-0.0621, -0.1186, -0.0046]


def test_paired_difference_ci_on_patients():
    truth, a, b = _paired1_patients()
    res = paired_difference_ci(truth, a, b, "sensitivity")
    assert res["estimate_a"] == pytest.approx(122 / 230)
    assert res["estimate_b"] == pytest.approx(178 / 230)
    assert res["diff"] == pytest.approx((22 - 78) / 230)
    assert res["ci_low"] < res["diff"] < res["ci_high"] < 0
    assert res == {**res, **newcombe_paired_ci([[100, 22], [78, 30]]), "method": "newcombe"}


@FAST
@given(st.lists(st.integers(0, 30), min_size=4, max_size=4).filter(lambda t: sum(t) > 0))
def test_newcombe_interval_contains_difference(cells):
    res = newcombe_paired_ci(np.reshape(cells, (2, 2)))
    assert -1.0 - 1e-12 <= res["ci_low"] <= res["diff"] <= res["ci_high"] <= 1.0 + 1e-12
    swapped = newcombe_paired_ci(np.reshape(cells, (2, 2)).T)
    assert swapped["diff"] == pytest.approx(-res["diff"])
    assert (swapped["ci_low"], swapped["ci_high"]) == pytest.approx((-res["ci_high"], -res["ci_low"]))


# --- Wilcoxon ----------------------------------------------------------------------------------------
DEPRESSION_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
DEPRESSION_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def test_wilcoxon_oracle_hollander_wolfe():
    res = wilcoxon_paired(DEPRESSION_X, DEPRESSION_Y, alternative="greater")
    assert res["statistic"] == 40
    assert round(res["p"], 5) == 0.01953
    assert (res["n"], res["n_zero"], res["zero_method"], res["method"]) == (9, 0, "wilcox", "exact")
    two_sided = wilcoxon_paired(DEPRESSION_X, DEPRESSION_Y)
    assert (two_sided["statistic"], two_sided["p"]) == (40, pytest.approx(2 * 0.01953125))
    mirrored = wilcoxon_paired(DEPRESSION_Y, DEPRESSION_X, alternative="less")
    assert (mirrored["statistic"], mirrored["p"]) == (5, pytest.approx(0.01953125))


def test_wilcoxon_ties_and_zeros_use_r_normal_approximation():
    likert_x = [3, 4, 4, 5, 2, 3, 4, 5, 5, 3, 4, 4]
    likert_y = [3, 3, 2, 4, 2, 2, 3, 3, 4, 3, 3, 5]
    d = np.subtract(likert_x, likert_y)
    res = wilcoxon_paired(likert_x, likert_y, alternative="greater")
    # by hand: d = 0 1 2 1 0 1 1 2 1 0 1 -1 → 3 zeros dropped; the seven |d| = 1 get rank 4, the
    # two |d| = 2 rank 8.5; V = 6·4 + 2·8.5 = 41 (the one negative d is a 1)
    assert (res["n"], res["n_zero"], res["method"], res["statistic"]) == (9, 3, "asymptotic", 41.0)
    n = 9
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - ((7**3 - 7) + (2**3 - 2)) / 48)
    z = (41 - n * (n + 1) / 4 - 0.5) / sigma
    assert res["p"] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert d[d != 0].size == res["n"]


def test_wilcoxon_all_zero_differences_and_bad_input():
    same = wilcoxon_paired([1, 2, 3], [1, 2, 3])
    assert (same["statistic"], same["p"], same["n"], same["n_zero"]) == (0.0, 1.0, 0, 3)
    with pytest.raises(StatisticsError, match="alternative"):
        wilcoxon_paired([1, 2], [2, 1], alternative="bigger")
    with pytest.raises(StatisticsError, match="differ in length"):
        wilcoxon_paired([1, 2, 3], [2, 1])


# --- Bland–Altman and Pearson ------------------------------------------------------------------------
def test_bland_altman_known_answer():
    res = bland_altman([10, 12, 14, 16], [9, 12, 15, 13])  # d = 1, 0, -1, 3
    assert res["bias"] == 0.75
    assert res["sd"] == pytest.approx(math.sqrt(8.75 / 3))
    assert (res["lower"], res["upper"]) == pytest.approx((0.75 - 1.96 * res["sd"], 0.75 + 1.96 * res["sd"]))
    assert (res["n_inside"], res["n"]) == (4, 4)
    outlier = bland_altman([0] * 9 + [10], [0] * 10)  # bias 1, sd √10, upper ≈ 7.2 < 10
    assert (outlier["bias"], outlier["n_inside"]) == (1.0, 9)
    with pytest.raises(StatisticsError, match="at least 2"):
        bland_altman([1.0], [2.0])


def test_pearson_fisher_interval():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [2.0, 1.0, 4.0, 3.0, 7.0, 5.0]
    res = pearson_ci(x, y)
    r = np.corrcoef(x, y)[0, 1]
    half = Z95 / math.sqrt(len(x) - 3)
    assert res["r"] == pytest.approx(r)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx(
        (math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half))
    )
    assert 0 < res["p"] < 0.1 and res["n"] == 6
    with pytest.raises(StatisticsError, match="at least 4"):
        pearson_ci([1, 2, 3], [1, 2, 4])
    with pytest.raises(StatisticsError, match="constant"):
        pearson_ci([1, 2, 3, 4], [5, 5, 5, 5])


# --- kappa ------------------------------------------------------------------------------------------
# R package irr's `anxiety` data, raters 2 and 3 (as in statsmodels' tests). They use levels
# 1, 2, 3, 4, 6; irr drops the empty level 5, so 6 is recoded to 5 to compare on categories 1–5.
ANXIETY_R2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_R3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


@pytest.mark.parametrize(
    "weights, kappa, z",
    [
        ("unweighted", -0.006289308, -0.0604067),
        ("linear", 0.1459075, 1.282472),
        ("quadratic", 0.2520325, 1.437451),
    ],
)
def test_kappa_oracle_irr_anxiety(weights, kappa, z):
    r2, r3 = ([5 if v == 6 else v for v in r] for r in (ANXIETY_R2, ANXIETY_R3))
    res = weighted_kappa(r2, r3, weights=weights)
    assert res["kappa"] == pytest.approx(kappa, abs=5e-8)
    assert res["z"] == pytest.approx(z, abs=5e-6)
    assert res["ci_low"] < res["kappa"] < res["ci_high"]
    assert res["ci_high"] - res["kappa"] == pytest.approx(Z95 * res["se"])


def test_kappa_uses_the_fixed_category_set():
    # hand-computed: linear weights |i-j|/4 on 1–5 → observed 0.3125, chance 0.46875, kappa 1/3
    # (on the observed levels 1, 2, 5 alone it would be 1/7)
    res = weighted_kappa([1, 5, 5, 2], [2, 5, 1, 2], weights="linear")
    assert res["kappa"] == pytest.approx(1 / 3, abs=1e-12)
    assert weighted_kappa([1, 1, 2, 2], [1, 2, 2, 2], weights="unweighted")["kappa"] == pytest.approx(0.5)
    assert weighted_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], weights="quadratic")["kappa"] == pytest.approx(1.0)


def test_kappa_bad_input():
    with pytest.raises(StatisticsError, match="categories 1–5"):
        weighted_kappa([1, 2, 6], [1, 2, 3])
    with pytest.raises(StatisticsError, match="categories 1–5"):
        weighted_kappa([1, 2, 2.5], [1, 2, 3])
    with pytest.raises(StatisticsError, match="weights"):
        weighted_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(StatisticsError, match="same category"):
        weighted_kappa([3, 3, 3], [3, 3, 3])
