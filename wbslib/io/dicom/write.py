"""Write whole-body NM Image Storage objects: primary acquisitions (the phantom's output).

One object holds the views as frames (ANT first), mapped through Detector Vector (0054,0020) to
Detector Information Sequence items whose View Code Sequence names the view. Pixels are uint16
counts; Counts Accumulated (0018,0070) is their total and a private element keeps it per frame.
UIDs derived from the study UID and the pixel data, so the same inputs give a byte-identical file.
`write_enhanced` (derived objects) lives in `wbslib.io.dicom.enhanced` and reuses these builders.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage

from wbslib import __version__
from wbslib.core.errors import InvalidCountsError, OutputConflictError, ParamsError
from wbslib.core.fileio import atomic_path
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, VIEWS
from wbslib.io.dicom.common import (
    PRIVATE_COUNTS_PER_FRAME,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    VIEW_CODE_WRITTEN,
    code_item,
    derived_uid,
    digest,
)

MAX_COUNT = 65535  # uint16 pixels
MAX_TOTAL = 2**31 - 1  # Counts Accumulated is an IS (signed 32-bit)
IMPLEMENTATION_UID = derived_uid("wbs-accel", "implementation")
# Image Orientation (Patient) of each view for a supine, head-first patient, posterior not mirrored.
ORIENTATION = {"ANT": [1, 0, 0, 0, 0, -1], "POST": [-1, 0, 0, 0, 0, -1]}


def check_counts(counts: np.ndarray, path: str | os.PathLike, *, round_to_int: bool = False) -> np.ndarray:
    """The counts as uint16; `InvalidCountsError` unless finite, non-negative, integer-valued, ≤ 65535.

    With `round_to_int`, finite non-negative values are rounded to the nearest integer first.
    """
    arr = np.asarray(counts)
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise InvalidCountsError(
            f"Counts for {path} are of type {arr.dtype} with {arr.size} values; "
            "pass a non-empty numeric array of photon counts."
        )
    bad = [
        what
        for what, hit in (("NaN", np.isnan(arr).any()), ("infinite", np.isinf(arr).any()))
        if arr.dtype.kind == "f" and hit
    ]
    if bad:
        raise InvalidCountsError(
            f"Counts for {path} hold {' and '.join(bad)} values; "
            "pass finite photon counts (fill or drop the affected pixels first)."
        )
    if (arr < 0).any():
        raise InvalidCountsError(
            f"Counts for {path} hold negative values (minimum {arr.min():g}); "
            "photon counts must be ≥ 0, so clip or fix the array before writing."
        )
    if round_to_int and arr.dtype.kind == "f":
        arr = np.rint(arr)
    if arr.max() > MAX_COUNT:
        raise InvalidCountsError(
            f"Counts for {path} reach {arr.max():g}, above the 16-bit limit {MAX_COUNT}; "
            "check the count scale of the array."
        )
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.rint(arr)):
        raise InvalidCountsError(f"Counts for {path} are not integer-valued; round them before writing.")
    return arr.astype(np.uint16)


def file_meta(sop_uid: str) -> FileMetaDataset:
    """File meta information of an NM Image Storage object in Explicit VR Little Endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"WBS_ACCEL_{__version__}".replace(".", "_")[:16]
    return meta


def add_pixels(
    ds: Dataset,
    frames: np.ndarray,
    views: tuple[str, ...],
    spacing_mm: tuple[float, float],
    path: str | os.PathLike,
    collimator: str | None = None,
) -> None:
    """Image Pixel, Multi-frame, NM Multi-frame, NM Detector and Counts Accumulated for uint16 `frames`.

    frames: (n, rows, cols) counts, one frame per view in `views`; collimator: e.g. 'LEHR' or None.
    """
    n, rows, cols = frames.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [f"{v:.6g}" for v in spacing_mm]
    ds.NumberOfFrames = n
    ds.FrameIncrementPointer = [0x00540010, 0x00540020]
    ds.EnergyWindowVector = [1] * n
    ds.NumberOfEnergyWindows = 1
    ds.DetectorVector = list(range(1, n + 1))
    ds.NumberOfDetectors = n
    ds.DetectorInformationSequence = Sequence([_detector(view, collimator) for view in views])
    per_frame = [int(f.sum(dtype=np.int64)) for f in frames]
    if sum(per_frame) > MAX_TOTAL:
        raise InvalidCountsError(
            f"Counts for {path} total {sum(per_frame)}, more than DICOM's "
            f"Counts Accumulated can hold ({MAX_TOTAL}); check the count scale."
        )
    ds.CountsAccumulated = sum(per_frame)
    ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True).add_new(PRIVATE_COUNTS_PER_FRAME, "IS", per_frame)
    ds.PixelData = frames.astype("<u2").tobytes()


def _detector(view: str, collimator: str | None) -> Dataset:
    item = Dataset()
    if collimator:
        item.CollimatorGridName = collimator
    item.CollimatorType = "PARA" if collimator else None
    item.FocalDistance = None
    item.XFocusCenter = None
    item.YFocusCenter = None
    item.ImageOrientationPatient = ORIENTATION[view]
    item.ImagePositionPatient = None
    item.ViewCodeSequence = Sequence([code_item(*VIEW_CODE_WRITTEN[view])])
    return item


def add_isotope_and_orientation(ds: Dataset) -> None:
    """NM Isotope (Tc-99m MDP, 140 keV ± 10 %) and NM/PET Patient Orientation (supine, head first)."""
    window = Dataset()
    rng = Dataset()
    rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = "126", "154"
    window.EnergyWindowRangeSequence = Sequence([rng])
    window.EnergyWindowName = "Tc99m 140keV"
    ds.EnergyWindowInformationSequence = Sequence([window])
    pharm = Dataset()
    pharm.RadionuclideCodeSequence = Sequence([code_item("72454006", "SCT", "^99m^Technetium")])
    pharm.Radiopharmaceutical = "Tc99m MDP"
    pharm.RadiopharmaceuticalCodeSequence = Sequence([code_item("96390006", "SCT", "Technetium Tc^99m^ medronate")])
    ds.RadiopharmaceuticalInformationSequence = Sequence([pharm])
    orient = code_item("102538003", "SCT", "recumbent")
    orient.PatientOrientationModifierCodeSequence = Sequence([code_item("40199007", "SCT", "supine")])
    ds.PatientOrientationCodeSequence = Sequence([orient])
    ds.PatientGantryRelationshipCodeSequence = Sequence([code_item("102540008", "SCT", "headfirst")])


def save(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write `ds` atomically; identical bytes already at `path` are fine, different ones `OutputConflictError`."""
    path = Path(path)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    if path.exists():
        if path.is_file() and path.read_bytes() == data:
            return path
        raise OutputConflictError(
            f"Output {path} already exists with different content; nothing was "
            "overwritten — remove it or choose another output folder."
        )
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _dt(ds: Dataset, prefix: str, when: datetime) -> None:
    setattr(ds, f"{prefix}Date", when.strftime("%Y%m%d"))
    setattr(ds, f"{prefix}Time", when.strftime("%H%M%S"))


def _age(age: int | str | None) -> str:
    if age is None or isinstance(age, str):
        return age or ""
    return f"{int(age):03d}Y"


def write_acquisition(
    path: str | os.PathLike,
    counts: np.ndarray,
    *,
    speed_factor: float,
    patient_id: str,
    patient_name: str,
    study_uid: str,
    acquisition_datetime: datetime,
    pixel_spacing_mm: tuple[float, float] = (2.4, 2.4),
    series_description: str,
    frame_duration_s: float | None = None,
    series_uid: str | None = None,
    patient_sex: str | None = None,
    patient_age: int | str | None = None,
    standard_velocity_mm_s: float = STANDARD_VELOCITY_MM_S,
) -> Path:
    """Write a primary whole-body NM object with 2 frames (ANT, POST) of integer counts.

    counts: (2, rows, cols) photon counts, ANT then POST, non-negative integers ≤ 65535.
    speed_factor: table speed relative to `standard_velocity_mm_s` (mm/s; default 20 cm/min);
        Scan Velocity (0018,1300) = speed_factor × standard velocity, in mm/s.
    frame_duration_s: Actual Frame Duration in s; default scan length / scan velocity.
    Same inputs give a byte-identical file; an existing different file raises `OutputConflictError`.
    """
    if patient_sex not in (None, "", "M", "F", "O"):
        raise ParamsError(f"patient_sex={patient_sex!r} for {path} is not a DICOM sex; pass 'M', 'F', 'O' or None.")
    arr = np.asarray(counts)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise InvalidCountsError(f"Counts for {path} have shape {arr.shape}; pass (2, rows, cols) = (ANT, POST).")
    frames = check_counts(arr, path)
    if not speed_factor > 0:
        raise ParamsError(
            f"Speed factor {speed_factor} for {path} is not positive; pass the acquisition's "
            "table speed relative to the standard velocity (e.g. 2 for a 2x scan)."
        )
    velocity = speed_factor * standard_velocity_mm_s
    series_uid = series_uid or derived_uid(study_uid, "series", series_description, speed_factor)
    sop_uid = derived_uid(series_uid, "sop", digest(frames.tobytes()))
    scan_length_mm = frames.shape[1] * pixel_spacing_mm[0]
    duration_s = frame_duration_s if frame_duration_s is not None else scan_length_mm / velocity

    ds = Dataset()
    ds.file_meta = file_meta(sop_uid)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]
    ds.SOPClassUID, ds.SOPInstanceUID = NuclearMedicineImageStorage, sop_uid
    for prefix in ("Study", "Series", "Acquisition", "Content"):
        _dt(ds, prefix, acquisition_datetime)
    ds.AccessionNumber = ""
    ds.Modality = "NM"
    ds.Manufacturer = "wbs-accel"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Whole body bone scan"
    ds.SeriesDescription = series_description
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = "", patient_sex or "", _age(patient_age)
    ds.BodyPartExamined = "WHOLEBODY"
    ds.SoftwareVersions = f"wbs-accel {__version__}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyID = digest(study_uid.encode())[:8]
    ds.SeriesNumber = max(1, round(10 * speed_factor))
    ds.InstanceNumber = 1
    ds.PatientOrientation = None
    ds.LossyImageCompression = "00"
    ds.AcquisitionContextSequence = Sequence()
    ds.ActualFrameDuration = round(duration_s * 1000.0)
    ds.WholeBodyTechnique = ["1PS"]
    ds.ScanVelocity = f"{velocity:.10g}"
    ds.ScanLength = round(scan_length_mm)
    add_pixels(ds, frames, VIEWS, pixel_spacing_mm, path, collimator="LEHR")
    add_isotope_and_orientation(ds)
    return save(ds, path)
