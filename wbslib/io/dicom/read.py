"""Read clinical and project whole-body NM DICOM into a `WholeBodyScan` (counts of ANT and POST).

Accepted: one NM Image Storage object with 2 frames mapped through Detector Vector (0054,0020) to
Detector Information Sequence items and their View Code Sequence (either order); two single-frame
files, one per view; a one-view file (e.g. a Secondary Capture whole-body NM image without view
code) when the caller allows it. Transfer syntaxes: anything pydicom decodes with pylibjpeg
(uncompressed, RLE, JPEG Lossless, JPEG 2000), signed or unsigned 16-bit.
Integrity is measured, not repaired: flags 'lossy', 'counts-mismatch' (pixel sum ≠ Counts
Accumulated), 'negative-values', 'no-counts-accumulated', 'single-view', 'view-assumed'.
Every failure is a `wbslib.core.errors.DicomReadError` subclass whose one sentence names the file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from wbslib.core.counts import check_speed
from wbslib.core.errors import (
    FrameLayoutError,
    MissingAttributeError,
    ParamsError,
    SingleViewError,
)
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, VIEWS, WholeBodyScan
from wbslib.io.dicom.part import Part, read_part

SPEED_DECIMALS = 6  # Scan Velocity is a DS (≤ 16 characters): speed factors are known to 1e-6


def read_wholebody(
    paths: str | os.PathLike | list[str | os.PathLike],
    *,
    standard_velocity_mm_s: float = STANDARD_VELOCITY_MM_S,
    allow_single_view: bool = False,
    assume_view: str | None = None,
    speed_factor: float | None = None,
) -> WholeBodyScan:
    """Read one 2-frame file or two one-view files into a `WholeBodyScan` (counts float32 (2, rows, cols)).

    standard_velocity_mm_s: the 1x table speed in mm/s (default 20 cm/min); speed factor = Scan
        Velocity / this. speed_factor: overrides the header (Scan Velocity becomes s × standard).
    allow_single_view: accept a file with one view (the other is NaN, flag 'single-view').
    assume_view: 'ANT' or 'POST' for a one-view file without View Code Sequence ('view-assumed').
    """
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    speed_factor = check_read_options(standard_velocity_mm_s, assume_view, speed_factor)
    if not 1 <= len(files) <= 2:
        raise FrameLayoutError(
            f"{len(files)} files were given ({', '.join(map(str, files)) or 'none'}); pass one "
            "2-frame whole-body file or two single-view files of one acquisition."
        )
    parts = [read_part(f) for f in files]
    views = _assign_views(parts, allow_single_view, assume_view)
    if len(parts) == 2 and views[0] == "POST":  # the ANT file first: its header describes the scan
        parts, views = parts[::-1], views[::-1]
    _check_consistent(parts)
    first = parts[0]
    rows, cols = first.frames.shape[1:]
    counts = np.full((2, rows, cols), np.nan, dtype=np.float32)
    for view, frame in zip(views, (f for p in parts for f in p.frames)):
        counts[VIEWS.index(view)] = frame
    present = tuple(v for v in VIEWS if v in views)
    assumed = any(v is None for p in parts for v in p.views)
    flags = _integrity_flags(parts, counts, present, assumed)
    velocity = first.velocity_mm_s
    if speed_factor is not None:
        velocity = float(speed_factor) * standard_velocity_mm_s
    elif velocity is not None:
        velocity = round(velocity / standard_velocity_mm_s, SPEED_DECIMALS) * standard_velocity_mm_s
    sop, series, study, patient = first.uids
    return WholeBodyScan(
        counts=counts,
        views_present=present,
        pixel_spacing_mm=first.spacing_mm,
        scan_velocity_mm_s=velocity,
        frame_duration_s=first.frame_duration_s,
        counts_accumulated=_counts_by_view(parts, views),
        acquisition_datetime=first.acquired,
        standard_velocity_mm_s=standard_velocity_mm_s,
        sop_instance_uid=sop,
        series_instance_uid=series,
        study_instance_uid=study,
        patient_id=patient,
        lossy="lossy" in flags,
        view_assumed=assumed,
        derived_1x_equivalent=first.one_x_equivalent,
        source_paths=tuple(str(p.path) for p in parts),
        flags=flags,
    )


def check_read_options(
    standard_velocity_mm_s: float, assume_view: str | None, speed_factor: float | None
) -> float | None:
    """The options of `read_wholebody` checked before any file is read (ParamsError naming the bad one):
    a 1x table speed (mm/s) > 0, a view among VIEWS or None, a speed factor ≥ 1 or None (returned as float)."""
    try:
        velocity_1x = float(standard_velocity_mm_s)
    except (TypeError, ValueError):
        velocity_1x = math.nan
    if not (math.isfinite(velocity_1x) and velocity_1x > 0):
        raise ParamsError(
            f"The standard table speed {standard_velocity_mm_s!r} mm/s is not a number > 0; pass the 1x "
            "speed (20 cm/min is 3.33 mm/s)."
        )
    if assume_view is not None and assume_view not in VIEWS:
        raise ParamsError(f"assume_view={assume_view!r} is not a view; pass one of {VIEWS} or None.")
    return None if speed_factor is None else check_speed(speed_factor, "speed factor override")


def _assign_views(parts: list[Part], allow_single_view: bool, assume_view: str | None) -> list[str]:
    """One view per frame, in file order; errors for missing, duplicate or single views."""
    frames = [(p, v) for p in parts for v in p.views]
    names = ", ".join(str(p.path) for p in parts)
    if len(frames) > 2:
        raise FrameLayoutError(
            f"{names} hold {len(frames)} frames together; pass one 2-frame file or two single-view files."
        )
    if len(frames) == 1 and not allow_single_view:
        raise SingleViewError(
            f"{names} holds only one view; pass its other view too, or accept one-view scans with "
            "--allow-single-view (allow_single_view=True in Python)."
        )
    if len(frames) == 1 and frames[0][1] is None:
        if assume_view is None:
            raise SingleViewError(
                f"{names} holds one view without View Code Sequence, so which view it shows is unknown; "
                "pass --assume-view ANT or --assume-view POST (assume_view= in Python) to say which it is."
            )
        return [assume_view]
    if any(v is None for _, v in frames):
        raise MissingAttributeError(
            f"{names} has a frame without View Code Sequence (0054,0220); without it "
            "ANT and POST cannot be told apart, so add the view codes."
        )
    views = [v for _, v in frames]
    if len(set(views)) != len(views):
        raise FrameLayoutError(f"{names} hold the view {views[0]} twice; pass one ANT and one POST view.")
    return views


def _check_consistent(parts: list[Part]) -> None:
    """Two files must show one acquisition: same matrix, pixel spacing and study."""
    if len(parts) < 2:
        return
    a, b = parts
    if a.frames.shape[1:] != b.frames.shape[1:]:
        raise FrameLayoutError(
            f"{a.path} ({a.frames.shape[1]}×{a.frames.shape[2]}) and {b.path} "
            f"({b.frames.shape[1]}×{b.frames.shape[2]}) differ in size; pass two views of "
            "one acquisition."
        )
    if not np.allclose(a.spacing_mm, b.spacing_mm, atol=1e-3):
        raise FrameLayoutError(
            f"{a.path} and {b.path} differ in Pixel Spacing ({a.spacing_mm} vs {b.spacing_mm}"
            " mm); pass two views of one acquisition."
        )
    if a.uids[2] != b.uids[2]:
        raise FrameLayoutError(f"{a.path} and {b.path} belong to different studies; pass two views of one acquisition.")


def _integrity_flags(parts: list[Part], counts: np.ndarray, present: tuple[str, ...], assumed: bool) -> list[str]:
    """Flags for reports: lossy data, pixel sums not matching Counts Accumulated, negative values, views."""
    flags = []
    if any(p.lossy for p in parts):
        flags.append("lossy")
    stated = [p.counts_stated for p in parts]
    if any(s is None for s in stated):
        flags.append("no-counts-accumulated")
    for part, values in zip(parts, stated):
        sums = part.frames.sum(axis=(1, 2), dtype=np.float64)
        measured = sums if values is not None and len(values) == len(sums) else [sums.sum()]
        if values is not None and any(abs(m - s) > 0.5 for m, s in zip(measured, values)):
            flags.append("counts-mismatch")
            break
    if np.nanmin(counts) < 0:
        flags.append("negative-values")
    if len(present) == 1:
        flags.append("single-view")
    if assumed:
        flags.append("view-assumed")
    return flags


def _counts_by_view(parts: list[Part], views: list[str]) -> tuple[int | None, ...]:
    """Counts Accumulated per view present (ANT, POST order); one total when a 2-frame header gives only that."""
    per_frame: list[int | None] = []
    for part in parts:
        stated = part.counts_stated
        if stated is not None and len(stated) != len(part.views):  # only a 2-frame object states a total
            return tuple(stated)
        per_frame += stated if stated is not None else [None] * len(part.views)
    order = sorted(range(len(views)), key=lambda i: VIEWS.index(views[i]))
    return tuple(per_frame[i] for i in order)
