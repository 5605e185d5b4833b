"""Write an enhanced (derived) whole-body NM object of 1x-equivalent counts back for PACS viewers.

DERIVED\\PRIMARY\\WHOLE BODY\\EMISSION, same Study Instance UID and patient module as the source,
new Series and SOP Instance UIDs, Source Image Sequence pointing at the input file(s), Derivation
Description saying the counts are 1x-equivalent, Contributing Equipment (wbs-accel + version), the
source's Scan Velocity kept, and "RESEARCH USE – NOT FOR DIAGNOSIS" in Series Description and Image
Comments. One frame per view the source holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import NuclearMedicineImageStorage
from pydicom.valuerep import PersonName

from wbslib import RESEARCH_USE, __version__
from wbslib.core.errors import (
    DicomReadError,
    InvalidCountsError,
    MissingAttributeError,
    ParamsError,
    SpeedUnknownError,
)
from wbslib.core.scan import VIEWS, WholeBodyScan, speed_label
from wbslib.io.dicom.common import (
    ONE_X_EQUIVALENT_PHRASE,
    code_item,
    derived_uid,
    digest,
)
from wbslib.io.dicom.read import read_wholebody
from wbslib.io.dicom.write import add_pixels, check_counts, file_meta, save

LO_MAX_BYTES = 64  # Series Description is an LO; dciodvfy counts UTF-8 bytes
COPIED = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentDate",
    "ContentTime",
    "WholeBodyTechnique",
    "ScanLength",
    "ActualFrameDuration",
    "EnergyWindowInformationSequence",
    "RadiopharmaceuticalInformationSequence",
    "PatientOrientationCodeSequence",
    "PatientGantryRelationshipCodeSequence",
)
TYPE_2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "Manufacturer",
    "ContentDate",
    "ContentTime",
)
TYPE_2_SEQUENCES = (
    "EnergyWindowInformationSequence",
    "RadiopharmaceuticalInformationSequence",
    "PatientOrientationCodeSequence",
    "PatientGantryRelationshipCodeSequence",
    "AcquisitionContextSequence",
)


def write_enhanced(
    path: str | os.PathLike,
    counts: np.ndarray,
    source: WholeBodyScan | str | os.PathLike,
    *,
    method: str,
    description: str,
    speed_factor: float | None = None,
) -> Path:
    """Write `counts` (1x-equivalent, (2, rows, cols) or (rows, cols) for a one-view source) as a DERIVED NM object.

    source: the scan that was enhanced, or its file (read with allow_single_view=True); its first
        source file gives the patient/study modules, all of them the Source Image Sequence.
    method: short name of the enhancement, e.g. 'RRDB-GAN simu'; description: series description
        stem, e.g. 'WBS 2x enhanced (RRDB-GAN simu)' (the research label is appended; ≤ 64 bytes in all).
    speed_factor: acquisition speed when neither the scan nor its header knows it.
    Counts are rounded to integers; NaN, infinite or negative values raise `InvalidCountsError`.
    """
    scan = source if isinstance(source, WholeBodyScan) else read_wholebody(source, allow_single_view=True)
    if not scan.source_paths:
        raise MissingAttributeError(
            f"The source scan for {path} has no source file; pass a scan read with "
            "wbslib.io.dicom.read_wholebody or the source path."
        )
    series_description = f"{description} – {RESEARCH_USE}"
    if len(series_description.encode("utf-8")) > LO_MAX_BYTES:
        budget = LO_MAX_BYTES - len(f" – {RESEARCH_USE}".encode())
        raise ParamsError(
            f"Description {description!r} for {path} is too long for Series Description with the "
            f"research label; pass at most {budget} bytes, e.g. 'WBS 2x RRDB-GAN simu'."
        )
    frames = _frames(path, counts, scan)
    headers = [_source_header(p, path) for p in scan.source_paths]
    src = headers[0]
    velocity = _velocity(path, scan, speed_factor)
    series_uid = derived_uid(src.StudyInstanceUID, src.get("SeriesInstanceUID", ""), "enhanced", method, description)
    sop_uid = derived_uid(series_uid, "sop", digest(frames.tobytes()))

    ds = Dataset()
    ds.file_meta = file_meta(sop_uid)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "PRIMARY", "WHOLE BODY", "EMISSION"]
    ds.SOPClassUID, ds.SOPInstanceUID = NuclearMedicineImageStorage, sop_uid
    for keyword in COPIED:
        value = src.get(keyword)
        if value not in (None, ""):
            setattr(ds, keyword, str(value) if isinstance(value, PersonName) else value)
    for keyword in TYPE_2:
        ds.setdefault(keyword, None)
    for keyword in TYPE_2_SEQUENCES:
        ds.setdefault(keyword, Sequence())
    ds.Modality = "NM"
    ds.BodyPartExamined = "WHOLEBODY"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = series_description
    ds.SeriesDate, ds.SeriesTime = ds.ContentDate, ds.ContentTime
    ds.SeriesNumber = 1000 + max(1, round(10 * velocity / scan.standard_velocity_mm_s))
    ds.InstanceNumber = 1
    ds.PatientOrientation = None
    ds.ImageComments = f"{RESEARCH_USE}. {description} ({method}); counts are 1x-equivalent."
    ds.LossyImageCompression = "01" if scan.lossy else "00"
    speed = speed_label(velocity / scan.standard_velocity_mm_s)
    ds.DerivationDescription = (
        f"{method}: {description}. Enhanced from a {speed} acquisition; "
        f"{ONE_X_EQUIVALENT_PHRASE} (equivalent speed 1x), Scan Velocity kept from the "
        f"source. {RESEARCH_USE}."
    )
    ds.DerivationCodeSequence = Sequence([code_item("110001", "DCM", "Image Processing")])
    ds.SourceImageSequence = Sequence([_reference(h) for h in headers])
    ds.ContributingEquipmentSequence = Sequence([_equipment(method)])
    ds.SoftwareVersions = f"wbs-accel {__version__}"
    kept = src.get("ScanVelocity") if speed_factor is None else None
    ds.ScanVelocity = kept if kept not in (None, "") else f"{velocity:.10g}"
    ds.WholeBodyTechnique = ds.get("WholeBodyTechnique") or ["1PS"]
    ds.ScanLength = ds.get("ScanLength") or round(frames.shape[1] * scan.pixel_spacing_mm[0])
    if ds.get("ActualFrameDuration") in (None, ""):
        ds.ActualFrameDuration = round(frames.shape[1] * scan.pixel_spacing_mm[0] / velocity * 1000.0)
    add_pixels(ds, frames, scan.views_present, scan.pixel_spacing_mm, path)
    return save(ds, path)


def _frames(path: str | os.PathLike, counts: np.ndarray, scan: WholeBodyScan) -> np.ndarray:
    """The views the source holds, rounded to uint16 counts, as (n_views, rows, cols)."""
    arr = np.asarray(counts)
    shape = scan.counts.shape[1:]
    if arr.ndim == 2 and len(scan.views_present) == 1:
        arr = arr[None]
    elif arr.ndim == 3 and arr.shape[0] == 2:
        arr = arr[[VIEWS.index(v) for v in scan.views_present]]
    if arr.ndim != 3 or arr.shape[1:] != shape:
        raise InvalidCountsError(
            f"Counts for {path} have shape {np.shape(counts)} but the source is "
            f"{len(scan.views_present)} view(s) of {shape[0]}×{shape[1]}; pass (2, rows, cols)."
        )
    return check_counts(arr, path, round_to_int=True)


def _source_header(source: str, path: str | os.PathLike) -> Dataset:
    """The source file's header (no pixels); `DicomReadError` if it is gone or unreadable."""
    try:
        return pydicom.dcmread(source, stop_before_pixels=True)
    except (OSError, InvalidDicomError) as exc:
        raise DicomReadError(
            f"Source {source} of {path} cannot be re-read ({type(exc).__name__}); keep the "
            "source files in place until the enhanced series is written."
        ) from exc


def _velocity(path: str | os.PathLike, scan: WholeBodyScan, speed_factor: float | None) -> float:
    """Scan Velocity to write (mm/s): the override, else the source's."""
    if speed_factor is not None:
        if not speed_factor > 0:
            raise ParamsError(f"speed_factor={speed_factor} for {path} is not positive; pass the source's speed.")
        return float(speed_factor) * scan.standard_velocity_mm_s
    if scan.scan_velocity_mm_s is None:
        raise SpeedUnknownError(
            f"The source of {path} has no Scan Velocity; pass speed_factor= to say how fast it was acquired."
        )
    return scan.scan_velocity_mm_s


def _reference(header: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    item.PurposeOfReferenceCodeSequence = Sequence(
        [code_item("121322", "DCM", "Source image for image processing operation")]
    )
    return item


def _equipment(method: str) -> Dataset:
    item = Dataset()
    item.Manufacturer = "wbs-accel"
    item.SoftwareVersions = f"wbs-accel {__version__}"
    item.ContributionDescription = f"Whole-body scan enhancement ({method}); {RESEARCH_USE}"
    item.PurposeOfReferenceCodeSequence = Sequence([code_item("109102", "DCM", "Processing Equipment")])
    return item
