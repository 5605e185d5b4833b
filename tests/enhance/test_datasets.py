"""wbslib.enhance.datasets: pair selection from the manifest, deterministic patch pairs, the step sampler."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader
from train_fixtures import poisson, synthetic_expected, write_cohort

from wbslib.core.errors import ParamsError, TrainingDataError
from wbslib.enhance.datasets import (
    PatchPairDataset,
    StepSampler,
    TrainingPair,
    load_training_pairs,
    select_pairs,
)
from wbslib.io.manifest.schema import read_manifest

ROWS, COLS, SCALE = 256, 64, 60.0


def manifest(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    """(study_id, kind, speed, split[, views]) rows → a manifest-like frame."""
    return pd.DataFrame(
        [
            {
                "study_id": sid,
                "kind": kind,
                "speed_factor": speed,
                "split": split,
                "path": f"{sid}/{kind}-{speed:g}.dcm",
            }
            for sid, kind, speed, split in rows
        ]
    )


@pytest.fixture(scope="module")
def pairs():
    out = []
    for i in range(2):
        expected, _ = synthetic_expected(ROWS, COLS, level=1.0 + 0.2 * i)
        fast_expected, _ = synthetic_expected(ROWS, COLS, level=(1.0 + 0.2 * i) / 2, bladder=1.5, shift=(1.0, 0.5))
        out.append(TrainingPair(f"P{i}", poisson(expected, 10 + i), 2.0, poisson(fast_expected, 20 + i)))
    return out


def dataset(pairs, mode="simu", **kw):
    kw = {"speed_factor": 2.0, "patch_size": 32, "seed": 5, "count_scale": SCALE, **kw}
    return PatchPairDataset(pairs, mode=mode, **kw)


# --- selecting pairs from the manifest ---------------------------------------------------------------
def test_real_mode_without_standard_scans_is_a_named_error():
    m = manifest([("A", "fast-real", 2.0, "train"), ("B", "fast-real", 2.0, "train"), ("C", "standard", 1.0, "val")])
    with pytest.raises(TrainingDataError, match="no standard"):
        select_pairs(m, "real", 2.0, manifest_path="m.csv")
    with pytest.raises(TrainingDataError, match="no standard"):
        select_pairs(m, "simu", 2.0)


def test_real_mode_needs_a_fast_scan_at_the_requested_speed():
    m = manifest([("A", "standard", 1.0, "train"), ("A", "fast-real", 3.0, "train"), ("A", "fast-simu", 2.0, "train")])
    with pytest.raises(TrainingDataError, match="fast-real 2x"):
        select_pairs(m, "real", 2.0)
    assert select_pairs(m, "real", 3.0) == [("A", ["A/standard-1.dcm"], ["A/fast-real-3.dcm"])]


def test_pairs_come_from_the_train_split_and_keep_single_view_files_together():
    m = manifest(
        [
            ("A", "standard", 1.0, "train"),
            ("A", "standard", 1.0, "train"),
            ("A", "fast-real", 2.0, "train"),
            ("B", "standard", 1.0, "test"),
            ("B", "fast-real", 2.0, "test"),
            ("C", "standard", 1.0, "train"),
        ]
    )
    m.loc[1, "path"] = "A/standard-1-post.dcm"
    assert select_pairs(m, "real", 2.0) == [("A", ["A/standard-1.dcm", "A/standard-1-post.dcm"], ["A/fast-real-2.dcm"])]
    assert [p[0] for p in select_pairs(m, "simu", 2.0)] == ["A", "C"]
    with pytest.raises(TrainingDataError, match="not one of"):
        select_pairs(m, "poisson", 2.0)


def test_load_training_pairs_reads_the_dicom_files(tmp_path):
    params = write_cohort(tmp_path, rows=64, cols=32, n_train=2, n_val=1)
    loaded = load_training_pairs(read_manifest(params["manifest"]), tmp_path, "real", 2.0)
    assert [p.study_id for p in loaded] == ["P000", "P001"]
    assert loaded[0].standard.shape == (2, 64, 32) and loaded[0].fast.shape == (2, 64, 32)
    assert loaded[0].standard.sum() > 1.5 * loaded[0].fast.sum()


# --- patches ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["simu", "real", "split"])
def test_sample_is_a_pure_function_of_its_index(pairs, mode):
    data = dataset(pairs, mode)
    a, b = data[7], data[7]
    for x, y in zip(a, b):
        assert x.shape == (1, 32, 32) and x.dtype == torch.float32
        assert torch.equal(x, y)
    clone = pickle.loads(pickle.dumps(data))  # what a DataLoader worker gets
    assert all(torch.equal(x, y) for x, y in zip(clone[7], a))
    assert not torch.equal(data[7][0], data[7 + len(data)][0])  # next epoch: a new draw


def test_simu_input_is_a_binomial_thinning_of_the_target(pairs):
    data = dataset(pairs, "simu", speed_factor=3.0)
    for g in range(12):
        x, y, keep = data[g]
        n = (y * SCALE).numpy().round()
        k = (x * SCALE / 3.0).numpy()
        np.testing.assert_allclose(k, k.round(), atol=1e-3)  # thinned counts are integers
        assert (k.round() <= n).all() and (k >= 0).all()
        assert torch.all(keep == 1)
    x = torch.stack([data[g][0] for g in range(200)])
    y = torch.stack([data[g][1] for g in range(200)])
    assert float(x.mean() / y.mean()) == pytest.approx(1.0, abs=0.03)  # × s restores the count level


def test_real_input_is_brought_to_the_standard_level_and_the_bladder_left_out(pairs):
    data = dataset(pairs, "real")
    assert [round(item.ratio, 1) for item in data.items] == [2.0, 2.0, 2.0, 2.0]
    x = torch.stack([data[g][0] for g in range(100)])
    y = torch.stack([data[g][1] for g in range(100)])
    keep = torch.stack([data[g][2] for g in range(100)])
    assert float((x * keep).sum() / (y * keep).sum()) == pytest.approx(1.0, abs=0.05)
    assert 0 < float(keep.mean()) < 1  # some patches hold bladder pixels
    for item, pair, view in zip(data.items, [pairs[0], pairs[0], pairs[1], pairs[1]], [0, 1, 0, 1]):
        assert not item.keep[pair.standard[view] == pair.standard[view].max()].any()


def test_patch_size_is_checked(pairs):
    with pytest.raises(ParamsError, match="multiple of 8"):
        dataset(pairs, patch_size=36)
    with pytest.raises(ParamsError, match="larger than the image"):
        dataset(pairs, patch_size=128)


def test_missing_view_is_skipped(pairs):
    one_view = TrainingPair("Q", pairs[0].standard.copy(), 2.0, pairs[0].fast.copy())
    one_view.standard[1] = np.nan
    assert len(dataset([one_view], "simu")) == 1 and len(dataset([one_view], "real")) == 1


# --- sampler and loader --------------------------------------------------------------------------------
def test_ranks_share_out_the_single_process_batches():
    single = list(StepSampler(0, 5, batch_size=4))
    assert single == list(range(20))
    rank0, rank1 = list(StepSampler(0, 5, 2, 0, 2)), list(StepSampler(0, 5, 2, 1, 2))
    assert sorted(rank0 + rank1) == single and rank0[:2] == [0, 1] and rank1[:2] == [2, 3]
    assert list(StepSampler(3, 5, batch_size=4)) == list(range(12, 20))
    assert len(StepSampler(3, 5, 2, 1, 2)) == 4


def test_loader_with_workers_gives_the_same_batches(pairs):
    data = dataset(pairs, "real")

    def batches(workers):
        loader = DataLoader(data, batch_size=2, sampler=StepSampler(1, 4, 2), num_workers=workers)
        return [b[0] for b in loader]

    for a, b in zip(batches(0), batches(2)):
        assert torch.equal(a, b)
