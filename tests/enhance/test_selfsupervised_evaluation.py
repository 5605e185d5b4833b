"""wbslib.enhance.selfsupervised: notebook 03's one call scoring models and baselines on binomial
splits of a cohort's standard scans."""

from __future__ import annotations

import numpy as np
import pytest
from train_fixtures import write_cohort

from wbslib.core.errors import CheckpointError
from wbslib.enhance.selfsupervised import selfsupervised_evaluation, split_methods
from wbslib.enhance.training.loop import train_model
from wbslib.io.manifest.schema import read_manifest


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ss")
    params = write_cohort(root / "data", rows=64, cols=32, n_train=2, n_val=2, speeds=(2.0,))
    params["train"].update(steps=2, val_every=0, checkpoint_every=2)
    final = train_model(params, {"mode": "split", "speed": 2}, root / "run", progress=False)
    return params, final


def test_every_group_is_scored_on_the_same_splits_beside_the_truth(trained):
    params, checkpoint = trained
    manifest = read_manifest(params["manifest"])
    rows, summary = selfsupervised_evaluation(
        manifest,
        params["data_root"],
        {"2x-split": checkpoint, "3x-split": checkpoint},  # the 3x group is not evaluated at 2x
        speeds=[2.0],
        sigmas={2.0: 1.0},
        bm3d_max_studies=1,
        seed=4,
        split="val",
        device="cpu",
        n_boot=200,
    )
    assert list(summary["method"]) == ["2x", "2x-split", "2x-gauss", "2x-bm3d"]
    assert summary.set_index("method")["studies"].to_dict() == {"2x": 2, "2x-split": 2, "2x-gauss": 2, "2x-bm3d": 1}
    assert rows["nrmse_est"].notna().all() and rows["nrmse_truth"].notna().all()  # truth files exist
    assert set(summary["reference"].dropna()) == {"2x-gauss"}
    raw = rows[rows["method"] == "2x"]["nrmse_est"].to_numpy()
    gauss = rows[rows["method"] == "2x-gauss"]["nrmse_est"].to_numpy()
    assert np.all(gauss < raw)  # smoothing a noisy 2x split helps
    again, _ = selfsupervised_evaluation(
        manifest, params["data_root"], {}, speeds=[2.0], baselines=(), seed=4, split="val", n_boot=10
    )
    np.testing.assert_array_equal(again["nrmse_est"].to_numpy(), raw)  # same seed, same split


def test_a_checkpoint_under_the_wrong_group_is_refused(trained):
    _, checkpoint = trained
    with pytest.raises(CheckpointError, match="mode='split'"):
        split_methods({"2x-simu": checkpoint}, 2.0, device="cpu")
