"""Diagnostic performance across speeds and non-inferiority to the standard scan (speed sweep).

Reads are tidy rows (reader, study_id, group, likert, malignant, confidence — the certainty of
the call, 1 a guess … 5 certain), one per reader × study × group, every reader reading every
study of a group; the reference standard is the per-patient label (1 metastatic). Per group
(`case_table`), as notebooks 04–05 (`wbslib.readers.worklist.adjudicate`): a Likert of 1 makes a call
negative; where the two primary readers disagree the third reader's call stands; the ROC marker
is the 1–10 malignancy rating (5 + confidence for a malignant call, 6 − confidence for a benign
one) of the readings that stand.

Non-inferiority of a test group (an enhanced fast scan) to the reference (1x), `noninferiority`:
- AUC: DeLong CI of AUC_test − AUC_ref on the adjudicated rating (`roc.noninferiority_auc`)
  and the Obuchowski–Rockette MRMC difference over the primary readers' own ratings (random
  readers, Hillis df); the
  one-sided bound at level α is the lower end of the two-sided (1 − 2α) CI; non-inferior when it
  lies above −margin. MRMC decides when defined (it is not when no reader varies), else DeLong.
- sensitivity and specificity: Newcombe CI of the paired difference (`stats.paired_difference_ci`)
  with the same rule, and McNemar's exact test (`stats.mcnemar_paired`).
- the images stay diagnostic at a speed when AUC and sensitivity are both non-inferior
  (specificity is reported beside them).
`fastest_noninferior`: walking up from the slowest speed, the last speed before the first one that
is not non-inferior ("none in the tested range" if the slowest fails).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from wbslib.core.errors import ReaderStudyError, StatisticsError
from wbslib.core.scan import speed_label
from wbslib.readers.worklist import adjudicate, effective_reads, panel_roles
from wbslib.stats.mrmc import mrmc_or
from wbslib.stats.proportions import (
    diagnostic_performance,
    mcnemar_paired,
    paired_difference_ci,
)
from wbslib.stats.roc import auc_delong, delong_paired, noninferiority_auc

READ_COLUMNS = ("reader", "study_id", "group", "likert", "malignant", "confidence")
RESULT_COLUMNS = ("group", "metric", "estimate", "ci_low", "ci_high", "n", "p", "reference", "method")
NONE_FOUND = "none in the tested range"


def check_reads(reads: pd.DataFrame) -> pd.DataFrame:
    """The reads with the needed columns (study_id as str); ReaderStudyError naming what is missing."""
    missing = [c for c in READ_COLUMNS if c not in reads.columns]
    if missing:
        raise ReaderStudyError(
            f"The reads table lacks column(s) {', '.join(missing)}; pass reads with "
            f"{', '.join(READ_COLUMNS)} (as runs/<run>/reads.csv)."
        )
    return reads.assign(study_id=reads["study_id"].astype(str))


def case_table(reads: pd.DataFrame, truth: pd.Series, group: str) -> pd.DataFrame:
    """One row per study of `truth` (index study_id, values 0/1): label, score (adjudicated 1–10
    rating), call (adjudicated), likert (primary readers' mean), adjudicated, n_readers."""
    rows = check_reads(reads)
    rows = rows[rows["group"] == group]
    if rows.empty:
        raise ReaderStudyError(f"No reads of group {group!r}; read that group before analysing it.")
    table = adjudicate(rows).set_index("study_id")
    studies = [str(s) for s in truth.index]
    missing = sorted(set(studies) - set(table.index))
    if missing:
        raise ReaderStudyError(
            f"Group {group!r} lacks reads of studies {missing[:5]}; every reader must read every study of a group."
        )
    table = table.loc[studies]
    return pd.DataFrame(
        {
            "label": truth.to_numpy().astype(int),
            "score": table["rating"].astype(float).to_numpy(),
            "call": table["malignant"].astype(int).to_numpy(),
            "likert": table["likert_mean"].astype(float).to_numpy(),
            "adjudicated": table["adjudicated"].astype(bool).to_numpy(),
            "n_readers": rows["reader"].nunique(),
        },
        index=pd.Index(studies, name="study_id"),
    )


def _row(group, metric, estimate, low=np.nan, high=np.nan, n=np.nan, p=np.nan, reference="none", method="") -> dict:
    return dict(
        zip(RESULT_COLUMNS, (group, metric, float(estimate), float(low), float(high), n, float(p), reference, method))
    )


def group_performance(reads: pd.DataFrame, truth: pd.Series, group: str, conf: float = 0.95) -> list[dict]:
    """Result rows of one group: AUC (DeLong CI), accuracy/sensitivity/specificity (Wilson CI),
    mean Likert (t CI)."""
    cases = case_table(reads, truth, group)
    auc = auc_delong(cases["label"], cases["score"], conf)
    out = [_row(group, "auc", auc.auc, auc.ci_low, auc.ci_high, len(cases), method="DeLong, adjudicated rating")]
    for name, prop in diagnostic_performance(cases["label"], cases["call"], conf).items():
        out.append(
            _row(group, name, prop.estimate, prop.ci_low, prop.ci_high, prop.n, method="Wilson, adjudicated call")
        )
    likert = cases["likert"].to_numpy()
    half = sps.t.ppf(0.5 + conf / 2, len(likert) - 1) * likert.std(ddof=1) / np.sqrt(len(likert))
    return out + [
        _row(
            group,
            "likert",
            likert.mean(),
            likert.mean() - half,
            likert.mean() + half,
            len(likert),
            method="mean of the primary readers' mean, t CI",
        )
    ]


def _mrmc(reads: pd.DataFrame, truth: pd.Series, test: str, reference: str, conf: float) -> dict | None:
    rows = effective_reads(check_reads(reads))
    rows = rows[rows["group"].isin([test, reference]) & rows["study_id"].isin([str(s) for s in truth.index])]
    primary, _ = panel_roles(rows)
    rows = rows[rows["reader"].isin(primary)]
    df = pd.DataFrame(
        {
            "reader": rows["reader"],
            "treatment": rows["group"],
            "case": rows["study_id"],
            "truth": rows["study_id"].map({str(k): int(v) for k, v in truth.items()}),
            "rating": rows["rating"].astype(float),
        }
    )
    try:
        return mrmc_or(df, fom="auc", readers="random", treatments=(test, reference), conf=conf)
    except StatisticsError:
        return None  # e.g. readers who agree on every case: no reader variance, MRMC undefined


def noninferiority(
    reads: pd.DataFrame,
    truth: pd.Series,
    test: str,
    reference: str,
    *,
    margin_auc: float,
    margin_sensitivity: float,
    margin_specificity: float,
    alpha: float = 0.025,
) -> dict:
    """Non-inferiority of group `test` to `reference` (see the module docstring); one flat dict."""
    conf = 1.0 - 2.0 * alpha
    a, b = case_table(reads, truth, test), case_table(reads, truth, reference)
    delong = noninferiority_auc(a["label"], a["score"], b["score"], margin_auc, alpha)
    paired = delong_paired(a["label"], a["score"], b["score"], conf)
    out = {
        "group": test,
        "reference": reference,
        "n": len(a),
        "n_readers": int(a["n_readers"].iloc[0]),
        "auc_test": paired["auc_a"],
        "auc_reference": paired["auc_b"],
        "auc_delong_diff": delong["diff"],
        "auc_delong_ci_low": paired["ci_low"],
        "auc_delong_ci_high": paired["ci_high"],
        "auc_delong_p": delong["p"],
        "auc_delong_ni": delong["non_inferior"],
    }
    mrmc = _mrmc(reads, truth, test, reference, conf)
    out.update(
        auc_mrmc_diff=mrmc["diff"] if mrmc else np.nan,
        auc_mrmc_ci_low=mrmc["ci_low"] if mrmc else np.nan,
        auc_mrmc_ci_high=mrmc["ci_high"] if mrmc else np.nan,
        auc_mrmc_ni=bool(mrmc["ci_low"] > -margin_auc) if mrmc else None,
    )
    source = "mrmc" if mrmc else "delong"
    out.update(
        auc_method="Obuchowski–Rockette MRMC" if mrmc else "DeLong",
        auc_diff=out[f"auc_{source}_diff"],
        auc_ci_low=out[f"auc_{source}_ci_low"],
        auc_ci_high=out[f"auc_{source}_ci_high"],
        auc_ni=bool(out[f"auc_{source}_ni"]),
        margin_auc=margin_auc,
    )
    for measure, margin, key in (
        ("sensitivity", margin_sensitivity, "sens"),
        ("specificity", margin_specificity, "spec"),
    ):
        diff = paired_difference_ci(a["label"], a["call"], b["call"], measure, conf)
        test_p = mcnemar_paired(a["label"], a["call"], b["call"], measure)["p"]
        out.update(
            {
                f"{key}_test": diff["estimate_a"],
                f"{key}_reference": diff["estimate_b"],
                f"{key}_diff": diff["diff"],
                f"{key}_ci_low": diff["ci_low"],
                f"{key}_ci_high": diff["ci_high"],
                f"{key}_mcnemar_p": test_p,
                f"{key}_ni": bool(diff["ci_low"] > -margin),
                f"margin_{key}": margin,
            }
        )
    out["non_inferior"] = bool(out["auc_ni"] and out["sens_ni"])
    return out


def fastest_noninferior(decisions: pd.DataFrame) -> dict:
    """The fastest speed up to which every swept speed is non-inferior, from rows (speed,
    non_inferior, auc_diff, auc_ci_low, auc_ci_high) of one model kind; speed None if the slowest fails."""
    rows = decisions.sort_values("speed")
    best = None
    for row in rows.itertuples(index=False):
        if not row.non_inferior:
            break
        best = row
    if best is None:
        return {
            "speed": None,
            "label": NONE_FOUND,
            "auc_diff": np.nan,
            "auc_ci_low": np.nan,
            "auc_ci_high": np.nan,
            "isolated": [speed_label(s) for s in rows.loc[rows["non_inferior"].astype(bool), "speed"]],
        }
    later = rows[(rows["speed"] > best.speed) & rows["non_inferior"].astype(bool)]
    return {
        "speed": float(best.speed),
        "label": speed_label(best.speed),
        "auc_diff": float(best.auc_diff),
        "auc_ci_low": float(best.auc_ci_low),
        "auc_ci_high": float(best.auc_ci_high),
        "isolated": [speed_label(s) for s in later["speed"]],
    }


def monotone_decline(speeds, auc, ci_low, ci_high) -> dict:
    """Whether AUC falls with speed, allowing CI overlap: each step to a faster speed either does
    not raise the AUC or raises it by less than the CIs can tell apart (the faster speed's lower
    CI end stays below the slower one's upper end). Returns {'ok', 'strict' (every point estimate
    falls or stays), 'violations': [(slow, fast)]}."""
    order = np.argsort(np.asarray(speeds, float))
    s, a = np.asarray(speeds, float)[order], np.asarray(auc, float)[order]
    lo, hi = np.asarray(ci_low, float)[order], np.asarray(ci_high, float)[order]
    bad = [
        (speed_label(s[i]), speed_label(s[i + 1])) for i in range(len(s) - 1) if a[i + 1] > a[i] and lo[i + 1] > hi[i]
    ]
    return {"ok": not bad, "strict": bool(np.all(np.diff(a) <= 0)), "violations": bad}
