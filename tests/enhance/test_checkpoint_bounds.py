"""Checkpoint architecture sizes are bounded before any layer is allocated, and non-finite weights
are named as the checkpoint's fault (never blamed on the counts)."""

from __future__ import annotations

import copy
import time

import pytest
import torch
from fixtures_infer import tiny_checkpoint

from wbslib.core.errors import CheckpointError, ParamsError
from wbslib.enhance import checkpoint as ck
from wbslib.enhance.models import ARCH_BOUNDS, RRDBNet, UNetDiscriminatorSN
from wbslib.enhance.training.loop import training_config


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> dict:
    path = tiny_checkpoint(tmp_path_factory.mktemp("ck") / "simu-2x.pt")
    return torch.load(path, weights_only=True)


def _save_raw(state: dict, path) -> object:
    """Write a state with torch.save directly (as an edited or foreign file would be): no meta check."""
    torch.save(state, path)
    return path


@pytest.fixture
def no_layers(monkeypatch):
    """Fail the test if any convolution is built (the bounds must be checked before allocation)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a layer was allocated before the sizes were checked")

    monkeypatch.setattr(torch.nn.Conv2d, "__init__", refuse)


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("nf", 1_000_000, "nf=1000000 is not a whole number in 1–256"),
        ("nb", 33, "nb=33 is not a whole number in 1–32"),
        ("gc", 129, "gc=129 is not a whole number in 1–128"),
        ("nf", 0, "nf=0 is not a whole number in 1–256"),
        ("nf", 2.5, "nf=2.5 is not a whole number"),
        ("nb", True, "nb=True is not a whole number"),
        ("in_ch", 3, "in_ch=3 is not 1 (one view of counts)"),
        ("out_ch", 2, "out_ch=2 is not 1 (one view of counts)"),
    ],
)
def test_out_of_bounds_sizes_are_refused_before_allocation(tmp_path, state, no_layers, key, value, words):
    bad = copy.deepcopy(state)
    bad["meta"]["arch_kwargs"][key] = value
    path = _save_raw(bad, tmp_path / "bad.pt")
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as err:
        ck.load_generator(path)
    assert time.perf_counter() - start < 1.0
    text = str(err.value)
    assert text.startswith(f"Checkpoint {path} has invalid meta: arch_kwargs {words}") and text.count("\n") == 0
    with pytest.raises(CheckpointError, match="invalid meta"):
        ck.build_generator(bad["meta"])


def test_nf_one_million_is_refused_in_well_under_a_second_by_the_model_itself(no_layers):
    start = time.perf_counter()
    with pytest.raises(ParamsError, match="nf=1000000 is not a whole number in 1–256"):
        RRDBNet(nf=1_000_000)
    assert time.perf_counter() - start < 0.1


def test_largest_allowed_generator_is_the_bound():
    assert ARCH_BOUNDS == {"in_ch": (1, 1), "out_ch": (1, 1), "nf": (1, 256), "nb": (1, 32), "gc": (1, 128)}
    with pytest.raises(ParamsError, match="nf=257"):
        RRDBNet(nf=257, nb=1, gc=1)
    assert RRDBNet(nf=256, nb=1, gc=1).arch_kwargs["nf"] == 256  # the bound itself is allowed


def test_discriminator_and_train_section_are_bounded(no_layers):
    with pytest.raises(ParamsError, match="nf=100000 is not a whole number in 1–256"):
        UNetDiscriminatorSN(nf=100_000)
    with pytest.raises(ParamsError, match="in_ch=3"):
        UNetDiscriminatorSN(in_ch=3)
    with pytest.raises(ParamsError, match="nf=1000000 .* in the params file's train section"):
        training_config({"run": "x", "train": {"steps": 5, "nf": 1_000_000}}, {"mode": "simu", "speed": 2})


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_the_checkpoints_fault(tmp_path, state, bad_value):
    bad = copy.deepcopy(state)
    name = "body.0.blocks.0.conv_out.weight"
    bad["generator"][name][0, 0, 0, 0] = bad_value
    path = _save_raw(bad, tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError) as err:
        ck.load_generator(path)
    text = str(err.value)
    assert f"Checkpoint {path} holds generator weights that are not finite" in text and name in text
    assert "counts" not in text and "retrain or restore" in text


def test_checkpoint_written_by_save_checkpoint_must_be_in_bounds(tmp_path, state):
    bad = copy.deepcopy(state)
    bad["meta"]["arch_kwargs"]["gc"] = 10_000
    with pytest.raises(CheckpointError, match="gc=10000"):
        ck.save_checkpoint(tmp_path / "x.pt", bad)
    assert not (tmp_path / "x.pt").exists()
