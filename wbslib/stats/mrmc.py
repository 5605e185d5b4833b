"""Multi-reader multi-case (MRMC) comparison of two readings: Obuchowski–Rockette with Hillis df.

Every reader reads every case under both treatments (e.g. groups `1x` and `3x-simu`). The figure
of merit (FOM) per reader and treatment is the empirical AUC of the ratings (higher = more likely
diseased, ties ½), sensitivity (mean call on diseased cases) or specificity (mean of 1 − call on
non-diseased cases). The case-sampling covariance of the FOMs is estimated by DeLong's method
(for a binary FOM it reduces to the covariance of proportions, ddof 1) or by the jackknife over
cases; the Obuchowski–Rockette covariances are then Var (same reader, same treatment), Cov1
(same reader, other treatment), Cov2 (other reader, same treatment), Cov3 (both differ).

Random readers (and cases), Hillis (2007): F = MS(T) / [MS(T:R) + r·max(Cov2 − Cov3, 0)] on
(t − 1, df2) degrees of freedom with df2 = [MS(T:R) + r·max(Cov2 − Cov3, 0)]² /
{MS(T:R)² / ((t − 1)(r − 1))}. Fixed readers (random cases): χ² = (t − 1)·MS(T) /
[Var − Cov1 + (r − 1)·max(Cov2 − Cov3, 0)] on t − 1 df. This matches R's MRMCaov `mrmc()`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from wbslib.core.errors import StatisticsError
from wbslib.stats.roc import placement_values

FOMS = ("auc", "sensitivity", "specificity")
COVARIANCES = ("delong", "jackknife")
READERS = ("random", "fixed")
COLUMNS = ("reader", "treatment", "case", "truth", "rating")


def _design(df: pd.DataFrame, treatments) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Treatment labels (2), reader labels, ratings (2, R, N) and truth (N,) of a complete design."""
    if not isinstance(df, pd.DataFrame):
        raise StatisticsError(f"MRMC input must be a DataFrame with columns {COLUMNS}, got {type(df).__name__}.")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise StatisticsError(f"MRMC reads lack columns {missing}; provide {COLUMNS} (one row per reading).")
    df = df.loc[:, COLUMNS]
    if df.isna().any().any():
        raise StatisticsError(
            f"MRMC reads hold {int(df.isna().any(axis=1).sum())} rows with missing values; complete or remove them."
        )
    labels = sorted(df["treatment"].unique()) if treatments is None else list(treatments)
    labels = [x.item() if isinstance(x, np.generic) else x for x in labels]
    if len(labels) != 2 or labels[0] == labels[1] or not set(labels) <= set(df["treatment"]):
        raise StatisticsError(
            f"MRMC compares exactly two treatments present in the reads; got {labels} "
            f"of {sorted(df['treatment'].unique())} — pass treatments=(a, b)."
        )
    df = df[df["treatment"].isin(labels)]
    truth_per_case = df.groupby("case")["truth"].agg(["nunique", "first"])
    if (truth_per_case["nunique"] > 1).any():
        bad = truth_per_case.index[truth_per_case["nunique"] > 1].tolist()[:5]
        raise StatisticsError(
            f"Cases {bad} carry different truth in different rows; the reference standard must be fixed per case."
        )
    truth = truth_per_case["first"].to_numpy(dtype=float)
    if not np.isin(truth, (0, 1)).all():
        raise StatisticsError("MRMC truth must be 0/1 (1 = diseased); recode the reference standard.")
    dupes = df.duplicated(["reader", "treatment", "case"])
    if dupes.any():
        first = df[dupes].iloc[0]
        raise StatisticsError(
            f"{int(dupes.sum())} duplicate readings (e.g. reader {first['reader']}, "
            f"treatment {first['treatment']}, case {first['case']}); keep one per triple."
        )
    readers, cases = sorted(df["reader"].unique()), truth_per_case.index
    full = pd.MultiIndex.from_product([labels, readers, cases], names=["treatment", "reader", "case"])
    ratings = df.set_index(["treatment", "reader", "case"])["rating"].reindex(full)
    if ratings.isna().any():
        t, r, c = ratings.index[ratings.isna()][0]
        raise StatisticsError(
            f"{int(ratings.isna().sum())} readings are missing from the fully crossed "
            f"design (e.g. reader {r}, treatment {t}, case {c}); every reader must "
            "read every case under both treatments."
        )
    n_pos = int(truth.sum())
    if n_pos < 2 or truth.size - n_pos < 2:
        raise StatisticsError(
            f"MRMC needs at least 2 diseased and 2 non-diseased cases, got {n_pos} and {truth.size - n_pos}."
        )
    values = ratings.to_numpy(dtype=float).reshape(2, len(readers), len(cases))
    return labels, readers, values, truth.astype(np.int64)


def _placements(ratings: np.ndarray, truth: np.ndarray, fom: str):
    """FOM (K,) and per-case components v10 (K, m), v01 (K, n) of K readings (ratings (K, N)).

    For every FOM, theta = mean(v10) = mean(v01); binary FOMs keep the other component constant.
    """
    if fom == "auc":
        return placement_values(truth, ratings)
    if not np.isin(ratings, (0, 1)).all():
        raise StatisticsError(
            f"fom={fom!r} needs binary ratings (1 = malignant call, 0 = benign); use fom='auc' for confidence scores."
        )
    if fom == "sensitivity":
        v10 = ratings[:, truth == 1]
        theta = v10.mean(axis=1)
        return theta, v10, np.repeat(theta[:, None], int((truth == 0).sum()), axis=1)
    v01 = 1.0 - ratings[:, truth == 0]
    theta = v01.mean(axis=1)
    return theta, np.repeat(theta[:, None], int(truth.sum()), axis=1), v01


def _covariance(theta: np.ndarray, v10: np.ndarray, v01: np.ndarray, method: str) -> np.ndarray:
    """Case-sampling covariance (K, K) of the K FOMs: DeLong or jackknife over all cases."""
    m, n = v10.shape[1], v01.shape[1]
    if method == "delong":
        return np.cov(v10) / m + np.cov(v01) / n
    leave_one_out = np.hstack([(m * theta[:, None] - v10) / (m - 1), (n * theta[:, None] - v01) / (n - 1)])
    return (m + n - 1) * np.cov(leave_one_out, bias=True)


def _or_covariances(cov: np.ndarray, n_readers: int) -> dict:
    """Var, Cov1, Cov2, Cov3: means of the (treatment, reader) covariance over the OR cell types."""
    c = cov.reshape(2, n_readers, 2, n_readers)
    same_t = np.eye(2, dtype=bool)[:, None, :, None]
    same_r = np.eye(n_readers, dtype=bool)[None, :, None, :]

    def mean_over(mask: np.ndarray) -> float:
        return float(c[np.broadcast_to(mask, c.shape)].mean()) if mask.any() else np.nan

    return {
        "var": mean_over(same_t & same_r),
        "cov1": mean_over(~same_t & same_r),
        "cov2": mean_over(same_t & ~same_r),
        "cov3": mean_over(~same_t & ~same_r),
    }


def mrmc_or(
    df: pd.DataFrame,
    *,
    fom: str = "auc",
    cov: str = "delong",
    readers: str = "random",
    treatments=None,
    conf: float = 0.95,
) -> dict:
    """Obuchowski–Rockette MRMC test of treatment a vs b (a − b), random or fixed readers.

    df: one row per reading with columns reader, treatment, case, truth (0/1 per case), rating
    (confidence scores for 'auc'; 0/1 calls for 'sensitivity'/'specificity'). treatments: the
    two labels (a, b) to compare; default the two labels present, sorted.
    Returns {'fom', 'cov', 'readers', 'treatments', 'fom_by_treatment' {label: FOM},
    'fom_by_reader' (DataFrame reader × treatment), 'diff', 'se', 'ci_low', 'ci_high',
    'statistic' (F for random, χ² for fixed readers), 'statistic_name', 'df1', 'df2' (Hillis;
    inf for fixed readers), 'p', 'var', 'cov1', 'cov2', 'cov3', 'ms_t', 'ms_tr', 'n_readers',
    'n_cases', 'n_diseased'}.
    """
    for name, value, allowed in (("fom", fom, FOMS), ("cov", cov, COVARIANCES), ("readers", readers, READERS)):
        if value not in allowed:
            raise StatisticsError(f"{name} must be one of {allowed}, got {value!r}.")
    labels, reader_labels, ratings, truth = _design(df, treatments)
    n_r = len(reader_labels)
    if readers == "random" and n_r < 2:
        raise StatisticsError(f"Random-reader MRMC needs at least 2 readers, got {n_r}; use readers='fixed'.")
    theta, v10, v01 = _placements(ratings.reshape(2 * n_r, -1), truth, fom)
    covs = _or_covariances(_covariance(theta, v10, v01, cov), n_r)
    theta = theta.reshape(2, n_r)
    means_t, means_r, grand = theta.mean(axis=1), theta.mean(axis=0), theta.mean()
    ms_t = n_r * float(np.sum((means_t - grand) ** 2))
    ms_tr = float(np.sum((theta - means_t[:, None] - means_r[None, :] + grand) ** 2)) / (n_r - 1) if n_r > 1 else np.nan
    reader_term = max(covs["cov2"] - covs["cov3"], 0.0) if n_r > 1 else 0.0
    if readers == "random":
        error = ms_tr + n_r * reader_term
        df2 = error**2 / ms_tr**2 * (n_r - 1) if ms_tr > 0 else np.inf
    else:
        error = covs["var"] - covs["cov1"] + (n_r - 1) * reader_term
        df2 = np.inf
    if not error > 0:
        raise StatisticsError(
            "The FOMs show no reader or case variability, so the MRMC test is "
            "undefined; check that the readings differ between cases."
        )
    statistic = ms_t / error
    p = float(sps.chi2.sf(statistic, 1)) if np.isinf(df2) else float(sps.f.sf(statistic, 1, df2))
    diff, se = float(means_t[0] - means_t[1]), float(np.sqrt(2.0 / n_r * error))
    crit = float(sps.norm.ppf(0.5 + conf / 2) if np.isinf(df2) else sps.t.ppf(0.5 + conf / 2, df2))
    return {
        "fom": fom,
        "cov": cov,
        "readers": readers,
        "treatments": tuple(labels),
        "fom_by_treatment": dict(zip(labels, means_t.tolist())),
        "fom_by_reader": pd.DataFrame(
            theta.T, index=pd.Index(reader_labels, name="reader"), columns=pd.Index(labels, name="treatment")
        ),
        "diff": diff,
        "se": se,
        "ci_low": diff - crit * se,
        "ci_high": diff + crit * se,
        "statistic": float(statistic),
        "statistic_name": "F" if readers == "random" else "chi2",
        "df1": 1,
        "df2": float(df2),
        "p": p,
        **covs,
        "ms_t": ms_t,
        "ms_tr": ms_tr,
        "n_readers": n_r,
        "n_cases": int(truth.size),
        "n_diseased": int(truth.sum()),
    }
