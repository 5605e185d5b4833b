"""Header facts of a whole-body NM object: views per frame, Counts Accumulated, speed, time, lossiness."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM

from wbslib.core.errors import FrameLayoutError, UnknownViewError
from wbslib.io.dicom.common import (
    PRIVATE_COUNTS_PER_FRAME,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    VIEW_BY_CODE,
)

# Transfer syntaxes that never lose information (native ones are not compressed at all).
LOSSLESS_SYNTAXES = {
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.1.99",
}
JPEG2000_EITHER = "1.2.840.10008.1.2.4.91"  # "JPEG 2000": lossless or lossy, the header must say
LOSSY_COMPRESSION_CODE = "113040"
# Per-frame vectors of the NM Multi-frame module; each one present has one value per frame.
FRAME_VECTORS = (
    "EnergyWindowVector",
    "DetectorVector",
    "PhaseVector",
    "RRIntervalVector",
    "TimeSlotVector",
    "SliceVector",
    "AngularViewVector",
    "TimeSliceVector",
    "RotationVector",
)


def ints(value: object) -> list[int]:
    """A US/IS value of any multiplicity as a list of ints ([] when empty)."""
    if value in (None, ""):
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [int(value)]
    return [int(v) for v in value]


def frame_views(path: Path, ds: Dataset, n: int) -> list[str | None]:
    """'ANT'/'POST' per frame from Detector Vector → Detector Information Sequence → View Code Sequence.

    None for a frame without any view code. `FrameLayoutError` when a vector's length is not the
    Number of Frames or points past the sequence; `UnknownViewError` for a code naming another view.
    """
    for keyword in FRAME_VECTORS:
        values = ints(ds.get(keyword))
        if keyword in ds and len(values) != n:
            raise FrameLayoutError(
                f"{path} has Number of Frames {n} but its {keyword} holds {len(values)} "
                "values; the frames cannot be matched to views, so re-export the series."
            )
    detectors = list(ds.get("DetectorInformationSequence") or [])
    vector = ints(ds.get("DetectorVector"))
    if not vector:
        vector = list(range(1, n + 1)) if len(detectors) == n else [0] * n
    views = []
    for frame, index in enumerate(vector):
        if detectors and not 1 <= index <= len(detectors) and index != 0:
            raise FrameLayoutError(
                f"{path} frame {frame + 1} points to detector {index} but Detector "
                f"Information Sequence has {len(detectors)} items; re-export the series."
            )
        item = detectors[index - 1] if detectors and index >= 1 else ds
        codes = list(item.get("ViewCodeSequence") or []) or (list(ds.get("ViewCodeSequence") or []) if n == 1 else [])
        views.append(_view_of(path, codes[0]) if codes else None)
    return views


def _view_of(path: Path, code: Dataset) -> str:
    key = (str(code.get("CodingSchemeDesignator", "")).strip(), str(code.get("CodeValue", "")).strip())
    if key not in VIEW_BY_CODE:
        meaning = str(code.get("CodeMeaning", "")).strip()
        raise UnknownViewError(
            f"{path} has view code {key[1]!r} ({key[0]}, {meaning!r}), which is neither "
            "anterior nor posterior; pass ANT/POST whole-body views only."
        )
    return VIEW_BY_CODE[key]


def counts_per_frame(ds: Dataset, n: int) -> list[int] | None:
    """Counts Accumulated per frame: the private per-frame element when it agrees with (0018,0070),
    else the standard value as given ([total] for a multi-frame object); None when absent."""
    total = ds.get("CountsAccumulated")
    if total in (None, ""):
        return None
    total = int(total)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR) if _has_private(ds) else None
    if block is not None and PRIVATE_COUNTS_PER_FRAME in block:
        per_frame = ints(block[PRIVATE_COUNTS_PER_FRAME].value)
        if len(per_frame) == n and sum(per_frame) == total:
            return per_frame
    return [total]


def _has_private(ds: Dataset) -> bool:
    try:
        ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return False
    return True


def is_lossy(ds: Dataset) -> bool:
    """True when the header says lossy (0028,2110) = 01, a lossy derivation, or a lossy transfer syntax."""
    if str(ds.get("LossyImageCompression", "")).strip() == "01":
        return True
    codes = list(ds.get("DerivationCodeSequence") or [])
    if any(str(c.get("CodeValue", "")).strip() == LOSSY_COMPRESSION_CODE for c in codes):
        return True
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or not syntax.is_compressed or syntax in LOSSLESS_SYNTAXES:
        return False
    return not (syntax == JPEG2000_EITHER and str(ds.get("LossyImageCompression", "")).strip() == "00")


def scan_velocity_mm_s(ds: Dataset) -> float | None:
    """Scan Velocity (0018,1300) in mm/s; None when absent, empty, not finite or not positive."""
    value = ds.get("ScanVelocity")
    if value in (None, ""):
        return None
    velocity = float(value[0] if isinstance(value, (list, tuple)) else value)
    return velocity if math.isfinite(velocity) and velocity > 0 else None


def acquisition_datetime(ds: Dataset) -> datetime | None:
    """Acquisition DateTime, else the first of Acquisition/Content/Series/Study Date+Time; None if unparsable."""
    if ds.get("AcquisitionDateTime"):
        try:
            return DT(str(ds.AcquisitionDateTime)).replace(tzinfo=None)
        except ValueError:
            pass
    for prefix in ("Acquisition", "Content", "Series", "Study"):
        date, time = ds.get(f"{prefix}Date"), ds.get(f"{prefix}Time")
        if date:
            try:
                day = DA(str(date))
                clock = TM(str(time)) if time else TM("000000")
                return datetime.combine(day, clock)
            except (ValueError, TypeError):
                continue
    return None
