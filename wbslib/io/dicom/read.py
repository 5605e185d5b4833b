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
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from wbslib.core.counts import check_speed
from wbslib.core.errors import (
    DicomReadError,
    FrameLayoutError,
    MissingAttributeError,
    NotDicomError,
    ParamsError,
    SingleViewError,
    TruncatedDicomError,
    UnsupportedModalityError,
    WbsError,
)
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, VIEWS, WholeBodyScan
from wbslib.io.dicom.common import ONE_X_EQUIVALENT_PHRASE
from wbslib.io.dicom.header import (
    acquisition_datetime,
    counts_per_frame,
    frame_views,
    is_lossy,
    scan_velocity_mm_s,
)

IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.20": "NM Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word SC Image Storage",
}
MAX_SIDE = 4096  # pixels; larger is not a planar whole-body image (and would exhaust memory)
SPEED_DECIMALS = 6  # Scan Velocity is a DS (≤ 16 characters): speed factors are known to 1e-6


@dataclass
class _Part:
    """What one file contributes: frames, their views, and its header facts."""

    path: Path
    frames: np.ndarray  # float32 (n, rows, cols)
    views: list[str | None]
    spacing_mm: tuple[float, float]
    counts_stated: list[int] | None  # Counts Accumulated per frame, or [total] for a multi-frame object
    velocity_mm_s: float | None
    frame_duration_s: float | None
    acquired: datetime | None
    lossy: bool
    one_x_equivalent: bool
    uids: tuple[str | None, str | None, str | None, str | None]  # SOP, Series, Study Instance UID, Patient ID


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
    parts = [_read_part(f) for f in files]
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


def _read_part(path: Path) -> _Part:
    """Parse, validate and decode one file; any unexpected failure becomes a `DicomReadError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns on odd values; problems surface as flags/errors
            return _decode_part(path, _parse(path))
    except (WbsError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # malformed files fail pydicom and its decoders in many ways (the Rust ones
        # panic with a BaseException); each becomes one named error naming only the failure's type, since
        # pydicom's messages may quote header values (UIDs, names)
        raise DicomReadError(
            f"{path} cannot be read as a whole-body image ({type(exc).__name__} while "
            "parsing or decoding); check the file or export it again from the PACS."
        ) from exc


def _parse(path: Path) -> Dataset:
    if not path.is_file():
        raise DicomReadError(f"{path} does not exist or is not a file; check the path.")
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise NotDicomError(
            f"{path} is not a DICOM file (no 'DICM' preamble); pass a DICOM Part 10 export of "
            "the scan (dcmconv converts a bare dataset)."
        ) from exc
    except EOFError as exc:
        raise TruncatedDicomError(f"{path} ends in the middle of its header; copy the file again.") from exc
    if len(ds) == 0:
        raise TruncatedDicomError(f"{path} ends right after its file meta header; copy the file again.")
    return ds


def _decode_part(path: Path, ds: Dataset) -> _Part:
    modality = _text(ds, "Modality")
    sop_class = _text(ds, "SOPClassUID")
    if modality and modality != "NM":
        raise UnsupportedModalityError(
            f"{path} is a {modality} image, not nuclear medicine (NM); pass whole-body bone scans only."
        )
    if "PixelData" not in ds:
        raise TruncatedDicomError(f"{path} holds no Pixel Data (the file may be cut short); copy it again.")
    if sop_class not in IMAGE_SOP_CLASSES:
        raise UnsupportedModalityError(
            f"{path} has SOP Class {sop_class or 'none'}, not NM Image or Secondary "
            "Capture Storage; pass whole-body bone scan images only."
        )
    if not modality:
        raise MissingAttributeError(f"{path} has no Modality (0008,0060); it must say NM for a bone scan.")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise UnsupportedModalityError(f"{path} is a colour image, not counts; pass the original grey-level NM export.")
    spacing = ds.get("PixelSpacing")
    if spacing is None or len(spacing) != 2 or not all(float(v) > 0 for v in spacing):
        raise MissingAttributeError(
            f"{path} has no valid Pixel Spacing (0028,0030); export it with its pixel size in mm."
        )
    n = _number_of_frames(path, ds)
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if not (0 < rows <= MAX_SIDE and 0 < cols <= MAX_SIDE):
        raise FrameLayoutError(
            f"{path} states an image of {rows}×{cols} pixels, not a planar whole-body "
            f"image (1 to {MAX_SIDE} per side); check Rows and Columns."
        )
    views = frame_views(path, ds, n)
    frames = _pixels(path, ds, n, rows, cols)
    duration = ds.get("ActualFrameDuration")  # ms
    return _Part(
        path,
        frames,
        views,
        (float(spacing[0]), float(spacing[1])),
        counts_per_frame(ds, n),
        velocity_mm_s=scan_velocity_mm_s(ds),
        frame_duration_s=float(duration) / 1000.0 if duration not in (None, "") else None,
        acquired=acquisition_datetime(ds),
        lossy=is_lossy(ds),
        one_x_equivalent=_is_1x_equivalent(ds),
        uids=tuple(_text(ds, k) for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "PatientID")),
    )


def _number_of_frames(path: Path, ds: Dataset) -> int:
    raw = ds.get("NumberOfFrames")
    n = 1 if raw in (None, "") else int(raw)
    if not 1 <= n <= 2:
        raise FrameLayoutError(
            f"{path} has {n} frames; a whole-body scan has 1 (one view) or 2 (ANT and "
            "POST), so split or re-export the series."
        )
    return n


def _pixels(path: Path, ds: Dataset, n: int, rows: int, cols: int) -> np.ndarray:
    """Decoded frames as float32 (n, rows, cols), Modality LUT (rescale) applied when present."""
    if not ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ExplicitVRLittleEndian).is_compressed:
        expected = rows * cols * n * int(ds.get("BitsAllocated") or 16) // 8
        if len(ds.PixelData) < expected:
            raise TruncatedDicomError(
                f"{path} holds {len(ds.PixelData)} bytes of pixel data where {expected} "
                "are expected (the file is cut short); copy it again."
            )
    arr = np.asarray(ds.pixel_array)
    arr = arr.reshape(n, rows, cols).astype(np.float32)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    slope = 1.0 if slope in (None, "") else float(slope)
    intercept = 0.0 if intercept in (None, "") else float(intercept)
    if not (np.isfinite(slope) and np.isfinite(intercept) and slope != 0):
        raise DicomReadError(
            f"{path} has an unusable Rescale Slope/Intercept ({slope}, {intercept}); "
            "export the scan without a modality rescale or with a finite one."
        )
    return arr if (slope, intercept) == (1.0, 0.0) else arr * np.float32(slope) + np.float32(intercept)


def _assign_views(parts: list[_Part], allow_single_view: bool, assume_view: str | None) -> list[str]:
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


def _check_consistent(parts: list[_Part]) -> None:
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


def _integrity_flags(parts: list[_Part], counts: np.ndarray, present: tuple[str, ...], assumed: bool) -> list[str]:
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


def _counts_by_view(parts: list[_Part], views: list[str]) -> tuple[int | None, ...]:
    """Counts Accumulated per view present (ANT, POST order); one total when a 2-frame header gives only that."""
    per_frame: list[int | None] = []
    for part in parts:
        stated = part.counts_stated
        if stated is not None and len(stated) != len(part.views):  # only a 2-frame object states a total
            return tuple(stated)
        per_frame += stated if stated is not None else [None] * len(part.views)
    order = sorted(range(len(views)), key=lambda i: VIEWS.index(views[i]))
    return tuple(per_frame[i] for i in order)


def _is_1x_equivalent(ds: Dataset) -> bool:
    image_type = list(ds.get("ImageType") or [])
    text = str(ds.get("DerivationDescription") or "").lower()
    return bool(image_type) and image_type[0] == "DERIVED" and ONE_X_EQUIVALENT_PHRASE in text


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return str(value).strip() if value not in (None, "") else None
