"""The paper's figures from our data: Fig 2 (Likert bars), Fig 5 (ROC), Fig 6 (Bland–Altman), Fig 7 (Pearson).

Each function returns a `matplotlib.figure.Figure` built without pyplot (no global state, any
backend; savefig renders with Agg), titled with `label` — e.g. "phantom cohort · virtual readers"
— so a figure never passes for the clinical study. Published values are drawn beside ours in
black where the paper gives them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from wbslib.paper.summary import HOTTEST
from wbslib.paper.tables import STANDARD, ordered_groups
from wbslib.stats.roc import roc_curve_points

PALETTE = "colorblind"


def _colors(groups: list[str]) -> dict[str, tuple]:
    return dict(zip(groups, sns.color_palette(PALETTE, len(groups))))


def likert_bars(likert: pd.DataFrame, label: str, alpha: float = 0.05) -> Figure:
    """Fig 2: mean ± SD Likert per group (bars), the paper's mean ± SD (black diamonds); * marks
    p < alpha vs 1x, † vs the raw fast scan at the same speed (Wilcoxon signed-rank)."""
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(likert))
    colors = _colors(list(likert["group"]))
    ax.bar(
        x - 0.18,
        likert["mean"],
        0.36,
        yerr=likert["sd"],
        capsize=3,
        label="ours",
        color=[colors[g] for g in likert["group"]],
    )
    ax.errorbar(
        x + 0.18,
        likert["paper_mean"],
        yerr=likert["paper_sd"],
        fmt="D",
        color="black",
        capsize=3,
        label="paper (clinicians)",
    )
    for i, r in enumerate(likert.itertuples()):
        marks = ("*" if r.p_vs_1x < alpha else "") + ("†" if r.p_vs_raw < alpha else "")
        if marks:
            ax.text(i - 0.18, min(r.mean + (r.sd if np.isfinite(r.sd) else 0) + 0.1, 5.2), marks, ha="center")
    ax.set(
        xticks=x,
        xticklabels=likert["group"],
        ylim=(0, 5.5),
        ylabel="Likert image quality (1–5)",
        title=f"Fig 2 · image quality — {label}\n* p < {alpha:g} vs 1x, † vs raw fast scan (Wilcoxon)",
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


def roc_figure(adjudicated: pd.DataFrame, auc: pd.DataFrame, label: str) -> Figure:
    """Fig 5: empirical ROC curve of the adjudicated 10-point ratings per group, with AUC and
    DeLong p vs 1x in the legend (groups without an AUC in `auc` — too few patients — left out)."""
    fig = Figure(figsize=(5.5, 5.2), layout="constrained")
    ax = fig.add_subplot()
    groups = ordered_groups(adjudicated["group"])
    colors = _colors(groups)
    stats = auc.set_index("group")
    for group in (g for g in groups if np.isfinite(stats.loc[g, "auc"])):  # groups with too few patients: none
        d = adjudicated[adjudicated["group"] == group]
        pts = roc_curve_points(d["label"].astype(int), d["rating"])
        p = stats.loc[group, "p_vs_1x"]
        text = f"{group}: AUC {stats.loc[group, 'auc']:.2f}" + ("" if group == STANDARD else f", p vs 1x {p:.3f}")
        ax.plot(
            pts["fpr"],
            pts["tpr"],
            drawstyle="steps-post",
            color=colors[group],
            label=text,
            lw=2.2 if group == STANDARD else 1.4,
        )
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(
        xlabel="1 − specificity",
        ylabel="sensitivity",
        xlim=(0, 1),
        ylim=(0, 1.01),
        aspect="equal",
        title=f"Fig 5 · ROC (DeLong) — {label}",
    )
    ax.legend(loc="lower right", fontsize=7)
    return fig


def _hottest_pairs(metrics: pd.DataFrame, group: str) -> pd.DataFrame:
    m = metrics[(metrics["metric"] == HOTTEST) & (metrics["reference"] == "none")]
    wide = m.pivot_table(index="study_id", columns="group", values="value", aggfunc="first")
    return (
        wide[[group, STANDARD]].dropna()
        if group in wide and STANDARD in wide
        else pd.DataFrame(columns=[group, STANDARD])
    )


def _panels(n: int, height: float = 3.2) -> tuple[Figure, list]:
    cols = min(max(n, 1), 4)
    rows = int(np.ceil(max(n, 1) / cols))
    fig = Figure(figsize=(3.4 * cols, height * rows), layout="constrained")
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(max(n, 1))]


def bland_altman_figure(metrics: pd.DataFrame, agreement: pd.DataFrame, label: str) -> Figure:
    """Fig 6: Bland–Altman of the hottest-lesion counts, group − 1x vs their mean; bias and 95 %
    limits (solid/dashed), the paper's limits dotted black."""
    fig, axes = _panels(len(agreement))
    for ax, r in zip(axes, agreement.itertuples()):
        pair = _hottest_pairs(metrics, r.group)
        ax.scatter(pair.mean(axis=1), pair[r.group] - pair[STANDARD], s=14)
        if np.isfinite(getattr(r, "bias", np.nan)):
            ax.axhline(r.bias, color="C1")
            for limit in (r.lower, r.upper):
                ax.axhline(limit, color="C1", ls="--")
        for limit in (r.paper_lower, r.paper_upper):
            if np.isfinite(limit):
                ax.axhline(limit, color="black", ls=":")
        ax.set(title=f"{r.group} − 1x (n {r.n})", xlabel="mean counts", ylabel="difference (counts)")
    fig.suptitle(f"Fig 6 · hottest-lesion counts, Bland–Altman — {label}")
    return fig


def pearson_figure(metrics: pd.DataFrame, agreement: pd.DataFrame, label: str) -> Figure:
    """Fig 7: hottest-lesion counts of each group against 1x, identity line, Pearson r (paper's r)."""
    fig, axes = _panels(len(agreement))
    for ax, r in zip(axes, agreement.itertuples()):
        pair = _hottest_pairs(metrics, r.group)
        ax.scatter(pair[STANDARD], pair[r.group], s=14)
        top = float(np.nanmax(pair.to_numpy())) if len(pair) else 1.0
        ax.plot([0, top], [0, top], ls=":", color="grey")
        ours = f"r {r.r:.3f}" if np.isfinite(getattr(r, "r", np.nan)) else "r n/a"
        paper = f", paper {r.paper_r:.3f}" if np.isfinite(r.paper_r) else ""
        ax.set(title=f"{r.group}: {ours}{paper}", xlabel="1x counts", ylabel=f"{r.group} counts")
    fig.suptitle(f"Fig 7 · hottest-lesion counts vs 1x, Pearson — {label}")
    return fig
