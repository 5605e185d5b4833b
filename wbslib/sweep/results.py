"""The sweep's tables and conclusion, assembled from the per-speed caches under runs/<run>/sweep/.

`results.csv` is tidy: one row per speed × group × metric with estimate, CI, n, p, the reference
it is measured against and the method:
- reader performance (`sweep_analysis.group_performance`) of the adapted readers (each group read
  by its own class's observer: the main analysis): auc, accuracy, sensitivity, specificity,
  likert (reference 'none'); and of the unadapted reader (every group read by the 1x observer):
  auc_unadapted, sensitivity_unadapted, specificity_unadapted; also for group 'truth' at speed 1,
  the phantom's noise-free image (reference `IDEAL_ENHANCER`: a reference, never a method);
- image quality, mean over patients with a t CI: ssim, nrmse, psnr, contrast_recovery,
  noise_cv_bone, noise_cv_soft (reference 'truth'), hottest_lesion_counts (reference 'none');
- hottest-lesion count bias vs 1x, mean over metastatic patients of (group − 1x) in counts and in %
  of 1x, t CI (reference '1x');
- differences vs 1x: auc_diff, sensitivity_diff, specificity_diff with the CI at level 1 − 2α and
  p (one-sided non-inferiority p for AUC, McNemar for the proportions) (reference '1x').
`noninferiority.csv`: one row per speed × non-reference group (`sweep_analysis.noninferiority`).
`summary.json`: the fastest non-inferior speed per model, the raw-AUC monotonicity check, and
`conclusion.md`: sentences written from these numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from wbslib.core.fileio import write_csv, write_text
from wbslib.core.groups import TRUTH
from wbslib.core.scan import speed_label
from wbslib.sweep.analysis import (
    NONE_FOUND,
    RESULT_COLUMNS,
    fastest_noninferior,
    group_performance,
    monotone_decline,
    noninferiority,
)
from wbslib.sweep.images import METRICS

REFERENCE = "1x"
UNADAPTED_METRICS = ("auc", "sensitivity", "specificity")
IDEAL_ENHANCER = "ideal-enhancer reference (noise-free truth), not a method"
CAVEAT = (
    "These are phantom and virtual-reader results (model observers on a digital phantom), not a clinical "
    "claim; they say where to look, not which scan time is safe for patients."
)


def mean_ci(values, conf: float = 0.95) -> tuple[float, float, float, int]:
    """Mean, t CI and n of the finite values (NaN CI below 2 values)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan, 0
    if v.size < 2:
        return float(v.mean()), np.nan, np.nan, 1
    half = sps.t.ppf(0.5 + conf / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half), int(v.size)


def _row(group, metric, stats, reference, method, p=np.nan) -> dict:
    return dict(zip(RESULT_COLUMNS, (group, metric, stats[0], stats[1], stats[2], stats[3], p, reference, method)))


def image_rows(metrics: pd.DataFrame, reference: pd.DataFrame) -> list[dict]:
    """Mean image quality per group, and the hottest-lesion bias against the 1x scan."""
    out = []
    ref = reference[reference["metric"] == "hottest_lesion_counts"].set_index("study_id")["value"]
    for group, rows in metrics.groupby("group", sort=False):
        for metric in METRICS:
            values = rows.loc[rows["metric"] == metric, "value"]
            out.append(
                _row(
                    group,
                    metric,
                    mean_ci(values),
                    "none" if metric == "hottest_lesion_counts" else "truth",
                    "mean over patients, t CI",
                )
            )
        if group == REFERENCE:
            continue
        hot = rows[rows["metric"] == "hottest_lesion_counts"].set_index("study_id")["value"]
        diff = (hot - ref.reindex(hot.index)).dropna()
        out.append(_row(group, "hottest_lesion_bias", mean_ci(diff), REFERENCE, "mean of (group − 1x) counts, t CI"))
        pct = 100.0 * diff / ref.reindex(diff.index)
        out.append(
            _row(group, "hottest_lesion_bias_pct", mean_ci(pct), REFERENCE, "mean of (group − 1x)/1x in %, t CI")
        )
    return out


def difference_rows(ni: dict) -> list[dict]:
    """auc_diff, sensitivity_diff, specificity_diff result rows of one non-inferiority comparison."""
    g = ni["group"]
    return [
        dict(
            zip(
                RESULT_COLUMNS,
                (
                    g,
                    "auc_diff",
                    ni["auc_diff"],
                    ni["auc_ci_low"],
                    ni["auc_ci_high"],
                    ni["n"],
                    ni["auc_delong_p"],
                    REFERENCE,
                    ni["auc_method"],
                ),
            )
        ),
        dict(
            zip(
                RESULT_COLUMNS,
                (
                    g,
                    "sensitivity_diff",
                    ni["sens_diff"],
                    ni["sens_ci_low"],
                    ni["sens_ci_high"],
                    ni["n"],
                    ni["sens_mcnemar_p"],
                    REFERENCE,
                    "Newcombe CI, McNemar p",
                ),
            )
        ),
        dict(
            zip(
                RESULT_COLUMNS,
                (
                    g,
                    "specificity_diff",
                    ni["spec_diff"],
                    ni["spec_ci_low"],
                    ni["spec_ci_high"],
                    ni["n"],
                    ni["spec_mcnemar_p"],
                    REFERENCE,
                    "Newcombe CI, McNemar p",
                ),
            )
        ),
    ]


def _load(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """metrics, adapted reads and unadapted reads of one speed's cache."""
    return tuple(
        pd.read_csv(folder / f"{n}.csv", dtype={"study_id": str}) for n in ("metrics", "reads", "reads_unadapted")
    )


def performance_rows(adapted: pd.DataFrame, unadapted: pd.DataFrame, truth: pd.Series, group: str) -> list[dict]:
    """`group_performance` of the adapted reads, then AUC, sensitivity and specificity of the
    unadapted reads as `<metric>_unadapted`."""
    return group_performance(adapted, truth, group) + [
        {**r, "metric": f"{r['metric']}_unadapted", "method": f"{r['method']}; unadapted (the 1x observer)"}
        for r in group_performance(unadapted, truth, group)
        if r["metric"] in UNADAPTED_METRICS
    ]


def analyse(root: Path, cfg: dict, truth: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, noninferiority) tables from the cached metrics and reads of the reference and each speed."""
    ref_metrics, ref_reads, ref_unadapted = _load(Path(root) / REFERENCE)
    conf = 1.0 - 2.0 * cfg["alpha"]
    margins = {k: cfg[k] for k in ("margin_auc", "margin_sensitivity", "margin_specificity")}
    ideal = performance_rows(ref_reads, ref_unadapted, truth, TRUTH) if (ref_reads["group"] == TRUTH).any() else []
    results = [
        {**r, "speed": 1.0}
        for r in performance_rows(ref_reads, ref_unadapted, truth, REFERENCE)
        + [{**r, "reference": IDEAL_ENHANCER} for r in ideal]
        + image_rows(ref_metrics, ref_metrics)
    ]
    decisions = []
    for speed in cfg["speeds"]:
        metrics, reads, unadapted = _load(Path(root) / speed_label(speed))
        rows = image_rows(metrics, ref_metrics)
        both = pd.concat([reads, ref_reads], ignore_index=True)
        for group in reads["group"].drop_duplicates():
            rows += performance_rows(reads, unadapted, truth, group)
            ni = noninferiority(both, truth, group, REFERENCE, alpha=cfg["alpha"], **margins)
            decisions.append({"speed": speed, **ni})
            rows += difference_rows(ni)
        results += [{**r, "speed": speed} for r in rows]
    table = pd.DataFrame(results)[["speed", *RESULT_COLUMNS]]
    table["conf"] = np.where(table["metric"].str.endswith("_diff"), conf, 0.95)
    return table, pd.DataFrame(decisions)


def model_kind(group: str) -> str:
    """'2.5x-real' → 'real', '2.5x-thin-simu' → 'thin-simu', '2.5x' → 'raw', '2.5x-thin' → 'thin',
    'truth' → 'truth'."""
    if group == TRUTH:
        return TRUTH
    rest = group.split("x", 1)[1].lstrip("-")
    return rest or "raw"


def summarise(results: pd.DataFrame, decisions: pd.DataFrame, cfg: dict, truth: pd.Series) -> dict:
    """Fastest non-inferior speed per model kind, the raw-AUC monotonicity check, and the counts."""
    kinds = decisions.assign(kind=decisions["group"].map(model_kind))
    fastest = {kind: fastest_noninferior(rows) for kind, rows in kinds.groupby("kind", sort=False)}
    auc = results[
        (results["metric"] == "auc") & results["group"].map(lambda g: g == REFERENCE or model_kind(g) == "raw")
    ]
    auc = auc.sort_values("speed")
    monotone = monotone_decline(auc["speed"], auc["estimate"], auc["ci_low"], auc["ci_high"])
    n_readers = int(decisions["n_readers"].iloc[0]) if len(decisions) else 0
    return {
        "fastest": fastest,
        "raw_auc": dict(zip(auc["group"], auc["estimate"].round(4))),
        "raw_auc_monotone": monotone,
        "n_patients": int(truth.size),
        "n_metastatic": int(truth.sum()),
        "n_readers": n_readers,
        "margin_auc": cfg["margin_auc"],
        "margin_sensitivity": cfg["margin_sensitivity"],
        "alpha": cfg["alpha"],
        "speeds": [speed_label(s) for s in cfg["speeds"]],
        "strategy": cfg["model_strategy"],
    }


def fastest_sentence(kind: str, found: dict, summary: dict) -> str:
    """One model kind's fastest non-inferior speed (`fastest_noninferior`'s dict) as a sentence."""
    who = {
        "real": "the real-trained model",
        "simu": "the simu-trained model",
        "thin-simu": "the simu-trained model on simulated (thinned) fast scans",
        "raw": "raw fast scans (no enhancement)",
        "thin": "raw simulated (thinned) fast scans",
    }.get(kind, kind)
    level = round(100 * (1 - 2 * summary["alpha"]))
    if found["speed"] is None:
        text = f"With {who}, no tested speed was non-inferior to 1x ({NONE_FOUND})."
    else:
        text = (
            f"With {who}, images stayed non-inferior to 1x up to {found['label']}: AUC difference "
            f"{found['auc_diff']:+.3f} ({level} % CI {found['auc_ci_low']:+.3f} to {found['auc_ci_high']:+.3f}), "
            f"above the margin −{summary['margin_auc']:g}, with sensitivity within −{summary['margin_sensitivity']:g}."
        )
    if found["isolated"]:
        text += f" Faster speeds {', '.join(found['isolated'])} passed again, but not after every slower one."
    return text


def conclusion(summary: dict) -> str:
    """A short conclusion written from `summarise`'s numbers."""
    mono = summary["raw_auc_monotone"]
    aucs = ", ".join(f"{g} {a:.3f}" for g, a in summary["raw_auc"].items())
    trend = (
        "falls monotonically with speed"
        if mono["strict"]
        else "does not fall at every step, but no rise lies outside the CIs"
        if mono["ok"]
        else f"rises beyond the CIs at {', '.join(' → '.join(v) for v in mono['violations'])}"
    )
    lines = [
        f"Speed sweep over {', '.join(summary['speeds'])} on {summary['n_patients']} phantom patients "
        f"({summary['n_metastatic']} metastatic), read by {summary['n_readers'] - 1} virtual readers and a virtual "
        f"adjudicator; models: {summary['strategy']}.",
        f"Raw AUC {trend}: {aucs}.",
    ]
    lines += [
        fastest_sentence(kind, found, summary)
        for kind, found in summary["fastest"].items()
        if kind not in ("raw", "thin")
    ]
    return " ".join(lines + [CAVEAT])


def collect_results(root: str | Path, cfg: dict, truth: pd.Series) -> dict:
    """Analyse the caches and write results.csv, noninferiority.csv, summary.json, conclusion.md."""
    root = Path(root)
    results, decisions = analyse(root, cfg, truth)
    summary = summarise(results, decisions, cfg, truth)
    text = conclusion(summary)
    write_csv(results, root / "results.csv")
    write_csv(decisions, root / "noninferiority.csv")
    write_text(json.dumps(summary, indent=2, default=str), root / "summary.json")
    write_text(text + "\n", root / "conclusion.md")
    return {"results": results, "noninferiority": decisions, "summary": summary, "conclusion": text}
