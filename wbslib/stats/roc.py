"""ROC curves, empirical AUC with DeLong variance, DeLong's paired test, AUC non-inferiority.

Direction is fixed: a higher score (e.g. reader confidence 1–5) means more likely diseased
(malignant); the AUC is P(score of a diseased patient > score of a non-diseased one) with ties
counting ½. This is pROC's direction '<' (controls < cases). Unlike pROC's default
`direction = "auto"`, no marker is ever flipped, so a marker worse than chance has AUC < 0.5
(on the pROC oracle data sets 'auto' also picks '<', so the numbers agree).

Variances follow DeLong, DeLong & Clarke-Pearson (1988) in the placement-value form: each
diseased case gets V10 = fraction of non-diseased it outranks, each non-diseased case V01 =
fraction of diseased that outrank it; Cov(AUC) = S10/m + S01/n with sample covariances
(ddof 1) of the placements over m diseased and n non-diseased patients. Placements come from
sorted searches, O(N log N) per marker, so thousands of cases take milliseconds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.metrics import roc_curve

from wbslib.core.errors import StatisticsError
from wbslib.stats.proportions import as_binary, as_finite, check_lengths


class AucResult(NamedTuple):
    """Empirical AUC, its DeLong standard error and CI (clipped to [0, 1])."""

    auc: float
    se: float
    ci_low: float
    ci_high: float


def _truth_and_scores(truth, *scores) -> tuple[np.ndarray, np.ndarray]:
    """Validated truth (0/1) and a (k, N) float array of k markers on the same N patients."""
    truth = as_binary(truth, "truth")
    arrays = [as_finite(s, f"scores[{i}]") for i, s in enumerate(scores)]
    check_lengths(truth=truth, **{f"scores_{i}": a for i, a in enumerate(arrays)})
    n_pos = int(truth.sum())
    if n_pos < 2 or truth.size - n_pos < 2:
        raise StatisticsError(
            f"truth has {n_pos} diseased and {truth.size - n_pos} non-diseased "
            "patients; an AUC with DeLong variance needs at least 2 of each."
        )
    return truth, np.vstack(arrays)


def placement_values(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeLong placement values of k markers (scores (k, N), truth 0/1 of length N, both checked).

    Returns (auc (k,), v10 (k, m) for the m diseased in patient order, v01 (k, n) for the n
    non-diseased); auc = v10.mean(1) = v01.mean(1).
    """
    pos, neg = truth == 1, truth == 0
    m, n = int(pos.sum()), int(neg.sum())
    v10 = np.empty((scores.shape[0], m))
    v01 = np.empty((scores.shape[0], n))
    for i, s in enumerate(scores):
        cases, controls = s[pos], s[neg]
        sorted_controls, sorted_cases = np.sort(controls), np.sort(cases)
        below = np.searchsorted(sorted_controls, cases, "left") + np.searchsorted(sorted_controls, cases, "right")
        v10[i] = below / (2.0 * n)
        at_or_below = np.searchsorted(sorted_cases, controls, "left") + np.searchsorted(sorted_cases, controls, "right")
        v01[i] = 1.0 - at_or_below / (2.0 * m)
    return v10.mean(axis=1), v10, v01


def delong_covariance(truth, *scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) of k markers read on the same patients and their DeLong covariance matrix (k, k)."""
    truth, arr = _truth_and_scores(truth, *scores)
    auc, v10, v01 = placement_values(truth, arr)
    cov = np.atleast_2d(np.cov(v10)) / v10.shape[1] + np.atleast_2d(np.cov(v01)) / v01.shape[1]
    return auc, cov


def roc_curve_points(truth, scores) -> pd.DataFrame:
    """Empirical ROC operating points (sklearn `roc_curve`): columns fpr, tpr, threshold.

    One row per distinct threshold, from (0, 0) at threshold +inf to (1, 1); a patient is
    called positive when score ≥ threshold.
    """
    truth, arr = _truth_and_scores(truth, scores)
    fpr, tpr, thresholds = roc_curve(truth, arr[0], drop_intermediate=False)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def auc_delong(truth, scores, conf: float = 0.95) -> AucResult:
    """Empirical AUC with DeLong SE and normal CI clipped to [0, 1] (pROC `ci.auc(method='delong')`)."""
    auc, cov = delong_covariance(truth, scores)
    se = float(np.sqrt(cov[0, 0]))
    half = float(sps.norm.ppf(0.5 + conf / 2)) * se
    auc_value = float(auc[0])
    return AucResult(auc_value, se, max(0.0, auc_value - half), min(1.0, auc_value + half))


def _paired(truth, scores_a, scores_b) -> tuple[float, float, float]:
    auc, cov = delong_covariance(truth, scores_a, scores_b)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return float(auc[0]), float(auc[1]), float(np.sqrt(max(var, 0.0)))


def delong_paired(truth, scores_a, scores_b, conf: float = 0.95) -> dict:
    """DeLong's test of two correlated AUCs (two markers or readings on the same patients).

    diff = AUC_a − AUC_b, z = diff / SE(diff), two-sided normal p, CI diff ± z_(1−α/2)·SE
    (pROC `roc.test(method='delong')`). Identical markers: diff 0, SE 0, z 0, p 1.
    Returns {'auc_a', 'auc_b', 'diff', 'se', 'z', 'p', 'ci_low', 'ci_high'}.
    """
    auc_a, auc_b, se = _paired(truth, scores_a, scores_b)
    diff = auc_a - auc_b
    if se > 0:
        z = diff / se
    else:
        z = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    half = float(sps.norm.ppf(0.5 + conf / 2)) * se
    return {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "diff": diff,
        "se": se,
        "z": z,
        "p": float(2 * sps.norm.sf(abs(z))),
        "ci_low": diff - half,
        "ci_high": diff + half,
    }


def noninferiority_auc(truth, scores_test, scores_ref, margin: float, alpha: float = 0.025) -> dict:
    """Non-inferiority of the test reading's AUC to the reference's with a margin (AUC units).

    H0: AUC_test − AUC_ref ≤ −margin. lower = diff − z_(1−α)·SE is the one-sided (1 − α)
    lower confidence bound of the DeLong difference (α = 0.025 equals the lower end of the
    two-sided 95 % CI); non_inferior is lower > −margin; p = P(Z ≥ (diff + margin)/SE).
    Returns {'diff', 'se', 'lower', 'margin', 'p', 'non_inferior'}.
    """
    if not (np.isfinite(margin) and margin > 0):
        raise StatisticsError(f"margin must be a positive AUC difference (e.g. 0.05), got {margin!r}.")
    if not 0 < alpha < 0.5:
        raise StatisticsError(f"alpha must lie in (0, 0.5), got {alpha!r}.")
    auc_test, auc_ref, se = _paired(truth, scores_test, scores_ref)
    diff = auc_test - auc_ref
    lower = diff - sps.norm.ppf(1 - alpha) * se
    if se > 0:
        p = float(sps.norm.sf((diff + margin) / se))
    else:
        p = 0.0 if diff > -margin else 1.0
    return {
        "diff": diff,
        "se": se,
        "lower": float(lower),
        "margin": float(margin),
        "p": p,
        "non_inferior": bool(lower > -margin),
    }
