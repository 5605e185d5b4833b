"""Figures of notebook 03: both views of each group as a reader sees them, difference maps, counts check.

Images are 1x-equivalent counts (2, rows, cols) with the views as acquired: ANT seen from the front,
POST seen from behind (the patient's left on the image's left), which is how a reader's viewer
shows them side by side. Every panel is cropped to one box around the body of the 1x scan (both
views, `CROP_MARGIN_PX` around `core.masks.body_mask`); all groups and both views of a patient
share one grey scale (0 … the 99.5th percentile of the 1x scan's body pixels, hotter pixels
saturate), inverted as in nuclear medicine (dark = more counts). On a phantom, each true
metastasis visible in a view gets an arrow beside it (as in the paper's Figs 3/4); its tip stops
`ARROW_GAP_PX` outside the lesion's edge, so a patient shift of a few mm between scans never puts
it over the lesion. The functions return figures and leave the backend alone.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from wbslib.core.groups import STANDARD, group_key, parse_group
from wbslib.core.masks import body_box, body_mask
from wbslib.core.scan import PIXEL_MM, VIEWS
from wbslib.io.imagesets import load_counts
from wbslib.io.truth import load_lesions, truth_dir

PANEL_GROUPS = ("1x", "2x", "3x", "2x-real", "3x-real", "2x-simu", "3x-simu")
CMAP = "gray_r"
CROP_MARGIN_PX = 8  # around the body mask (≈ 2 cm)
ARROW_GAP_PX = 3.0  # between the lesion's edge and the arrow's tip (also absorbs 2.2 vs 2.4 mm pixels)
ARROW_PX = (-40.0, 30.0)  # (d col, d row) from the tip to the tail: the arrow points up and right
ARROW_COLOUR = "#d62728"
FONT_PT = 10  # no text below this (readable on a phone)
PANEL_IN = 1.05  # width of one view (inches)
GAP_IN = 0.2  # between groups (inches); a quarter of it between the two views of a group


def load_images(image_sets: pd.DataFrame, study_id: str, groups: tuple[str, ...] = PANEL_GROUPS) -> dict:
    """{group: 1x-equivalent counts} of one study, in `groups` order, skipping groups it lacks."""
    study = image_sets[image_sets["study_id"] == study_id].set_index("group")
    return {g: load_counts(study.loc[g]) for g in groups if g in study.index}


def true_lesions(data_root: str | os.PathLike, study_id: str) -> pd.DataFrame | None:
    """One study's rows of the phantom's lesion table (`io.truth.load_lesions`), or None for a
    cohort without truth (a clinical one)."""
    if not (truth_dir(data_root) / "lesions.csv").is_file():
        return None
    lesions = load_lesions(data_root)
    return lesions[lesions["study_id"] == str(study_id)].reset_index(drop=True)


def crop_box(image: np.ndarray, margin: int = CROP_MARGIN_PX) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1) holding the body of every view of `image` ((rows, cols) or (2, rows, cols)),
    widened by `margin` px and clipped to the frame; the whole frame when no view has counts."""
    views = np.asarray(image).reshape(-1, *np.shape(image)[-2:])
    body = np.logical_or.reduce([body_mask(v) for v in views])
    rows, cols = body_box(body, margin)
    if rows.stop <= rows.start:
        return 0, views.shape[1], 0, views.shape[2]
    return int(rows.start), int(min(rows.stop, views.shape[1])), int(cols.start), int(min(cols.stop, views.shape[2]))


def grey_limit(reference: np.ndarray) -> float:
    """Top of the shared grey scale: 99.5th percentile of the body pixels of every view of
    `reference` ((rows, cols) or (2, rows, cols); 1x-equivalent counts)."""
    views = np.asarray(reference).reshape(-1, *np.shape(reference)[-2:])
    values = np.concatenate([v[body_mask(v)] for v in views])
    values = values if values.size else np.asarray(reference).ravel()
    return float(np.nanpercentile(values, 99.5)) or 1.0


def lesion_marks(lesions: pd.DataFrame | None, view: str, box: tuple[int, int, int, int] | None = None) -> pd.DataFrame:
    """Where to draw an arrow per true metastasis visible in `view` ('ANT' | 'POST'), in the
    panel's pixels (row, col of the lesion centre minus the box's corner) with its radius (px, at
    `PIXEL_MM`);
    only lesions inside `box`. `lesions` holds one study's rows of the lesion table (1x grid; POST
    columns from `col_post`); None (no truth) gives no marks."""
    out = pd.DataFrame({"lesion_id": [], "row": [], "col": [], "radius_px": []})
    if lesions is None or not len(lesions):
        return out
    tag = view.lower()
    shown = lesions[(lesions["malignant"] == 1) & (lesions[f"visible_{tag}"] == 1)]
    r0, r1, c0, c1 = box if box is not None else (0, np.inf, 0, np.inf)
    col = shown["col" if view == "ANT" else "col_post"]
    inside = shown["row"].between(r0, r1 - 1) & col.between(c0, c1 - 1)
    return pd.DataFrame(
        {
            "lesion_id": shown.loc[inside, "lesion_id"].to_numpy(),
            "row": (shown.loc[inside, "row"] - r0).to_numpy(float),
            "col": (col[inside] - c0).to_numpy(float),
            "radius_px": (shown.loc[inside, "diameter_mm"] / (2 * PIXEL_MM)).to_numpy(float),
        }
    )


def panel_rows(groups) -> list[list[str]]:
    """One row per fast speed: the 1x scan, then that speed's raw and enhanced groups (display
    order); just the 1x scan when there is no other group."""
    speeds = sorted({parse_group(g)[0] for g in groups if g != STANDARD})
    rows = [
        [STANDARD] + sorted((g for g in groups if g != STANDARD and parse_group(g)[0] == s), key=group_key)
        for s in speeds
    ]
    return rows or [[STANDARD]]


def _show(ax, view: np.ndarray, box, vmax: float, marks: pd.DataFrame) -> None:
    r0, r1, c0, c1 = box
    ax.imshow(view[r0:r1, c0:c1], cmap=CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    dc, dr = ARROW_PX
    for m in marks.itertuples() if np.isfinite(view).any() else ():  # a missing view: no arrows
        reach = (m.radius_px + ARROW_GAP_PX) / np.hypot(dc, dr)
        tip = (m.col + dc * reach, m.row + dr * reach)
        ax.annotate(
            "",
            xy=tip,
            xytext=(tip[0] + dc, tip[1] + dr),
            arrowprops={
                "arrowstyle": "-|>",
                "color": ARROW_COLOUR,
                "lw": 1.5,
                "mutation_scale": 8,
                "shrinkA": 0,
                "shrinkB": 0,
            },
        )
    ax.set_xticks([])
    ax.set_yticks([])


def panel_figure(images: dict, *, lesions: pd.DataFrame | None = None, title: str = "") -> Figure:
    """ANT and POST of each group side by side, cropped to the body, one row per fast speed (the
    1x scan first in each); arrows beside the true metastases of `lesions` (one study's rows of the
    lesion table, None without truth). Laid out in inches: `PANEL_IN` per view, `GAP_IN` gaps."""
    reference = images[STANDARD]
    vmax, box = grey_limit(reference), crop_box(reference)
    rows = panel_rows(list(images))
    marks = {view: lesion_marks(lesions, view, box) for view in VIEWS}
    pair, gap, band = 2 * PANEL_IN + GAP_IN / 4, GAP_IN, 0.3  # band: one line of 10–11 pt text
    height = PANEL_IN * (box[1] - box[0]) / (box[3] - box[2])
    size = (max(map(len, rows)) * (pair + gap) + gap, band + len(rows) * (2 * band + height + gap))
    fig = Figure(figsize=size)
    for i, row in enumerate(rows):
        bottom = size[1] - band - (i + 1) * (2 * band + height + gap) + gap
        for j, group in enumerate(row):
            left = gap + j * (pair + gap)
            fig.text(
                (left + pair / 2) / size[0],
                (bottom + height + band + 0.05) / size[1],
                group,
                ha="center",
                fontsize=FONT_PT + 1,
            )
            for v, view in enumerate(VIEWS):
                x = left + v * (PANEL_IN + GAP_IN / 4)
                ax = fig.add_axes((x / size[0], bottom / size[1], PANEL_IN / size[0], height / size[1]))
                _show(ax, images[group][v], box, vmax, marks[view])
                ax.set_title(view, fontsize=FONT_PT, pad=2)
                ax.set_label(f"{group} {view}")
    fig.suptitle(
        title or f"ANT and POST, 1x-equivalent counts (grey 0–{vmax:.0f})",
        y=1 - 0.05 / size[1],
        va="top",
        fontsize=FONT_PT + 1,
    )
    return fig


def difference_figure(images: dict, *, view: str = "ANT", title: str = "") -> Figure:
    """Each group minus the 1x image (1x-equivalent counts) on one view, cropped to the body,
    diverging colours, one shared symmetric scale."""
    v = VIEWS.index(view)
    reference = images[STANDARD][v]
    r0, r1, c0, c1 = crop_box(images[STANDARD])
    diffs = {g: (img[v] - reference)[r0:r1, c0:c1] for g, img in images.items() if g != STANDARD}
    limit = max(float(np.nanpercentile(np.abs(d), 99.5)) for d in diffs.values()) or 1.0
    height = PANEL_IN * (r1 - r0) / (c1 - c0) + 1.0
    fig = Figure(figsize=(PANEL_IN * 1.15 * len(diffs) + 1.2, height), layout="constrained")
    axes = fig.subplots(1, len(diffs), squeeze=False)[0]
    for ax, (group, diff) in zip(axes, diffs.items()):
        shown = ax.imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(group, fontsize=FONT_PT)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes.tolist(), shrink=0.6, label="counts").ax.tick_params(labelsize=FONT_PT)
    fig.suptitle(title or f"{view} view: each group − the 1x scan", fontsize=FONT_PT + 1)
    return fig


def counts_figure(check: pd.DataFrame, tolerance: float = 0.05) -> Figure:
    """Ratio of counts outside the bladder to the 1x view, per group (one dot per study and view)."""
    groups = list(dict.fromkeys(check["group"]))
    fig = Figure(figsize=(0.8 * len(groups) + 2, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.axhspan(1 - tolerance, 1 + tolerance, color="tab:green", alpha=0.12, label=f"±{tolerance:.0%}")
    ax.axhline(1.0, color="k", lw=0.8)
    for i, group in enumerate(groups):
        ratios = check.loc[check["group"] == group, "ratio"].to_numpy()
        ax.boxplot(ratios, positions=[i], widths=0.5, showfliers=False)
        ax.plot(np.full(ratios.shape, i) + np.linspace(-0.15, 0.15, ratios.size), ratios, ".", ms=4, alpha=0.7)
    ax.set_xticks(range(len(groups)), groups, rotation=30)
    ax.set_ylabel("counts outside bladder / 1x")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT_PT)
    return fig
