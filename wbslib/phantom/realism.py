"""How real does the phantom look? Structure levels against the real-scan ranges of docs/DESIGN.md.

Levels are read like on a clinical workstation: the 5 × 5-pixel mean of the noise-free anterior
1x view, scaled to 10 cm/min (× 2, the speed of the reference scan NM1) — bladder: its hottest
5 × 5 mean; sternum, spine (thoracic and lumbar vertebral bodies, away from sternum and bladder),
ribs (anterior arcs, away from sternum and spine): 90th percentile over the structure's core
(where its chord is ≥ half its largest); soft tissue of the abdomen and of the upper arms: median
over body pixels ≥ 6 pixels from bone and organs. `bone_to_soft` is the mean over the whole
skeleton mask (bladder excluded) over the median soft tissue of the trunk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from wbslib.phantom import render as pr
from wbslib.phantom.body import Phantom

TO_10CM_MIN = 2.0  # counts of a 1x (20 cm/min) view × 2 = counts at 10 cm/min
WINDOW_PX = 5
SOFT_MARGIN_PX = 6
TARGETS_10CM_MIN = {
    "bladder": (150, 350),
    "sternum": (100, 250),
    "spine": (50, 110),
    "ribs": (50, 110),
    "soft_abdomen": (5, 25),
    "soft_arms": (5, 25),
    "bone_to_soft": (3, 8),
    "counts_1x_ant": (1.5e6, 2.0e6),
    "counts_1x_post": (1.5e6, 2.0e6),
}


def part_mask(phantom: Phantom, select, core: float = 0.5) -> np.ndarray:
    """Pixels (anterior frame, 1x pose) where a selected bone's chord is ≥ `core` × that bone's
    largest chord; `select(part) -> bool`."""
    g = phantom.grid
    out = np.zeros((g.rows, g.cols), bool)
    for part in phantom.anatomy.bones + phantom.anatomy.body:
        if select(part) and (hit := pr.rasterise(part, g)) is not None and hit[2].max() > 0:
            out[hit[0], hit[1]] |= hit[2] >= core * hit[2].max()
    return out


def _rows(phantom: Phantom, lo: float, hi: float) -> np.ndarray:
    """Rows between fractions lo and hi of body height from the vertex."""
    height_mm = phantom.anatomy.body[0].geom[0][-1] / 0.525  # the torso ends at 0.525 H
    r = np.arange(phantom.grid.rows)[:, None]
    return (r >= phantom.grid.row0 + lo * height_mm / phantom.grid.pixel_mm) & (
        r < phantom.grid.row0 + hi * height_mm / phantom.grid.pixel_mm
    )


def structure_levels(phantom: Phantom) -> dict:
    """Levels of one patient (module docstring), plus posterior spine, kidneys (posterior), the
    hottest bone away from the bladder and lesions, and whether the bladder is the hottest organ."""
    ref = phantom.render()
    ant = ndimage.uniform_filter(ref.image[0] * TO_10CM_MIN, WINDOW_PX)
    post = ndimage.uniform_filter(ref.image[1][:, ::-1] * TO_10CM_MIN, WINDOW_PX)
    skeleton, body = ref.masks["skeleton"][0], ref.masks["body"][0]
    bladder, kidneys = ref.masks["bladder"][0], ref.masks["kidneys"][0]
    near_bladder = ndimage.binary_dilation(bladder, iterations=8)
    sternum = part_mask(phantom, lambda p: p.site == "sternum")
    spine = part_mask(phantom, lambda p: p.site == "spine" and not p.name.endswith("_arch"))
    spine &= ~ndimage.binary_dilation(sternum, iterations=4) & ~near_bladder
    ribs = part_mask(phantom, lambda p: p.site == "rib" and p.depth_mm < p.thick_mm / 3)
    ribs &= ~ndimage.binary_dilation(sternum | spine, iterations=4)
    soft = body & ~ndimage.binary_dilation(skeleton | bladder | kidneys, iterations=SOFT_MARGIN_PX)
    arms = part_mask(phantom, lambda p: p.name.startswith("upper_arm_"), core=0.0)
    lesion_free = np.ones_like(skeleton)
    for (r, c), lesion in zip(ref.lesion_rc, phantom.lesions):
        rr, cc = np.ogrid[: skeleton.shape[0], : skeleton.shape[1]]
        lesion_free &= np.hypot(rr - r, cc - c) > lesion.diameter_mm / phantom.grid.pixel_mm + 4
    organs = (skeleton | kidneys) & ~near_bladder & lesion_free
    trunk_soft = float(np.median(ant[soft & _rows(phantom, 0.2, 0.5)]))
    levels = {
        "counts_1x_ant": float(ref.image[0].sum()),
        "counts_1x_post": float(ref.image[1].sum()),
        "bladder": float(ant[bladder].max()),
        "sternum": float(np.percentile(ant[sternum], 90)),
        "spine": float(np.percentile(ant[spine], 90)),
        "ribs": float(np.percentile(ant[ribs], 90)),
        "soft_abdomen": float(np.median(ant[soft & _rows(phantom, 0.37, 0.43)])),
        "soft_arms": float(np.median(ant[soft & arms])) if (soft & arms).any() else float("nan"),
        "bone_to_soft": float(ant[skeleton & ~near_bladder].mean() / trunk_soft),
        "spine_mean_ant": float(ant[spine].mean()),
        "spine_mean_post": float(post[spine].mean()),
        "kidneys_post": float(np.percentile(post[kidneys], 90)),
        "hottest_bone": float(max(ant[organs].max(), post[organs].max())),
        "bladder_post": float(post[bladder].max()),
    }
    levels["bladder_hottest"] = max(levels["bladder"], levels["bladder_post"]) > levels["hottest_bone"]
    return levels


def realism_table(phantoms: list[Phantom]) -> pd.DataFrame:
    """`structure_levels` of each phantom, one row per study."""
    return pd.DataFrame([{"study_id": p.study_id, **structure_levels(p)} for p in phantoms])


def realism_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per level with a target: median, 10th–90th percentile, min, max, the target range and the
    share of patients inside it."""
    rows = []
    for name, (lo, hi) in TARGETS_10CM_MIN.items():
        v = table[name].dropna().to_numpy(float)
        rows.append(
            {
                "level": name,
                "median": np.median(v),
                "p10": np.percentile(v, 10),
                "p90": np.percentile(v, 90),
                "min": v.min(),
                "max": v.max(),
                "target": f"{lo:g}–{hi:g}",
                "share_in_target": float(np.mean((v >= lo) & (v <= hi))),
            }
        )
    rows.append(
        {
            "level": "bladder hottest organ",
            "median": np.nan,
            "p10": np.nan,
            "p90": np.nan,
            "min": np.nan,
            "max": np.nan,
            "target": "≥ 80 % of patients",
            "share_in_target": float(table["bladder_hottest"].mean()),
        }
    )
    rows.append(
        {
            "level": "posterior spine > anterior",
            "median": np.nan,
            "p10": np.nan,
            "p90": np.nan,
            "min": np.nan,
            "max": np.nan,
            "target": "all patients",
            "share_in_target": float((table["spine_mean_post"] > table["spine_mean_ant"]).mean()),
        }
    )
    return pd.DataFrame(rows)
