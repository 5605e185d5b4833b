"""The paper's figures from our data: Fig 2 (Likert bars), Fig 5 (ROC), Fig 6 (Bland–Altman), Fig 7 (Pearson).

Each function returns a `matplotlib.figure.Figure` built without pyplot (no global state, any
backend; savefig renders with Agg), titled with `label` — e.g. "phantom cohort · virtual readers"
— so a figure never passes for the clinical study. Published values are drawn beside ours in
black where the paper gives them. No text is smaller than `FONT_PT` and legends sit outside the
axes, so a figure shrunk to a phone's width stays legible. Curves follow `group_style`: 1x black,
raw fast scans grey, models of each speed one hue family (2x blues, 3x oranges), baselines dashed
in their speed's hue, the truth reference dash-dotted green.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from wbslib.core.groups import MODES, TRUTH, is_model, is_raw, parse_group
from wbslib.paper.summary import HOTTEST
from wbslib.paper.tables import STANDARD, ordered_groups
from wbslib.stats.roc import roc_curve_points

FONT_PT = 10
# speed → colours of the hue family its models (MODES order) and baselines take; other speeds purple
FAMILIES = {
    2.0: ("#08519c", "#4292c6", "#9ecae1"),
    3.0: ("#a63603", "#f16913", "#fdae6b"),
}
OTHER_FAMILY = ("#54278f", "#807dba", "#bcbddc")
RAW_GREYS = {2.0: "0.45", 3.0: "0.7"}  # raw fast scans; other speeds "0.55"
TRUTH_COLOUR = "#238b45"
POINTS, OURS = "#2171b5", "#d94801"  # Figs 6/7: patients, our bias and limits


def group_style(group: str) -> dict:
    """Line style (color, ls, lw) of one group's curve (module docstring)."""
    if group == STANDARD:
        return {"color": "black", "ls": "-", "lw": 2.4}
    if group == TRUTH:
        return {"color": TRUTH_COLOUR, "ls": "-.", "lw": 1.8}
    try:
        speed, method = parse_group(group)
    except ValueError:
        return {"color": "0.3", "ls": ":", "lw": 1.4}
    family = FAMILIES.get(speed, OTHER_FAMILY)
    if is_raw(group):
        return {"color": RAW_GREYS.get(speed, "0.55"), "ls": "-", "lw": 1.8}
    if is_model(group):
        return {"color": family[MODES.index(method)], "ls": "-", "lw": 1.8}
    return {"color": family[0 if method == "gauss" else 1], "ls": "--", "lw": 1.4}


def likert_bars(likert: pd.DataFrame, label: str, alpha: float = 0.05) -> Figure:
    """Fig 2: mean ± SD Likert per group (bars), the paper's mean ± SD (black diamonds); * marks
    p < alpha vs 1x, † vs the raw fast scan at the same speed (Wilcoxon signed-rank)."""
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(likert))
    ax.bar(
        x - 0.18,
        likert["mean"],
        0.36,
        yerr=likert["sd"],
        capsize=3,
        label="ours",
        color=[group_style(g)["color"] for g in likert["group"]],
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
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT_PT)
    return fig


def roc_figure(adjudicated: pd.DataFrame, auc: pd.DataFrame, label: str) -> Figure:
    """Fig 5: empirical ROC curve of the adjudicated 10-point ratings per group (`group_style`), with
    AUC and DeLong p vs 1x in the legend beside the axes (groups without an AUC in `auc` — too few
    patients — left out)."""
    fig = Figure(figsize=(8.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    stats = auc.set_index("group")
    for group in (g for g in ordered_groups(adjudicated["group"]) if np.isfinite(stats.loc[g, "auc"])):
        d = adjudicated[adjudicated["group"] == group]
        pts = roc_curve_points(d["label"].astype(int), d["rating"])
        p = stats.loc[group, "p_vs_1x"]
        text = f"{group}: AUC {stats.loc[group, 'auc']:.2f}" + ("" if group == STANDARD else f", p vs 1x {p:.3f}")
        ax.plot(pts["fpr"], pts["tpr"], drawstyle="steps-post", label=text, **group_style(group))
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1.0, label="chance")
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.set_title(f"Fig 5 · ROC (DeLong)\n{label}", fontsize=FONT_PT + 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=FONT_PT, frameon=False)
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
    cols = min(max(n, 1), 2)
    rows = int(np.ceil(max(n, 1) / cols))
    fig = Figure(figsize=(3.6 * cols, height * rows + 0.8), layout="constrained")
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(max(n, 1))]


def _legend_below(fig: Figure, entries: list[tuple[str, dict]]) -> None:
    """One legend for all panels, below them: (label, Line2D keywords) per entry."""
    handles = [Line2D([], [], label=text, **style) for text, style in entries]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=FONT_PT, frameon=False)


def bland_altman_figure(metrics: pd.DataFrame, agreement: pd.DataFrame, label: str) -> Figure:
    """Fig 6: Bland–Altman of the hottest-lesion counts, group − 1x vs their mean; bias and 95 %
    limits (solid/dashed), the paper's limits dotted black; one legend below the panels."""
    fig, axes = _panels(len(agreement))
    for ax, r in zip(axes, agreement.itertuples()):
        pair = _hottest_pairs(metrics, r.group)
        ax.scatter(pair.mean(axis=1), pair[r.group] - pair[STANDARD], s=14, color=POINTS)
        if np.isfinite(getattr(r, "bias", np.nan)):
            ax.axhline(r.bias, color=OURS)
            for limit in (r.lower, r.upper):
                ax.axhline(limit, color=OURS, ls="--")
        for limit in (r.paper_lower, r.paper_upper):
            if np.isfinite(limit):
                ax.axhline(limit, color="black", ls=":")
        ax.set(title=f"{r.group} − 1x (n {r.n})", xlabel="mean counts", ylabel="difference (counts)")
    _legend_below(
        fig,
        [
            ("patients", {"marker": "o", "ls": "", "color": POINTS}),
            ("bias (ours)", {"color": OURS}),
            ("95 % limits of agreement (ours)", {"color": OURS, "ls": "--"}),
            ("95 % limits (paper)", {"color": "black", "ls": ":"}),
        ],
    )
    fig.suptitle(f"Fig 6 · hottest-lesion counts, Bland–Altman\n{label}", fontsize=FONT_PT + 2)
    return fig


def pearson_figure(metrics: pd.DataFrame, agreement: pd.DataFrame, label: str) -> Figure:
    """Fig 7: hottest-lesion counts of each group against 1x, identity line, Pearson r (paper's r;
    a published r above 1, which no correlation can reach, is marked † and footnoted)."""
    fig, axes = _panels(len(agreement))
    impossible = False
    for ax, r in zip(axes, agreement.itertuples()):
        pair = _hottest_pairs(metrics, r.group)
        ax.scatter(pair[STANDARD], pair[r.group], s=14, color=POINTS)
        top = float(np.nanmax(pair.to_numpy())) if len(pair) else 1.0
        ax.plot([0, top], [0, top], ls=":", color="grey")
        ours = f"r {r.r:.3f}" if np.isfinite(getattr(r, "r", np.nan)) else "r n/a"
        mark = " †" if r.paper_r > 1 else ""
        impossible |= bool(mark)
        paper = f", paper {r.paper_r:.3f}{mark}" if np.isfinite(r.paper_r) else ""
        ax.set(title=f"{r.group}: {ours}{paper}", xlabel="1x counts", ylabel=f"{r.group} counts")
    entries = [
        ("patients", {"marker": "o", "ls": "", "color": POINTS}),
        ("identity (y = x)", {"color": "grey", "ls": ":"}),
    ]
    if impossible:
        entries.append(("† as published; a Pearson r cannot exceed 1", {"ls": ""}))
    _legend_below(fig, entries)
    fig.suptitle(f"Fig 7 · hottest-lesion counts vs 1x, Pearson\n{label}", fontsize=FONT_PT + 2)
    return fig
