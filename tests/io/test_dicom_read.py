"""Reader: layouts, transfer syntaxes, integrity flags, speed, and the acceptance cases of issue 2."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pydicom
import pytest
from fixtures_dicom import (
    JPEG2000_COUNTS_ACCUMULATED,
    JPEG2000_PIXEL_SUM,
    STUDY_UID,
    WHEN,
    compress,
    edit,
    jpeg2000_path,
    make_counts,
    split_views,
    swap_frames,
    to_signed,
    write_scan,
)

from wbslib.core.errors import SingleViewError
from wbslib.core.scan import STANDARD_VELOCITY_MM_S
from wbslib.io.dicom import read_wholebody, write_acquisition, write_enhanced


def test_round_trip_full_size(tmp_path):
    counts = make_counts((2, 1024, 256), seed=7)
    path = write_acquisition(
        tmp_path / "1x.dcm",
        counts,
        speed_factor=1.0,
        patient_id="P9",
        patient_name="Doe^Jane",
        study_uid=STUDY_UID,
        acquisition_datetime=WHEN,
        series_description="WBS 1x",
        pixel_spacing_mm=(2.26, 2.21),
    )
    scan = read_wholebody(path)
    assert scan.counts.dtype == np.float32 and scan.counts.shape == (2, 1024, 256)
    assert np.array_equal(scan.counts, counts)
    assert scan.views_present == ("ANT", "POST") and scan.flags == []
    assert scan.counts_accumulated == (int(counts[0].sum()), int(counts[1].sum()))
    assert scan.pixel_spacing_mm == (2.26, 2.21)
    assert scan.speed_factor == 1.0 and scan.count_equivalent_speed == 1.0
    assert scan.frame_duration_s == pytest.approx(1024 * 2.26 / STANDARD_VELOCITY_MM_S, abs=1e-3)
    assert scan.acquisition_datetime == WHEN
    assert scan.study_instance_uid == STUDY_UID and scan.patient_id == "P9"
    assert scan.sop_instance_uid == pydicom.dcmread(path).SOPInstanceUID
    assert scan.source_paths == (str(path),) and not scan.lossy and not scan.view_assumed


@pytest.mark.parametrize("speed", [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 0.5])
def test_speed_factor_from_scan_velocity(tmp_path, speed):
    assert read_wholebody(write_scan(tmp_path, speed_factor=speed)).speed_factor == speed


def test_speed_override_standard_velocity_and_missing_velocity(tmp_path):
    path = write_scan(tmp_path, speed_factor=2.0)
    assert read_wholebody(path, speed_factor=3.0).speed_factor == 3.0
    assert read_wholebody(path, standard_velocity_mm_s=2 * STANDARD_VELOCITY_MM_S).speed_factor == 1.0
    bare = edit(path, tmp_path / "bare.dcm", lambda ds: delattr(ds, "ScanVelocity"))
    scan = read_wholebody(bare)
    assert scan.speed_factor is None and scan.scan_velocity_mm_s is None
    assert read_wholebody(bare, speed_factor=2.5).speed_factor == 2.5


def test_post_first_object_reads_in_ant_post_order(tmp_path):
    path = write_scan(tmp_path, seed=2)
    swapped = swap_frames(path, tmp_path / "swapped.dcm")
    assert np.array_equal(pydicom.dcmread(swapped).pixel_array[0], pydicom.dcmread(path).pixel_array[1])
    a, b = read_wholebody(path), read_wholebody(swapped)
    assert np.array_equal(a.counts, b.counts) and b.views_present == ("ANT", "POST")
    assert a.counts_accumulated == b.counts_accumulated


def test_detector_vector_points_post_first(tmp_path):
    """Frames stored POST, ANT with Detector Vector [2, 1] into an unchanged (ANT, POST) sequence."""
    path = write_scan(tmp_path, seed=3)

    def reverse(ds):
        ds.PixelData = ds.pixel_array[::-1].astype("<u2").tobytes()
        ds.DetectorVector = [2, 1]
        ds.remove_private_tags()

    scan = read_wholebody(edit(path, tmp_path / "rev.dcm", reverse))
    assert np.array_equal(scan.counts, read_wholebody(path).counts)


@pytest.mark.parametrize("order", [0, 1])
def test_two_single_view_files(tmp_path, order):
    path = write_scan(tmp_path, seed=5)
    ant, post = split_views(path, tmp_path)
    scan = read_wholebody([ant, post] if order == 0 else [post, ant])
    full = read_wholebody(path)
    assert np.array_equal(scan.counts, full.counts) and scan.views_present == ("ANT", "POST")
    assert scan.counts_accumulated == full.counts_accumulated and scan.flags == []
    assert scan.source_paths == (str(ant), str(post))  # the ANT file first, whatever the order given


def test_total_only_counts_accumulated(tmp_path):
    """A 2-frame header without per-frame counts: the total is compared and reported as one value."""
    path = write_scan(tmp_path)
    plain = edit(path, tmp_path / "plain.dcm", lambda ds: ds.remove_private_tags())
    scan = read_wholebody(plain)
    assert scan.counts_accumulated == (int(np.sum(scan.counts)),) and scan.flags == []
    bumped = edit(plain, tmp_path / "bumped.dcm", lambda ds: setattr(ds, "CountsAccumulated", ds.CountsAccumulated + 7))
    assert read_wholebody(bumped).flags == ["counts-mismatch"]
    absent = edit(plain, tmp_path / "absent.dcm", lambda ds: delattr(ds, "CountsAccumulated"))
    assert read_wholebody(absent).flags == ["no-counts-accumulated"]


@pytest.mark.parametrize("syntax", ["rle", "j2k", "jpeg-lossless"])
def test_lossless_transfer_syntaxes_keep_counts(tmp_path, syntax):
    path = write_scan(tmp_path, seed=11)
    packed = compress(path, tmp_path / f"{syntax}.dcm", syntax)
    assert pydicom.dcmread(packed).file_meta.TransferSyntaxUID.is_compressed
    scan, plain = read_wholebody(packed), read_wholebody(path)
    assert np.array_equal(scan.counts, plain.counts)
    assert np.nansum(scan.counts) == sum(scan.counts_accumulated)
    assert scan.flags == [] and not scan.lossy


def test_signed_16_bit(tmp_path):
    path = write_scan(tmp_path, seed=12)
    signed = to_signed(path, tmp_path / "signed.dcm")
    assert pydicom.dcmread(signed).pixel_array.dtype == np.int16
    assert np.array_equal(read_wholebody(signed).counts, read_wholebody(path).counts)


def test_acceptance_jpeg2000_one_view():
    scan = read_wholebody(jpeg2000_path(), allow_single_view=True, assume_view="ANT")
    assert scan.views_present == ("ANT",) and scan.view_assumed
    assert scan.counts.shape == (2, 1024, 256)
    assert np.isnan(scan.counts[1]).all() and not np.isnan(scan.counts[0]).any()
    assert scan.lossy and "lossy" in scan.flags
    assert np.nansum(scan.counts, dtype=np.float64) == JPEG2000_PIXEL_SUM
    assert scan.counts_accumulated == (JPEG2000_COUNTS_ACCUMULATED,)
    assert "counts-mismatch" in scan.flags and "negative-values" in scan.flags
    assert scan.counts[0].min() == -30
    assert scan.pixel_spacing_mm == (2.26, 2.26)
    assert scan.speed_factor == pytest.approx(1.671598 / STANDARD_VELOCITY_MM_S, rel=1e-6)  # ≈ 10 cm/min
    assert scan.frame_duration_s == pytest.approx(1210.434)
    assert scan.acquisition_datetime == datetime(1997, 8, 6, 12, 29, 31)
    assert scan.patient_id == "8NM1"


def test_acquisition_one_view_needs_permission():
    with pytest.raises(SingleViewError, match="JPEG2000.dcm"):
        read_wholebody(jpeg2000_path())
    with pytest.raises(SingleViewError, match="assume_view"):
        read_wholebody(jpeg2000_path(), allow_single_view=True)
    with pytest.raises(SingleViewError):
        read_wholebody(jpeg2000_path(), assume_view="POST")
    post = read_wholebody(jpeg2000_path(), allow_single_view=True, assume_view="POST")
    assert post.views_present == ("POST",) and np.isnan(post.counts[0]).all()


def test_single_view_file_with_view_code(tmp_path):
    ant, post = split_views(write_scan(tmp_path), tmp_path)
    with pytest.raises(SingleViewError, match="POST.dcm"):
        read_wholebody(post)
    scan = read_wholebody(post, allow_single_view=True, assume_view="ANT")  # the header's code wins
    assert scan.views_present == ("POST",) and not scan.view_assumed and scan.flags == ["single-view"]


def test_enhanced_round_trip(tmp_path):
    source = read_wholebody(write_scan(tmp_path, speed_factor=3.0, seed=8))
    rng = np.random.default_rng(1)
    noise = rng.uniform(-0.49, 0.49, source.counts.shape).astype(np.float32)
    enhanced = np.clip(source.counts * 3.0 + noise, 0, None)
    out = write_enhanced(tmp_path / "enh.dcm", enhanced, source, method="RRDB-GAN simu", description="WBS 3x simu")
    scan = read_wholebody(out)
    assert np.abs(scan.counts - enhanced).max() <= 0.5
    assert scan.derived_1x_equivalent and scan.count_equivalent_speed == 1.0
    assert scan.speed_factor == 3.0  # the source's Scan Velocity is kept
    assert scan.study_instance_uid == source.study_instance_uid and scan.flags == []
    assert not read_wholebody(source.source_paths[0]).derived_1x_equivalent
