"""wbslib.enhance.training.loop: outputs, skip, exact resume after SIGKILL (0 and 2 workers), bad input, learning."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from train_fixtures import write_cohort

from wbslib.core.errors import CheckpointError, ParamsError, TrainingDataError
from wbslib.enhance.checkpoint import load_checkpoint, load_generator
from wbslib.enhance.pretrained import nearest_checkpoint
from wbslib.enhance.training.loop import train_from_params, train_model
from wbslib.enhance.training.state import config_sha
from wbslib.enhance.training.step import learning_rate

TESTS = Path(__file__).resolve().parents[1]
SPEC = {"mode": "simu", "speed": 2.0}

# Runs train_model in a fresh process; SIGKILLs itself right after step `kill_at` (0: never).
RUNNER = """
import json, os, signal, sys
import torch
torch.set_num_threads(1)
from wbslib.enhance.training.loop import train_model
params, run_dir, kill_at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def on_step(step, losses):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
train_model(params, params["train"]["models"][0], run_dir, progress=False, on_step=on_step)
"""


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    params = write_cohort(root, rows=128, cols=64, n_train=2, n_val=1, speeds=(2.0,))
    params["train"].update(steps=6, val_every=3, checkpoint_every=2)
    return params


def run_training(params: dict, run_dir: Path, kill_at: int = 0) -> int:
    """Exit code of a training subprocess (−9 when it SIGKILLed itself); its orphans are ended too."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(params), str(run_dir), str(kill_at)],
        env=env,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=120)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # DataLoader workers left behind by the SIGKILL
    except ProcessLookupError:
        pass
    assert proc.returncode in (0, -signal.SIGKILL), err[-2000:]
    return proc.returncode


def generator_weights(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "simu-2x.pt")["generator"]


@pytest.fixture(autouse=True)
def one_thread():
    """Training here runs on one thread, as in the subprocesses (same kernels, same sums)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def uninterrupted(cohort, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train_model(cohort, SPEC, run_dir, progress=False)
    torch.set_num_threads(threads)
    return run_dir


def test_outputs_follow_the_architecture(cohort, uninterrupted):
    final = uninterrupted / "checkpoints" / "simu-2x.pt"
    model, meta = load_generator(final, expect={"mode": "simu", "speed_factor": 2.0, "nf": 8, "nb": 1})
    assert meta["step"] == 6 and meta["perceptual"] == "none" and meta["patch_size"] == 32
    assert meta["loss_weights"] == {"perceptual": 0.0, "l1": 0.005, "bce": 0.01, "gan": 0.001, "l2": 0.0}
    assert meta["count_scale"] > 0 and json.loads(meta["config"])["seed"] == 3
    state = load_checkpoint(final)
    for key in ("discriminator", "opt_g", "opt_d", "scaler", "rng", "epoch", "batch_index"):
        assert key in state
    steps = sorted(p.name for p in (uninterrupted / "checkpoints" / "simu-2x").iterdir())
    assert steps == ["step-000000004.pt", "step-000000006.pt"]
    losses = pd.read_csv(uninterrupted / "train" / "simu-2x" / "losses.csv")
    assert list(losses["step"]) == [1, 2, 3, 4, 5, 6]
    assert {"l1", "bce", "gan", "g_total", "d_total"} <= set(losses.columns)
    val = pd.read_csv(uninterrupted / "train" / "simu-2x" / "val.csv")
    assert list(val["step"]) == [3, 6] and set(val["reference"]) == {"truth"} and set(val["input"]) == {"fast-real"}
    assert (val["l1_input"] > 0).all() and val["l1_input"].nunique() == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_after_sigkill_is_bit_identical(cohort, uninterrupted, tmp_path, workers):
    params = copy.deepcopy(cohort)
    params["train"]["workers"] = workers
    assert run_training(params, tmp_path, kill_at=5) == -signal.SIGKILL  # step 5 lost, step 4 saved
    assert not (tmp_path / "checkpoints" / "simu-2x.pt").exists()
    train_model(params, SPEC, tmp_path, progress=False)  # resumes in this process
    whole, resumed = generator_weights(uninterrupted), generator_weights(tmp_path)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    for name in ("losses.csv", "val.csv"):
        a = pd.read_csv(uninterrupted / "train" / "simu-2x" / name).drop(columns=["seconds"], errors="ignore")
        b = pd.read_csv(tmp_path / "train" / "simu-2x" / name).drop(columns=["seconds"], errors="ignore")
        pd.testing.assert_frame_equal(a, b)


def test_current_model_is_skipped_and_force_retrains(cohort, tmp_path):
    params = copy.deepcopy(cohort)
    params["train"].update(steps=2, val_every=0)
    final = train_model(params, SPEC, tmp_path, progress=False)
    stamp = final.stat().st_mtime_ns
    assert train_model(params, SPEC, tmp_path, progress=False) == final
    assert final.stat().st_mtime_ns == stamp
    train_model(params, SPEC, tmp_path, progress=False, force=True)
    assert final.stat().st_mtime_ns != stamp


def test_corrupt_checkpoint_on_resume_is_a_named_error_and_left_as_it_is(cohort, tmp_path):
    params = copy.deepcopy(cohort)
    params["train"].update(steps=2, val_every=0)
    folder = tmp_path / "checkpoints" / "simu-2x"
    folder.mkdir(parents=True)
    bad = folder / "step-000000002.pt"
    bad.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        train_model(params, SPEC, tmp_path, progress=False)
    assert bad.read_bytes() == b"PK\x03\x04 not a checkpoint"
    assert not (tmp_path / "checkpoints" / "simu-2x.pt").exists()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"patch_size": 36}, "multiple of 8"),
        ({"patch_size": 256}, "larger"),
        ({"epochs": 3}, "exactly one"),
        ({"lerning_rate": 1}, "Unknown key.*'lerning_rate'"),
        ({"lr_schedule": "step"}, "lr_schedule"),
    ],
)
def test_bad_train_params_are_named_errors(cohort, tmp_path, change, match):
    params = copy.deepcopy(cohort)
    params["train"].update(change)
    with pytest.raises(ParamsError, match=match):
        train_model(params, SPEC, tmp_path, progress=False)


def test_train_from_params_needs_models(cohort):
    params = copy.deepcopy(cohort)
    params["train"]["models"] = []
    with pytest.raises(ParamsError, match="no models"):
        train_from_params(params)


def test_simu_model_learns_to_beat_the_raw_2x_input(tmp_path):
    """Acceptance (small): a tiny model trained on 2x simu pairs lowers validation L1 against the
    noise-free truth (1x-equivalent counts) below that of the raw 2x input."""
    params = write_cohort(tmp_path / "data", rows=256, cols=64, n_train=3, n_val=1, speeds=(2.0,))
    params["train"].update(steps=140, val_every=140, checkpoint_every=140, batch_size=4, lr=2e-3)
    train_model(params, SPEC, tmp_path / "run", progress=False)
    val = pd.read_csv(tmp_path / "run" / "train" / "simu-2x" / "val.csv").iloc[-1]
    assert val["l1"] < 0.8 * val["l1_input"]


def test_learning_rate_schedules_and_what_a_resume_may_change():
    cosine = {"lr": 1e-3, "lr_schedule": "cosine"}
    assert [learning_rate(cosine, t, 4) for t in range(4)] == pytest.approx(
        [1e-3, 8.5355e-4, 5e-4, 1.4645e-4], rel=1e-4
    )
    assert learning_rate({"lr": 2e-4, "lr_schedule": "constant"}, 77, 100) == 2e-4
    constant = {"lr": 2e-4, "lr_schedule": "constant", "steps": 10, "workers": 0}
    assert config_sha(constant) == config_sha({**constant, "steps": 20, "workers": 2})  # a longer run resumes
    assert config_sha({**cosine, "steps": 10}) != config_sha({**cosine, "steps": 20})  # its lr depends on the length
    assert config_sha(constant) != config_sha({**constant, "lr": 1e-4})


def test_real_mode_without_standard_scans_is_a_named_error(tmp_path):
    params = write_cohort(tmp_path / "data", rows=64, cols=32, n_train=2, n_val=1, with_standard=False)
    with pytest.raises(TrainingDataError, match="no standard"):
        train_model(params, {"mode": "real", "speed": 2.0}, tmp_path / "run", progress=False)


def test_pretrained_init_starts_from_the_shipped_generator_in_its_units(cohort, tmp_path):
    """`train.init: pretrained` with 0 learning steps' worth of change (lr 0) ends with the shipped
    2x generator's weights and count scale; the nearest shipped speed is used for 2.5x."""
    shipped, shipped_meta = load_generator(nearest_checkpoint(2.0))
    arch = shipped_meta["arch_kwargs"]
    params = copy.deepcopy(cohort)
    params["train"].update(
        init="pretrained",
        nf=arch["nf"],
        nb=arch["nb"],
        gc=arch["gc"],
        steps=1,
        val_every=0,
        lr=0.0,
        loss_weights={"l2": 1.0, "l1": 0.0, "bce": 0.0, "gan": 0.0},
    )
    final = train_model(params, SPEC, tmp_path, progress=False)
    model, meta = load_generator(final)
    assert meta["count_scale"] == shipped_meta["count_scale"]
    assert json.loads(meta["config"])["init_checkpoint"].startswith("split-2x.pt ")
    for name, weight in shipped.state_dict().items():
        assert torch.equal(model.state_dict()[name], weight), name
    assert nearest_checkpoint(2.5).name == "split-2x.pt" and nearest_checkpoint(4).name == "split-3x.pt"


def test_pretrained_init_with_another_generator_size_is_a_named_error(cohort, tmp_path):
    params = copy.deepcopy(cohort)
    params["train"].update(init="pretrained")  # the fixture's nf 8 generator is not the shipped size
    with pytest.raises(ParamsError, match="init: pretrained starts from split-2x.pt"):
        train_model(params, SPEC, tmp_path, progress=False)
    params["train"].update(init="imagenet")
    with pytest.raises(ParamsError, match="train.init"):
        train_model(params, SPEC, tmp_path, progress=False)
