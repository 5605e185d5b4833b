"""Figures of the speed sweep (notebook 06): performance and lesion-count bias against speed, and an
image strip of one patient across speeds. matplotlib (Agg in batch runs); each function returns
the figure (notebook 06 displays it and saves it with `core.fileio.save_figure`). No text is
smaller than `FONT_PT` and legends sit outside the axes, so no marker hides behind one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from wbslib.core.groups import TRUTH
from wbslib.core.scan import speed_label
from wbslib.sweep.results import REFERENCE, model_kind

KIND_STYLE = {
    "raw": ("raw real-like fast scan", "tab:gray", "o"),
    "thin": ("raw simu (thinned) scan", "tab:brown", "v"),
    "real": ("enhanced, real model", "tab:blue", "s"),
    "simu": ("enhanced, simu model", "tab:orange", "D"),
    "thin-simu": ("simu model on thinned scan", "tab:green", "^"),
}
VIRTUAL = "virtual readers (model observers), phantom"
IDEAL_LABEL = "truth: noise-free image (ideal-enhancer reference)"
FONT_PT = 10


def _by_kind(results: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    rows = results[(results["metric"] == metric) & ~results["group"].isin([REFERENCE, TRUTH])]
    rows = rows.assign(kind=rows["group"].map(model_kind)).sort_values("speed")
    return {kind: rows[rows["kind"] == kind] for kind in KIND_STYLE if (rows["kind"] == kind).any()}


def _errorbars(ax, rows: pd.DataFrame, kind: str, offset: float) -> None:
    label, colour, marker = KIND_STYLE[kind]
    low = (rows["estimate"] - rows["ci_low"]).clip(lower=0)
    high = (rows["ci_high"] - rows["estimate"]).clip(lower=0)
    ax.errorbar(
        rows["speed"] + offset,
        rows["estimate"],
        yerr=[low.fillna(0), high.fillna(0)],
        label=label,
        color=colour,
        marker=marker,
        capsize=3,
        linewidth=1.2,
    )


def _speed_axis(ax, results: pd.DataFrame) -> None:
    """x ticks at the swept speeds ('4x'), half a speed factor of room either side (one speed
    alone would otherwise get an axis of hundredths)."""
    speeds = sorted(set(results["speed"]) - {1.0})
    if speeds:
        ax.set_xticks(speeds, [speed_label(s) for s in speeds])
        ax.set_xlim(speeds[0] - 0.5, speeds[-1] + 0.5)
    ax.set_xlabel("speed factor (× 20 cm/min)")


def plot_performance(results: pd.DataFrame, margins: dict[str, float]):
    """AUC, sensitivity and specificity (95 % CI) against speed per image kind; the 1x value
    (solid line, its value in the panel's title) and 1x − margin (dashed, the margin in the
    title) drawn where a margin applies; the noise-free truth read by the same readers (dotted grey:
    the ideal-enhancer reference); one legend below the panels."""
    metrics = ("auc", "sensitivity", "specificity")
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, metric in zip(axes, metrics):
        kinds = _by_kind(results, metric)
        for i, (kind, rows) in enumerate(kinds.items()):
            _errorbars(ax, rows, kind, 0.06 * (i - (len(kinds) - 1) / 2))
        ref = results[(results["group"] == REFERENCE) & (results["metric"] == metric)]
        title = metric
        if len(ref):
            value = float(ref["estimate"].iloc[0])
            ax.axhline(value, color="black", linewidth=1, label="1x (band: 95 % CI)")
            ax.axhspan(float(ref["ci_low"].iloc[0]), float(ref["ci_high"].iloc[0]), color="black", alpha=0.06)
            title += f": 1x {value:.2f}"
            if metric in margins:
                ax.axhline(value - margins[metric], color="crimson", linestyle="--", label="1x − margin")
                title += f", margin {margins[metric]:g}"
        ideal = results[(results["group"] == TRUTH) & (results["metric"] == metric)]
        if len(ideal):
            ax.axhline(float(ideal["estimate"].iloc[0]), color="grey", linestyle=":", label=IDEAL_LABEL)
        ax.set_title(title, fontsize=FONT_PT + 1)
        _speed_axis(ax, results)
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("estimate, 95 % CI")
    handles = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, handle)
    kinds = {label for label, _, _ in KIND_STYLE.values()}
    order = sorted(handles, key=lambda text: text not in kinds)  # image kinds first, then the reference lines
    fig.legend([handles[t] for t in order], order, loc="outside lower center", ncols=3, fontsize=FONT_PT, frameon=False)
    fig.suptitle(VIRTUAL, fontsize=FONT_PT + 1)
    return fig


def plot_lesion_bias(results: pd.DataFrame):
    """Hottest-lesion count bias vs 1x (% of 1x, mean over metastatic patients, 95 % CI) against speed."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    kinds = _by_kind(results, "hottest_lesion_bias_pct")
    for i, (kind, rows) in enumerate(kinds.items()):
        _errorbars(ax, rows, kind, 0.06 * (i - (len(kinds) - 1) / 2))
    ax.axhline(0.0, color="black", linewidth=1)
    _speed_axis(ax, results)
    ax.set_ylabel("hottest-lesion counts − 1x (% of 1x)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=FONT_PT, frameon=False)
    return fig


def load_strip(root: str | Path, speeds) -> dict[str, np.ndarray]:
    """{group: image} of the strip patient: the 1x scan and every group of every speed."""
    out = {}
    for label in [REFERENCE, *(speed_label(s) for s in speeds)]:
        with np.load(Path(root) / label / "strip.npz") as data:
            out.update({k: data[k] for k in data.files})
    return out


def plot_strip(strip: dict[str, np.ndarray], speeds, kinds=("raw", "real", "simu"), view: int = 0):
    """One patient's anterior (view 0) images: the 1x scan, then per kind (row) each speed (column).
    Shared window 0 … 99.5th percentile of the 1x view (1x-equivalent counts), inverted grey."""
    ref = strip[REFERENCE][view]
    vmax = float(np.nanpercentile(ref, 99.5))
    kinds = [k for k in kinds if any(f"{speed_label(s)}{'' if k == 'raw' else '-' + k}" in strip for s in speeds)]
    fig = Figure(figsize=(1.6 * (len(speeds) + 1), 5.2 * len(kinds)))
    axes = fig.subplots(len(kinds), len(speeds) + 1, squeeze=False)
    for r, kind in enumerate(kinds):
        panels = [(REFERENCE, ref)] + [
            (g, strip[g][view] if g in strip else None)
            for g in (f"{speed_label(s)}{'' if kind == 'raw' else '-' + kind}" for s in speeds)
        ]
        for c, (group, image) in enumerate(panels):
            ax = axes[r, c]
            ax.axis("off")
            if image is not None:
                ax.imshow(image, cmap="gray_r", vmin=0, vmax=vmax, aspect="auto")
                ax.set_title(group, fontsize=FONT_PT)
    fig.tight_layout()
    return fig
