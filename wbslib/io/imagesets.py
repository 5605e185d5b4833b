"""The image-set index: where every image of every (study, group) is, and how to read it as 1x-equivalent counts.

One row per (study_id, group) (`IMAGE_SET_COLUMNS`):
- group: '1x', '2x', '3x', ... (raw acquisitions, from the cohort manifest), '2x-real', '2x-simu',
  ... (RRDB-enhanced), '2x-gauss', '2x-bm3d', ... (baselines) — the last two kinds from the
  enhanced manifest that `wbslib.enhance.batch` writes;
- method: 'raw' | 'rrdb-real' | 'rrdb-simu' | 'gaussian' | 'bm3d';
- path: project-relative where the file is inside the project, else absolute; two single-view
  files of one acquisition joined by ';' (ANT first);
- to_1x: factor turning the stored counts into 1x-equivalent counts — s for a raw scan at speed s,
  1 for an enhanced image (already 1x-equivalent);
- speed_factor (of the acquisition the image comes from), split, label (1 metastatic, 0 not, NA).
Raw scans of kind 'fast-simu' (thinned 1x scans, training inputs) are not image sets.
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ManifestError
from wbslib.core.fileio import read_csv, write_csv
from wbslib.core.groups import SPEED_RTOL, TRUTH, group_key
from wbslib.core.params import project_root, resolve_path, run_dir
from wbslib.core.scan import VIEWS, WholeBodyScan, speed_label
from wbslib.io.dicom import read_wholebody
from wbslib.io.truth import truth_counts

IMAGE_SET_COLUMNS = ("study_id", "group", "speed_factor", "method", "path", "to_1x", "split", "label")
RAW_KINDS = ("standard", "fast-real")
SPEED_ATOL = 1e-3  # manifest speed factors are exact numbers


def portable_path(path: str | os.PathLike) -> str:
    """POSIX path relative to the project root when inside it, else absolute."""
    p = Path(path).resolve()
    root = project_root()
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else p.as_posix()


def _raw_rows(manifest_df: pd.DataFrame, data_root: Path) -> list[dict]:
    rows = []
    raw = manifest_df[manifest_df["kind"].isin(RAW_KINDS)]
    for (study_id, speed), files in raw.groupby(["study_id", "speed_factor"], sort=True):
        if files["kind"].nunique() > 1:
            raise ManifestError(
                f"Study {study_id} has a standard and a fast-real acquisition at "
                f"{speed_label(speed)}; fix the kinds in its manifest."
            )
        order = [VIEWS.index(v) if v in VIEWS else -1 for v in files["views"]]
        files = files.assign(_order=order).sort_values("_order")
        first = files.iloc[0]
        rows.append(
            {
                "study_id": str(study_id),
                "group": speed_label(speed),
                "speed_factor": float(speed),
                "method": "raw",
                "path": ";".join(portable_path(data_root / p) for p in files["path"]),
                "to_1x": float(speed),
                "split": first["split"],
                "label": first["label"],
            }
        )
    return rows


def _enhanced_rows(enhanced_df: pd.DataFrame) -> list[dict]:
    return [
        {
            "study_id": str(r["study_id"]),
            "group": str(r["group"]),
            "speed_factor": float(r["speed_factor"]),
            "method": str(r["method"]),
            "path": str(r["path"]),
            "to_1x": 1.0,
            "split": r["split"],
            "label": r["label"],
        }
        for r in enhanced_df.to_dict("records")
    ]


def build_image_sets(
    manifest_df: pd.DataFrame, data_root: str | os.PathLike, enhanced_manifest_df: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The index (one row per study × group), sorted by study and the paper's group order."""
    rows = _raw_rows(manifest_df, resolve_path(data_root))
    if enhanced_manifest_df is not None:
        rows += _enhanced_rows(enhanced_manifest_df)
    df = pd.DataFrame(rows, columns=list(IMAGE_SET_COLUMNS))
    dup = df[df.duplicated(["study_id", "group"], keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise ManifestError(
            f"Study {first['study_id']} has {int((dup['study_id'] == first['study_id']).sum())} "
            f"image sets of group {first['group']}; each (study, group) must be listed once."
        )
    df["_order"] = [group_key(g) for g in df["group"]]
    df = df.sort_values(["study_id", "_order"], kind="stable").drop(columns="_order")
    df["label"] = df["label"].astype("Int64")
    return df.reset_index(drop=True)


def write_image_sets(df: pd.DataFrame, run: str) -> Path:
    """Write the index to runs/<run>/image_sets.csv (atomically)."""
    return write_csv(df[list(IMAGE_SET_COLUMNS)], run_dir(run) / "image_sets.csv")


def read_image_sets(run: str) -> pd.DataFrame:
    """The index of runs/<run>/image_sets.csv; ManifestError if it is missing or lacks columns."""
    path = run_dir(run) / "image_sets.csv"
    if not path.is_file():
        raise ManifestError(f"Image-set index {path} does not exist; run notebook 03 (enhance and measure) first.")
    df = read_csv(
        path, dtype={"study_id": str, "group": str, "method": str, "path": str, "split": str, "label": "Int64"}
    )
    missing = [c for c in IMAGE_SET_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(
            f"Image-set index {path} lacks column(s) {', '.join(missing)}; rebuild it with notebook 03."
        )
    return df


def acquisition_paths(
    manifest: pd.DataFrame, split: str, kind: str, speed: float | None = None
) -> dict[str, list[str]]:
    """study_id → the file paths (one 2-view file, or two single-view files) of its `kind`
    acquisition (at `speed` when given) in `split`, in manifest order."""
    rows = manifest[(manifest["split"] == split) & (manifest["kind"] == kind)]
    if speed is not None:
        rows = rows[(rows["speed_factor"].astype(float) - speed).abs() < SPEED_ATOL]
    return {str(sid): list(group["path"]) for sid, group in rows.groupby("study_id", sort=True)}


def read_counts(data_root: str | Path, paths: list[str]) -> np.ndarray:
    """Counts (2, rows, cols) of one acquisition's file(s), paths relative to `data_root`."""
    files = [Path(data_root) / p for p in paths]
    return read_wholebody(files if len(files) > 1 else files[0], allow_single_view=True).counts


def load_scan(row) -> tuple[np.ndarray, WholeBodyScan]:
    """The image set's counts in 1x-equivalent counts — float32 (2, rows, cols), NaN for a missing
    view — and the scan they were read from (its header: acquisition time, frame duration, UIDs).

    Stored counts × `to_1x`; the file's own count level (Scan Velocity, or 1 for a derived
    1x-equivalent image) must agree with `to_1x` when the header states it (ManifestError if not).
    """
    paths = [resolve_path(p) for p in str(row["path"]).split(";")]
    scan = read_wholebody(paths, allow_single_view=True)
    to_1x = float(row["to_1x"])
    stated = scan.count_equivalent_speed
    if stated is not None and not math.isclose(stated, to_1x, rel_tol=SPEED_RTOL):
        raise ManifestError(
            f"Image set {row['path']} holds counts at {speed_label(stated)} but the index says to "
            f"multiply them by {to_1x:g}; rebuild the image-set index."
        )
    return (scan.counts * np.float32(to_1x)).astype(np.float32), scan


def load_counts(row) -> np.ndarray:
    """The image set's 1x-equivalent counts (`load_scan` without the scan); for the reference
    group `truth` (method 'truth', path a truth npz) the phantom's noise-free image."""
    if str(row["method"]) == TRUTH:
        return truth_counts(resolve_path(str(row["path"])))
    return load_scan(row)[0]


def acquisition_mid_time(scan: WholeBodyScan) -> datetime | None:
    """Mid-time of the acquisition a scan comes from (Acquisition Date/Time + half the Actual Frame
    Duration; an enhanced image carries its source's); None when the header lacks either."""
    if scan.acquisition_datetime is None or scan.frame_duration_s is None:
        return None
    return scan.acquisition_datetime + timedelta(seconds=scan.frame_duration_s / 2.0)
