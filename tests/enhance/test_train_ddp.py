"""DDP under torchrun: world size 2 on CPU/gloo with batch 1 per rank trains the same generator as a
single process with batch 2 (within 1e-5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from train_fixtures import write_cohort

from wbslib.enhance.checkpoint import load_checkpoint
from wbslib.enhance.training.loop import train_model

TESTS = Path(__file__).resolve().parents[1]
RANK_SCRIPT = """
import json, sys
import torch
torch.set_num_threads(1)
from wbslib.enhance.training.loop import train_model
params, run_dir = json.loads(sys.argv[1]), sys.argv[2]
train_model(params, params["train"]["models"][0], run_dir, progress=False)
"""


def test_two_ranks_with_batch_1_equal_one_process_with_batch_2(tmp_path):
    params = write_cohort(tmp_path / "data", rows=128, cols=64, n_train=2, n_val=1, speeds=(2.0,))
    params["train"].update(steps=3, batch_size=2, val_every=0, checkpoint_every=3, workers=0)
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(script),
            json.dumps(params),
            str(tmp_path / "ddp"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_model(params, params["train"]["models"][0], tmp_path / "single", progress=False)
    finally:
        torch.set_num_threads(threads)

    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "simu-2x.pt")
    single = load_checkpoint(tmp_path / "single" / "checkpoints" / "simu-2x.pt")
    assert ddp["step"] == single["step"] == 3
    for name in ("generator", "discriminator"):
        a, b = ddp[name], single[name]
        assert a.keys() == b.keys()
        worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
        assert worst <= 1e-5, f"{name} differs by {worst}"
    moved = max(float((single["generator"][k] - load_initial(params)[k]).abs().max()) for k in single["generator"])
    assert moved > 1e-4  # the comparison is not trivially between two untrained models


def load_initial(params: dict) -> dict:
    """The generator's initial weights for this configuration (same seed, no step taken)."""
    from wbslib.core.repro import seed_everything
    from wbslib.enhance.training.loop import training_config
    from wbslib.enhance.training.step import build_parts, unwrap

    cfg = training_config(params, params["train"]["models"][0])
    seed_everything(cfg["seed"])
    return unwrap(build_parts(cfg, torch.device("cpu")).generator).state_dict()
