"""Inter-reader agreement and what a reader study can report without a reference standard.

Agreement of the two primary readers per group: linearly weighted Cohen's kappa of their Likert
scores (fixed categories 1–5, `stats.weighted_kappa`), raw agreement of their effective calls
(after the Likert-1 rule) and Cohen's kappa of those calls (scikit-learn).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.errors import StatisticsError
from wbslib.core.groups import ordered_groups
from wbslib.core.text import counted
from wbslib.readers.worklist import effective_reads, panel_roles
from wbslib.stats.proportions import weighted_kappa

NEEDS_REFERENCE = (
    "Table 2 (accuracy, sensitivity, specificity)",
    "Table 3 (McNemar)",
    "Fig 5 and AUC (ROC)",
    "MRMC (Obuchowski–Rockette)",
)
WITHOUT_REFERENCE = (
    "Likert image quality and Fig 2",
    "inter-reader agreement",
    "Table 4 (LPIPS, FID, SSIM, NRMSE, PSNR)",
    "Figs 6 and 7 (hottest-lesion counts)",
)


def agreement_table(reads: pd.DataFrame, primary=None) -> pd.DataFrame:
    """Per group: n image sets, weighted kappa of Likert (with 95 % CI), call agreement, call kappa."""
    (a, b), _ = panel_roles(reads, primary)
    eff = effective_reads(reads)
    rows = []
    for group in ordered_groups(eff["group"]):
        wide = eff[eff["group"] == group].pivot_table(
            index="study_id", columns="reader", values=["likert", "malignant"], aggfunc="first"
        )
        both = wide.dropna()
        row = {"group": group, "n": len(both)}
        try:
            k = weighted_kappa(both["likert"][a], both["likert"][b])
            row.update(likert_kappa=k["kappa"], likert_ci_low=k["ci_low"], likert_ci_high=k["ci_high"])
        except StatisticsError:  # both readers gave one and the same score: kappa undefined
            row.update(likert_kappa=np.nan, likert_ci_low=np.nan, likert_ci_high=np.nan)
        calls_a, calls_b = both["malignant"][a].astype(int), both["malignant"][b].astype(int)
        row["call_agreement"] = float((calls_a == calls_b).mean()) if len(both) else np.nan
        same = len(set(calls_a) | set(calls_b)) < 2
        row["call_kappa"] = (
            np.nan
            if same or not len(both)
            else weighted_kappa(calls_a, calls_b, "unweighted", categories=(0, 1))["kappa"]
        )
        rows.append(row)
    return pd.DataFrame(rows)


def adjudication_summary(adjudicated: pd.DataFrame) -> pd.DataFrame:
    """Per group: image sets, mean Likert, share called malignant, share settled by the third reader."""
    grouped = adjudicated.groupby("group")
    out = pd.DataFrame(
        {
            "image_sets": grouped.size(),
            "likert_mean": grouped["likert_mean"].mean(),
            "called_malignant": grouped["malignant"].mean(),
            "adjudicated": grouped["adjudicated"].mean(),
        }
    )
    return out.reindex(ordered_groups(out.index)).rename_axis("group").reset_index()


def reference_status(labels: pd.Series) -> str:
    """One paragraph: how many patients have a reference standard and which analyses need it."""
    labels = pd.Series(labels)
    known = int(labels.notna().sum())
    if known == len(labels) and known > 0:
        return (
            f"All {known} patients have a reference standard ({int((labels == 1).sum())} metastatic): "
            "every analysis runs."
        )
    return (
        f"{len(labels) - known} of {len(labels)} patients lack a reference standard, so these analyses are "
        f"skipped: {'; '.join(NEEDS_REFERENCE)}. These run without it: {'; '.join(WITHOUT_REFERENCE)}."
    )


def reading_headline(reads: pd.DataFrame, adjudicated: pd.DataFrame) -> str:
    """One sentence (notebook 04's headline): image sets, patients and groups read, by how many
    virtual readers or clinicians (`reads.reader_kind`), and how many calls the third reader settled."""
    kinds = set(reads["reader_kind"].astype(str))
    n = reads["reader"].nunique()
    who = counted(n, "virtual reader") if kinds == {"virtual"} else counted(n, "clinician")
    if len(kinds) > 1:
        who = f"{n} readers (virtual and clinicians)"
    settled = int(adjudicated["adjudicated"].astype(bool).sum())
    tail = (
        f"the third reader settled {settled} where the two primary readers disagreed"
        if settled
        else "the two primary readers agreed on every call"
    )
    return (
        f"{counted(len(adjudicated), 'image set')} of {counted(adjudicated['study_id'].nunique(), 'patient')} in "
        f"{counted(adjudicated['group'].nunique(), 'group')} read by {who} (blinded worklist); {tail}."
    )
