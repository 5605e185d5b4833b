"""Whole-body inference: the count contract, tiles vs whole views, precision choice, checkpoint and
speed checks, derived DICOM outputs, and batch enhancement of a manifest."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
import torch
from fixtures_dicom import edit, make_counts, write_scan
from fixtures_infer import (
    COUNT_SCALE,
    tiny_checkpoint,
    tiny_cohort,
    tiny_model,
    trained_tiny_model,
)
from torch import nn

from wbslib import RESEARCH_USE
from wbslib.core.errors import (
    CheckpointError,
    InvalidCountsError,
    OutputConflictError,
    ParamsError,
    SpeedUnknownError,
)
from wbslib.core.fileio import sha256_file
from wbslib.enhance import runtime as rt
from wbslib.enhance.batch import read_enhanced_manifest
from wbslib.enhance.infer import (
    enhance_counts,
    enhance_manifest,
    enhance_scan,
    parse_group,
)
from wbslib.enhance.studies import enhance_file
from wbslib.enhance.tiling import Blender, plan_tiles, tile_starts
from wbslib.io.dicom import read_wholebody
from wbslib.io.manifest.pseudonym import file_id, load_key, pseudonym

META = {"speed_factor": 2.0, "count_scale": 50.0, "arch_kwargs": {"nf": 8, "nb": 1, "gc": 8}}


class Scale(nn.Module):
    """y = a·x + b: a model whose output is known exactly."""

    def __init__(self, a: float = 1.0, b: float = 0.0):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a * x + self.b


class BigBias(nn.Module):
    """A 1×1 conv adding 1000, then subtracting it: exact in fp32; in bf16 (spacing 4 near 1000)
    inputs below 2 vanish."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(1000.0)

    def forward(self, x):
        return self.conv(x) - 1000.0


def test_model_sees_counts_times_s_over_c_and_output_is_times_c_without_rescaling():
    counts = make_counts((2, 32, 16), seed=1)
    out = enhance_counts(counts, Scale(0.9), META, device="cpu", precision="fp32")
    np.testing.assert_allclose(out, 0.9 * counts * 2.0, rtol=1e-6)  # total 0.9 × 1x-equivalent: not rescaled
    assert out.dtype == np.float32


def test_output_is_clamped_at_zero_and_a_missing_view_stays_nan():
    counts = make_counts((2, 32, 16), seed=2)
    counts[1] = np.nan
    out = enhance_counts(counts, Scale(1.0, -0.5), META, device="cpu", precision="fp32")
    assert np.isnan(out[1]).all()
    expected = np.maximum(counts[0] * 2.0 - 0.5 * 50.0, 0.0)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-4)
    assert (out[0] >= 0).all() and (out[0] == 0).any()


def test_partly_nan_view_is_a_named_error():
    counts = make_counts((2, 32, 16), seed=3)
    counts[0, 3, 4] = np.nan
    with pytest.raises(InvalidCountsError, match="partly NaN"):
        enhance_counts(counts, Scale(), META, device="cpu")


def test_tile_windows_are_a_partition_of_unity():
    for length, tile, overlap in ((100, 40, 10), (64, 64, 8), (257, 64, 16), (1024, 256, 64)):
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    blend = Blender((1, 100, 70))
    for t in plan_tiles((100, 70), 32, 12):
        blend.add(t, np.full((1, t.r1 - t.r0, t.c1 - t.c0), 3.0))
    np.testing.assert_allclose(blend.result(), 3.0, rtol=1e-6)


def test_tiled_inference_matches_whole_views_within_half_a_percent():
    model = trained_tiny_model()
    counts = make_counts((2, 256, 128), seed=4, mean=40.0)
    x = torch.from_numpy(counts * np.float32(2.0 / COUNT_SCALE))[:, None]
    whole = rt.forward(model, x, None)[:, 0]
    tiled = rt.tiled_forward(lambda t: rt.forward(model, t, None), x, 64, rt.default_overlap(64, model.arch_kwargs))
    assert np.abs(tiled - whole).max() / np.abs(whole).max() < 0.005
    meta = {"speed_factor": 2.0, "count_scale": COUNT_SCALE, "arch_kwargs": model.arch_kwargs}
    a = enhance_counts(counts, model, meta, device="cpu", precision="fp32")
    b = enhance_counts(counts, model, meta, device="cpu", precision="fp32", tile=64)
    assert np.abs(a - b).max() / a.max() < 0.005


def test_memory_budget_switches_to_tiles(monkeypatch):
    model = trained_tiny_model()
    meta = {"speed_factor": 2.0, "count_scale": COUNT_SCALE, "arch_kwargs": model.arch_kwargs}
    counts = make_counts((2, 256, 128), seed=6, mean=40.0)
    whole = enhance_counts(counts, model, meta, device="cpu", precision="fp32")
    calls = []
    monkeypatch.setattr(
        "wbslib.enhance.infer.memory_budget_bytes", lambda device: rt.activation_bytes(1, 128, 128, meta["arch_kwargs"])
    )
    monkeypatch.setattr("wbslib.enhance.infer.tiled_forward", lambda *a: calls.append(a[2]) or rt.tiled_forward(*a))
    tiled = enhance_counts(counts, model, meta, device="cpu", precision="fp32")
    assert calls == [128]
    assert np.abs(tiled - whole).max() / whole.max() < 0.005


def test_counts_agree_known_answers():
    ref = np.ones((2, 64, 64)) * 10.0
    assert rt.counts_agree(ref, ref.copy())
    assert not rt.counts_agree(ref, ref * 1.02)  # total 2 % off
    other = ref.copy()
    other[0, :32, :32] *= 1.05  # one block 5 % off, total +0.6 %
    assert abs(other.sum() / ref.sum() - 1) < 0.01 and not rt.counts_agree(ref, other)
    assert rt.counts_agree(ref, ref * 1.009)


def test_precision_choice(monkeypatch):
    x = torch.from_numpy(make_counts((2, 256, 32), seed=7) / 40.0)[:, None]  # model scale: mostly < 1
    assert rt.choose_precision(Scale(), x, "fp32") is None
    assert rt.choose_precision(Scale(), x, "bf16") is torch.bfloat16
    with pytest.raises(ParamsError, match="precision"):
        rt.choose_precision(Scale(), x, "int8")
    monkeypatch.setattr(rt, "cpu_has_amx", lambda: False)
    assert rt.choose_precision(Scale(), x, "auto") is None  # no AMX: bf16 is not faster on CPU
    monkeypatch.setattr(rt, "cpu_has_amx", lambda: True)
    conv = nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0), conv.bias.zero_()
    assert rt.choose_precision(conv, x, "auto") is torch.bfloat16  # bf16 keeps counts within 1 %
    assert rt.choose_precision(BigBias(), x, "auto") is None  # bf16 would ruin the counts


def test_probe_takes_the_brightest_rows():
    x = torch.zeros(1, 1, 400, 8)
    x[0, 0, 300:310] = 5.0
    probe = rt.probe_rows(x, 128)
    assert probe.shape[2] == 128 and float(probe.sum()) == float(x.sum())


def _scan(tmp_path, speed=2.0, **kwargs):
    return read_wholebody(write_scan(tmp_path, "in.dcm", make_counts(seed=8), speed_factor=speed, **kwargs))


def test_scan_without_speed_needs_an_override(tmp_path):
    src = write_scan(tmp_path, "fast.dcm", make_counts(seed=9), speed_factor=2.0)
    bare = edit(src, tmp_path / "nospeed.dcm", lambda ds: delattr(ds, "ScanVelocity"))
    ckpt = tiny_checkpoint(tmp_path / "simu-2x.pt")
    scan = read_wholebody(bare)
    with pytest.raises(SpeedUnknownError, match="speed_factor="):
        enhance_scan(scan, ckpt, device="cpu")
    with pytest.raises(SpeedUnknownError):
        enhance_file(bare, ckpt, tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()
    out = enhance_scan(scan, ckpt, speed_factor=2.0, device="cpu")
    assert out.derived_1x_equivalent and out.count_equivalent_speed == 1.0


def test_checkpoint_of_another_speed_mode_or_architecture_is_refused(tmp_path):
    scan = _scan(tmp_path, speed=3.0)
    with pytest.raises(CheckpointError, match="2x"):
        enhance_scan(scan, tiny_checkpoint(tmp_path / "simu-2x.pt"), device="cpu")
    ckpt3 = tiny_checkpoint(tmp_path / "simu-3x.pt", speed=3.0)
    with pytest.raises(CheckpointError, match="mode"):
        enhance_scan(scan, ckpt3, expect={"mode": "real"}, device="cpu")
    with pytest.raises(CheckpointError, match="nf"):
        enhance_scan(scan, ckpt3, expect={"nf": 64, "nb": 9}, device="cpu")
    model, meta = tiny_model(nf=16), {"speed_factor": 3.0, "count_scale": 1.0, "arch_kwargs": {"nf": 8}}
    with pytest.raises(CheckpointError, match="architecture"):
        enhance_scan(scan, (model, meta), device="cpu")
    state = torch.load(ckpt3, weights_only=True)
    state["meta"]["arch"] = "UNet"
    torch.save(state, tmp_path / "unet.pt")
    with pytest.raises(CheckpointError, match="UNet"):
        enhance_scan(scan, tmp_path / "unet.pt", device="cpu")


def test_enhance_file_writes_a_derived_dicom_that_reads_back_to_the_same_counts(tmp_path):
    src = write_scan(tmp_path, "STUDY.dcm", make_counts(seed=11, mean=30.0), speed_factor=2.0)
    ckpt = tiny_checkpoint(tmp_path / "simu-2x.pt")
    before = sha256_file(src)
    out = enhance_file(src, ckpt, tmp_path / "out", device="cpu")
    key = load_key()  # named by the keyed study id and file id, never by the source's name
    assert out == tmp_path / "out" / "2x-simu" / f"{pseudonym('PAT001', key)}-{file_id('STUDY.dcm', key)}.dcm"
    expected = enhance_scan(read_wholebody(src), ckpt, device="cpu", precision="fp32").counts
    back = read_wholebody(out)
    assert back.derived_1x_equivalent and back.count_equivalent_speed == 1.0 and back.speed_factor == 2.0
    assert np.abs(back.counts - expected).max() <= 0.5 + 1e-3
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert RESEARCH_USE in ds.SeriesDescription and RESEARCH_USE in ds.ImageComments
    assert "2x" in ds.SeriesDescription and "simu" in ds.SeriesDescription
    assert "1x-equivalent" in ds.DerivationDescription and "simu" in ds.DerivationDescription
    assert enhance_file(src, ckpt, tmp_path / "out", device="cpu") == out  # same result: nothing to do
    assert sha256_file(src) == before


def test_output_folder_holding_a_different_file_is_never_overwritten(tmp_path):
    src = write_scan(tmp_path, "STUDY.dcm", make_counts(seed=12), speed_factor=2.0)
    out_dir = tmp_path / "out"
    key = load_key()
    other = out_dir / "2x-simu" / f"{pseudonym('PAT001', key)}-{file_id('STUDY.dcm', key)}.dcm"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"a different file")
    with pytest.raises(OutputConflictError, match="nothing was overwritten"):
        enhance_file(src, tiny_checkpoint(tmp_path / "simu-2x.pt"), out_dir, device="cpu")
    assert other.read_bytes() == b"a different file"


def test_group_names():
    assert parse_group("2x-simu") == (2.0, "simu") and parse_group("2.5x-real") == (2.5, "real")
    with pytest.raises(ParamsError):
        parse_group("2x-gauss")


def test_enhance_manifest_writes_skips_forces_and_quarantines(tmp_path):
    root, out_root = tmp_path / "data", tmp_path / "run" / "enhanced"
    manifest = tiny_cohort(root)
    inputs = {p: sha256_file(root / p) for p in manifest["path"]}
    ckpts = {
        "2x-simu": tiny_checkpoint(tmp_path / "simu-2x.pt"),
        "2x-real": tiny_checkpoint(tmp_path / "real-2x.pt", mode="real", seed=1),
    }
    test = manifest[manifest["split"] == "test"]
    rows, bad = enhance_manifest(test, root, ckpts, out_root, device="cpu", progress=False)
    assert bad.empty and sorted(rows["group"]) == ["2x-real", "2x-real", "2x-simu", "2x-simu"]
    assert set(rows["method"]) == {"rrdb-real", "rrdb-simu"} and set(rows["status"]) == {"enhanced"}
    for r in rows.itertuples():
        path = out_root / r.group / f"{r.study_id}.dcm"
        assert path.is_file() and sha256_file(path) == r.sha256
        assert read_wholebody(path).derived_1x_equivalent
    mtimes = {p: p.stat().st_mtime_ns for p in out_root.rglob("*.dcm")}
    again, _ = enhance_manifest(test, root, ckpts, out_root, device="cpu", progress=False)
    assert set(again["status"]) == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in out_root.rglob("*.dcm")} == mtimes
    forced, _ = enhance_manifest(test, root, ckpts, out_root, force=True, device="cpu", progress=False)
    assert set(forced["status"]) == {"enhanced"} and sorted(forced["sha256"]) == sorted(rows["sha256"])
    broken = test.copy()
    broken.loc[(broken["study_id"] == "S02") & (broken["speed_factor"] == 2.0), "sha256"] = "0" * 64
    rows3, bad3 = enhance_manifest(broken, root, {"2x-simu": ckpts["2x-simu"]}, out_root, device="cpu", progress=False)
    assert list(bad3["study_id"]) == ["S02"] and list(bad3["error"]) == ["ChecksumMismatchError"]
    assert list(rows3["study_id"]) == ["S01"]
    listed = (out_root / "quarantine.csv").read_text()
    assert "S02" in listed and "ChecksumMismatchError" in listed
    listed = read_enhanced_manifest(out_root)  # other groups' rows kept
    assert sorted(zip(listed["study_id"], listed["group"])) == [
        ("S01", "2x-real"),
        ("S01", "2x-simu"),
        ("S02", "2x-real"),
    ]
    assert not (out_root / "2x-simu" / "S02.dcm").exists()  # stale output of a bad input
    assert {p: sha256_file(root / p) for p in manifest["path"]} == inputs  # inputs never touched


def test_mismatched_group_checkpoint_stops_before_writing(tmp_path):
    root, out_root = tmp_path / "data", tmp_path / "enhanced"
    manifest = tiny_cohort(root, (("S01", "test"),))
    with pytest.raises(CheckpointError, match="mode"):
        enhance_manifest(
            manifest,
            root,
            {"2x-real": tiny_checkpoint(tmp_path / "simu-2x.pt")},
            out_root,
            device="cpu",
            progress=False,
        )
    with pytest.raises(CheckpointError, match="3x"):
        enhance_manifest(
            manifest, root, {"3x-simu": tiny_checkpoint(tmp_path / "s.pt")}, out_root, device="cpu", progress=False
        )
    assert not out_root.exists()


def test_a_model_trained_on_several_speeds_accepts_any_speed_in_their_range(tmp_path):
    scan = _scan(tmp_path, speed=2.5)
    model = tiny_model()
    meta = {
        "speed_factor": 3.0,
        "speed_factors": [2.0, 2.5, 3.0],
        "count_scale": COUNT_SCALE,
        "arch_kwargs": model.arch_kwargs,
    }
    out = enhance_scan(scan, (model, meta), device="cpu")
    assert out.derived_1x_equivalent
    with pytest.raises(CheckpointError, match="2x to 3x"):
        enhance_scan(_scan(tmp_path / "b", speed=4.0), (model, meta), device="cpu")


@pytest.mark.gpu
def test_cuda_inference_agrees_with_cpu_fp32_and_tiles_agree_with_whole_views():
    model = trained_tiny_model()
    meta = {"speed_factor": 2.0, "count_scale": COUNT_SCALE, "arch_kwargs": model.arch_kwargs}
    counts = make_counts((2, 1024, 256), seed=13, mean=40.0)
    cpu = enhance_counts(counts, copy.deepcopy(model), meta, device="cpu", precision="fp32")
    gpu = enhance_counts(counts, model, meta, device="cuda")  # auto: bf16 if the counts check passes
    assert rt.counts_agree(cpu, gpu)
    tiled = enhance_counts(counts, model, meta, device="cuda", tile=256)
    assert np.abs(tiled - gpu).max() / gpu.max() < 0.005
