"""Writers: primary acquisitions and derived (enhanced) objects — attributes, determinism, dciodvfy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from fixtures_dicom import (
    STUDY_UID,
    WHEN,
    dciodvfy_errors,
    jpeg2000_path,
    make_counts,
    split_views,
    write_scan,
)

from wbslib import RESEARCH_USE, __version__
from wbslib.core.errors import (
    DicomReadError,
    InvalidCountsError,
    OutputConflictError,
    ParamsError,
    SpeedUnknownError,
)
from wbslib.io.dicom import read_wholebody, write_acquisition, write_enhanced

DESCRIPTION = "WBS 2x RRDB-GAN simu"


def _codes(ds):
    return [
        (item.ViewCodeSequence[0].CodingSchemeDesignator, item.ViewCodeSequence[0].CodeValue)
        for item in ds.DetectorInformationSequence
    ]


def test_acquisition_attributes(tmp_path):
    counts = make_counts()
    ds = pydicom.dcmread(write_scan(tmp_path, counts=counts, speed_factor=3.0, frame_duration_s=412.5))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.20" and ds.Modality == "NM"
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]
    assert ds.NumberOfFrames == 2 and list(ds.DetectorVector) == [1, 2] and ds.NumberOfDetectors == 2
    assert _codes(ds) == [("SCT", "399321004"), ("SCT", "399001007")]
    assert float(ds.ScanVelocity) == pytest.approx(3.0 * 200.0 / 60.0, rel=1e-9)
    assert ds.ActualFrameDuration == 412500  # ms
    assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0 and ds.pixel_array.dtype == np.uint16
    assert ds.CountsAccumulated == int(counts.sum())
    per_frame = ds.private_block(0x0071, "WBS-ACCEL 1")[0x10].value
    assert [int(v) for v in per_frame] == [int(counts[0].sum()), int(counts[1].sum())]
    assert np.array_equal(ds.pixel_array, counts)
    assert ds.StudyInstanceUID == STUDY_UID and ds.StudyDate == WHEN.strftime("%Y%m%d")
    assert ds.PatientAge == "067Y" and ds.PatientSex == "F"
    assert [float(v) for v in ds.PixelSpacing] == [2.4, 2.4]


def test_acquisition_is_deterministic_and_uids_follow_content(tmp_path):
    a = write_scan(tmp_path / "a", seed=3)
    b = write_scan(tmp_path / "b", seed=3)
    c = write_scan(tmp_path / "c", seed=4)
    assert a.read_bytes() == b.read_bytes()
    ds_a, ds_c = pydicom.dcmread(a), pydicom.dcmread(c)
    assert ds_a.SeriesInstanceUID == ds_c.SeriesInstanceUID
    assert ds_a.SOPInstanceUID != ds_c.SOPInstanceUID
    assert ds_a.SOPInstanceUID.startswith("2.25.")
    assert write_scan(tmp_path / "a", seed=3) == a  # identical content: no conflict


def test_acquisition_refuses_to_overwrite_different_file(tmp_path):
    path = write_scan(tmp_path, seed=0)
    before = path.read_bytes()
    with pytest.raises(OutputConflictError, match="scan.dcm"):
        write_scan(tmp_path, seed=1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scan.dcm"]  # no temporary left behind


@pytest.mark.parametrize(
    "value, words", [(np.nan, "NaN"), (np.inf, "infinite"), (-1.0, "negative"), (70000.0, "16-bit"), (2.5, "integer")]
)
def test_acquisition_rejects_invalid_counts(tmp_path, value, words):
    counts = make_counts()
    counts[1, 10, 5] = value
    with pytest.raises(InvalidCountsError, match=words) as info:
        write_scan(tmp_path, counts=counts)
    assert "scan.dcm" in str(info.value)
    assert not (tmp_path / "scan.dcm").exists()


def test_acquisition_rejects_wrong_shape_and_speed(tmp_path):
    with pytest.raises(InvalidCountsError, match="shape"):
        write_scan(tmp_path, counts=make_counts()[0])
    with pytest.raises(ParamsError, match="Speed factor"):
        write_scan(tmp_path, speed_factor=0.0)
    with pytest.raises(ParamsError, match="patient_sex"):
        write_scan(tmp_path, patient_sex="female")


def test_acquisition_passes_dciodvfy(tmp_path):
    path = write_acquisition(
        tmp_path / "full.dcm",
        make_counts((2, 1024, 256)),
        speed_factor=1.0,
        patient_id="P2",
        patient_name="Müller^Jörg",
        study_uid=STUDY_UID,
        acquisition_datetime=WHEN,
        series_description="WBS 1x",
    )
    assert dciodvfy_errors(path) == []


def test_enhanced_attributes(tmp_path):
    source_path = write_scan(tmp_path, speed_factor=2.0)
    scan = read_wholebody(source_path)
    enhanced = scan.counts * 2.0 + 0.4
    out = write_enhanced(tmp_path / "enh.dcm", enhanced, scan, method="RRDB-GAN simu", description=DESCRIPTION)
    src, ds = pydicom.dcmread(source_path), pydicom.dcmread(out)
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "WHOLE BODY", "EMISSION"]
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert (ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientAge) == (
        src.PatientName,
        src.PatientID,
        src.PatientSex,
        src.PatientAge,
    )
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID and ds.SOPInstanceUID != src.SOPInstanceUID
    assert ds.SeriesDescription == f"{DESCRIPTION} – {RESEARCH_USE}"
    assert RESEARCH_USE in ds.ImageComments
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert "counts are 1x-equivalent" in ds.DerivationDescription and "RRDB-GAN simu" in ds.DerivationDescription
    assert ds.DerivationCodeSequence[0].CodeValue == "110001"
    equipment = ds.ContributingEquipmentSequence[0]
    assert equipment.Manufacturer == "wbs-accel" and __version__ in equipment.SoftwareVersions
    assert ds.ScanVelocity == src.ScanVelocity
    rounded = np.rint(enhanced)
    assert ds.CountsAccumulated == int(rounded.sum())
    assert np.array_equal(ds.pixel_array, rounded)
    assert _codes(ds) == _codes(src)
    assert dciodvfy_errors(out) == []


def test_enhanced_from_path_and_two_file_source(tmp_path):
    ant, post = split_views(write_scan(tmp_path), tmp_path)
    scan = read_wholebody([post, ant])
    out = write_enhanced(tmp_path / "enh.dcm", scan.counts, scan, method="bm3d", description="WBS 2x bm3d")
    ds = pydicom.dcmread(out)
    refs = {item.ReferencedSOPInstanceUID for item in ds.SourceImageSequence}
    assert refs == {pydicom.dcmread(ant).SOPInstanceUID, pydicom.dcmread(post).SOPInstanceUID}
    assert ds.NumberOfFrames == 2
    single = write_enhanced(tmp_path / "ant-only.dcm", scan.counts[0], ant, method="bm3d", description="WBS 2x bm3d")
    assert pydicom.dcmread(single).NumberOfFrames == 1


def test_enhanced_one_view_lossy_source(tmp_path):
    scan = read_wholebody(jpeg2000_path(), allow_single_view=True, assume_view="ANT")
    counts = np.clip(scan.counts, 0, None)  # POST stays NaN: ignored for a one-view source
    out = write_enhanced(tmp_path / "nm1.dcm", counts, scan, method="RRDB-GAN real", description="WBS RRDB-GAN real")
    ds = pydicom.dcmread(out)
    assert ds.NumberOfFrames == 1 and _codes(ds) == [("SCT", "399321004")]
    assert ds.LossyImageCompression == "01"  # derived from lossy data stays lossy
    assert ds.ScanVelocity == pydicom.dcmread(jpeg2000_path()).ScanVelocity
    assert ds.PatientID == "8NM1"
    assert dciodvfy_errors(out) == []


def test_enhanced_rejects_bad_counts_and_conflicts(tmp_path):
    scan = read_wholebody(write_scan(tmp_path))
    for value in (np.nan, -0.2, np.inf):
        counts = scan.counts.copy()
        counts[0, 3, 3] = value
        with pytest.raises(InvalidCountsError):
            write_enhanced(tmp_path / "e.dcm", counts, scan, method="m", description="d")
    with pytest.raises(InvalidCountsError, match="shape"):
        write_enhanced(tmp_path / "e.dcm", scan.counts[:, :10], scan, method="m", description="d")
    out = write_enhanced(tmp_path / "e.dcm", scan.counts, scan, method="m", description="d")
    assert write_enhanced(out, scan.counts, scan, method="m", description="d") == out  # identical: fine
    with pytest.raises(OutputConflictError, match="e.dcm"):
        write_enhanced(out, scan.counts + 1, scan, method="m", description="d")
    with pytest.raises(OutputConflictError):
        write_enhanced(scan.source_paths[0], scan.counts, scan, method="m", description="d")
    Path(scan.source_paths[0]).unlink()
    with pytest.raises(DicomReadError, match="cannot be re-read"):
        write_enhanced(tmp_path / "late.dcm", scan.counts, scan, method="m", description="d")


def test_enhanced_description_limit_and_unknown_speed(tmp_path):
    scan = read_wholebody(write_scan(tmp_path))
    with pytest.raises(ParamsError, match="at most 25 bytes"):
        write_enhanced(tmp_path / "e.dcm", scan.counts, scan, method="m", description="WBS 2x enhanced (RRDB-GAN simu)")
    scan.scan_velocity_mm_s = None
    with pytest.raises(SpeedUnknownError):
        write_enhanced(tmp_path / "e.dcm", scan.counts, scan, method="m", description="d")
    out = write_enhanced(tmp_path / "e.dcm", scan.counts, scan, method="m", description="d", speed_factor=3)
    assert read_wholebody(out).speed_factor == 3.0
