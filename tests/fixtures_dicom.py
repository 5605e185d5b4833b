"""Build valid and broken whole-body NM DICOM files in a folder, for tests (`from fixtures_dicom import ...`).

Valid files come from `wbslib.io.dicom.write_acquisition`; broken ones are edits of a valid file, one
defect each. Counts are seeded Poisson draws, so every file is the same on every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, JPEG2000Lossless, RLELossless

from wbslib.io.dicom import write_acquisition
from wbslib.io.dicom.common import (
    PRIVATE_COUNTS_PER_FRAME,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    code_item,
)

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
WHEN = datetime(2024, 3, 5, 9, 30, 15)
JPEG2000_PIXEL_SUM = 3_527_976  # pydicom's JPEG2000.dcm: lossy copy of a real GE whole-body bone scan
JPEG2000_COUNTS_ACCUMULATED = 3_596_452


def make_counts(shape: tuple[int, int, int] = (2, 128, 64), seed: int = 0, mean: float = 20.0) -> np.ndarray:
    """Seeded Poisson counts, float32, brighter towards the middle rows (a crude body), some zeros."""
    rows = np.hanning(shape[1] + 2)[1:-1, None] * np.ones(shape[2])
    lam = mean * np.stack([rows * (1.0 + 0.3 * v) for v in range(shape[0])])
    return np.random.default_rng(seed).poisson(lam).astype(np.float32)


def write_scan(
    folder: str | os.PathLike,
    name: str = "scan.dcm",
    counts: np.ndarray | None = None,
    *,
    speed_factor: float = 2.0,
    seed: int = 0,
    **kwargs,
) -> Path:
    """A valid 2-frame (ANT, POST) NM acquisition written by `write_acquisition`."""
    counts = make_counts(seed=seed) if counts is None else counts
    args = dict(
        speed_factor=speed_factor,
        patient_id="PAT001",
        patient_name="Doe^Jane",
        study_uid=STUDY_UID,
        acquisition_datetime=WHEN,
        series_description=f"WBS {speed_factor:g}x",
        patient_sex="F",
        patient_age=67,
    )
    return write_acquisition(Path(folder) / name, counts, **{**args, **kwargs})


def edit(source: str | os.PathLike, out: str | os.PathLike, change: Callable[[Dataset], None]) -> Path:
    """Copy of `source` with `change(ds)` applied (pixel data included)."""
    ds = pydicom.dcmread(source)
    change(ds)
    ds.save_as(out)
    return Path(out)


def keep_frames(ds: Dataset, frames: list[int]) -> None:
    """Keep only the given 0-based frames (with their detector items and counts) of a project file."""
    pixels = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)[frames]
    items = [ds.DetectorInformationSequence[i] for i in frames]
    ds.NumberOfFrames = len(frames)
    ds.EnergyWindowVector = [1] * len(frames)
    ds.DetectorVector = list(range(1, len(frames) + 1))
    ds.NumberOfDetectors = len(frames)
    ds.DetectorInformationSequence = Sequence(items)
    per_frame = [int(p.sum()) for p in pixels]
    ds.CountsAccumulated = sum(per_frame)
    ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[PRIVATE_COUNTS_PER_FRAME].value = per_frame
    ds.PixelData = pixels.astype("<u2").tobytes()


def split_views(source: str | os.PathLike, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Two single-frame files (ANT, POST) made from a 2-frame project file, new SOP UIDs."""
    out = []
    for frame, view in enumerate(("ANT", "POST")):

        def change(ds: Dataset, frame=frame, view=view) -> None:
            keep_frames(ds, [frame])
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{ds.SOPInstanceUID}.{frame + 1}"

        out.append(edit(source, Path(folder) / f"{view}.dcm", change))
    return out[0], out[1]


def swap_frames(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The same acquisition stored POST first: frames and detector items swapped."""
    return edit(source, out, lambda ds: keep_frames(ds, [1, 0]))


def compress(source: str | os.PathLike, out: str | os.PathLike, syntax: str) -> Path:
    """Lossless copy: 'rle' or 'j2k' with pydicom's encoders, 'jpeg-lossless' with dcmtk's dcmcjpeg +e1."""
    if syntax == "jpeg-lossless":
        require_tool("dcmcjpeg")
        subprocess.run(["dcmcjpeg", "+e1", str(source), str(out)], check=True, capture_output=True)
        return Path(out)
    uid = {"rle": RLELossless, "j2k": JPEG2000Lossless}[syntax]
    return edit(source, out, lambda ds: ds.compress(uid))


def to_signed(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The same counts stored as signed 16-bit (Pixel Representation 1)."""

    def change(ds: Dataset) -> None:
        ds.PixelRepresentation = 1
        ds.PixelData = ds.pixel_array.astype("<i2").tobytes()

    return edit(source, out, change)


def jpeg2000_path() -> Path:
    """pydicom's JPEG2000.dcm: a lossy Secondary Capture copy of a real one-view whole-body bone scan."""
    return Path(get_testdata_file("JPEG2000.dcm"))


def require_tool(name: str) -> str:
    """Path of a system tool; skip without it, but fail when env CI is set (CI installs it)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing but CI is set; install dicom3tools/dcmtk (.ci/run does).")
        pytest.skip(f"{name} not installed")
    return path


def dciodvfy_errors(path: str | os.PathLike) -> list[str]:
    """The 'Error' lines dciodvfy reports on a file (it writes its findings to stderr)."""
    result = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True)
    return [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]


# --- broken files, one defect each -----------------------------------------------------------------
def truncated(source: str | os.PathLike, out: str | os.PathLike, keep: float = 0.5) -> Path:
    """The first `keep` fraction of the bytes of `source`."""
    data = Path(source).read_bytes()
    Path(out).write_bytes(data[: int(len(data) * keep)])
    return Path(out)


def truncated_in_header(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """`source` cut halfway between the end of its preamble and the start of its Pixel Data element."""
    data = Path(source).read_bytes()
    pixel_data_at = data.rfind(b"\xe0\x7f\x10\x00")
    Path(out).write_bytes(data[: (132 + pixel_data_at) // 2])
    return Path(out)


def not_dicom(out: str | os.PathLike) -> Path:
    """A text file with a .dcm name."""
    Path(out).write_text("patient,counts\nPAT001,1234\n")
    return Path(out)


def as_ct(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The pixels relabelled as a CT image."""

    def change(ds: Dataset) -> None:
        ds.Modality = "CT"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage

    return edit(source, out, change)


def without(source: str | os.PathLike, out: str | os.PathLike, keyword: str) -> Path:
    """`source` with one attribute removed, e.g. 'PixelSpacing'."""
    return edit(source, out, lambda ds: delattr(ds, keyword))


def three_frames(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """A 3-frame object: ANT, POST and ANT again, vectors of 3."""
    return edit(source, out, lambda ds: keep_frames(ds, [0, 1, 0]))


def frames_not_matching_vectors(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Number of Frames says 1 while Detector and Energy Window Vectors hold 2 values."""

    def change(ds: Dataset) -> None:
        ds.NumberOfFrames = 1

    return edit(source, out, change)


def unknown_view(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The POST detector's view code replaced by 'Left lateral projection'."""

    def change(ds: Dataset) -> None:
        ds.DetectorInformationSequence[1].ViewCodeSequence = Sequence(
            [code_item("399118008", "SCT", "Left lateral projection")]
        )

    return edit(source, out, change)


def views_of_different_sizes(folder: str | os.PathLike) -> tuple[Path, Path]:
    """ANT from a 128×64 acquisition and POST from a 96×64 one (same study)."""
    big = write_scan(folder, "big.dcm", make_counts((2, 128, 64)))
    small = write_scan(folder, "small.dcm", make_counts((2, 96, 64), seed=1))
    ant, _ = split_views(big, Path(folder))
    ant = ant.rename(Path(folder) / "ANT-64.dcm")
    _, post = split_views(small, Path(folder))
    return ant, post
