"""The observer validation's checks table (`wbslib.readers.validity_checks`): exact statistics on
hand-made reads, bounds, and sampling intervals that tell a small cohort's miss from a broken observer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from wbslib.core.groups import TRUTH
from wbslib.readers.validity_checks import COLUMNS, ClassReads, auc, kappa, specificity, validity_checks

SPEEDS = ["1x", "1.5x", "2x", "3x", "4x"]
SMOOTHED = "2x-smoothed"
LIMITS = {"auc_rise": 0.03, "z_mean": 0.1, "z_sd": (0.9, 1.1)}
LABELS = np.array([1, 0] * 20)


def reads_of(decisions: np.ndarray, threshold: float = 0.0) -> ClassReads:
    decisions = np.atleast_2d(decisions)
    return ClassReads(decisions, (decisions > threshold).astype(int), LABELS)


def results_table(classes) -> pd.DataFrame:
    return pd.DataFrame(
        {"lke_dprime": 1.0, "null_z_mean": 0.0, "null_z_sd": 1.0, "tied_fraction": 0.0}, index=list(classes)
    )


def checks_for(reads: dict, seed: int = 3) -> pd.DataFrame:
    results = results_table([*SPEEDS, SMOOTHED, TRUTH])
    results.loc[SPEEDS, "lke_dprime"] = [1 / np.sqrt(float(s[:-1])) for s in SPEEDS]
    return validity_checks(results, reads, (1.2, 0.0), speeds=SPEEDS, smoothed=SMOOTHED, limits=LIMITS, seed=seed)


def noisy(gen, separation: float, replicates: int = 2) -> np.ndarray:
    return gen.normal(0, 1, (replicates, len(LABELS))) + separation * LABELS


def test_statistics_equal_the_pooled_reads_of_the_resampled_patients():
    gen = np.random.default_rng(0)
    a, b = reads_of(noisy(gen, 1.0)), reads_of(noisy(gen, 0.5))
    patients = np.array([0, 0, 1, 3, 4, 4, 4, 7, 8, 9])
    pooled = a.decisions[:, patients].ravel()
    assert auc(a, patients) == pytest.approx(roc_auc_score(np.tile(LABELS[patients], 2), pooled), abs=1e-12)
    normal = a.calls[:, patients][:, LABELS[patients] == 0]
    assert specificity(a, patients) == pytest.approx(1 - normal.mean(), abs=1e-12)
    expected = cohen_kappa_score(a.calls[:, patients].ravel(), b.calls[:, patients].ravel())
    assert kappa(a, b, patients) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(auc(a, np.array([1, 3, 5])))  # only non-metastatic patients: no AUC


def test_identical_classes_hold_every_check_with_a_point_interval():
    gen = np.random.default_rng(1)
    same = reads_of(noisy(gen, 1.0))
    one = ClassReads(same.decisions[:1], same.calls[:1], LABELS)
    checks = checks_for({**{s: same for s in SPEEDS[1:]}, "1x": one, SMOOTHED: same, TRUTH: one})
    assert list(checks.columns) == COLUMNS
    checks = checks.set_index("what")
    assert checks["holds"].all() and checks["within_sampling"].all()
    assert checks.at["AUC(2x smoothed) − AUC(2x)", "value"] == 0.0
    assert checks.loc["AUC(2x smoothed) − AUC(2x)", ["ci_low", "ci_high"]].tolist() == [0.0, 0.0]
    assert checks.at["κ of the calls, 2x smoothed vs 2x", "value"] == pytest.approx(1.0)
    # d′ falling as 1/√s sits 0.1 above the lower bound at every speed beyond 1x (1x's ratio is 1 by definition)
    assert checks.at["least margin of d′(s)/d′(1) inside [1/√s − 0.1, 1]", "value"] == pytest.approx(0.1)
    bounds = checks["bound"].to_dict()
    assert bounds["largest AUC rise from one speed to the next"] == "≤ 0.03"
    assert bounds["AUC(truth) − AUC(1x)"] == "≥ -0.02"
    assert bounds["AUC(2x smoothed) − AUC(2x)"] == "within ±0.03"
    assert bounds["SD of z farthest from 1 over held-out normal bone"] == "0.9 to 1.1"


def test_a_large_rise_fails_beyond_sampling_and_a_small_cohorts_miss_is_within_it():
    gen = np.random.default_rng(2)
    flat = reads_of(noisy(gen, 0.3))
    reads = {s: flat for s in SPEEDS} | {SMOOTHED: flat, TRUTH: flat}
    broken = checks_for({**reads, "4x": reads_of(noisy(gen, 4.0))}).set_index("what")
    rise = broken.loc["largest AUC rise from one speed to the next"]
    assert rise["value"] > 0.3 and not rise["holds"] and not rise["within_sampling"] and rise["ci_low"] > 0.03
    slight = checks_for({**reads, "4x": reads_of(noisy(gen, 0.3) + 0.15 * LABELS)}).set_index("what")
    rise = slight.loc["largest AUC rise from one speed to the next"]
    assert rise["ci_low"] <= 0.03 < rise["ci_high"]
    assert rise["within_sampling"] == True  # noqa: E712 (numpy bool)
    assert rise["holds"] == (rise["value"] <= 0.03)


def test_intervals_are_seeded_and_cover_the_resampled_statistic():
    gen = np.random.default_rng(4)
    reads = {s: reads_of(noisy(gen, 1.0 / float(s[:-1]))) for s in SPEEDS} | {
        SMOOTHED: reads_of(noisy(gen, 0.5)),
        TRUTH: reads_of(noisy(gen, 1.2)[:1]),
    }
    first, again, other = checks_for(reads, 3), checks_for(reads, 3), checks_for(reads, 4)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"].fillna(0), other["ci_low"].fillna(0))
    sampled = first.dropna(subset=["ci_low"])
    assert len(sampled) == 6 and (sampled["ci_low"] < sampled["ci_high"]).all()
    differences = sampled[sampled["what"].str.contains("−")]
    assert ((differences["ci_low"] <= differences["value"]) & (differences["value"] <= differences["ci_high"])).all()


def test_a_class_without_a_trained_observer_leaves_its_checks_unheld():
    gen = np.random.default_rng(5)
    reads = {s: reads_of(noisy(gen, 1.0)) for s in SPEEDS} | {TRUTH: reads_of(noisy(gen, 1.0)[:1])}
    checks = checks_for(reads).set_index("what")  # no smoothed class was read
    for what in ("AUC(2x smoothed) − AUC(2x)", "κ of the calls, 2x smoothed vs 2x"):
        assert np.isnan(checks.at[what, "value"]) and not checks.at[what, "holds"]
        assert not checks.at[what, "within_sampling"]
    assert checks.at["classes with one call only or ≥ 20 % ties", "value"] == 1.0
