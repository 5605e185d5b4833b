"""Fuzz: 1,000 mutated valid files (500 byte-level, 500 element-level) give a scan or a `WbsError` subclass,
never a bare pydicom/numpy exception."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from fixtures_dicom import compress, jpeg2000_path, make_counts, split_views, write_scan
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from wbslib.core.errors import WbsError
from wbslib.core.scan import VIEWS
from wbslib.io.dicom import read_wholebody

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # mutations make pydicom warn; expected
FUZZ = settings(
    derandomize=True,
    max_examples=500,  # × 2 tests: 1,000 mutated files
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEYWORDS = [
    "Rows",
    "Columns",
    "NumberOfFrames",
    "DetectorVector",
    "EnergyWindowVector",
    "NumberOfDetectors",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PixelSpacing",
    "Modality",
    "SOPClassUID",
    "CountsAccumulated",
    "ScanVelocity",
    "ActualFrameDuration",
    "ImageType",
    "LossyImageCompression",
    "AcquisitionDate",
    "AcquisitionTime",
    "DerivationDescription",
    "RescaleSlope",
    "DetectorInformationSequence",
    "PixelData",
]
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "abc", "NM", "CT", "01", "-1", "1e400", "nan", "2\\2\\2"]),
    st.sampled_from([-1, 0, 1, 2, 3, 15, 16, 32, 65535, 2**31]),
    st.binary(max_size=8),
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, bytes]:
    """Valid files as bytes: 2-frame uncompressed, RLE, one single-view file, pydicom's JPEG 2000 scan."""
    folder = tmp_path_factory.mktemp("fuzz")
    scan = write_scan(folder, counts=make_counts((2, 32, 16)))
    rle = compress(scan, folder / "rle.dcm", "rle")
    ant, _ = split_views(scan, folder)
    files = (("plain", scan), ("rle", rle), ("ant", ant), ("j2k", jpeg2000_path()))
    return {name: path.read_bytes() for name, path in files}


def _read_or_named_error(data: bytes, path) -> None:
    path.write_bytes(data)
    try:
        scan = read_wholebody(path, allow_single_view=True, assume_view="ANT")
    except WbsError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert scan.counts.dtype == np.float32 and scan.counts.ndim == 3 and scan.counts.shape[0] == 2
    for index, view in enumerate(VIEWS):
        assert np.isnan(scan.counts[index]).all() == (view not in scan.views_present)


def test_byte_mutations_give_only_named_errors(corpus, tmp_path_factory):
    path = tmp_path_factory.mktemp("bytes") / "mutated.dcm"

    @FUZZ
    @given(name=st.sampled_from(sorted(corpus)), data=st.data())
    def check(name, data):
        raw = bytearray(corpus[name])
        header_end = raw.rfind(b"\xe0\x7f\x10\x00") + 16
        for _ in range(data.draw(st.integers(1, 6), label="n_mutations")):
            at = data.draw(st.integers(0, header_end), label="position")
            raw[at] = data.draw(st.integers(0, 255), label="byte")
        cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))), label="cut")
        _read_or_named_error(bytes(raw[:cut]), path)

    check()


def test_element_mutations_give_only_named_errors(corpus, tmp_path_factory):
    path = tmp_path_factory.mktemp("elements") / "mutated.dcm"

    @FUZZ
    @given(
        name=st.sampled_from(sorted(corpus)),
        changes=st.lists(st.tuples(st.sampled_from(KEYWORDS), VALUES), min_size=1, max_size=3),
    )
    def check(name, changes):
        ds = pydicom.dcmread(io.BytesIO(corpus[name]))
        buf = io.BytesIO()
        try:
            for keyword, value in changes:
                if value is None:
                    ds.pop(keyword, None)
                else:
                    setattr(ds, keyword, value)
            ds.save_as(buf)
        except Exception:  # pydicom refuses to store this value: not a file we can make
            reject()
        _read_or_named_error(buf.getvalue(), path)

    check()
