"""wbslib.enhance.engines / background / hostinfo: every runtime is exact against eager torch, 'auto'
follows the host's facts, a missing runtime falls back with one notice, and skipping the background
keeps the body's counts (trained tiny generator, as in fixtures_infer)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from fixtures_infer import COUNT_SCALE, poisson_image, trained_tiny_model
from scipy import ndimage

from wbslib.core.errors import ParamsError
from wbslib.core.masks import body_mask
from wbslib.enhance import engines
from wbslib.enhance.background import margin_px, skipping_forward, support_box, zero_response
from wbslib.enhance.engines import Engine, auto_runtime, installed, resolve_runtime
from wbslib.enhance.hostinfo import ISA_FLAGS, host_facts, host_line
from wbslib.enhance.infer import enhance_counts
from wbslib.enhance.runtime import forward

EXACT = ["eager", "channels_last", *[r for r in engines.AUTO_OPTIONAL if installed(r)]]


@pytest.fixture(scope="module")
def model():
    return trained_tiny_model(steps=40)


def body_scan(shape=(2, 320, 160), seed=3) -> np.ndarray:
    """A 2x scan of a smooth body (rows 40–250, columns 30–130) with a hot spine, zeros elsewhere."""
    expected = np.zeros(shape)
    expected[:, 40:250, 30:130] = 20.0
    expected[:, 60:200, 75:85] += 60.0
    expected = ndimage.gaussian_filter(expected, (0, 2, 2))
    expected[expected < 0.05] = 0.0
    return poisson_image(expected / 2.0, seed).astype(np.float32)


@pytest.mark.parametrize("runtime", EXACT)
def test_every_runtime_matches_eager_fp32(model, runtime):
    """Max pixel difference ≤ 1e-3 of the output's maximum and total within 1e-4 (the adoption rule)."""
    x = torch.from_numpy(body_scan() * np.float32(2.0 / COUNT_SCALE))[:, None]
    reference = forward(model, x.contiguous(), None, torch.contiguous_format)
    engine = Engine(model, runtime, "cpu")
    assert engine.name == runtime
    y = engine(x)
    assert y.shape == reference.shape and y.dtype == np.float32
    assert np.abs(y - reference).max() <= 1e-3 * np.abs(reference).max()
    assert abs(y.sum() - reference.sum()) <= 1e-4 * abs(reference.sum())


@pytest.mark.skipif(not installed("openvino"), reason="openvino is not installed (extra cpu-fast)")
def test_openvino_matches_eager_fp32_in_its_own_process():
    """OpenVINO runs in a fresh interpreter (it must not share a process with forked DataLoader workers)."""
    code = (
        "import numpy as np, torch; from wbslib.enhance.models import RRDBNet;"
        "from wbslib.enhance.engines import Engine; from wbslib.enhance.runtime import forward;"
        "torch.manual_seed(0); m = RRDBNet(1, 1, 8, 1, 8).eval(); x = torch.rand(2, 1, 96, 64);"
        "ref = forward(m, x, None, torch.contiguous_format); e = Engine(m, 'openvino', 'cpu'); y = e(x);"
        "assert e.name == 'openvino' and y.shape == ref.shape;"
        "assert np.abs(y - ref).max() <= 1e-3 * np.abs(ref).max(); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_auto_follows_the_host_facts(monkeypatch):
    arch = {"nf": 64}
    avx2 = {"isa": ("AVX2", "FMA")}
    assert auto_runtime("cuda:0", arch, avx2) == "channels_last"
    assert auto_runtime("cpu", arch, {"isa": ("AVX2", "AVX-512F", "AMX")}) == "channels_last"
    monkeypatch.setattr(engines, "installed", lambda name: True)
    assert auto_runtime("cpu", arch, avx2) == "onnxruntime"  # OpenVINO only when asked for (engines doc)
    monkeypatch.setattr(engines, "installed", lambda name: name not in engines.OPTIONAL)
    assert auto_runtime("cpu", arch, avx2) == "channels_last"
    assert auto_runtime("cpu", {"nf": 8}, avx2) == "eager"  # narrow models: concatenations dominate


def test_a_missing_runtime_falls_back_with_one_notice(monkeypatch, capsys):
    monkeypatch.setattr(engines, "installed", lambda name: name not in engines.OPTIONAL)
    monkeypatch.setattr(engines, "_noticed", set())
    assert resolve_runtime("openvino", "cpu", {"nf": 64}) == "channels_last"
    assert resolve_runtime("openvino", "cpu", {"nf": 64}) == "channels_last"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["wbs-accel: runtime openvino is not installed (pip install .[cpu-fast]); using channels_last."]
    with pytest.raises(ParamsError, match="not one of"):
        resolve_runtime("tensorrt", "cpu", {})


def test_host_facts_are_read_not_assumed():
    facts = host_facts()
    assert facts["cores"] >= 1 and facts["torch_threads"] >= 1 and facts["cpu"]
    assert set(facts["isa"]) <= set(ISA_FLAGS.values())
    assert f"{facts['cores']} cores" in host_line(facts)


def test_support_box_is_the_body_plus_the_margin():
    views = np.zeros((2, 300, 120), np.float32)
    views[0, 50:200, 40:80] = 10.0
    views[1, 60:220, 30:70] = 10.0
    r0, r1, c0, c1 = support_box(views, 0)  # the bodies, plus the smoothing's reach (σ 3 px at 0.5 %)
    assert 40 <= r0 <= 50 and 220 <= r1 <= 230 and 20 <= c0 <= 30 and 80 <= c1 <= 90
    assert support_box(views, 20) == (r0 - 20, r1 + 20, c0 - 20, c1 + 20)
    assert support_box(views, 100) == (0, 300, 0, 120)  # clipped to the frame
    assert support_box(np.zeros((2, 30, 30)), 5) is None


def test_skipping_the_background_keeps_the_body(model):
    """Body counts within 0.1 % of whole-frame inference, no pixel off by more than 1 % of the view's
    maximum, the skipped pixels hold the zero-input response, and a sixth of the frame is skipped."""
    counts = body_scan()
    meta = {"speed_factor": 2.0, "count_scale": COUNT_SCALE, "arch_kwargs": model.arch_kwargs}
    info = {}
    whole = enhance_counts(counts, model, meta, device="cpu", runtime="eager", skip_background=False)
    fast = enhance_counts(counts, model, meta, device="cpu", runtime="eager", info=info)
    assert info["skipped"] > 0.15 and info["runtime"] == "eager"
    for v in range(2):
        body = body_mask(counts[v])
        assert abs(fast[v][body].sum() / whole[v][body].sum() - 1) <= 1e-3
        assert np.abs(fast[v] - whole[v]).max() <= 0.01 * whole[v].max()
    r0, r1, c0, c1 = support_box(counts, margin_px(model.arch_kwargs))
    outside = np.ones(counts.shape[1:], bool)
    outside[r0:r1, c0:c1] = False
    zero = zero_response(lambda t: forward(model, t, None, torch.contiguous_format), margin_px(model.arch_kwargs))
    np.testing.assert_allclose(fast[:, outside], max(zero, 0.0) * COUNT_SCALE, rtol=1e-6, atol=1e-7)


def test_an_empty_frame_is_the_zero_response_and_a_full_one_is_not_cropped(model):
    run = lambda t: forward(model, t, None, torch.contiguous_format)  # noqa: E731
    empty, skipped = skipping_forward(run, torch.zeros(2, 1, 64, 64), 8)
    assert skipped == 1.0 and np.ptp(empty) == 0.0
    full = torch.full((1, 1, 64, 64), 0.5)
    y, skipped = skipping_forward(run, full, 8)
    assert skipped == 0.0 and np.array_equal(y, run(full)[:, 0])
