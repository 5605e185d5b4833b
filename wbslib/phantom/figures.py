"""Figures and tables of notebook 00: the phantom cohort, and how it compares with a real scan.

The real reference is the whole-body bone scan pydicom ships (`JPEG2000.dcm`, GE Millennium MG,
anterior, ≈ 10 cm/min, 3.6 M counts, pixel 2.26 mm). It is a lossy (2097:1) JPEG 2000 copy, so
its few negative values are clipped and only smoothed statistics (5 × 5 means) are compared. All
counts are scaled to 10 cm/min: counts × speed factor / 0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from wbslib.core.counts import thin
from wbslib.core.repro import rng as keyed_rng
from wbslib.core.scan import speed_label
from wbslib.io.dicom import read_wholebody
from wbslib.io.truth import load_lesions, load_patients, load_truth

REFERENCE_SPEED = 0.5  # 10 cm/min in units of 20 cm/min
BODY_THRESHOLD = 3.0  # 5 × 5 mean counts at 10 cm/min above which a pixel is in the body
SPINE_HALF_WIDTH_PX = 8
PERCENTILES = (10, 25, 50, 75, 90, 95, 99)
DISPLAY_MAX_10CM_MIN = 120.0  # grey-scale window of the galleries (counts at 10 cm/min)


def _last_row(mask: np.ndarray) -> int:
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[-1]) if len(rows) else mask.shape[0] - 1


def real_scan() -> dict:
    """The real anterior scan: 'counts' (rows, cols) ≥ 0, 'speed_factor', 'pixel_mm', 'flags'."""
    from pydicom.data import get_testdata_file

    scan = read_wholebody(get_testdata_file("JPEG2000.dcm"), allow_single_view=True, assume_view="ANT")
    return {
        "counts": np.clip(np.nan_to_num(scan.counts[0].astype(np.float64)), 0.0, None),
        "speed_factor": float(scan.speed_factor),
        "pixel_mm": float(scan.pixel_spacing_mm[0]),
        "flags": list(scan.flags),
    }


def at_10cm_min(counts: np.ndarray, speed_factor: float) -> np.ndarray:
    """Counts of an acquisition at `speed_factor` scaled to a 10 cm/min acquisition."""
    return np.asarray(counts, np.float64) * speed_factor / REFERENCE_SPEED


def body_mask(view_10: np.ndarray) -> np.ndarray:
    """Body pixels of one view (counts at 10 cm/min): smoothed > BODY_THRESHOLD, opened, holes filled."""
    smooth = ndimage.uniform_filter(view_10, 5)
    return ndimage.binary_fill_holes(ndimage.binary_opening(smooth > BODY_THRESHOLD, iterations=2))


def spine_profile(view_10: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position along the body 0 = top … 1 = bottom, hottest 5 × 5 mean within ±8 px of the body's
    centre column) of one view."""
    smooth = ndimage.uniform_filter(view_10, 5)
    body = body_mask(view_10)
    weights = (smooth * body).sum(axis=0)
    centre = int(round(np.dot(weights, np.arange(len(weights))) / weights.sum()))
    rows = np.flatnonzero(body.any(axis=1))
    band = smooth[rows[0] : rows[-1] + 1, centre - SPINE_HALF_WIDTH_PX : centre + SPINE_HALF_WIDTH_PX + 1]
    return np.linspace(0.0, 1.0, len(band)), band.max(axis=1)


def image_statistics(view_10: np.ndarray, pixel_mm: float) -> dict:
    """Smoothed statistics of one view in counts at 10 cm/min: total, body area, percentiles of the
    5 × 5 means inside the body, and the hot-to-cool ratio (95th / 25th percentile)."""
    smooth = ndimage.uniform_filter(view_10, 5)
    body = body_mask(view_10)
    values = smooth[body]
    out = {
        "total_counts": float(view_10.sum()),
        "body_area_cm2": float(body.sum() * pixel_mm**2 / 100.0),
        "body_length_cm": float(np.ptp(np.flatnonzero(body.any(axis=1))) * pixel_mm / 10.0),
    }
    out.update({f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES})
    out["max_5x5"] = float(smooth.max())
    out["hot_to_cool"] = out["p95"] / out["p25"]
    return out


def comparison_table(real: dict, phantom_views: dict[str, np.ndarray], pixel_mm: float) -> pd.DataFrame:
    """One row per image (the real scan, then each phantom ANT view at 10 cm/min): `image_statistics`."""
    rows = [
        {
            "image": "real NM1 (GE, lossy)",
            **image_statistics(at_10cm_min(real["counts"], real["speed_factor"]), real["pixel_mm"]),
        }
    ]
    rows += [{"image": name, **image_statistics(view, pixel_mm)} for name, view in phantom_views.items()]
    return pd.DataFrame(rows).set_index("image")


def load_counts(data_root, manifest: pd.DataFrame, study_id: str, speed: float) -> np.ndarray:
    """Counts (2, rows, cols) of one phantom acquisition listed in the manifest."""
    row = manifest[(manifest["study_id"] == study_id) & (manifest["speed_factor"] == speed)].iloc[0]
    return read_wholebody(Path(data_root) / row["path"]).counts


def plot_gallery(data_root, manifest: pd.DataFrame, study_ids: list[str], speeds: list[float]) -> Figure:
    """ANT and POST of each study at each speed (counts scaled to 10 cm/min, same window), with
    the truth lesions outlined (red malignant, blue benign) at their position in each acquisition."""
    lesions = load_lesions(data_root)
    fig = Figure(figsize=(4.0 * len(speeds), 6.5 * len(study_ids)))
    axes = fig.subplots(len(study_ids), 2 * len(speeds), squeeze=False)
    for i, sid in enumerate(study_ids):
        rows = lesions[lesions["study_id"] == sid]
        for j, s in enumerate(speeds):
            counts, truth = load_counts(data_root, manifest, sid, s), load_truth(data_root, sid, s)
            for v, view in enumerate(("ANT", "POST")):
                ax = axes[i, 2 * j + v]
                ax.imshow(at_10cm_min(counts[v], s), cmap="gray_r", vmin=0, vmax=DISPLAY_MAX_10CM_MIN)
                ax.set_ylim(_last_row(truth["body"][v]) + 10, 0)
                for (r, c), (_, les) in zip(truth["lesion_rc"], rows.iterrows()):
                    radius = les["diameter_mm"] / float(truth["pixel_mm"]) / 2 + 3
                    ax.add_patch(
                        Circle(
                            (c if v == 0 else counts.shape[2] - 1 - c, r),
                            radius,
                            fill=False,
                            lw=0.8,
                            color="red" if les["malignant"] else "tab:blue",
                        )
                    )
                ax.set_title(f"{sid} {speed_label(s)} {view}", fontsize=8)
                ax.axis("off")
    fig.tight_layout()
    return fig


def count_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Counts accumulated per acquisition (both views) by speed: mean, SD, and mean × speed / mean at 1x."""
    t = manifest.groupby("speed_factor")["counts_accumulated"].agg(["count", "mean", "std"]).astype(float)
    t["mean_x_speed_over_1x"] = t["mean"] * t.index / t["mean"].get(1.0, np.nan)
    return t


def plot_count_histograms(data_root, manifest: pd.DataFrame, study_id: str) -> Figure:
    """Left: counts per acquisition (both views) by speed over the cohort. Right: per-pixel counts
    inside the body of one study at each speed (log scale)."""
    fig = Figure(figsize=(11, 3.8))
    a, b = fig.subplots(1, 2)
    for s, group in manifest.groupby("speed_factor"):
        a.hist(group["counts_accumulated"] / 1e6, bins=15, alpha=0.6, label=speed_label(s))
        counts = load_counts(data_root, manifest, study_id, s)[0]
        inside = load_truth(data_root, study_id, s)["body"][0]
        b.hist(counts[inside], bins=np.arange(0, 120), histtype="step", label=speed_label(s), density=True)
    a.set(xlabel="counts per acquisition, ANT + POST (millions)", ylabel="acquisitions")
    b.set(xlabel=f"counts per pixel in the body, {study_id} ANT", ylabel="density", yscale="log")
    a.legend(), b.legend()
    fig.tight_layout()
    return fig


def plot_profiles(data_root, manifest: pd.DataFrame, study_id: str, speeds: list[float]) -> Figure:
    """Midline profile (5 × 5 mean at the patient's midline column, 1x-equivalent counts) of one
    study, ANT and POST, each noisy scan and the 1x truth."""
    scans = {s: load_counts(data_root, manifest, study_id, s) * s for s in speeds}
    expected = load_truth(data_root, study_id, 1.0)["expected"] if 1.0 in speeds else None
    midline = float(load_patients(data_root).set_index("study_id").at[study_id, "midline_col"])
    fig = Figure(figsize=(11, 5.5))
    axes = fig.subplots(2, 1, sharex=True)
    for v, ax in enumerate(axes):
        col = int(round(midline if v == 0 else scans[speeds[0]].shape[2] - 1 - midline))
        for s, counts in scans.items():
            ax.plot(ndimage.uniform_filter(counts[v], 5)[:, col], lw=0.8, label=f"{speed_label(s)} × {s:g}")
        if expected is not None:
            ax.plot(ndimage.uniform_filter(expected[v], 5)[:, col], "k", lw=1.2, label="1x truth")
        ax.set(ylabel=f"{('ANT', 'POST')[v]} counts (1x-eq.)")
    axes[0].legend(ncol=4, fontsize=8)
    axes[1].set_xlabel("row (pixel)")
    fig.tight_layout()
    return fig


def plot_real_vs_phantom(real: dict, phantom_10: np.ndarray, name: str) -> Figure:
    """The real scan and one phantom ANT view at 10 cm/min side by side (same window), their
    body histograms of 5 × 5 means, and their spine profiles along the body."""
    real_10 = at_10cm_min(real["counts"], real["speed_factor"])
    fig = Figure(figsize=(13, 7))
    grid = fig.add_gridspec(2, 3, width_ratios=(1, 1, 2.2))
    for k, (img, title) in enumerate(((real_10, "real NM1 (lossy), 10 cm/min"), (phantom_10, f"{name}, 10 cm/min"))):
        ax = fig.add_subplot(grid[:, k])
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=DISPLAY_MAX_10CM_MIN)
        ax.set_ylim(max(_last_row(body_mask(real_10)), _last_row(body_mask(phantom_10))) + 10, 0)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    hist, prof = fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, 2])
    for img, label in ((real_10, "real NM1"), (phantom_10, name)):
        values = ndimage.uniform_filter(img, 5)[body_mask(img)]
        hist.hist(values, bins=np.arange(0, 260, 4), histtype="step", density=True, label=label)
        prof.plot(*spine_profile(img), lw=1.0, label=label)
    hist.set(xlabel="5 × 5 mean counts in the body (10 cm/min)", ylabel="density", yscale="log")
    prof.set(xlabel="position along the body (0 = top)", ylabel="spine 5 × 5 max")
    hist.legend(fontsize=8), prof.legend(fontsize=8)
    fig.tight_layout()
    return fig


def alignment_table(data_root, manifest: pd.DataFrame, seed: int, speed: float = 2.0) -> pd.DataFrame:
    """Per test study: the ANT shift (px) phase correlation finds between its real-like `speed` scan
    and its 1x scan, the truth's shift, and the shift found for the 1x scan thinned by `speed`."""
    rows = []
    for sid in manifest.loc[manifest["split"] == "test", "study_id"].unique():
        one = load_counts(data_root, manifest, sid, 1.0)[0]
        fast = load_counts(data_root, manifest, sid, speed)[0]
        simu = thin(one.astype(np.int32), speed, keyed_rng(seed, "thin-check", sid)).astype(np.float64)
        found = phase_cross_correlation(one, fast, upsample_factor=10)[0]
        found_simu = phase_cross_correlation(one, simu, upsample_factor=10)[0]
        true = load_truth(data_root, sid, speed)["shift_px"]
        rows.append(
            {
                "study_id": sid,
                "found_row": -found[0],
                "found_col": -found[1],
                "true_row": true[0],
                "true_col": true[1],
                "found_px": float(np.hypot(*found)),
                "simu_found_px": float(np.hypot(*found_simu)),
            }
        )
    return pd.DataFrame(rows)


def _mean_sd(values: pd.Series, digits: int) -> str:
    if len(values) < 2:
        return f"{values.mean():.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def cohort_table(patients: pd.DataFrame) -> pd.DataFrame:
    """Table-1-like summary per split: patients, metastatic, F/M, age, BMI, height, primaries."""
    rows = {}
    for split, p in patients.groupby("split", sort=False):
        rows[split] = {
            "patients": len(p),
            "metastatic": int(p["label"].sum()),
            "F / M": f"{(p['sex'] == 'F').sum()} / {(p['sex'] == 'M').sum()}",
            "age (y)": f"{_mean_sd(p['age'], 0)} ({p['age'].min()}–{p['age'].max()})",
            "BMI": _mean_sd(p["bmi"], 1),
            "height (cm)": _mean_sd(p["height_cm"], 0),
            "primaries": ", ".join(f"{d} {n}" for d, n in p["diagnosis"].value_counts().items()),
        }
    return pd.DataFrame(rows)


def lesion_summary(lesions: pd.DataFrame) -> pd.DataFrame:
    """Per lesion type and site: count, median diameter (mm) and contrast, share visible at 1x
    (ideal-observer SNR ≥ 5) on ANT, on POST, and on either."""
    either = (lesions["visible_ant"] == 1) | (lesions["visible_post"] == 1)
    return (
        lesions.assign(visible_either=either)
        .groupby(["type", "site"])
        .agg(
            n=("lesion_id", "size"),
            diameter_mm=("diameter_mm", "median"),
            contrast=("contrast", "median"),
            visible_ant=("visible_ant", "mean"),
            visible_post=("visible_post", "mean"),
            visible_either=("visible_either", "mean"),
        )
        .round(2)
    )
