"""Study folders for the privacy, fault and batch tests (written, never downloaded).

`write_planted` writes a hospital-like folder with identifiers planted in folder and file names: the
name Müller^Jörg spelled as Mueller_Joerg, Muller_Jorg and MUELLER-JOERG, the birth date 19570305 as
05.03.1957, 1957_03_05 and 05031957, another patient's file in a folder named after a third person
with a birth date, a symlink loop and a dangling link. `leaks` scans every file under a folder for
those strings. `write_studies` writes n small 2x studies, one patient each. Scans are 128 × 64 NM
files with seeded counts, so each study takes milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
from fixtures_dicom import make_counts, write_scan

NAME, BIRTH_DATE, PATIENT_ID = "Müller^Jörg", "19570305", "MRN4711"
PLANTED = (
    "Mueller_Joerg/wbs.dcm",
    "Muller_Jorg/wbs.dcm",
    "MUELLER-JOERG/wbs.dcm",
    "scans/scan_05.03.1957.dcm",
    "scans/scan_1957_03_05.dcm",
    "scans/scan_05031957.dcm",
)
THIRD_PERSON = "Schmidt_Hans_19480212/other.dcm"  # another patient's file in a folder named after a third person
CLEAN = "clean/wb2.dcm"
LINKS = {"loop": ".", "Mueller_Joerg/gone.dcm": "nowhere.dcm"}  # a symlink loop and a dangling link
# what may appear nowhere outside the data folder: in folder and file names ...
IN_PATHS = ("Mueller_Joerg", "Muller_Jorg", "MUELLER-JOERG", "05.03.1957", "1957_03_05", "05031957", "Schmidt_Hans")
# ... and, in any file that is not a derived DICOM (whose header names the patient by design), lower-cased:
IN_TEXT = ("mueller", "muller", "müller", "joerg", "jorg", "jörg", "19570305", "1957-03-05", "schmidt", "19480212")


def _study(path: Path, *, patient_id: str, name: str, seed: int, birth_date: str = "", shape=(2, 128, 64)) -> Path:
    counts = make_counts(shape, seed=seed)
    scan = write_scan(path.parent, path.name, counts, speed_factor=2.0, patient_id=patient_id)
    ds = pydicom.dcmread(scan)
    ds.PatientName, ds.PatientBirthDate = name, birth_date
    ds.save_as(scan, enforce_file_format=True)
    return scan


def write_planted(folder: Path) -> dict[str, Path]:
    """The planted folder (see the module); returns relative path → file of every DICOM file."""
    files = {}
    for seed, rel in enumerate(PLANTED):
        files[rel] = _study(folder / rel, patient_id=PATIENT_ID, name=NAME, seed=seed, birth_date=BIRTH_DATE)
    files[THIRD_PERSON] = _study(folder / THIRD_PERSON, patient_id="P-WEBER", name="Weber^Anna", seed=20)
    files[CLEAN] = _study(folder / CLEAN, patient_id="P-DOE", name="Doe^Jane", seed=21)
    for link, target in LINKS.items():
        os.symlink(target, folder / link)
    return files


def write_studies(folder: Path, n: int, shape: tuple[int, int, int] = (2, 128, 64)) -> list[Path]:
    """n 2x studies study00.dcm … (patients P00 …), each a distinct seeded scan of `shape`."""
    return [
        _study(folder / f"study{i:02d}.dcm", patient_id=f"P{i:02d}", name="Test^Batch", seed=100 + i, shape=shape)
        for i in range(n)
    ]


def leaks(folder: Path) -> dict[str, list[str]]:
    """{file: planted strings found} for every file under `folder` (derived DICOM: folder/file-name forms only)."""
    found = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data.decode("utf-8", errors="ignore")
        hits = [s for s in IN_PATHS if s in text]
        if path.suffix != ".dcm":
            hits += [s for s in IN_TEXT if s in text.lower()]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found
