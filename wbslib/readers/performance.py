"""How well the virtual reader's observer itself reads each image class (no reader noise).

`observer_performance` turns the observer decisions of `wbslib.readers.adapted.observer_decisions`
into one row per (group, analysis): empirical AUC of the continuous λ with its DeLong 95 % CI,
sensitivity and specificity of the calls at the class's cross-validated threshold, the number of
cases, the share of tied λ (a degenerate observer ties), `localisation` (the share of metastatic
cases whose λ lies on a malignant lesion), whether the group is the `truth`
reference, and — for an enhanced group — its AUC gain over the raw group of the same speed.

Enhancement cannot add information to an image; an AUC gain over `GAIN_FLAG` (0.1) therefore
means the observer reads the raw images sub-optimally, and such rows carry `flag` = True (the
issue's T7: reported, not asserted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.groups import TRUTH, group_key, is_raw, parse_group
from wbslib.stats.roc import auc_delong

GAIN_FLAG = 0.1
COLUMNS = (
    "group",
    "analysis",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "sensitivity",
    "specificity",
    "n_cases",
    "tied_fraction",
    "localisation",
    "reference",
    "gain_vs_raw",
    "flag",
)


def tied_fraction(values) -> float:
    """Share of values that equal another value of the set (0 when all differ, 1 when all tie)."""
    values = pd.Series(np.asarray(values, float))
    return float(values.duplicated(keep=False).mean()) if len(values) else float("nan")


def _raw_of(group: str) -> str | None:
    """The raw group of an enhanced group's speed ('3x-real' → '3x'); None for raw groups and truth."""
    if group == TRUTH or is_raw(group):
        return None
    try:
        speed, _ = parse_group(group)
    except ValueError:
        return None
    return f"{speed:g}x"


def _localisation(d: pd.DataFrame, y: np.ndarray) -> float:
    """Share of the metastatic cases whose λ lies on a malignant lesion (NaN without that column)."""
    return float(d.loc[y == 1, "on_lesion"].mean()) if "on_lesion" in d and (y == 1).any() else float("nan")


def observer_performance(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per (group, analysis) in `COLUMNS` from observer decisions (study_id, group, label,
    analysis, decision, call); cases without a 0/1 label are left out."""
    labelled = decisions[decisions["label"].isin([0, 1])]
    rows = []
    for (group, analysis), d in labelled.groupby(["group", "analysis"], sort=False):
        y, call = d["label"].astype(int).to_numpy(), d["call"].astype(int).to_numpy()
        both = 0 < y.sum() < len(y)
        auc = auc_delong(y, d["decision"].to_numpy()) if both else None
        rows.append(
            {
                "group": group,
                "analysis": analysis,
                "auc": auc.auc if auc else np.nan,
                "auc_ci_low": auc.ci_low if auc else np.nan,
                "auc_ci_high": auc.ci_high if auc else np.nan,
                "sensitivity": float(call[y == 1].mean()) if (y == 1).any() else np.nan,
                "specificity": float(1 - call[y == 0].mean()) if (y == 0).any() else np.nan,
                "n_cases": len(d),
                "tied_fraction": tied_fraction(d["decision"]),
                "localisation": _localisation(d, y),
                "reference": group == TRUTH,
            }
        )
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("gain_vs_raw", "flag")])
    auc = out.set_index(["group", "analysis"])["auc"]
    out["gain_vs_raw"] = [
        auc.get((_raw_of(g), a), np.nan) if _raw_of(g) else np.nan for g, a in zip(out["group"], out["analysis"])
    ]
    out["gain_vs_raw"] = out["auc"] - out["gain_vs_raw"]
    out["flag"] = out["gain_vs_raw"] > GAIN_FLAG
    order = sorted(range(len(out)), key=lambda i: (group_key(out["group"][i]), out["analysis"][i]))
    return out.iloc[order].reset_index(drop=True)[list(COLUMNS)]


def performance_checks(performance: pd.DataFrame) -> pd.DataFrame:
    """The acceptance checks that the evaluation cohort itself can answer, per analysis: raw 1x
    reads better than the slowest raw speed (AUC), truth reads no worse than 1x (AUC − 0.02,
    specificity − 0.1), and every group has both calls and under 20 % tied λ."""
    rows = []
    for analysis, d in performance.groupby("analysis", sort=False):
        p = d.set_index("group")
        raw = sorted((g for g in p.index if is_raw(g)), key=group_key)
        if len(raw) >= 2 and "1x" in p.index:
            slowest = raw[-1]
            rows.append((analysis, f"AUC 1x > raw {slowest}", p.at["1x", "auc"] > p.at[slowest, "auc"]))
        if TRUTH in p.index and "1x" in p.index:
            rows.append(
                (
                    analysis,
                    "truth AUC ≥ 1x − 0.02 and specificity ≥ 1x − 0.1",
                    p.at[TRUTH, "auc"] >= p.at["1x", "auc"] - 0.02
                    and p.at[TRUTH, "specificity"] >= p.at["1x", "specificity"] - 0.1,
                )
            )
        sens, spec = p["sensitivity"], p["specificity"]
        both_calls = ((sens > 0) | (spec < 1)) & ((sens < 1) | (spec > 0))
        degenerate = p.index[~both_calls | (p["tied_fraction"] >= 0.2)]
        rows.append((analysis, "every group: both calls, < 20 % ties", len(degenerate) == 0))
    return pd.DataFrame(rows, columns=["analysis", "check", "holds"])
