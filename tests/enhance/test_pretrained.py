"""wbslib.enhance.pretrained: the shipped generators are there, small, checksummed, used by `wbs enhance`
when no --model is given (a derived DICOM that passes dciodvfy, counts kept), refused when changed or
for a speed none was trained for; with them, skipping the background keeps the body's counts and pixels."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from fixtures_dicom import dciodvfy_errors, write_scan

from wbslib.cli import main
from wbslib.core.errors import CheckpointError
from wbslib.core.masks import body_mask
from wbslib.core.repro import rng
from wbslib.enhance import pretrained
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.infer import enhance_counts
from wbslib.phantom.acquisition import acquire
from wbslib.phantom.body import make_phantom

MAX_BYTES = 5_000_000


@pytest.fixture(scope="module")
def phantom_2x() -> np.ndarray:
    """A phantom patient's 2x scan (raw counts, 2 × 1024 × 256)."""
    person = {"sex": "M", "age": 70.0, "height_cm": 176.0, "bmi": 27.0, "metastatic": True}
    expected = make_phantom("PRETRAINED", person, rng(3, "pretrained")).render().image
    return acquire(expected / 2.0, rng(3, "pretrained-scan")).astype(np.float32)


def test_the_shipped_models_are_listed_small_and_intact():
    assert pretrained.shipped_speeds() == [2.0, 3.0]
    files = [pretrained.pretrained_checkpoint(s) for s in (2, 3)]
    assert sum(f.stat().st_size for f in files) <= MAX_BYTES
    for speed, path in zip((2.0, 3.0), files):
        _, meta = load_generator(path)
        assert meta["mode"] == "split" and meta["speed_factor"] == speed
    assert pretrained.pretrained_checkpoint(2.02) == files[0]  # within 2 %


def test_no_model_for_another_speed_and_a_changed_file_is_refused(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match=r"No pretrained model ships for 2\.5x scans \(shipped: 2x, 3x\)"):
        pretrained.pretrained_checkpoint(2.5)
    copy = tmp_path / "pretrained"
    shutil.copytree(pretrained.FOLDER, copy)
    monkeypatch.setattr(pretrained, "FOLDER", copy)
    monkeypatch.setattr(pretrained, "SUMS", copy / "SHA256SUMS")
    with open(copy / "split-2x.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(CheckpointError, match="changed since it was published"):
        pretrained.pretrained_checkpoint(2)


def test_wbs_enhance_without_a_model_uses_the_shipped_one(tmp_path, phantom_2x):
    scan = write_scan(tmp_path / "in", "wb.dcm", phantom_2x, speed_factor=2.0)
    assert main(["enhance", str(scan), "--out", str(tmp_path / "out")]) == 0
    (out,) = (tmp_path / "out").rglob("*.dcm")
    assert out.parent.name == "2x-split"
    assert dciodvfy_errors(out) == []
    ds = pydicom.dcmread(out)
    enhanced = ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1.0))
    assert abs(enhanced.sum() / (phantom_2x.sum() * 2.0) - 1) < 0.02


def test_skipping_the_background_keeps_the_body_with_a_trained_model(phantom_2x):
    net, meta = load_generator(pretrained.pretrained_checkpoint(2))
    info = {}
    whole = enhance_counts(phantom_2x, net, meta, device="cpu", runtime="eager", skip_background=False)
    fast = enhance_counts(phantom_2x, net, meta, device="cpu", runtime="eager", info=info)
    assert info["skipped"] > 0.1
    for v in range(2):
        body = body_mask(phantom_2x[v])
        assert abs(fast[v][body].sum() / whole[v][body].sum() - 1) <= 1e-3
        assert np.abs(fast[v] - whole[v])[body].max() <= 0.01 * whole[v].max()
        # outside the body the skipped rows hold the zero-input response; the whole-frame output there
        # carries the zero-padding response of the frame's edges (≤ 2 % of the maximum, measured)
        assert np.abs(fast[v] - whole[v]).max() <= 0.02 * whole[v].max()


def test_an_unknown_runtime_stops_before_any_work(tmp_path, capsys):
    scan = write_scan(tmp_path / "in", "wb.dcm", speed_factor=2.0)
    assert main(["enhance", str(scan), "--out", str(tmp_path / "out"), "--runtime", "tensorrt"]) == 2
    assert "runtime 'tensorrt' is not one of" in capsys.readouterr().err and not (tmp_path / "out").exists()
