"""Count consistency of enhanced images: total counts outside the bladder vs the patient's 1x scan.

The model's output is never rescaled (docs/DESIGN.md, "Counts are sacred"), so whether an enhanced view
holds the counts of the standard scan is a measurement. Per study, group and view:
`counts` = sum of the image's 1x-equivalent counts outside the bladder, `counts_1x` = the same
for the 1x view, `ratio` = counts / counts_1x, `min_count` = the image's smallest pixel value, and on
phantom data `ratio_truth` = counts / the noise-free expected counts of the image's own acquisition
× s (same pixels): count preservation by the method alone, free of what happened between scans;
`ratio_decay` = ratio with the image's counts decay-corrected (99mTc) from its acquisition's
mid-time to the 1x scan's (DICOM Acquisition Date/Time + half the Actual Frame Duration; NaN
without them), as nuclear medicine compares scans taken at different times.
The bladder (it fills between scans) is excluded from both images as the union of the two
acquisitions' bladder masks, dilated by `BLADDER_MARGIN_PX`: from the phantom truth where it
exists, else found by `wbslib.enhance.preprocess.bladder_mask`. Between the 1x scan and a fast scan the
tracer also decays (the 1x scan is the last, ≈ 3 % lower after 15 min) and soft tissue clears a
little, so even perfect count preservation gives `ratio` above 1 (3x ≈ +6 % on the phantom, ≈ +2 %
after decay correction: soft-tissue clearance is biology and is not corrected).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from wbslib.core.errors import MetricInputError
from wbslib.core.masks import bladder_mask
from wbslib.core.params import resolve_path
from wbslib.core.scan import HALF_LIFE_MIN, VIEWS
from wbslib.io.imagesets import acquisition_mid_time, load_scan

BLADDER_MARGIN_PX = 3
TOLERANCE = 0.05  # acceptance: enhanced views within 5 % of the 1x view
CHECK_COLUMNS = (
    "study_id",
    "group",
    "method",
    "view",
    "counts",
    "counts_1x",
    "ratio",
    "ratio_decay",
    "ratio_truth",
    "min_count",
    "bladder_from",
)


def _masks(
    data_root: Path, study_id: str, speed: float, image: np.ndarray, reference: np.ndarray, truth: bool
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(union of the image's and the 1x scan's bladder masks, dilated; the image acquisition's expected
    1x-equivalent counts or None; where the masks came from)."""
    expected = None
    if truth:
        from wbslib.io.truth import load_truth

        own = load_truth(data_root, study_id, speed)
        mask = own["bladder"] | load_truth(data_root, study_id, 1.0)["bladder"]
        expected, source = own["expected"] * speed, "truth"
    else:
        mask = bladder_mask(np.nan_to_num(image)) | bladder_mask(np.nan_to_num(reference))
        source = "detected"
    grow = np.stack([ndimage.binary_dilation(m, iterations=BLADDER_MARGIN_PX) if m.any() else m for m in mask])
    return grow, expected, source


def decay_correction(mid_time, reference_mid_time) -> float:
    """Factor that brings counts acquired at `mid_time` to `reference_mid_time` (99mTc decay);
    NaN when either is None."""
    if mid_time is None or reference_mid_time is None:
        return float("nan")
    return float(2.0 ** (-(reference_mid_time - mid_time).total_seconds() / 60.0 / HALF_LIFE_MIN))


def counts_check(image_sets: pd.DataFrame, data_root: str | os.PathLike, *, load=load_scan) -> pd.DataFrame:
    """One row per (study, group ≠ 1x, view present) of the test split (`CHECK_COLUMNS`)."""
    root = resolve_path(data_root)
    truth = (root / "truth").is_dir()
    rows = []
    for study_id, study in image_sets[image_sets["split"].astype(str) == "test"].groupby("study_id", sort=True):
        standard = study[study["group"] == "1x"]
        if len(standard) != 1:
            raise MetricInputError(
                f"Study {study_id} has {len(standard)} '1x' image sets; the counts check needs "
                "exactly one standard scan per study."
            )
        reference, reference_scan = load(standard.iloc[0])
        for row in study[study["group"] != "1x"].to_dict("records"):
            image, scan = load(row)
            decay = decay_correction(acquisition_mid_time(scan), acquisition_mid_time(reference_scan))
            mask, expected, source = _masks(root, str(study_id), float(row["speed_factor"]), image, reference, truth)
            for v, name in enumerate(VIEWS):
                if not (np.isfinite(image[v]).all() and np.isfinite(reference[v]).all()):
                    continue
                keep = ~mask[v]
                total, total_1x = float(image[v][keep].sum()), float(reference[v][keep].sum())
                own = float(expected[v][keep].sum()) if expected is not None else np.nan
                rows.append(
                    {
                        "study_id": str(study_id),
                        "group": row["group"],
                        "method": row["method"],
                        "view": name,
                        "counts": total,
                        "counts_1x": total_1x,
                        "ratio": total / total_1x,
                        "ratio_decay": total * decay / total_1x,
                        "ratio_truth": total / own,
                        "min_count": float(image[v].min()),
                        "bladder_from": source,
                    }
                )
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def summarise_counts(check: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Per group: views, median and 5th–95th percentile of the ratio, share within ±tolerance (as
    acquired and decay-corrected), the median ratio to the truth (phantom), the smallest pixel value."""
    g = check.groupby("group", sort=False)
    out = pd.DataFrame(
        {
            "method": g["method"].first(),
            "views": g.size(),
            "ratio_median": g["ratio"].median(),
            "ratio_p05": g["ratio"].quantile(0.05),
            "ratio_p95": g["ratio"].quantile(0.95),
            f"within_{tolerance:.0%}": g["ratio"].apply(lambda r: float(((r - 1).abs() <= tolerance).mean())),
            "ratio_decay_median": g["ratio_decay"].median(),
            f"within_{tolerance:.0%}_decay": g["ratio_decay"].apply(
                lambda r: float(((r - 1).abs() <= tolerance).mean())
            ),
            "ratio_truth_median": g["ratio_truth"].median(),
            "min_count": g["min_count"].min(),
        }
    )
    return out.reset_index()
