"""Objective image quality beside the paper (Table 4, hottest-lesion counts) and the closing
"what we reproduced and what differs" table, written from the numbers.

`metrics` is the run's tidy `metrics.csv` (study_id, group, metric, value, reference). LPIPS and
FID are NaN when the pretrained backbones are missing: they read "not available (weights
missing)" and every finding that needs them reads "not available".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import StatisticsError
from wbslib.core.fileio import read_csv, save_figure, write_csv
from wbslib.paper.tables import (
    ENHANCED,
    PUBLISHED_AUC,
    PUBLISHED_IMAGE_QUALITY,
    PUBLISHED_LIMITS,
    PUBLISHED_PEARSON,
    REAL_VS_SIMU,
    STANDARD,
    ordered_groups,
)
from wbslib.readers.worklist import effective_reads
from wbslib.stats.proportions import bland_altman, pearson_ci, wilcoxon_paired

TABLE4_METRICS = ("lpips", "fid", "ssim", "nrmse", "psnr")
LOWER_IS_BETTER = {"lpips": True, "fid": True, "nrmse": True, "ssim": False, "psnr": False}
HOTTEST = "hottest_lesion_counts"
NOT_AVAILABLE = "not available"


def load_run_tables(folder: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(reads_adjudicated, effective reads with label, metrics) of a run folder; metrics empty
    (with its columns) when notebook 03 wrote none. StatisticsError if the reads are missing."""
    folder = Path(folder)
    for name in ("reads_adjudicated.csv", "reads.csv"):
        if not (folder / name).is_file():
            raise StatisticsError(f"{folder / name} does not exist; run notebook 04 (reader study) first.")
    adjudicated = read_csv(folder / "reads_adjudicated.csv", dtype={"study_id": str, "group": str})
    reads = read_csv(folder / "reads.csv", dtype={"study_id": str, "group": str, "reader": str})
    labels = adjudicated.drop_duplicates("study_id").set_index("study_id")["label"]
    reads = effective_reads(reads).assign(label=lambda r: r["study_id"].map(labels))
    path = folder / "metrics.csv"
    metrics = (
        read_csv(path, dtype={"study_id": str, "group": str})
        if path.is_file()
        else pd.DataFrame(columns=["study_id", "group", "metric", "value", "reference"])
    )
    return adjudicated, reads, metrics


def write_outputs(folder: str | os.PathLike, tables: dict, figures: dict) -> list[Path]:
    """Each table (skipping None) as <name>.csv and each figure as <name>.png (150 dpi) in `folder`."""
    folder = Path(folder)
    out = [write_csv(t, folder / f"{name}.csv") for name, t in tables.items() if t is not None]
    out += [save_figure(fig, folder / f"{name}.png", dpi=150) for name, fig in figures.items()]
    return out


def _values(metrics: pd.DataFrame, metric: str, group: str, reference: str) -> pd.Series:
    m = metrics[
        (metrics["metric"] == metric) & (metrics["group"].astype(str) == group) & (metrics["reference"] == reference)
    ]
    return m.set_index("study_id")["value"].astype(float)


def table4(metrics: pd.DataFrame, reference: str = STANDARD) -> pd.DataFrame:
    """Mean ± SD over patients of LPIPS, FID, SSIM, NRMSE, PSNR vs 1x per group, Wilcoxon p of each
    enhanced group vs its raw fast scan (paired by patient), beside the paper's LPIPS and FID.
    `reference='truth'`: the same against the phantom's noise-free truth (the metrics computed
    against it, 1x included; no published numbers)."""
    rows = []
    against_1x = reference == STANDARD
    names = [
        m
        for m in TABLE4_METRICS
        if against_1x or ((metrics["metric"] == m) & (metrics["reference"] == reference)).any()
    ]
    for metric in names:
        groups = ordered_groups(metrics.loc[metrics["metric"] == metric, "group"])
        for group in (g for g in groups if g != STANDARD or not against_1x):
            v = _values(metrics, metric, group, reference)
            finite = v.dropna()
            raw, p, better = ENHANCED.get(group), np.nan, None
            if raw is not None and len(finite):
                pair = pd.concat([finite, _values(metrics, metric, raw, reference)], axis=1, join="inner").dropna()
                if len(pair):
                    p = wilcoxon_paired(pair.iloc[:, 0], pair.iloc[:, 1])["p"]
                    delta = pair.iloc[:, 0].mean() - pair.iloc[:, 1].mean()
                    better = bool(delta < 0) if LOWER_IS_BETTER[metric] else bool(delta > 0)
            pub = PUBLISHED_IMAGE_QUALITY.get((metric, group)) if against_1x else None
            rows.append(
                {
                    "metric": metric,
                    "group": group,
                    "n": len(finite),
                    "mean": finite.mean(),
                    "sd": finite.std(ddof=1),
                    "p_vs_raw": p,
                    "better_than_raw": better,
                    "ours": (
                        f"{finite.mean():.3f} ± {finite.std(ddof=1):.3f}"
                        if len(finite) > 1
                        else f"{finite.mean():.3f}"
                        if len(finite)
                        else f"{NOT_AVAILABLE} (weights missing)"
                        if metric in ("lpips", "fid")
                        else NOT_AVAILABLE
                    ),
                    "paper": f"{pub[0]:.3f} ± {pub[1]:.3f}" if pub else "—",
                }
            )
    return pd.DataFrame(rows)


def lesion_agreement(metrics: pd.DataFrame) -> pd.DataFrame:
    """Bland–Altman (group − 1x) and Pearson r of the hottest-lesion counts per group vs 1x."""
    rows = []
    groups = ordered_groups(metrics.loc[metrics["metric"] == HOTTEST, "group"])
    for group in (g for g in groups if g != STANDARD):
        pair = pd.concat(
            [_values(metrics, HOTTEST, group, "none"), _values(metrics, HOTTEST, STANDARD, "none")],
            axis=1,
            join="inner",
        ).dropna()
        row = {
            "group": group,
            "n": len(pair),
            "paper_r": PUBLISHED_PEARSON.get(group, np.nan),
            "paper_lower": PUBLISHED_LIMITS.get(group, (np.nan, np.nan))[0],
            "paper_upper": PUBLISHED_LIMITS.get(group, (np.nan, np.nan))[1],
        }
        if len(pair) >= 4 and pair.iloc[:, 0].std() > 0 and pair.iloc[:, 1].std() > 0:
            row.update({k: v for k, v in bland_altman(pair.iloc[:, 0], pair.iloc[:, 1]).items() if k != "n"})
            row.update({k: v for k, v in pearson_ci(pair.iloc[:, 1], pair.iloc[:, 0]).items() if k != "n"})
        rows.append(row)
    return pd.DataFrame(rows)


# --- the closing table ----------------------------------------------------------------------------------
def _row(finding: str, paper: str, ours: str, verdict) -> dict:
    text = NOT_AVAILABLE if verdict is None else ("reproduced" if verdict else "differs")
    return {"finding": finding, "paper": paper, "ours": ours, "verdict": text}


def _p(table: pd.DataFrame | None, comparison: str, measure: str = "accuracy") -> float:
    if table is None or table.empty:
        return np.nan
    hit = table[(table["comparison"] == comparison) & (table["measure"] == measure)]
    return float(hit["p"].iloc[0]) if len(hit) else np.nan


def _estimate(t2: pd.DataFrame | None, group: str, measure: str = "accuracy") -> float:
    if t2 is None or t2.empty:
        return np.nan
    hit = t2[(t2["group"] == group) & (t2["measure"] == measure)]
    return float(hit["estimate"].iloc[0]) if len(hit) else np.nan


def _mcnemar_findings(t3, alpha: float) -> list[dict]:
    out = []
    for group, significant, paper in (
        ("2x-real", False, "p 0.678"),
        ("2x-simu", False, "p 0.361"),
        ("3x", True, "p 0.004"),
        ("3x-real", True, "p 0.004"),
        ("3x-simu", True, "p 0.007"),
    ):
        p = _p(t3, f"{group} vs {STANDARD}")
        claim = "lower than" if significant else "not significantly different from"
        out.append(
            _row(
                f"{group} accuracy {claim} 1x (McNemar)",
                paper,
                f"p {p:.3f}" if np.isfinite(p) else NOT_AVAILABLE,
                None if not np.isfinite(p) else (p < alpha) == significant,
            )
        )
    for a, b in REAL_VS_SIMU:
        p = _p(t3, f"{a} vs {b}")
        out.append(
            _row(
                f"{a} and {b} accuracy not significantly different",
                "p 0.842" if a.startswith("2") else "p 0.870",
                f"p {p:.3f}" if np.isfinite(p) else NOT_AVAILABLE,
                None if not np.isfinite(p) else p >= alpha,
            )
        )
    return out


def _enhancement_findings(t2, likert, alpha: float) -> list[dict]:
    out = []
    for group in ("3x-real", "3x-simu"):
        a, raw = _estimate(t2, group), _estimate(t2, "3x")
        ok = np.isfinite(a) and np.isfinite(raw)
        out.append(
            _row(
                f"{group} more accurate than raw 3x",
                "65.1 % / 66.3 % vs 59.0 %",
                f"{100 * a:.1f} % vs {100 * raw:.1f} %" if ok else NOT_AVAILABLE,
                a > raw if ok else None,
            )
        )
    if likert is not None:
        for _, r in likert[likert["group"].isin(list(ENHANCED))].iterrows():
            raw = likert.loc[likert["group"] == ENHANCED[r["group"]], "mean"]
            ok = len(raw) and np.isfinite(r["p_vs_raw"])
            out.append(
                _row(
                    f"{r['group']} Likert above raw {ENHANCED[r['group']]} (Wilcoxon)",
                    f"{r['paper']} vs {likert.loc[likert['group'] == ENHANCED[r['group']], 'paper'].squeeze()}",
                    f"{r['ours']} (p {r['p_vs_raw']:.3g})" if ok else NOT_AVAILABLE,
                    (r["mean"] > raw.iloc[0] and r["p_vs_raw"] < alpha) if ok else None,
                )
            )
    return out


def _auc_findings(auc) -> list[dict]:
    out = []
    for group, (low, value, high) in PUBLISHED_AUC.items():
        hit = auc[auc["group"] == group] if auc is not None else pd.DataFrame()
        ours = float(hit["auc"].iloc[0]) if len(hit) else np.nan
        bound = f"> {low:.2f}" if low is not None else f"< {high:.2f}"
        verdict = None if not np.isfinite(ours) else (ours > low if low is not None else ours < high)
        out.append(
            _row(
                f"{group} AUC {bound}",
                f"{value:.2f}" if value else bound,
                f"{ours:.3f}" if np.isfinite(ours) else NOT_AVAILABLE,
                verdict,
            )
        )
    return out


def _quality_findings(t4, agreement) -> list[dict]:
    out = []
    for metric in ("lpips", "fid"):
        rows = t4[(t4["metric"] == metric) & t4["group"].isin(list(ENHANCED))] if t4 is not None else pd.DataFrame()
        known = rows[rows["better_than_raw"].notna()] if len(rows) else rows
        ours = ", ".join(f"{g} {o}" for g, o in zip(known["group"], known["ours"])) if len(known) else NOT_AVAILABLE
        out.append(
            _row(
                f"{metric.upper()} of enhanced images lower than of the raw fast scans",
                "all four models",
                ours,
                bool(known["better_than_raw"].all()) if len(known) else None,
            )
        )
    if agreement is not None and len(agreement) and "r" in agreement:
        for _, r in agreement[agreement["group"].isin(list(PUBLISHED_PEARSON))].iterrows():
            ok = np.isfinite(r.get("r", np.nan))
            out.append(
                _row(
                    f"{r['group']} hottest-lesion counts: Pearson r ≥ 0.95 vs 1x",
                    f"r {r['paper_r']:.3f}",
                    f"r {r['r']:.3f}" if ok else NOT_AVAILABLE,
                    r["r"] >= 0.95 if ok else None,
                )
            )
    return out


def reproduction_summary(
    *, t2=None, t3=None, likert=None, auc=None, t4=None, agreement=None, alpha: float = 0.05
) -> pd.DataFrame:
    """The paper's findings, ours beside them, and a verdict computed from the numbers:
    'reproduced', 'differs' or 'not available' (e.g. no reference standard, weights missing)."""
    rows = (
        _mcnemar_findings(t3, alpha)
        + _enhancement_findings(t2, likert, alpha)
        + _auc_findings(auc)
        + _quality_findings(t4, agreement)
    )
    return pd.DataFrame(rows, columns=["finding", "paper", "ours", "verdict"])
