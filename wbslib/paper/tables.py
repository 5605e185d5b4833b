"""The paper's tables from our reads and metrics, each beside the published numbers (docs/PAPER.md).

Inputs are the run's tidy files: `reads_adjudicated.csv` (one adjudicated reading per study ×
group, `label` = per-patient reference standard), `reads.csv` + labels (per reader, for MRMC) and
`metrics.csv` (objective image quality). The published values below are data copied from the
paper (Qi et al., BMC Med Imaging 2024), never computed. Comparisons pair image sets by study_id
(the same patients); a group without cases is a StatisticsError. Significance level `alpha`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.errors import StatisticsError
from wbslib.core.groups import PAPER_GROUPS, STANDARD, ordered_groups
from wbslib.stats.mrmc import mrmc_or
from wbslib.stats.proportions import (
    MEASURES,
    diagnostic_performance,
    mcnemar_paired,
    wilcoxon_paired,
)
from wbslib.stats.roc import auc_delong, delong_paired

GROUP_ORDER = list(PAPER_GROUPS)
ENHANCED = {"2x-real": "2x", "2x-simu": "2x", "3x-real": "3x", "3x-simu": "3x"}
REAL_VS_SIMU = [("2x-real", "2x-simu"), ("3x-real", "3x-simu")]

# --- published values (docs/PAPER.md) ----------------------------------------------------------------------
PUBLISHED_LIKERT = {
    "1x": (4.40, 0.45),
    "2x": (2.92, 0.41),
    "2x-real": (3.46, 0.47),
    "2x-simu": (3.79, 0.55),
    "3x": (1.36, 0.51),
    "3x-real": (2.69, 0.40),
    "3x-simu": (2.61, 0.41),
}
PUBLISHED_PERFORMANCE = {  # (k, n) for accuracy, sensitivity, specificity
    "1x": ((70, 83), (34, 39), (36, 44)),
    "2x": ((61, 83), (29, 37), (32, 46)),
    "2x-real": ((68, 83), (34, 38), (34, 45)),
    "2x-simu": ((67, 83), (34, 40), (33, 43)),
    "3x": ((49, 83), (22, 34), (27, 49)),
    "3x-real": ((54, 83), (26, 37), (28, 46)),
    "3x-simu": ((55, 83), (27, 39), (28, 44)),
}
PUBLISHED_MCNEMAR = {  # (a, b): p for accuracy, sensitivity, specificity
    ("2x", "1x"): (0.087, 0.308, 0.176),
    ("2x-real", "1x"): (0.678, 0.754, 0.471),
    ("2x-simu", "1x"): (0.361, 0.780, 0.559),
    ("3x", "1x"): (0.004, 0.023, 0.006),
    ("3x-real", "1x"): (0.004, 0.071, 0.029),
    ("3x-simu", "1x"): (0.007, 0.055, 0.056),
    ("2x-real", "2x-simu"): (0.842, 0.555, 0.896),
    ("3x-real", "3x-simu"): (0.870, 0.921, 0.787),
}
PUBLISHED_AUC = {  # (lower bound, value, upper bound): the paper gives values for two groups, bounds otherwise
    "1x": (0.80, None, None),
    "2x": (None, None, 0.80),
    "2x-real": (0.80, 0.82, None),
    "2x-simu": (0.80, 0.81, None),
    "3x": (None, None, 0.70),
    "3x-real": (None, None, 0.70),
    "3x-simu": (None, None, 0.70),
}
PUBLISHED_IMAGE_QUALITY = {  # (metric, group): (mean, SD) vs 1x
    ("fid", "2x"): (0.465, 0.337),
    ("fid", "3x"): (0.975, 0.585),
    ("lpips", "2x"): (0.190, 0.046),
    ("lpips", "3x"): (0.231, 0.040),
    ("fid", "2x-real"): (0.152, 0.183),
    ("fid", "3x-real"): (0.193, 0.227),
    ("lpips", "2x-real"): (0.166, 0.046),
    ("lpips", "3x-real"): (0.176, 0.046),
    ("fid", "2x-simu"): (0.177, 0.184),
    ("fid", "3x-simu"): (0.200, 0.224),
    ("lpips", "2x-simu"): (0.163, 0.043),
    ("lpips", "3x-simu"): (0.186, 0.045),
}
PUBLISHED_PEARSON = {"2x-real": 0.999, "2x-simu": 1.017, "3x-real": 0.953, "3x-simu": 1.042}
PUBLISHED_LIMITS = {"2x-real": (-19.26, 34.70), "3x-real": (-36.92, 52.92), "3x-simu": (-40.25, 31.94)}


def cohort_source(manifest: pd.DataFrame | None) -> str:
    """'phantom' when every manifest row comes from the phantom, 'clinical' otherwise, 'unknown'
    without a manifest or its `source` column."""
    if manifest is None or "source" not in manifest:
        return "unknown"
    return "phantom" if (manifest["source"] == "phantom").all() else "clinical"


def study_label(reads: pd.DataFrame, manifest: pd.DataFrame | None = None) -> str:
    """What the numbers come from, for every title: e.g. 'phantom cohort · virtual readers'."""
    kinds = sorted(set(reads["reader_kind"].astype(str))) if "reader_kind" in reads else []
    who = " + ".join("virtual readers" if k == "virtual" else "clinician readers" for k in kinds) or "unknown readers"
    return f"{cohort_source(manifest)} cohort · {who}"


def show(table: pd.DataFrame | None, title: str, label: str, missing: str = "needs the reference standard"):
    """A table styled for the report, captioned '<title> — <label>'; a sentence when it is absent."""
    if table is None:
        return f"{title}: not computed — {missing}."
    return table.style.set_caption(f"{title} — {label}").format(precision=3, na_rep="—").hide(axis="index")


def has_reference(adjudicated: pd.DataFrame) -> bool:
    """True when every image set carries a 0/1 reference standard (label)."""
    return "label" in adjudicated and adjudicated["label"].notna().all() and len(adjudicated) > 0


def _group(df: pd.DataFrame, group: str, what: str) -> pd.DataFrame:
    rows = df[df["group"].astype(str) == group]
    if rows.empty:
        raise StatisticsError(
            f"Group {group} has no cases in {what}; drop it from the comparison or enhance/read its image sets first."
        )
    return rows.set_index("study_id")


def paired(df: pd.DataFrame, a: str, b: str, column: str, what: str = "the reads") -> pd.DataFrame:
    """Columns a, b (values of `column`) and label for the studies read in both groups."""
    left, right = _group(df, a, what), _group(df, b, what)
    out = pd.DataFrame({a: left[column], b: right[column]}).dropna()
    if "label" in df:
        out["label"] = left["label"].reindex(out.index)
    if out.empty:
        raise StatisticsError(f"Groups {a} and {b} share no study in {what}; nothing can be paired.")
    return out


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f} % ({k}/{n})"


def table2(adjudicated: pd.DataFrame) -> pd.DataFrame:
    """Accuracy, sensitivity, specificity per group with k/n and Wilson 95 % CI, beside the paper."""
    rows = []
    for group in ordered_groups(adjudicated["group"]):
        d = _group(adjudicated, group, "reads_adjudicated")
        perf = diagnostic_performance(d["label"].astype(int), d["malignant"].astype(int))
        for i, measure in enumerate(MEASURES):
            p, pub = perf[measure], PUBLISHED_PERFORMANCE.get(group)
            rows.append(
                {
                    "group": group,
                    "measure": measure,
                    "k": p.k,
                    "n": p.n,
                    "estimate": p.estimate,
                    "ci_low": p.ci_low,
                    "ci_high": p.ci_high,
                    "ours": f"{_pct(p.k, p.n)} [{100 * p.ci_low:.1f}–{100 * p.ci_high:.1f}]",
                    "paper": _pct(*pub[i]) if pub else "—",
                    "paper_estimate": pub[i][0] / pub[i][1] if pub else np.nan,
                }
            )
    return pd.DataFrame(rows)


def comparisons(groups) -> list[tuple[str, str]]:
    """(a, b) pairs of Table 3: every group vs 1x, then real vs simu at each speed present."""
    groups = ordered_groups(groups)
    pairs = [(g, STANDARD) for g in groups if g != STANDARD and STANDARD in groups]
    return pairs + [(a, b) for a, b in REAL_VS_SIMU if a in groups and b in groups]


def table3(adjudicated: pd.DataFrame) -> pd.DataFrame:
    """Exact McNemar p of each comparison for accuracy / sensitivity / specificity, beside the paper."""
    rows = []
    for a, b in comparisons(adjudicated["group"]):
        d = paired(adjudicated, a, b, "malignant", "reads_adjudicated")
        for i, measure in enumerate(MEASURES):
            res = mcnemar_paired(d["label"].astype(int), d[a].astype(int), d[b].astype(int), measure)
            pub = PUBLISHED_MCNEMAR.get((a, b))
            rows.append(
                {
                    "comparison": f"{a} vs {b}",
                    "a": a,
                    "b": b,
                    "measure": measure,
                    "n": res["n"],
                    "a_only_correct": res["b"],
                    "b_only_correct": res["c"],
                    "p": res["p"],
                    "paper_p": pub[i] if pub else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _likert_wilcoxon(adjudicated: pd.DataFrame, group: str, ref: str | None) -> float:
    """Two-sided Wilcoxon p of the paired mean Likert, group vs ref (NaN when ref is absent or itself)."""
    if ref is None or ref == group or ref not in set(adjudicated["group"]):
        return np.nan
    x = paired(adjudicated, group, ref, "likert_mean")
    return wilcoxon_paired(x[group], x[ref])["p"]


def likert_table(adjudicated: pd.DataFrame) -> pd.DataFrame:
    """Mean ± SD of the readers' mean Likert per group; Wilcoxon vs 1x and vs the raw fast scan."""
    rows = []
    for group in ordered_groups(adjudicated["group"]):
        d = _group(adjudicated, group, "reads_adjudicated")["likert_mean"]
        row = {
            "group": group,
            "n": len(d),
            "mean": d.mean(),
            "sd": d.std(ddof=1),
            "paper_mean": PUBLISHED_LIKERT.get(group, (np.nan,))[0],
            "paper_sd": PUBLISHED_LIKERT.get(group, (np.nan, np.nan))[1],
        }
        for name, ref in (("vs_1x", STANDARD), ("vs_raw", ENHANCED.get(group))):
            row[f"p_{name}"] = _likert_wilcoxon(adjudicated, group, ref)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["ours"] = [f"{m:.2f} ± {s:.2f}" for m, s in zip(out["mean"], out["sd"])]
    out["paper"] = [f"{m:.2f} ± {s:.2f}" if np.isfinite(m) else "—" for m, s in zip(out["paper_mean"], out["paper_sd"])]
    return out


def published_auc(group: str) -> str:
    """The paper's AUC for `group` as printed: '0.82', '> 0.80', '< 0.70', or '—' where it gives none."""
    low, value, high = PUBLISHED_AUC.get(group, (None, None, None))
    return f"{value:.2f}" if value is not None else f"> {low:.2f}" if low else f"< {high:.2f}" if high else "—"


def too_few_patients(labels: pd.Series, where: str, analysis: str) -> str:
    """'' when `labels` (1 metastatic, 0 not, one per patient) hold at least 2 of each, else the
    sentence a table shows instead of numbers."""
    diseased, healthy = int((labels == 1).sum()), int((labels == 0).sum())
    if min(diseased, healthy) >= 2:
        return ""
    return (
        f"not analysed: {diseased} metastatic and {healthy} non-metastatic patients read in {where}; "
        f"{analysis} needs at least 2 of each"
    )


def auc_table(adjudicated: pd.DataFrame) -> pd.DataFrame:
    """AUC of the adjudicated 10-point ratings per group (DeLong 95 % CI), DeLong p vs 1x, the paper's."""
    rows = []
    for group in ordered_groups(adjudicated["group"]):
        d = _group(adjudicated, group, "reads_adjudicated")
        short = too_few_patients(d["label"].astype(int), group, "a DeLong AUC")
        if short:
            rows.append(
                {
                    "group": group,
                    "auc": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "p_vs_1x": np.nan,
                    "ours": short,
                    "paper": published_auc(group),
                }
            )
            continue
        res = auc_delong(d["label"].astype(int), d["rating"])
        p = np.nan
        if group != STANDARD and STANDARD in set(adjudicated["group"]):
            x = paired(adjudicated, group, STANDARD, "rating")
            p = delong_paired(x["label"].astype(int), x[group], x[STANDARD])["p"]
        rows.append(
            {
                "group": group,
                "auc": res.auc,
                "ci_low": res.ci_low,
                "ci_high": res.ci_high,
                "p_vs_1x": p,
                "ours": f"{res.auc:.3f} [{res.ci_low:.3f}–{res.ci_high:.3f}]",
                "paper": published_auc(group),
            }
        )
    return pd.DataFrame(rows)


def mrmc_table(reads: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Obuchowski–Rockette MRMC (random readers, DeLong covariance) of each group vs 1x, for AUC of
    the 10-point ratings and for sensitivity and specificity of the calls. `reads`: effective reads
    (`readers.effective_reads`) with a label column; readers who read every image set only. A group
    with under 2 metastatic or non-metastatic patients shared with 1x (e.g. BM3D run on a few
    studies) gets one row saying so instead of numbers, and so does a figure of merit the test
    cannot be computed for (no reader or case variance, e.g. every call alike)."""
    groups = ordered_groups(reads["group"])
    if STANDARD not in groups:
        raise StatisticsError("Group 1x has no cases in the reads; MRMC compares every group with 1x.")
    complete = reads.groupby("reader")["study_id"].count() == reads.groupby("reader")["study_id"].count().max()
    base = reads[reads["reader"].isin(complete.index[complete])].rename(
        columns={"group": "treatment", "study_id": "case", "label": "truth"}
    )
    rows = []
    for group in (g for g in groups if g != STANDARD):
        shared = set(base.loc[base["treatment"] == group, "case"]) & set(
            base.loc[base["treatment"] == STANDARD, "case"]
        )
        short = too_few_patients(
            base[base["case"].isin(shared)].drop_duplicates("case")["truth"].astype(int),
            f"both {group} and {STANDARD}",
            "MRMC",
        )
        if short:
            rows.append({"group": group, "fom": "—", "cases": len(shared), "note": short})
            continue
        for fom, column in (("auc", "rating"), ("sensitivity", "malignant"), ("specificity", "malignant")):
            try:
                res = mrmc_or(
                    base.assign(rating=base[column]),
                    fom=fom,
                    cov="delong",
                    readers="random",
                    treatments=(group, STANDARD),
                    conf=1 - alpha,
                )
            except StatisticsError as exc:  # e.g. every reader called every case alike: no variance to test
                rows.append({"group": group, "fom": fom, "cases": len(shared), "note": f"not analysed: {exc}"})
                continue
            rows.append(
                {
                    "group": group,
                    "fom": fom,
                    "group_value": res["fom_by_treatment"][group],
                    "value_1x": res["fom_by_treatment"][STANDARD],
                    "diff": res["diff"],
                    "ci_low": res["ci_low"],
                    "ci_high": res["ci_high"],
                    "F": res["statistic"],
                    "df2": res["df2"],
                    "p": res["p"],
                    "readers": res["n_readers"],
                    "cases": res["n_cases"],
                    "note": "",
                }
            )
    return pd.DataFrame(rows)
