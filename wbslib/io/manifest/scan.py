"""What `build_manifest` learns from one DICOM file: patient, views, speed, kind, checksum, identifiers.

The identifiers (patient name parts, ID, birth date, UIDs, accession number) are only used to make
sure none of them appears in a path written to the manifest (`wbslib.io.manifest.privacy`, normalised
for case, accents, separators and date formats); they are never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.multival

from wbslib.core.errors import ManifestError, SpeedUnknownError
from wbslib.core.fileio import sha256_file
from wbslib.io.manifest.privacy import IdentifierSearch
from wbslib.io.manifest.schema import SPEED_DECIMALS

IDENTIFYING_TAGS = {  # keyword → kind of identifier (see privacy.IdentifierSearch)
    "PatientName": "name",
    "PatientID": "id",
    "PatientBirthDate": "date",
    "StudyInstanceUID": "id",
    "SeriesInstanceUID": "id",
    "SOPInstanceUID": "id",
    "AccessionNumber": "id",
    "OtherPatientIDs": "id",
}


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
    identifiers: tuple[tuple[str, str], ...]  # (kind, text): never stored, only searched for in paths

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


def _identifiers(path: Path) -> tuple[tuple[str, str], ...]:
    """Identifying header values of a file as (kind, text): name parts, IDs, UIDs, the birth date."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(IDENTIFYING_TAGS))
    found = set()
    for keyword, kind in IDENTIFYING_TAGS.items():
        value = ds.get(keyword)
        values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
        for v in values:
            text = str(v or "").strip()
            splitter = r"[\^=\s,-]+" if kind == "name" else r"[\^=\s,]+"
            found.update((kind, t) for t in re.split(splitter, text) if t)
    return tuple(sorted(found))


def identifying_text(item: Acquired, path: str) -> str:
    """What kinds of identifier of the file's header occur in `path` (as the manifest would list it), or any
    date ('' when none): e.g. 'a name and a date' — never the values themselves."""
    return IdentifierSearch(item.identifiers).describe(path)
