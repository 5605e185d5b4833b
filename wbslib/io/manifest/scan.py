"""What `build_manifest` learns from one DICOM file: patient, views, speed, kind, checksum, identifiers.

The identifiers (patient name parts, ID, birth date, UIDs, accession number) are only used to make
sure none of them appears in a path written to the manifest; they are never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.multival

from wbslib.core.errors import ManifestError, SpeedUnknownError
from wbslib.core.fileio import sha256_file
from wbslib.io.manifest.schema import SPEED_DECIMALS

IDENTIFYING_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "AccessionNumber",
    "OtherPatientIDs",
)
MIN_TOKEN = 3  # shorter fragments (initials, sex, "12") would match innocent paths


@dataclass
class Acquired:
    """One readable file of the cohort, before pseudonymisation."""

    path: Path
    relpath: str  # relative to the scanned folder, POSIX
    patient_id: str
    views: tuple[str, ...]
    speed_factor: float  # rounded to SPEED_DECIMALS
    kind: str
    counts_accumulated: int | None
    sha256: str
    study_uid: str | None
    identifiers: tuple[str, ...]

    @property
    def acquisition_key(self) -> tuple:
        """Files with the same key are views of one acquisition."""
        return (self.patient_id, self.kind, self.speed_factor, self.study_uid)


def scan_file(
    path: Path, folder: Path, *, standard_velocity_mm_s: float, assume_view: str | None, speed_factor: float | None
) -> Acquired:
    """Read one file (one or two views); named errors for no patient ID, unknown or sub-standard speed."""
    from wbslib.io.dicom import read_wholebody

    rel = path.relative_to(folder).as_posix()
    scan = read_wholebody(
        path,
        allow_single_view=True,
        assume_view=assume_view,
        speed_factor=speed_factor,
        standard_velocity_mm_s=standard_velocity_mm_s,
    )
    if not scan.patient_id:
        raise ManifestError(
            f"{rel} has no Patient ID (0010,0020), so it cannot be grouped into a study; "
            "export it with its patient ID or move it out of the folder."
        )
    if scan.speed_factor is None:
        raise SpeedUnknownError(
            f"{rel} has no Scan Velocity (0018,1300), so its speed factor is unknown; pass "
            "--speed-factor, or build a separate manifest per speed."
        )
    speed = round(scan.speed_factor, SPEED_DECIMALS)
    if speed < 1:
        raise ManifestError(
            f"{rel} was acquired at {speed:g} × the standard velocity (slower than 1x); pass "
            "--standard-velocity with your protocol's 1x table speed in cm/min."
        )
    kind = "enhanced" if scan.derived_1x_equivalent else ("standard" if speed == 1 else "fast-real")
    stated = scan.counts_accumulated
    counts = sum(stated) if stated and all(c is not None for c in stated) else None
    return Acquired(
        path=path,
        relpath=rel,
        patient_id=scan.patient_id,
        views=tuple(scan.views_present),
        speed_factor=speed,
        kind=kind,
        counts_accumulated=counts,
        sha256=sha256_file(path),
        study_uid=scan.study_instance_uid,
        identifiers=_identifiers(path),
    )


def _identifiers(path: Path) -> tuple[str, ...]:
    """Identifying header values of a file, split into searchable tokens (name parts, dates, UIDs)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(IDENTIFYING_TAGS))
    tokens = set()
    for keyword in IDENTIFYING_TAGS:
        value = ds.get(keyword)
        values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
        for v in values:
            text = str(v or "").strip()
            tokens.update(t for t in re.split(r"[\^=\s,]+", text) if len(t) >= MIN_TOKEN)
            if keyword == "PatientBirthDate" and re.fullmatch(r"\d{8}", text):
                tokens.add(f"{text[:4]}-{text[4:6]}-{text[6:]}")
    return tuple(sorted(tokens))


def identifying_text(item: Acquired, path: str) -> str:
    """Which kinds of identifier occur in `path` (as the manifest would list it; '' when none) — never
    the values themselves."""
    path = path.lower()
    found = [t for t in item.identifiers if t.lower() in path]
    return f"{len(found)} identifier(s) such as a name, ID, date or UID" if found else ""
