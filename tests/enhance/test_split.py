"""Mode split: the target is the independent remainder of a binomial split (exact statistics), a
split-trained model is unbiased and noise-free on flat Poisson fields while simu keeps the input's
noise, the training loop and inference accept it, and notebook 02 says which mode wins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from train_fixtures import write_cohort

from wbslib.core.counts import thin
from wbslib.core.errors import ParamsError
from wbslib.core.groups import MODES, is_model, ordered_groups
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.datasets import PatchPairDataset, TrainingPair, select_pairs
from wbslib.enhance.infer import find_checkpoints, parse_group
from wbslib.enhance.pretrained import pretrained_checkpoint
from wbslib.enhance.training.loop import train_model
from wbslib.enhance.training.report import mode_comparison, mode_verdicts, training_headline
from wbslib.enhance.training.step import build_parts, gan_step, learning_rate, set_learning_rate
from wbslib.enhance.training.validation import enhance

MU, SIZE = 10.0, 32  # flat field: expected counts per pixel at 1x; field and patch size (px)


def flat_pairs(n: int, seed: int, mu: float = MU, speed: float = 2.0) -> list[TrainingPair]:
    gen = np.random.default_rng(seed)
    return [TrainingPair(f"F{i}", gen.poisson(mu, (2, SIZE, SIZE)).astype(np.float32), speed) for i in range(n)]


def dataset(pairs, mode: str, speed: float = 2.0, scale: float = 2 * MU) -> PatchPairDataset:
    return PatchPairDataset(pairs, mode=mode, speed_factor=speed, patch_size=SIZE, seed=4, count_scale=scale)


def counts_of(data: PatchPairDataset, g: int) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) of sample g in 1x-equivalent counts."""
    x, y, _ = data[g]
    return (x * data.scale).numpy()[0], (y * data.scale).numpy()[0]


def test_split_is_a_training_mode_and_a_model_group():
    assert MODES == ("real", "simu", "split")
    assert is_model("2x-split") and parse_group("3x-split") == (3.0, "split")
    assert ordered_groups(["2x-gauss", "2x-split", "2x", "2x-simu", "2x-real"]) == [
        "2x",
        "2x-real",
        "2x-simu",
        "2x-split",
        "2x-gauss",
    ]
    m = pd.DataFrame([{"study_id": "A", "kind": "standard", "speed_factor": 1.0, "split": "train", "path": "a.dcm"}])
    assert select_pairs(m, "split", 3.0) == [("A", ["a.dcm"], None)]  # standard scans only, no fast scan


@pytest.mark.parametrize("speed", [2.0, 3.0, 2.5])
def test_split_input_and_target_add_up_to_the_standard_counts_exactly(speed):
    """k + remainder = N for every pixel: input = k · s, target = (N − k) · s/(s − 1), both integers
    before scaling; a constant standard of 12 counts makes N known after flips and patch choice."""
    pair = TrainingPair("C", np.full((2, SIZE, SIZE), 12.0, np.float32), speed)
    data = dataset([pair], "split", speed, scale=7.0)
    for g in range(6):
        x, y = counts_of(data, g)
        k, rest = x / speed, y * (speed - 1) / speed
        np.testing.assert_allclose(k, np.rint(k), atol=1e-4)
        np.testing.assert_allclose(rest, np.rint(rest), atol=1e-4)
        np.testing.assert_array_equal(np.rint(k) + np.rint(rest), 12.0)
        assert 0 < k.mean() < 12


def test_split_target_is_unbiased_and_independent_of_the_input_while_simu_target_is_not():
    """Over the pixels of many samples of flat Poisson(μ) fields: both targets have mean μ and the
    inputs (× s) too; the split target is uncorrelated with its input (so the loss's optimum is the
    noise-free μ) and has variance μ·s/(s − 1); the simu target correlates with its input at 1/√s
    (its optimum keeps the input's counts k, noise power μ/s·(1 − 1/s)). Independence holds over the
    Poisson population: given one pixel's N, k and N − k are anticorrelated, which the variance of
    N across pixels cancels — so the fields must be many (80 views, each split 3 times)."""
    s, pairs = 2.0, flat_pairs(40, seed=1)
    stats = {}
    for mode in ("split", "simu"):
        data = dataset(pairs, mode)
        xs, ys = zip(*(counts_of(data, g) for g in range(240)))
        x, y = np.concatenate([a.ravel() for a in xs]), np.concatenate([a.ravel() for a in ys])
        stats[mode] = (x.mean(), y.mean(), y.var(), np.corrcoef(x, y)[0, 1])
    for mode, (x_mean, y_mean, _, _) in stats.items():
        assert x_mean == pytest.approx(MU, rel=0.01) and y_mean == pytest.approx(MU, rel=0.01), mode
    assert abs(stats["split"][3]) < 0.015  # SE ≈ 0.003 (245 k pixel pairs of 82 k Poisson pixels)
    assert stats["split"][2] == pytest.approx(MU * s / (s - 1), rel=0.03)
    assert stats["simu"][3] == pytest.approx(1 / np.sqrt(s), abs=0.02)


def test_split_needs_a_speed_above_one():
    with pytest.raises(ParamsError, match="speed factor > 1"):
        dataset(flat_pairs(1, seed=0), "split", speed=1.0)


def _train_flat(mode: str, steps: int = 70, batch: int = 4) -> torch.nn.Module:
    """A tiny generator trained on 2x `mode` patches of flat Poisson(μ) fields (λ·L1 + η·BCE)."""
    torch.manual_seed(0)
    data = dataset(flat_pairs(3, seed=0), mode)
    cfg = {
        "nf": 8,
        "nb": 1,
        "gc": 4,
        "d_nf": 4,
        "lr": 1e-2,
        "lr_schedule": "cosine",
        "perceptual": "none",
        "loss_weights": {"l1": 0.005, "bce": 0.01, "gan": 0.0},
        "gan_loss": "vanilla",
    }
    parts = build_parts(cfg, torch.device("cpu"))
    for step in range(steps):
        set_learning_rate(parts, learning_rate(cfg, step, steps))
        gan_step(parts, [torch.stack(t) for t in zip(*(data[step * batch + i] for i in range(batch)))])
    return parts.generator


def test_split_model_is_unbiased_and_smooth_on_flat_fields_where_simu_keeps_the_input_noise():
    """Acceptance (small): on fresh flat Poisson fields thinned to 2x, the split model's output mean
    is the expected μ and its noise power is far below var(k) = μ/s·(1 − 1/s), the floor the simu
    optimum keeps; the simu model's noise power stays well above the split model's."""
    s = 2.0
    test = np.random.default_rng(99).poisson(MU, (2, SIZE, SIZE)).astype(np.int32)
    fast = np.stack([thin(test, s, np.random.default_rng(100 + r)) for r in range(4)]).astype(np.float32)
    out = {}
    for mode in ("split", "simu"):
        model = _train_flat(mode).eval()
        images = np.stack([enhance(model, f, s, 2 * MU) for f in fast])[..., 4:-4, 4:-4]  # no edge effects
        out[mode] = (images.mean(), images.var(axis=(-2, -1)).mean())
    floor = MU / s * (1 - 1 / s)
    assert out["split"][0] == pytest.approx(MU, rel=0.03)
    assert out["split"][1] < 0.1 * floor
    assert out["simu"][1] > 10 * out["split"][1]


def test_split_model_trains_through_the_loop_and_is_found_for_its_group(tmp_path, monkeypatch):
    params = write_cohort(tmp_path / "data", rows=64, cols=32, n_train=2, n_val=1, speeds=(2.0,))
    params["train"].update(steps=2, val_every=2, checkpoint_every=2, batch_size=2)
    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    final = train_model(params, {"mode": "split", "speed": 2}, tmp_path / "runs" / "test", progress=False)
    assert final.name == "split-2x.pt"
    _, meta = load_generator(final, expect={"mode": "split", "speed_factor": 2.0})
    assert meta["perceptual"] == "none" and meta["perceptual_requested"] == "none"
    val = pd.read_csv(tmp_path / "runs" / "test" / "train" / "split-2x" / "val.csv")
    assert list(val["step"]) == [2] and set(val["input"]) == {"fast-real"}  # validated as simu is
    assert find_checkpoints("test", ["2x", "2x-split", "3x-split", "2x-gauss"]) == {"2x-split": final}
    shipped = find_checkpoints("test", ["2x-split", "3x-split"], pretrained=["3x-split"])
    assert shipped == {"2x-split": final, "3x-split": pretrained_checkpoint(3.0)}
    with pytest.raises(ParamsError, match="names no enhancement model"):
        parse_group("2x-gauss")


def test_mode_comparison_names_the_winner_per_speed_and_the_margin_over_the_gaussian():
    table = pd.DataFrame(
        {
            "mode": ["real", "simu", "split", "real", "split"],
            "speed": ["2x", "2x", "2x", "3x", "3x"],
            "NRMSE model": [0.080, 0.092, 0.066, 0.090, 0.095],
            "NRMSE best Gaussian": [0.075, 0.075, 0.075, 0.086, 0.086],
        }
    )
    cmp = mode_comparison(table)
    assert list(cmp["speed"]) == ["2x", "3x"] and list(cmp["winner"]) == ["split", "Gaussian"]
    assert list(cmp["best model vs Gaussian %"]) == [-12.0, 4.7]
    assert np.isnan(cmp.loc[1, "NRMSE simu"])
    first, second = mode_verdicts(cmp)
    assert first.startswith("At 2x the lowest validation NRMSE is split's (models: split 0.0660, real 0.0800, simu")
    assert "12.0 % below the Gaussian" in first
    assert "Gaussian's" in second and "4.7 % above the Gaussian" in second and "simu" not in second


def test_training_headline_names_the_models_and_the_best_margin_per_speed():
    table = pd.DataFrame(
        {
            "model": ["real-2x", "simu-2x", "split-2x", "real-3x", "split-3x"],
            "mode": ["real", "simu", "split", "real", "split"],
            "speed": ["2x", "2x", "2x", "3x", "3x"],
            "NRMSE model": [0.080, 0.092, 0.066, 0.090, 0.095],
            "NRMSE best Gaussian": [0.075, 0.075, 0.075, 0.086, 0.086],
        }
    )
    assert training_headline(table) == (
        "5 models trained (real-2x, simu-2x, split-2x, real-3x, split-3x); best against the tuned Gaussian on "
        "validation: 2x-split −12 % NRMSE, 3x-real +4.7 %; the Gaussian stays ahead at 3x."
    )
    assert training_headline(table.iloc[:1]) == (
        "1 model trained (real-2x); best against the tuned Gaussian on validation: 2x-real +6.7 % NRMSE; "
        "the Gaussian stays ahead at 2x."
    )
