"""One DICOM file of a whole-body NM scan decoded into a `Part`: its frames (float32 counts), the
view of each frame, and the header facts `read.read_wholebody` assembles into a scan. Every
failure is a `wbslib.core.errors.DicomReadError` subclass whose one sentence names the file."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from wbslib.core.errors import (
    DicomReadError,
    FrameLayoutError,
    MissingAttributeError,
    NotDicomError,
    TruncatedDicomError,
    UnsupportedModalityError,
    WbsError,
)
from wbslib.io.dicom.common import ONE_X_EQUIVALENT_PHRASE
from wbslib.io.dicom.header import acquisition_datetime, counts_per_frame, frame_views, is_lossy, scan_velocity_mm_s

IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.20": "NM Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word SC Image Storage",
}
MAX_SIDE = 4096  # pixels; larger is not a planar whole-body image (and would exhaust memory)


@dataclass
class Part:
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


def read_part(path: Path) -> Part:
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


def _decode_part(path: Path, ds: Dataset) -> Part:
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
    return Part(
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


def _is_1x_equivalent(ds: Dataset) -> bool:
    image_type = list(ds.get("ImageType") or [])
    text = str(ds.get("DerivationDescription") or "").lower()
    return bool(image_type) and image_type[0] == "DERIVED" and ONE_X_EQUIVALENT_PHRASE in text


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return str(value).strip() if value not in (None, "") else None
