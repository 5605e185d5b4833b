"""How much each model beats the classical baselines at its speed: NRMSE against the phantom's
noise-free truth, paired by patient (issue 13's acceptance: ≥ 10 % below the tuned Gaussian).

`baseline_margins(metrics)` reads the tidy table of `wbslib.metrics.measure` (study × group × metric ×
reference). For each model group ('2x-real', '2x-split', …): its mean NRMSE over the studies that
also have the Gaussian ('<s>x-gauss'), the Gaussian's mean on the same studies and the relative
difference in per cent (negative: the model's error is smaller); the same against BM3D on the
studies BM3D ran on. `margin_sentences` says it in words, one sentence per model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.groups import BASELINES, group_key, is_model, parse_group
from wbslib.core.scan import speed_label
from wbslib.core.text import counted

COLUMNS = (
    "group",
    "speed",
    "n_gauss",
    "nrmse",
    "gauss",
    "vs_gauss_pct",
    "n_bm3d",
    "nrmse_bm3d_studies",
    "bm3d",
    "vs_bm3d_pct",
)


def _paired(nrmse: pd.DataFrame, group: str, baseline: str) -> tuple[int, float, float]:
    """(studies, model mean, baseline mean) over the studies both groups have (NaN means when none)."""
    if group not in nrmse or baseline not in nrmse:
        return 0, np.nan, np.nan
    both = nrmse[[group, baseline]].dropna()
    if both.empty:
        return 0, np.nan, np.nan
    return len(both), float(both[group].mean()), float(both[baseline].mean())


def baseline_margins(metrics: pd.DataFrame, reference: str = "truth") -> pd.DataFrame:
    """One row per model group (`COLUMNS`); empty when there is no NRMSE against `reference`."""
    rows = metrics[(metrics["metric"] == "nrmse") & (metrics["reference"] == reference)]
    if rows.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    nrmse = rows.pivot_table(index="study_id", columns="group", values="value", aggfunc="first")
    out = []
    for group in sorted(filter(is_model, nrmse.columns), key=group_key):
        label = speed_label(parse_group(group)[0])
        n_g, model_g, gauss = _paired(nrmse, group, f"{label}-{BASELINES['gaussian']}")
        n_b, model_b, bm3d = _paired(nrmse, group, f"{label}-{BASELINES['bm3d']}")
        out.append(
            {
                "group": group,
                "speed": label,
                "n_gauss": n_g,
                "nrmse": model_g,
                "gauss": gauss,
                "vs_gauss_pct": 100 * (model_g / gauss - 1) if n_g else np.nan,
                "n_bm3d": n_b,
                "nrmse_bm3d_studies": model_b,
                "bm3d": bm3d,
                "vs_bm3d_pct": 100 * (model_b / bm3d - 1) if n_b else np.nan,
            }
        )
    return pd.DataFrame(out, columns=list(COLUMNS))


def _versus(pct: float, name: str) -> str:
    if not np.isfinite(pct):
        return f"no {name} to compare with"
    return f"{abs(pct):.1f} % {'below' if pct < 0 else 'above'} {name}"


def margin_sentences(margins: pd.DataFrame, goal_pct: float = 10.0) -> list[str]:
    """'2x-split: NRMSE 0.046, 11.4 % below the tuned Gaussian (goal ≥ 10 %: met; 40 patients) and
    7.2 % below BM3D (10 patients).' — one per model, from `baseline_margins`."""
    sentences = []
    for r in margins.itertuples():
        if not r.n_gauss:
            sentences.append(f"{r.group}: no tuned Gaussian at {r.speed} to compare with.")
            continue
        met = "met" if r.vs_gauss_pct <= -goal_pct else "not met"
        bm3d = (
            f" and {_versus(r.vs_bm3d_pct, 'BM3D')} ({counted(r.n_bm3d, 'patient')})" if r.n_bm3d else ", BM3D not run"
        )
        sentences.append(
            f"{r.group}: NRMSE {r.nrmse:.4f}, {_versus(r.vs_gauss_pct, 'the tuned Gaussian')} "
            f"(goal ≥ {goal_pct:g} %: {met}; {counted(r.n_gauss, 'patient')}){bm3d}."
        )
    return sentences
