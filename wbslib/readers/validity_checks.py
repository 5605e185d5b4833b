"""The observer validation's acceptance checks (T1–T6 of `wbslib.readers.validation`), each with its
bound and, where it is a statistic of the evaluation cohort's reads, its sampling interval.

A check's `value` holds when it lies inside its admissible range (`bound`). The AUC, specificity
and κ checks are statistics of a few dozen patients: their 95 % interval (`ci_low`, `ci_high`) is
the percentile interval over `RESAMPLES` resamplings of the evaluation patients with replacement
— a cluster bootstrap: a patient's replicate reads stay together, and every class is resampled
with the same patients, so differences between classes stay paired; each class keeps its
trained observer and threshold (the observer cohort's own sampling is not in the interval).
`within_sampling` is true when the interval reaches the admissible range: a check that fails but
is within sampling is one that this cohort is too small to call broken. The AUC rise's interval
sits above its value (the largest of four differences grows when patients are resampled), which
makes its `within_sampling` conservative. Checks without an
interval (d′ margin, gain, null calibration, degenerate classes) have `within_sampling` = `holds`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import cohen_kappa_score

from wbslib.core.groups import TRUTH
from wbslib.core.repro import rng

RESAMPLES = 1000
CONFIDENCE = 0.95
COLUMNS = ["test", "what", "value", "bound", "holds", "ci_low", "ci_high", "within_sampling"]


class ClassReads(NamedTuple):
    """One class's reads of the evaluation cohort: λ and calls (replicates, patients), patient labels (patients,)."""

    decisions: np.ndarray
    calls: np.ndarray
    labels: np.ndarray


def auc(reads: ClassReads, patients: np.ndarray) -> float:
    """AUC of λ over the reads of `patients` (indices, repeats allowed): the Mann–Whitney U / (n₁ n₀),
    from mid-ranks (ties count one half; fast enough for `RESAMPLES` resamplings of every class)."""
    labels = np.tile(reads.labels[patients], len(reads.decisions)) == 1
    n_positive, n_negative = int(labels.sum()), int((~labels).sum())
    if not n_positive or not n_negative:
        return float("nan")
    ranks = rankdata(reads.decisions[:, patients].ravel())
    return float((ranks[labels].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def specificity(reads: ClassReads, patients: np.ndarray) -> float:
    """Share of benign calls over the reads of the non-metastatic patients among `patients`."""
    normal = reads.calls[:, patients][:, reads.labels[patients] == 0]
    return float(1 - normal.mean()) if normal.size else float("nan")


def kappa(a: ClassReads, b: ClassReads, patients: np.ndarray) -> float:
    """Cohen's κ of two classes' calls, read by read (the same thinning replicate of the same patient)."""
    return float(cohen_kappa_score(a.calls[:, patients].ravel(), b.calls[:, patients].ravel()))


def _interval(statistic: Callable[[np.ndarray], float], n_patients: int, seed: int) -> tuple[float, float]:
    gen = rng(seed, "validation-interval")
    values = np.array([statistic(gen.integers(0, n_patients, n_patients)) for _ in range(RESAMPLES)])
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _bound_text(low: float, high: float) -> str:
    if low == -np.inf:
        return f"≤ {high:g}"
    if high == np.inf:
        return f"≥ {low:g}"
    return f"within ±{high:g}" if low == -high else f"{low:g} to {high:g}"


def _row(test: str, what: str, value: float, bound: tuple[float, float], interval=None) -> dict:
    low, high = bound
    holds = bool(np.isfinite(value) and low <= value <= high)
    ci_low, ci_high = interval if interval is not None else (np.nan, np.nan)
    within = bool(ci_low <= high and ci_high >= low) if interval is not None else holds
    return dict(zip(COLUMNS, (test, what, value, _bound_text(low, high), holds, ci_low, ci_high, within)))


def _sampled_checks(reads: dict[str, ClassReads], speeds: list[str], smoothed: str, auc_rise: float) -> list[tuple]:
    """(test, what, classes it reads, statistic of resampled patients, admissible range) of every
    check that is a statistic of the evaluation cohort's reads."""

    def rise(p):
        return max(auc(reads[b], p) - auc(reads[a], p) for a, b in zip(speeds, speeds[1:]))

    def diff(measure, a, b):
        return lambda p: measure(reads[a], p) - measure(reads[b], p)

    base, two = speeds[0], "2x"
    return [
        ("T1 speed", "largest AUC rise from one speed to the next", speeds, rise, (-np.inf, auc_rise)),
        ("T2 truth", "AUC(truth) − AUC(1x)", [TRUTH, base], diff(auc, TRUTH, base), (-0.02, np.inf)),
        (
            "T2 truth",
            "specificity(truth) − specificity(1x)",
            [TRUTH, base],
            diff(specificity, TRUTH, base),
            (-0.1, np.inf),
        ),
        (
            "T3 invertible filter",
            "AUC(2x smoothed) − AUC(2x)",
            [smoothed, two],
            diff(auc, smoothed, two),
            (-0.03, 0.03),
        ),
        (
            "T3 invertible filter",
            "κ of the calls, 2x smoothed vs 2x",
            [smoothed, two],
            lambda p: kappa(reads[smoothed], reads[two], p),
            (0.7, np.inf),
        ),
        (
            "T3 invertible filter",
            "specificity(2x smoothed) − specificity(2x)",
            [smoothed, two],
            diff(specificity, smoothed, two),
            (-0.1, 0.1),
        ),
    ]


def validity_checks(
    results: pd.DataFrame,
    reads: dict[str, ClassReads],
    gain: tuple[float, float],
    *,
    speeds: list[str],
    smoothed: str,
    limits: dict,
    seed: int,
) -> pd.DataFrame:
    """The checks table from the per-class `results` (indexed by class: lke_dprime, null_z_mean,
    null_z_sd, tied_fraction), the `reads` of every class whose observer was trained, T4's
    (gain, largest relative change of λ), the speed classes in order (1x first), the smoothed
    class and `limits` (auc_rise, z_mean, z_sd). A check whose classes were not read has NaN and
    does not hold; the T2 rows appear when the truth class was made."""
    n = len(next(iter(reads.values())).labels) if reads else 0
    faster = speeds[1:]  # d′(1)/d′(1) is 1 by definition
    ratio = results.loc[faster, "lke_dprime"] / results.at[speeds[0], "lke_dprime"]
    lower = pd.Series([1 / np.sqrt(float(s[:-1])) - 0.1 for s in faster], index=faster)
    margin = float(np.min(np.minimum(ratio - lower, 1.0 - ratio)))  # NaN: not computable
    rows = [_row("T1 speed", "least margin of d′(s)/d′(1) inside [1/√s − 0.1, 1]", margin, (0.0, np.inf))]
    for test, what, classes, statistic, bound in _sampled_checks(reads, speeds, smoothed, limits["auc_rise"]):
        if test == "T2 truth" and TRUTH not in results.index:
            continue
        if all(c in reads for c in classes):
            rows.append(_row(test, what, statistic(np.arange(n)), bound, _interval(statistic, n, seed)))
        else:
            rows.append(_row(test, what, float("nan"), bound))
    factor, change = gain
    rows.append(_row("T4 gain", f"largest relative change of λ, 1x counts × {factor:g}", change, (-np.inf, 1e-6)))
    sd = results["null_z_sd"].to_numpy()
    worst_sd = float(sd[int(np.argmax(np.abs(sd - 1.0)))]) if len(sd) else float("nan")
    what = "largest |mean z| over held-out normal bone"
    rows.append(
        _row("T5 null calibration", what, float(results["null_z_mean"].abs().max()), (-np.inf, limits["z_mean"]))
    )
    rows.append(
        _row("T5 null calibration", "SD of z farthest from 1 over held-out normal bone", worst_sd, limits["z_sd"])
    )
    degenerate = [
        c
        for c in results.index
        if results.at[c, "tied_fraction"] >= 0.2 or c not in reads or len(np.unique(reads[c].calls)) < 2
    ]
    what = "classes with one call only or ≥ 20 % ties"
    rows.append(_row("T6 not degenerate", what, float(len(degenerate)), (-np.inf, 0.0)))
    return pd.DataFrame(rows, columns=COLUMNS)
