"""Small whole-body DICOM cohorts for manifest, audit, CLI and PHI tests (written, never downloaded).

Files are full-size (2 × 1024 × 256) NM objects written by `wbslib.io.dicom.write_acquisition`, then
patched with pydicom where a test needs clinical-looking headers (birth date, real-looking UIDs)
or a one-view file. Counts are seeded Poisson draws, so every run writes the same bytes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom

from wbslib.io.dicom import write_acquisition, write_enhanced

SHAPE = (2, 1024, 256)
PHI = {
    "name": "Doe^Jane",
    "birth_date": "19580314",
    "patient_id": "MRN0047113",
    "study_uid": "1.2.840.113619.2.55.3.2831164356.781.1590481832.467",
    "series_uid": "1.2.840.113619.2.55.3.2831164356.781.1590481832.468",
    "sop_uid": "1.2.840.113619.2.55.3.2831164356.781.1590481832.469.1",
    "accession": "A20200526-0815",
}


def counts(seed: int, speed_factor: float) -> np.ndarray:
    """Seeded integer counts (2, 1024, 256), about 40 000 per view at 1x and 1/s of that at s x."""
    lam = np.zeros(SHAPE, dtype=np.float64)
    lam[:, 100:900, 80:176] = 0.5 / speed_factor
    return np.random.default_rng(seed).poisson(lam).astype(np.float32)


def write_scan(
    path: Path,
    *,
    patient_id: str,
    speed_factor: float,
    seed: int,
    name: str = "Test^Patient",
    study_uid: str | None = None,
) -> Path:
    """A primary 2-frame acquisition of one patient at one speed."""
    number = int(hashlib.sha256(patient_id.encode()).hexdigest()[:8], 16)
    study_uid = study_uid or f"1.2.826.0.1.3680043.10.543.{number}"
    return write_acquisition(
        path,
        counts(seed, speed_factor),
        speed_factor=speed_factor,
        patient_id=patient_id,
        patient_name=name,
        study_uid=study_uid,
        acquisition_datetime=datetime(2024, 3, 5, 9, 30),
        series_description=f"WB {speed_factor:g}x",
    )


def write_phi_scan(path: Path, *, speed_factor: float, seed: int) -> Path:
    """A 2-frame acquisition carrying Doe^Jane, a birth date and real-looking UIDs (see `PHI`)."""
    tmp = path.with_name(path.name + ".plain")
    write_scan(
        tmp,
        patient_id=PHI["patient_id"],
        speed_factor=speed_factor,
        seed=seed,
        name=PHI["name"],
        study_uid=PHI["study_uid"],
    )
    ds = pydicom.dcmread(tmp)
    tmp.unlink()
    ds.PatientBirthDate = PHI["birth_date"]
    ds.AccessionNumber = PHI["accession"]
    ds.SeriesInstanceUID = f"{PHI['series_uid']}.{round(speed_factor * 10)}"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{PHI['sop_uid']}.{round(speed_factor * 10)}"
    ds.save_as(path, enforce_file_format=True)
    return path


def split_views(src: Path, ant: Path | None, post: Path | None, *, drop_view_code: bool = False) -> None:
    """Write the ANT and/or POST frame of a 2-frame file as single-frame files (one per view)."""
    for index, dest in enumerate((ant, post)):
        if dest is None:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        ds = pydicom.dcmread(src)
        frame = ds.pixel_array[index]
        ds.NumberOfFrames = 1
        ds.DetectorVector = [1]
        ds.EnergyWindowVector = [1]
        ds.DetectorInformationSequence = [ds.DetectorInformationSequence[index]]
        if drop_view_code:
            del ds.DetectorInformationSequence[0].ViewCodeSequence
        ds.PixelData = frame.astype(np.uint16).tobytes()
        ds.CountsAccumulated = int(frame.sum())
        for tag in [t for t in ds.keys() if t.group == 0x0071]:
            del ds[tag]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{ds.SOPInstanceUID}.{index + 1}"
        ds.save_as(dest, enforce_file_format=True)


def write_enhanced_copy(src: Path, dest: Path) -> Path:
    """A DERIVED 1x-equivalent object made from an acquisition (counts × its speed factor)."""
    from wbslib.io.dicom import read_wholebody

    scan = read_wholebody(src)
    return write_enhanced(dest, scan.counts * scan.speed_factor, scan, method="test", description="WBS test")


def write_cohort(folder: Path) -> dict[str, Path]:
    """A small clinical-like folder: 3 patients × speeds 1/2/3, a pair of one-view files, an enhanced
    file, a duplicate, a lonely one-view file, and two unusable files. Returns named paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for p, pid in enumerate(("PAT-A", "PAT-B", "PAT-C")):
        for speed in (1, 2, 3):
            paths[f"{pid}/{speed}x"] = write_scan(
                folder / f"case{p + 1}" / f"wb{speed}.dcm", patient_id=pid, speed_factor=speed, seed=10 * p + speed
            )
    pair_src = write_scan(folder / "pair.tmp", patient_id="PAT-D", speed_factor=1, seed=40)
    split_views(pair_src, folder / "case4" / "ant1.dcm", folder / "case4" / "post1.dcm")
    lonely_src = write_scan(folder / "lonely.tmp", patient_id="PAT-D", speed_factor=2, seed=41)
    split_views(lonely_src, folder / "case4" / "ant2.dcm", None)
    pair_src.unlink()
    lonely_src.unlink()
    paths["enhanced"] = write_enhanced_copy(paths["PAT-A/2x"], folder / "case1" / "wb2-enhanced.dcm")
    paths["duplicate"] = write_scan(folder / "case2" / "wb2-repeat.dcm", patient_id="PAT-B", speed_factor=2, seed=99)
    (folder / "notes.txt").write_text("not a DICOM file\n")
    data = paths["PAT-C/1x"].read_bytes()
    (folder / "case3" / "cut.dcm").write_bytes(data[: len(data) // 3])
    return paths
