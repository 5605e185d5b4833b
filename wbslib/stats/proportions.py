"""Reader-study statistics: diagnostic performance, McNemar, Wilcoxon, Bland–Altman, Pearson, kappa.

Conventions (the paper's, made explicit):
- `truth` is the per-patient reference standard (1 = metastatic/malignant, 0 = not); counts of
  diseased and non-diseased patients always come from `truth`, never from the calls.
- `calls` are binary reads (1 = malignant). A stratum is the set of patients a measure is
  defined on: accuracy → all patients, sensitivity → diseased, specificity → non-diseased.
- Confidence level 95 % unless stated; proportions carry Wilson score intervals.
ROC/AUC/DeLong live in `wbslib.stats.roc`, multi-reader multi-case analysis in `wbslib.stats.mrmc`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from wbslib.core.errors import StatisticsError

MEASURES = ("accuracy", "sensitivity", "specificity")
KAPPA_CATEGORIES = (1, 2, 3, 4, 5)


class Proportion(NamedTuple):
    """k successes of n, the estimate k/n and its Wilson score CI (ci_low, ci_high)."""

    k: int
    n: int
    estimate: float
    ci_low: float
    ci_high: float


# --- input checks (also used by wbslib.stats.roc and wbslib.stats.mrmc) ------------------------------------
def as_finite(values, name: str) -> np.ndarray:
    """`values` as a 1-D float array; StatisticsError if empty, not 1-D, or holding NaN/inf."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(f"{name} holds non-numeric values ({exc}); pass numbers only.") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise StatisticsError(
            f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}; pass one value per patient."
        )
    if not np.all(np.isfinite(arr)):
        raise StatisticsError(
            f"{name} holds {int(np.sum(~np.isfinite(arr)))} missing or infinite "
            "values; remove those patients or complete the reads."
        )
    return arr


def as_binary(values, name: str) -> np.ndarray:
    """`values` as a 1-D int array of 0/1 (bools accepted); StatisticsError for anything else."""
    arr = as_finite(values, name)
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise StatisticsError(
            f"{name} must hold only 0/1, found {sorted(set(arr[bad].tolist()))[:5]}; "
            "code calls and truth as 1 = malignant, 0 = benign."
        )
    return arr.astype(np.int64)


def check_lengths(**arrays: np.ndarray) -> int:
    """The common length of the named arrays; StatisticsError naming them if lengths differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise StatisticsError(
            f"Paired inputs differ in length {lengths}; pass one value per patient in the same patient order."
        )
    return next(iter(lengths.values()))


# --- proportions ---------------------------------------------------------------------------------
def wilson(k: int, n: int, conf: float = 0.95) -> Proportion:
    """k of n with the Wilson score interval (statsmodels `proportion_confint`, method 'wilson')."""
    if n <= 0:
        raise StatisticsError("A proportion over 0 patients is undefined; the group has no cases.")
    low, high = proportion_confint(int(k), int(n), alpha=1 - conf, method="wilson")
    low, high = (0.0 if k == 0 else float(low)), (1.0 if k == n else float(high))  # drop ±1e-17 rounding
    return Proportion(int(k), int(n), float(k / n), low, high)


def diagnostic_performance(truth, calls, conf: float = 0.95) -> dict:
    """Accuracy, sensitivity and specificity of binary calls against the per-patient truth.

    Returns {'accuracy', 'sensitivity', 'specificity'}: each a `Proportion` (k, n, estimate,
    ci_low, ci_high) with a Wilson CI; n is all patients, the diseased, the non-diseased (from
    `truth`). StatisticsError if lengths differ, values are not 0/1, or a stratum is empty.
    """
    truth, calls = as_binary(truth, "truth"), as_binary(calls, "calls")
    check_lengths(truth=truth, calls=calls)
    _require_strata(truth)
    correct = truth == calls
    return {
        "accuracy": wilson(correct.sum(), truth.size, conf),
        "sensitivity": wilson(correct[truth == 1].sum(), int((truth == 1).sum()), conf),
        "specificity": wilson(correct[truth == 0].sum(), int((truth == 0).sum()), conf),
    }


def _require_strata(truth: np.ndarray) -> None:
    n_pos = int(truth.sum())
    if n_pos == 0 or n_pos == truth.size:
        raise StatisticsError(
            f"truth has {n_pos} diseased and {truth.size - n_pos} non-diseased "
            "patients; sensitivity and specificity need both — check the reference standard."
        )


def _stratum_outcomes(truth, calls_a, calls_b, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient correctness (bool) of readings A and B within the measure's stratum."""
    if measure not in MEASURES:
        raise StatisticsError(f"measure must be one of {MEASURES}, got {measure!r}.")
    truth = as_binary(truth, "truth")
    calls_a, calls_b = as_binary(calls_a, "calls_a"), as_binary(calls_b, "calls_b")
    check_lengths(truth=truth, calls_a=calls_a, calls_b=calls_b)
    keep = {"accuracy": np.ones(truth.size, bool), "sensitivity": truth == 1, "specificity": truth == 0}[measure]
    if not keep.any():
        raise StatisticsError(
            f"No patients in the {measure} stratum (truth has "
            f"{int(truth.sum())} diseased of {truth.size}); it cannot be tested."
        )
    return (calls_a == truth)[keep], (calls_b == truth)[keep]


# --- McNemar -------------------------------------------------------------------------------------
def mcnemar_table(table, exact: bool = True, correction: bool = True) -> dict:
    """McNemar's test on a paired 2×2 table [[a, b], [c, d]] (b, c = discordant cells).

    exact=True: two-sided binomial test on the discordant pairs (statistic = min(b, c));
    exact=False: χ² = (|b − c| − 1)²/(b + c) with `correction`, else (b − c)²/(b + c).
    With no discordant pairs there is no evidence of a difference: statistic 0, p = 1.
    Returns {'b', 'c', 'statistic', 'p', 'exact', 'correction'}.
    """
    arr = np.asarray(table, dtype=float)
    if arr.shape != (2, 2) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise StatisticsError(f"A McNemar table must be 2×2 non-negative counts, got {arr.tolist()}.")
    b, c = int(arr[0, 1]), int(arr[1, 0])
    if b + c == 0:
        statistic, p = 0.0, 1.0
    else:
        res = mcnemar(arr, exact=exact, correction=correction)
        statistic, p = float(res.statistic), float(res.pvalue)
    return {"b": b, "c": c, "statistic": statistic, "p": p, "exact": exact, "correction": correction}


def mcnemar_paired(
    truth, calls_a, calls_b, measure: str = "accuracy", exact: bool = True, correction: bool = True
) -> dict:
    """McNemar's test of readings A vs B on the same patients, for one measure's stratum.

    accuracy: all patients, correct vs incorrect; sensitivity: diseased only; specificity:
    non-diseased only. b = A correct & B wrong, c = A wrong & B correct (b > c favours A).
    Returns `mcnemar_table`'s dict plus 'measure', 'n' (patients in the stratum), 'table'.
    """
    ok_a, ok_b = _stratum_outcomes(truth, calls_a, calls_b, measure)
    table = [
        [int(np.sum(ok_a & ok_b)), int(np.sum(ok_a & ~ok_b))],
        [int(np.sum(~ok_a & ok_b)), int(np.sum(~ok_a & ~ok_b))],
    ]
    return {
        "measure": measure,
        "n": int(ok_a.size),
        "table": table,
        **mcnemar_table(table, exact=exact, correction=correction),
    }


# --- paired difference of proportions -------------------------------------------------------------
def newcombe_paired_ci(table, conf: float = 0.95) -> dict:
    """Newcombe's square-and-add CI (1998, method 10) for p_A − p_B from a paired 2×2 table.

    table [[n11, n12], [n21, n22]]: rows A success/failure, columns B success/failure, so
    p_A = (n11 + n12)/N and p_B = (n11 + n21)/N. Wilson intervals of both proportions are
    combined with the correlation φ (numerator AD − BC shrunk by N/2 when positive), as
    recommended by Fagerland, Lydersen & Laake (2014). Returns {'diff', 'ci_low', 'ci_high'}.
    """
    arr = np.asarray(table, dtype=float)
    if arr.shape != (2, 2) or np.any(arr < 0) or arr.sum() == 0:
        raise StatisticsError(f"A paired table must be 2×2 non-negative counts, not all 0, got {arr.tolist()}.")
    n = arr.sum()
    k_a, k_b = arr[0].sum(), arr[:, 0].sum()
    p_a, p_b = k_a / n, k_b / n
    l_a, u_a = proportion_confint(k_a, n, alpha=1 - conf, method="wilson")
    l_b, u_b = proportion_confint(k_b, n, alpha=1 - conf, method="wilson")
    margins = arr.sum(0).prod() * arr.sum(1).prod()
    cross = arr[0, 0] * arr[1, 1] - arr[0, 1] * arr[1, 0]
    numerator = cross - n / 2 if cross > n / 2 else min(cross, 0.0)
    phi = numerator / np.sqrt(margins) if margins > 0 else 0.0
    diff = p_a - p_b
    low = diff - np.sqrt((p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2)
    high = diff + np.sqrt((p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2)
    return {"diff": float(diff), "ci_low": float(low), "ci_high": float(high)}


def paired_difference_ci(truth, calls_a, calls_b, measure: str = "sensitivity", conf: float = 0.95) -> dict:
    """Difference A − B in accuracy/sensitivity/specificity on the same patients, Newcombe CI.

    Returns {'measure', 'n', 'estimate_a', 'estimate_b', 'diff', 'ci_low', 'ci_high', 'method'}.
    """
    ok_a, ok_b = _stratum_outcomes(truth, calls_a, calls_b, measure)
    table = [[np.sum(ok_a & ok_b), np.sum(ok_a & ~ok_b)], [np.sum(~ok_a & ok_b), np.sum(~ok_a & ~ok_b)]]
    return {
        "measure": measure,
        "n": int(ok_a.size),
        "estimate_a": float(ok_a.mean()),
        "estimate_b": float(ok_b.mean()),
        **newcombe_paired_ci(table, conf),
        "method": "newcombe",
    }


# --- Wilcoxon signed-rank --------------------------------------------------------------------------
def wilcoxon_paired(x, y, alternative: str = "two-sided") -> dict:
    """Wilcoxon signed-rank test of the paired differences d = x − y, as R's `wilcox.test`.

    alternative 'greater' tests x > y (d shifted above 0), 'less' x < y. Zero differences are
    dropped (zero_method 'wilcox', as R and SPSS); tied |d| get mid-ranks. The p-value is exact
    when fewer than 50 non-zero pairs and no ties or zeros, else normal with tie and continuity
    correction (R's default). 'statistic' is R's V: the rank sum of the positive differences.
    With all differences zero there is no evidence of a shift: V = 0, p = 1.
    Returns {'statistic', 'p', 'n' (non-zero pairs), 'n_zero', 'zero_method', 'method', 'alternative'}.
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise StatisticsError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}.")
    x, y = as_finite(x, "x"), as_finite(y, "y")
    check_lengths(x=x, y=y)
    d = x - y
    nonzero = d[d != 0]
    out = {
        "n": int(nonzero.size),
        "n_zero": int(d.size - nonzero.size),
        "zero_method": "wilcox",
        "alternative": alternative,
    }
    if nonzero.size == 0:
        return {**out, "statistic": 0.0, "p": 1.0, "method": "none"}
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    method = "exact" if nonzero.size < 50 and not ties and out["n_zero"] == 0 else "asymptotic"
    kw = {"zero_method": "wilcox", "correction": True, "method": method}
    v = sps.wilcoxon(d, alternative="greater", **kw).statistic
    p = sps.wilcoxon(d, alternative=alternative, **kw).pvalue
    return {**out, "statistic": float(v), "p": float(p), "method": method}


# --- agreement ------------------------------------------------------------------------------------
def bland_altman(a, b) -> dict:
    """Bland–Altman agreement of paired measurements (same unit, e.g. counts of the hottest lesion).

    bias = mean(a − b), sd = SD(a − b) (ddof 1), limits of agreement bias ± 1.96·sd;
    n_inside counts pairs whose difference lies within the limits (inclusive).
    Returns {'bias', 'sd', 'lower', 'upper', 'n_inside', 'n'}.
    """
    a, b = as_finite(a, "a"), as_finite(b, "b")
    n = check_lengths(a=a, b=b)
    if n < 2:
        raise StatisticsError(f"Bland–Altman needs at least 2 pairs, got {n}; add patients.")
    d = a - b
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    lower, upper = bias - 1.96 * sd, bias + 1.96 * sd
    return {
        "bias": bias,
        "sd": sd,
        "lower": lower,
        "upper": upper,
        "n_inside": int(np.sum((d >= lower) & (d <= upper))),
        "n": n,
    }


def pearson_ci(x, y, conf: float = 0.95) -> dict:
    """Pearson r with two-sided p and Fisher-z CI (scipy `pearsonr`). Returns {'r','p','ci_low','ci_high','n'}."""
    x, y = as_finite(x, "x"), as_finite(y, "y")
    n = check_lengths(x=x, y=y)
    if n < 4:
        raise StatisticsError(f"Pearson r with a CI needs at least 4 pairs, got {n}; add patients.")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise StatisticsError("One variable is constant, so Pearson r is undefined; check the input.")
    res = sps.pearsonr(x, y)
    ci = res.confidence_interval(confidence_level=conf)
    return {
        "r": float(res.statistic),
        "p": float(res.pvalue),
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "n": n,
    }


def weighted_kappa(r1, r2, weights: str = "linear", conf: float = 0.95, categories=KAPPA_CATEGORIES) -> dict:
    """Cohen's kappa of two readers' scores on a fixed category set (default 1–5, Likert quality;
    (0, 1) for malignant calls, with weights 'unweighted').

    weights 'linear' (|i − j|/(k − 1)), 'quadratic' ((i − j)²/(k − 1)²) or 'unweighted'; statsmodels
    `cohens_kappa` on the k × k table, so unused categories still count. The CI is
    kappa ± z·SE (asymptotic SE); z and p test kappa = 0.
    Returns {'kappa', 'se', 'ci_low', 'ci_high', 'z', 'p', 'n', 'weights'}.
    """
    if weights not in ("linear", "quadratic", "unweighted"):
        raise StatisticsError(f"weights must be 'linear', 'quadratic' or 'unweighted', got {weights!r}.")
    r1, r2 = as_finite(r1, "r1"), as_finite(r2, "r2")
    n = check_lengths(r1=r1, r2=r2)
    for name, r in (("r1", r1), ("r2", r2)):
        bad = ~np.isin(r, categories)
        if bad.any():
            raise StatisticsError(
                f"{name} holds {sorted(set(r[bad].tolist()))[:5]}, outside the "
                f"categories {categories[0]}–{categories[-1]}; correct the score sheet."
            )
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    np.add.at(table, ([index[v] for v in r1.tolist()], [index[v] for v in r2.tolist()]), 1)
    if np.count_nonzero(table) == 1 and np.trace(table) == n:
        raise StatisticsError(
            "Both readers used one and the same category, so chance agreement is 1 "
            "and kappa is undefined; report the raw agreement instead."
        )
    res = cohens_kappa(table, wt=None if weights == "unweighted" else weights)
    half_width = sps.norm.ppf(0.5 + conf / 2) * res.std_kappa
    return {
        "kappa": float(res.kappa),
        "se": float(res.std_kappa),
        "ci_low": float(res.kappa - half_width),
        "ci_high": float(res.kappa + half_width),
        "z": float(res.z_value),
        "p": float(res.pvalue_two_sided),
        "n": n,
        "weights": weights,
    }
