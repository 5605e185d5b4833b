"""Checkpoints: atomic save, round trip, corrupt files, mismatched architecture or expectations."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from wbslib.core.errors import CheckpointError, ParamsError
from wbslib.core.fileio import sha256_file
from wbslib.enhance import checkpoint as ck
from wbslib.enhance.models import RRDBNet

TINY = dict(in_ch=1, out_ch=1, nf=8, nb=1, gc=4)
WEIGHTS = {"perceptual": 1.0, "l1": 0.005, "bce": 0.01, "gan": 0.001}


class Payload:
    """A user-defined class: unpickling it would import and run project code."""


def tiny_state(step: int = 7, mode: str = "simu", speed: float = 2.0, **extra) -> tuple[RRDBNet, dict]:
    torch.manual_seed(step)
    model = RRDBNet(**TINY)
    meta = ck.checkpoint_meta(
        model,
        mode=mode,
        speed_factor=speed,
        count_scale=50.0,
        patch_size=32,
        perceptual="none",
        loss_weights=WEIGHTS,
        step=step,
    )
    return model, {"meta": meta, "generator": model.state_dict(), **extra}


def test_meta_has_every_contract_key():
    _, state = tiny_state()
    meta = state["meta"]
    assert tuple(meta) == ck.META_KEYS
    assert meta["arch"] == "RRDBNet" and meta["arch_kwargs"] == TINY
    assert meta["speed_factor"] == 2.0 and meta["count_scale"] == 50.0 and meta["step"] == 7
    assert isinstance(meta["git_sha"], str) and meta["git_sha"]


def test_round_trip_restores_identical_outputs_and_extra_state(tmp_path):
    model, state = tiny_state(
        numpy_rng=np.random.get_state(),
        torch_rng=torch.get_rng_state(),
        gen_state=np.random.default_rng(5).bit_generator.state,
        epoch=np.int64(3),
    )
    path = ck.save_checkpoint(tmp_path / "ck" / "simu-2x.pt", state)
    assert path.exists() and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    loaded, meta = ck.load_generator(path, expect={"mode": "simu", "speed_factor": 2.0 + 1e-12, "nf": 8})
    assert meta == state["meta"] and not loaded.training
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    full = ck.load_checkpoint(path)
    assert np.array_equal(full["numpy_rng"][1], state["numpy_rng"][1])
    assert torch.equal(full["torch_rng"], state["torch_rng"]) and full["epoch"] == 3
    assert full["gen_state"] == state["gen_state"]


def test_prefixed_state_dict_from_ddp_or_compile_loads(tmp_path):
    model, state = tiny_state()
    state["generator"] = {f"module._orig_mod.{k}": v for k, v in model.state_dict().items()}
    ck.save_checkpoint(tmp_path / "a.pt", state)
    loaded, _ = ck.load_generator(tmp_path / "a.pt")
    assert torch.equal(loaded.conv_last.weight, model.conv_last.weight)


def test_failed_save_leaves_existing_file_untouched(tmp_path, monkeypatch):
    _, state = tiny_state()
    path = ck.save_checkpoint(tmp_path / "simu-2x.pt", state)
    before = sha256_file(path)

    def broken_save(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    _, other = tiny_state(step=9)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(path, other)
    assert sha256_file(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["simu-2x.pt"]


@pytest.mark.parametrize(
    "bad_state,match",
    [
        ({"generator": {}}, "no 'meta' dict"),
        ({"meta": {"arch": "RRDBNet"}, "generator": {}}, "lacks meta keys"),
        ([1, 2], "must be a dict"),
        ({"meta": {}}, "must be a dict with a 'generator'"),
    ],
)
def test_save_rejects_incomplete_state(tmp_path, bad_state, match):
    with pytest.raises(CheckpointError, match=match):
        ck.save_checkpoint(tmp_path / "x.pt", bad_state)
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("mode", "fast", "mode 'fast'"),
        ("speed_factor", 0.5, "speed_factor 0.5"),
        ("count_scale", 0, "count_scale 0"),
        ("arch", "UNet", "arch 'UNet'"),
        ("arch_kwargs", {"nf": 8, "depth": 3}, "arch_kwargs"),
        ("perceptual", "vgg16", "perceptual 'vgg16'"),
        ("speed_factor", float("nan"), "speed_factor"),
    ],
)
def test_invalid_meta_values_are_named(tmp_path, field, value, match):
    _, state = tiny_state()
    state["meta"][field] = value
    with pytest.raises(CheckpointError, match=match):
        ck.save_checkpoint(tmp_path / "x.pt", state)


def corrupt_variants(good: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "text": b"not a checkpoint at all\n",
        "flipped": good[:100] + bytes(b ^ 0xFF for b in good[100:400]) + good[400:],
    }


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "flipped"])
def test_corrupt_files_raise_and_stay_untouched(tmp_path, kind):
    _, state = tiny_state()
    good = ck.save_checkpoint(tmp_path / "good.pt", state).read_bytes()
    bad = tmp_path / f"{kind}.pt"
    bad.write_bytes(corrupt_variants(good)[kind])
    before = bad.read_bytes()
    with pytest.raises(CheckpointError, match=str(bad)):
        ck.load_generator(bad)
    assert bad.read_bytes() == before


def test_torch_file_that_is_not_a_checkpoint(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "dict.pt")
    for name in ("tensor.pt", "dict.pt"):
        with pytest.raises(CheckpointError, match="not a wbs-accel checkpoint"):
            ck.load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "missing.pt")


def test_pickled_code_is_refused(tmp_path):
    """weights_only loading: a checkpoint holding an arbitrary Python object is not executed."""
    torch.save({"meta": {}, "generator": {}, "hook": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot be read"):
        ck.load_checkpoint(tmp_path / "evil.pt")


def test_mismatched_expectations_list_every_difference(tmp_path):
    _, state = tiny_state(mode="real", speed=3.0)
    path = ck.save_checkpoint(tmp_path / "real-3x.pt", state)
    with pytest.raises(CheckpointError, match=r"mode='real' \(wanted 'simu'\).*speed_factor=3.0 \(wanted 2\)"):
        ck.load_generator(path, expect={"mode": "simu", "speed_factor": 2})
    with pytest.raises(CheckpointError, match=r"nb=1 \(wanted 9\)"):
        ck.load_generator(path, expect={"nb": 9})
    with pytest.raises(ParamsError, match="unknown"):
        ck.load_generator(path, expect={"velocity": 3.0})
    model, _ = ck.load_generator(path, expect={"speed": 3.0, "mode": "real", "arch": "RRDBNet", "gc": 4})
    assert model.arch_kwargs == TINY


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    _, state = tiny_state()
    state["meta"]["arch_kwargs"] = dict(TINY, nf=16)  # meta says nf=16, weights are nf=8
    path = ck.save_checkpoint(tmp_path / "x.pt", state)
    with pytest.raises(CheckpointError, match="do not fit RRDBNet"):
        ck.load_generator(path)
    _, state = tiny_state()
    del state["generator"]["conv_last.bias"]
    with pytest.raises(CheckpointError, match="do not fit"):
        ck.load_generator(ck.save_checkpoint(tmp_path / "y.pt", state))


def test_build_generator_from_meta():
    _, state = tiny_state()
    model = ck.build_generator(state["meta"])
    assert isinstance(model, RRDBNet) and model.arch_kwargs == TINY
    state["meta"]["arch_kwargs"] = dict(TINY, nf=0)
    with pytest.raises(CheckpointError, match="arch_kwargs"):
        ck.build_generator(state["meta"])


def test_latest_checkpoint_by_write_time(tmp_path):
    assert ck.latest_checkpoint(tmp_path / "none") is None
    assert ck.latest_checkpoint(tmp_path) is None
    _, state = tiny_state()
    a = ck.save_checkpoint(tmp_path / "b-first.pt", state)
    b = ck.save_checkpoint(tmp_path / "a-second.pt", state)
    os.utime(a, ns=(1_000_000_000, 1_000_000_000))
    os.utime(b, ns=(2_000_000_000, 2_000_000_000))
    (tmp_path / ".a-second.pt.123.tmp").write_bytes(b"leftover of a killed save")
    (tmp_path / "notes.txt").write_text("x")
    assert ck.latest_checkpoint(tmp_path) == b
    os.utime(a, ns=(3_000_000_000, 3_000_000_000))
    assert ck.latest_checkpoint(tmp_path) == a
    assert ck.latest_checkpoint(tmp_path, pattern="a-*.pt") == b
