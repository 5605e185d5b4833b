"""Notebook 06's key findings: the fastest speed non-inferior to 1x per model, then one row per
swept image set (differences to 1x with their CIs at level 1 − 2α, the non-inferiority verdict),
and any enhanced image set that reads far better than its raw scan (`enhancement_gains`)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from wbslib.core.groups import TRUTH, group_key
from wbslib.readers.performance import GAIN_FLAG
from wbslib.sweep.results import CAVEAT, fastest_sentence, model_kind

RAW_KINDS = ("raw", "thin")  # `results.model_kind` of unenhanced scans


def difference(d: float, low: float, high: float) -> str:
    """'+0.02 (−0.03 to +0.07)'; '—' when the difference is NaN."""
    if not np.isfinite(d):
        return "—"
    ci = f" ({low:+.2f} to {high:+.2f})" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{d:+.2f}{ci}"


def decision_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per swept image set, by speed then group, with plain-language headers."""
    rows = decisions.assign(_key=decisions["group"].map(group_key)).sort_values(["speed", "_key"])
    return pd.DataFrame(
        {
            "Images": rows["group"],
            "AUC − 1x (CI)": [difference(*r) for r in rows[["auc_diff", "auc_ci_low", "auc_ci_high"]].to_numpy()],
            "Sensitivity − 1x (CI)": [
                difference(*r) for r in rows[["sens_diff", "sens_ci_low", "sens_ci_high"]].to_numpy()
            ],
            "Specificity − 1x (CI)": [
                difference(*r) for r in rows[["spec_diff", "spec_ci_low", "spec_ci_high"]].to_numpy()
            ],
            "Non-inferior": np.where(rows["non_inferior"].astype(bool), "yes", "no"),
        }
    )


def enhancement_gains(results: pd.DataFrame) -> pd.DataFrame:
    """Per speed, enhanced image set and analysis (adapted: `auc`; unadapted: `auc_unadapted`), its
    AUC minus that of the scan it enhanced at the same speed (the raw scan; the thinned scan for a
    model applied to thinned scans); `flag` where the gain exceeds `GAIN_FLAG`: enhancement cannot
    add information, so such a gain means the observer reads the raw scan sub-optimally (T7)."""
    rows = []
    for (speed, metric), d in results[results["metric"].isin(["auc", "auc_unadapted"])].groupby(
        ["speed", "metric"], sort=False
    ):
        auc = d.set_index("group")["estimate"]
        inputs = {model_kind(g): g for g in auc.index if model_kind(g) in RAW_KINDS}
        for group, value in auc.items():
            kind = model_kind(group)
            source = inputs.get("thin" if kind.startswith("thin-") else "raw")
            if kind in (*RAW_KINDS, TRUTH) or source is None:
                continue
            analysis = "unadapted" if metric.endswith("_unadapted") else "adapted"
            rows.append((speed, group, analysis, value, auc[source], value - auc[source]))
    out = pd.DataFrame(rows, columns=["speed", "group", "analysis", "auc", "auc_input", "gain_vs_input"])
    return out.assign(flag=out["gain_vs_input"] > GAIN_FLAG)


def gain_flags(gains: pd.DataFrame) -> list[str]:
    """One sentence per flagged row of `enhancement_gains`."""
    return [
        f"Flag: {r.group} ({r.analysis} reader) reads {r.gain_vs_input:+.2f} AUC over the scan it enhanced; "
        "enhancement cannot add information, so the observer reads that scan sub-optimally."
        for r in gains[gains["flag"]].itertuples()
    ]


def headline(summary: dict) -> str:
    """'Fastest speed non-inferior to 1x: real model 2.5x, simu model none in the tested range
    (phantom, virtual readers).'"""
    found = [f"{kind} model {f['label']}" for kind, f in summary["fastest"].items() if kind not in RAW_KINDS]
    text = ", ".join(found) or "no enhanced images swept"
    return f"Fastest speed non-inferior to 1x: {text} (phantom, virtual readers)."


def findings_html(result: dict) -> str:
    """The findings box's HTML from `run_sweep`'s dict: the fastest non-inferior speed of each model
    first, then the per-image-set table in a horizontally scrolling box and the caveat."""
    summary = result["summary"]
    found = [fastest_sentence(k, f, summary) for k, f in summary["fastest"].items() if k not in RAW_KINDS]
    parts = ['<p class="wbs-meta"><strong>Key findings</strong> — phantom cohort · virtual readers</p>']
    parts += [f"<p>{html.escape(s)}</p>" for s in found or ["No enhanced images were swept."]]
    if "results" in result:
        parts += [f"<p><strong>{html.escape(s)}</strong></p>" for s in gain_flags(enhancement_gains(result["results"]))]
    table = decision_table(result["noninferiority"]).map(html.escape)
    parts.append(f'<div class="wbs-scroll">{table.to_html(index=False, escape=False, border=0)}</div>')
    level = round(100 * (1 - 2 * summary["alpha"]))
    parts.append(
        f'<p class="wbs-meta">Differences are the image set minus 1x on the same patients ({level} % CI); '
        f"non-inferior: AUC above −{summary['margin_auc']:g} and sensitivity above "
        f"−{summary['margin_sensitivity']:g}. {html.escape(CAVEAT)}</p>"
    )
    return "\n".join(parts)
