"""Bad-input corpus built here (not downloaded): each defect gives its named error, one sentence naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_dicom import (
    as_ct,
    edit,
    frames_not_matching_vectors,
    make_counts,
    not_dicom,
    split_views,
    three_frames,
    truncated,
    truncated_in_header,
    unknown_view,
    views_of_different_sizes,
    without,
    write_scan,
)

from wbslib.core.errors import (
    DicomReadError,
    FrameLayoutError,
    InvalidCountsError,
    MissingAttributeError,
    NotDicomError,
    ParamsError,
    TruncatedDicomError,
    UnknownViewError,
    UnsupportedModalityError,
)
from wbslib.io.dicom import read_wholebody


def _one_sentence_naming(message: str, *names: str) -> None:
    assert "\n" not in message and message.endswith(".")
    for name in names:
        assert name in message


@pytest.fixture
def scan_path(tmp_path):
    return write_scan(tmp_path, seed=0)


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda src, out: truncated(src, out, 0.5), TruncatedDicomError),
        (truncated_in_header, TruncatedDicomError),
        (lambda src, out: not_dicom(out), NotDicomError),
        (as_ct, UnsupportedModalityError),
        (lambda src, out: without(src, out, "PixelSpacing"), MissingAttributeError),
        (lambda src, out: without(src, out, "Modality"), MissingAttributeError),
        (three_frames, FrameLayoutError),
        (frames_not_matching_vectors, FrameLayoutError),
        (unknown_view, UnknownViewError),
        (lambda src, out: edit(src, out, lambda ds: setattr(ds, "DetectorVector", [1, 3])), FrameLayoutError),
        (lambda src, out: edit(src, out, lambda ds: setattr(ds, "Rows", 9000)), FrameLayoutError),
        (
            lambda src, out: edit(src, out, lambda ds: ds.DetectorInformationSequence[1].ViewCodeSequence.clear()),
            MissingAttributeError,
        ),
        (
            lambda src, out: edit(
                src,
                out,
                lambda ds: setattr(ds.DetectorInformationSequence[1].ViewCodeSequence[0], "CodeValue", "399321004"),
            ),
            FrameLayoutError,
        ),
    ],
    ids=[
        "truncated-half",
        "truncated-header",
        "not-dicom",
        "ct",
        "no-pixel-spacing",
        "no-modality",
        "3-frames",
        "frames-vs-vectors",
        "unknown-view",
        "vector-past-sequence",
        "absurd-rows",
        "no-view-code",
        "ant-twice",
    ],
)
def test_broken_file_gives_named_error(tmp_path, scan_path, make, error):
    bad = make(scan_path, tmp_path / "bad.dcm")
    with pytest.raises(error) as info:
        read_wholebody(bad)
    _one_sentence_naming(str(info.value), "bad.dcm")


def test_views_of_different_sizes(tmp_path):
    ant, post = views_of_different_sizes(tmp_path)
    with pytest.raises(FrameLayoutError, match="differ in size") as info:
        read_wholebody([ant, post])
    _one_sentence_naming(str(info.value), ant.name, post.name)


def test_two_files_of_different_studies_or_same_view(tmp_path):
    ant, post = split_views(write_scan(tmp_path), tmp_path)
    other = edit(post, tmp_path / "other.dcm", lambda ds: setattr(ds, "StudyInstanceUID", "1.2.3.999"))
    with pytest.raises(FrameLayoutError, match="different studies"):
        read_wholebody([ant, other])
    with pytest.raises(FrameLayoutError, match="twice"):
        read_wholebody([ant, ant])
    with pytest.raises(FrameLayoutError, match="3 files"):
        read_wholebody([ant, post, ant])
    with pytest.raises(FrameLayoutError, match="4 frames"):
        read_wholebody([write_scan(tmp_path), write_scan(tmp_path)])


def test_missing_file_and_bad_assume_view(tmp_path, scan_path):
    with pytest.raises(DicomReadError, match="nowhere.dcm"):
        read_wholebody(tmp_path / "nowhere.dcm")
    with pytest.raises(ParamsError, match="LAT"):
        read_wholebody(scan_path, allow_single_view=True, assume_view="LAT")


@pytest.mark.parametrize("value", [np.nan, -3.0, np.inf])
def test_counts_to_write_must_be_valid(tmp_path, value):
    counts = make_counts()
    counts[0, 0, 0] = value
    with pytest.raises(InvalidCountsError) as info:
        write_scan(tmp_path, "out.dcm", counts)
    _one_sentence_naming(str(info.value), "out.dcm")
