"""Figures of notebook 03: the paper's Fig 3/4-style panel, difference maps and the counts check.

Images are 1x-equivalent counts (2, rows, cols); all groups of a patient share one grey scale
(0 … the 99.5th percentile of the 1x view's body pixels, hotter pixels saturate), in the nuclear-
medicine convention (dark = more counts). Zoom boxes on the pelvis and the thoracolumbar spine are
placed from the 1x view's body outline (fractions of body length `ZOOMS`), so they need no truth.
The functions return figures and leave the backend alone (notebooks show them inline; save with
`fig.savefig`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from wbslib.core.masks import body_mask
from wbslib.core.scan import VIEWS
from wbslib.io.imagesets import load_counts

# name → (first row, last row) as fractions of body length from the top of the head, half width in px
ZOOMS = {"pelvis": (0.45, 0.60, 56), "spine": (0.30, 0.44, 40)}
PANEL_GROUPS = ("1x", "2x", "3x", "2x-real", "3x-real", "2x-simu", "3x-simu")
CMAP = "gray_r"


def load_images(image_sets: pd.DataFrame, study_id: str, groups: tuple[str, ...] = PANEL_GROUPS) -> dict:
    """{group: 1x-equivalent counts} of one study, in `groups` order, skipping groups it lacks."""
    study = image_sets[image_sets["study_id"] == study_id].set_index("group")
    return {g: load_counts(study.loc[g]) for g in groups if g in study.index}


def zoom_boxes(view: np.ndarray) -> dict[str, tuple[int, int, int, int]]:
    """{name: (r0, r1, c0, c1)} of the pelvis and spine boxes on a (rows, cols) view."""
    body = body_mask(view)
    rows, cols = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
    if rows.size == 0:
        rows, cols = np.arange(view.shape[0]), np.arange(view.shape[1])
    top, length, centre = rows[0], rows[-1] - rows[0] + 1, (cols[0] + cols[-1]) // 2
    boxes = {}
    for name, (f0, f1, half) in ZOOMS.items():
        c0, c1 = max(0, centre - half), min(view.shape[1], centre + half)
        boxes[name] = (int(top + f0 * length), int(top + f1 * length), int(c0), int(c1))
    return boxes


def grey_limit(reference_view: np.ndarray) -> float:
    """Upper end of the shared grey scale: 99.5th percentile of the reference view's body pixels."""
    body = body_mask(reference_view)
    values = reference_view[body] if body.any() else reference_view.ravel()
    return float(np.percentile(values, 99.5)) or 1.0


def panel_figure(images: dict, *, view: str = "ANT", title: str = "") -> Figure:
    """Whole-body view of each group (top) with its pelvis and spine zooms (below), one column per group."""
    v = VIEWS.index(view)
    reference = images["1x"][v]
    vmax, boxes = grey_limit(reference), zoom_boxes(reference)
    n = len(images)
    fig = Figure(figsize=(1.6 * n, 10))
    axes = fig.subplots(1 + len(boxes), n, squeeze=False, gridspec_kw={"height_ratios": [4] + [1] * len(boxes)})
    for j, (group, counts) in enumerate(images.items()):
        axes[0, j].imshow(counts[v], cmap=CMAP, vmin=0, vmax=vmax, interpolation="nearest")
        axes[0, j].set_title(group, fontsize=9)
        for i, (name, (r0, r1, c0, c1)) in enumerate(boxes.items(), start=1):
            axes[0, j].add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, edgecolor="tab:orange", lw=0.8))
            axes[i, j].imshow(counts[v][r0:r1, c0:c1], cmap=CMAP, vmin=0, vmax=vmax, interpolation="nearest")
            if j == 0:
                axes[i, j].set_ylabel(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{view} view, 1x-equivalent counts (grey 0–{vmax:.0f})", fontsize=10)
    fig.tight_layout()
    return fig


def difference_figure(images: dict, *, view: str = "ANT", title: str = "") -> Figure:
    """Each group minus the 1x image (1x-equivalent counts), diverging colours, one shared symmetric scale."""
    v = VIEWS.index(view)
    reference = images["1x"][v]
    diffs = {g: img[v] - reference for g, img in images.items() if g != "1x"}
    limit = max(float(np.percentile(np.abs(d), 99.5)) for d in diffs.values()) or 1.0
    fig = Figure(figsize=(1.6 * len(diffs) + 0.8, 7.5))
    axes = fig.subplots(1, len(diffs), squeeze=False)
    for ax, (group, diff) in zip(axes[0], diffs.items()):
        shown = ax.imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"{group} − 1x", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes[0].tolist(), shrink=0.6, label="counts")
    fig.suptitle(title or f"{view} view: difference to the 1x scan", fontsize=10)
    return fig


def counts_figure(check: pd.DataFrame, tolerance: float = 0.05) -> Figure:
    """Ratio of counts outside the bladder to the 1x view, per group (one dot per study and view)."""
    groups = list(dict.fromkeys(check["group"]))
    fig = Figure(figsize=(1.0 * len(groups) + 2, 3.5))
    ax = fig.subplots()
    ax.axhspan(1 - tolerance, 1 + tolerance, color="tab:green", alpha=0.12, label=f"±{tolerance:.0%}")
    ax.axhline(1.0, color="k", lw=0.8)
    for i, group in enumerate(groups):
        ratios = check.loc[check["group"] == group, "ratio"].to_numpy()
        ax.boxplot(ratios, positions=[i], widths=0.5, showfliers=False)
        ax.plot(np.full(ratios.shape, i) + np.linspace(-0.15, 0.15, ratios.size), ratios, ".", ms=4, alpha=0.7)
    ax.set_xticks(range(len(groups)), groups, rotation=30)
    ax.set_ylabel("counts outside bladder / 1x")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
