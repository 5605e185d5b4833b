"""Speed sweep: params checked up front, non-inferiority with known answers, fast scans at any speed,
the mixed-speed dataset, and a resumable run on a tiny phantom cohort."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wbslib.core.errors import OutputConflictError, ParamsError, ReaderStudyError
from wbslib.core.repro import rng
from wbslib.sweep.analysis import (
    NONE_FOUND,
    case_table,
    fastest_noninferior,
    group_performance,
    monotone_decline,
    noninferiority,
)
from wbslib.sweep.config import sweep_config
from wbslib.sweep.models import MixedSpeedDataset

MARGINS = {"margin_auc": 0.05, "margin_sensitivity": 0.10, "margin_specificity": 0.10}


# --- params -----------------------------------------------------------------------------------------
def test_defaults_are_the_issue_s():
    cfg = sweep_config({"run": "x"})
    assert cfg["speeds"] == [1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert (cfg["reference"], cfg["margin_auc"], cfg["margin_sensitivity"]) == (1.0, 0.05, 0.10)
    assert cfg["model_strategy"] == "per-speed" and cfg["modes"] == ["real", "simu"]


@pytest.mark.parametrize(
    "section, words",
    [
        ({"speeds": [0.5, 2]}, "not a number ≥ 1"),
        ({"speeds": []}, "empty"),
        ({"speeds": [1, 2]}, "not faster than the reference"),
        ({"speeds": "2, 3"}, "not a list"),
        ({"margin_auc": 0}, "margin"),
        ({"margin_auc": -0.05}, "margin"),
        ({"margin_sensitivity": 0.0}, "margin"),
        ({"margin_auc": 0.5}, "margin"),
        ({"margin_auc": "wide"}, "not a number"),
        ({"alpha": 0.5}, "alpha"),
        ({"reference": 2}, "reference"),
        ({"model_strategy": "one"}, "model_strategy"),
        ({"modes": ["real", "fake"]}, "modes"),
        ({"modes": []}, "modes"),
        ({"compare_strategies": [2.5], "speeds": [2, 3]}, "lacks"),
        ({"max_studies": 3}, "max_studies"),
        ({"speeds": [2], "bogus": 1}, "Unknown key.*'bogus'"),
    ],
)
def test_bad_sweep_params_are_named_errors(section, words):
    with pytest.raises(ParamsError, match=words):
        sweep_config({"run": "x", "sweep": section})


def test_bad_params_fail_before_any_work(tmp_path, monkeypatch):
    from wbslib.sweep.run import run_sweep

    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    with pytest.raises(ParamsError, match="not a number ≥ 1"):
        run_sweep(
            {"run": "bad", "seed": 1, "data_root": "nowhere", "manifest": "nowhere/m.csv", "sweep": {"speeds": [0.9]}},
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []


# --- non-inferiority on synthetic reads with known answers -------------------------------------------
def _reads(group: str, truth: pd.Series, separation: float, n_readers: int, key: str) -> pd.DataFrame:
    """Readers whose latent malignancy separates metastatic patients by `separation` SDs: the call is
    its sign, the confidence (1 guess … 5 certain) its size binned at 0.5, 1, 2, 3."""
    rows = []
    for r in range(n_readers):
        latent = separation * (truth.to_numpy() - 0.5) + rng(11, key, r).normal(size=truth.size)
        confidence = 1 + np.searchsorted([0.5, 1.0, 2.0, 3.0], np.abs(latent))
        for sid, z, conf in zip(truth.index, latent, confidence):
            rows.append(
                {
                    "reader": f"virtual-{r + 1}",
                    "study_id": sid,
                    "group": group,
                    "likert": 4,
                    "malignant": int(z > 0),
                    "confidence": int(conf),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def truth() -> pd.Series:
    return pd.Series([1] * 100 + [0] * 100, index=[f"P{i:03d}" for i in range(200)])


def _sweep_reads(truth, broken_from: float, speeds=(1.5, 2.0, 2.5, 3.0, 3.5), n_readers=3, fixed=()):
    """1x reads, and enhanced reads like 1x (reader r reads the r-th last, benign, study one step more
    suspicious) below `broken_from` and pure noise (AUC ≈ ½) from there on (speeds in `fixed` read like 1x)."""
    ref = _reads("1x", truth, 3.0, n_readers, "ref")
    like_ref = ref.copy()
    for r in range(n_readers):
        hit = ((like_ref["reader"] == f"virtual-{r + 1}") & (like_ref["study_id"] == truth.index[-1 - r])).to_numpy()
        benign_call = like_ref["malignant"].to_numpy() == 0
        like_ref.loc[hit & benign_call, "confidence"] = (like_ref.loc[hit & benign_call, "confidence"] - 1).clip(
            lower=1
        )
        like_ref.loc[hit & ~benign_call, "confidence"] = (like_ref.loc[hit & ~benign_call, "confidence"] + 1).clip(
            upper=5
        )
    parts = [ref]
    for s in speeds:
        good = s < broken_from or s in fixed
        parts.append(
            like_ref.assign(group=f"{s:g}x-real") if good else _reads(f"{s:g}x-real", truth, 0.0, n_readers, f"n{s}")
        )
    return pd.concat(parts, ignore_index=True)


def _decisions(reads, truth, speeds=(1.5, 2.0, 2.5, 3.0, 3.5)):
    return pd.DataFrame([{"speed": s, **noninferiority(reads, truth, f"{s:g}x-real", "1x", **MARGINS)} for s in speeds])


def test_fastest_noninferior_speed_is_the_known_one(truth):
    decisions = _decisions(_sweep_reads(truth, broken_from=3.0), truth)
    assert decisions["non_inferior"].tolist() == [True, True, True, False, False]
    found = fastest_noninferior(decisions)
    assert found["label"] == "2.5x" and found["speed"] == 2.5 and found["isolated"] == []
    # reads one step apart on 3 of 200 patients: the MRMC difference is tiny, its CI far inside the margin
    assert (decisions["auc_method"] == "Obuchowski–Rockette MRMC").all()
    assert abs(found["auc_diff"]) < 1e-3 and -0.01 < found["auc_ci_low"] <= found["auc_diff"] <= found["auc_ci_high"]
    broken = decisions.iloc[3]
    assert broken["auc_test"] < 0.65 < 0.9 < broken["auc_reference"]
    assert broken["auc_ci_high"] < -0.05 and not broken["auc_ni"]


def test_none_in_the_tested_range_and_isolated_passes(truth):
    none = fastest_noninferior(_decisions(_sweep_reads(truth, broken_from=1.0), truth))
    assert none["speed"] is None and none["label"] == NONE_FOUND
    gap = fastest_noninferior(_decisions(_sweep_reads(truth, broken_from=2.0, fixed=(3.0,)), truth))
    assert gap["label"] == "1.5x" and gap["isolated"] == ["3x"]


def test_decision_follows_the_ci_and_the_margin(truth):
    """The AUC call flips exactly where −margin crosses the CI's lower end; sensitivity likewise."""
    reads = pd.concat([_reads("1x", truth, 3.0, 3, "ref"), _reads("2x-real", truth, 2.2, 3, "mid")])
    base = noninferiority(reads, truth, "2x-real", "1x", **MARGINS)
    assert base["auc_method"] == "Obuchowski–Rockette MRMC" and base["auc_ci_low"] == base["auc_mrmc_ci_low"]
    low = base["auc_ci_low"]
    assert low < 0
    above = noninferiority(reads, truth, "2x-real", "1x", **{**MARGINS, "margin_auc": -low + 1e-6})
    below = noninferiority(reads, truth, "2x-real", "1x", **{**MARGINS, "margin_auc": -low - 1e-6})
    assert above["auc_ni"] and not below["auc_ni"]
    s_low = base["sens_ci_low"]
    assert noninferiority(reads, truth, "2x-real", "1x", **{**MARGINS, "margin_sensitivity": -s_low + 1e-6})["sens_ni"]
    assert not noninferiority(reads, truth, "2x-real", "1x", **{**MARGINS, "margin_sensitivity": -s_low - 1e-6})[
        "sens_ni"
    ]


def test_identical_reads_fall_back_to_delong_with_a_zero_difference(truth):
    ref = _reads("1x", truth, 3.0, 3, "ref")
    same = noninferiority(pd.concat([ref, ref.assign(group="2x-real")]), truth, "2x-real", "1x", **MARGINS)
    assert same["auc_method"] == "DeLong" and np.isnan(same["auc_mrmc_diff"])  # MRMC undefined: no variance
    assert (same["auc_diff"], same["auc_ci_low"], same["auc_ci_high"]) == (0.0, 0.0, 0.0)
    assert same["sens_diff"] == 0.0 and same["sens_mcnemar_p"] == 1.0 and same["non_inferior"]


def test_case_table_follows_the_paper_s_adjudication():
    """Likert 1 makes a call negative; a disagreement goes to the third reader; rating 5 + c or 6 − c."""
    truth = pd.Series([1, 1, 0, 0], index=["A", "B", "C", "D"])
    rows = [
        ("virtual-1", "A", 4, 1, 5),
        ("virtual-2", "A", 4, 1, 3),
        ("virtual-3", "A", 4, 0, 2),  # agree: 1
        ("virtual-1", "B", 1, 1, 5),
        ("virtual-2", "B", 3, 0, 2),
        ("virtual-3", "B", 3, 1, 4),  # L1 → 0, agree: 0
        ("virtual-1", "C", 3, 1, 4),
        ("virtual-2", "C", 3, 0, 2),
        ("virtual-3", "C", 3, 1, 1),  # third: 1
        ("virtual-1", "D", 3, 1, 3),
        ("virtual-2", "D", 3, 0, 5),
        ("virtual-3", "D", 3, 0, 4),
    ]  # third: 0
    reads = pd.DataFrame(rows, columns=["reader", "study_id", "likert", "malignant", "confidence"]).assign(group="1x")
    table = case_table(reads, truth, "1x")
    assert table["call"].tolist() == [1, 0, 1, 0]
    assert table["adjudicated"].tolist() == [False, False, True, True]
    assert table["score"].tolist() == [9.0, 4.5, 6.0, 2.0]  # (10 + 8)/2, (5 + 4)/2, 5 + 1, 6 − 4
    perf = {r["metric"]: r for r in group_performance(reads, truth, "1x")}
    assert perf["sensitivity"]["estimate"] == 0.5 and perf["specificity"]["estimate"] == 0.5
    assert perf["auc"]["estimate"] == 0.75  # B (4.5) ranks below C (6.0): 3 of 4 pairs
    with pytest.raises(ReaderStudyError, match="lacks reads"):
        case_table(reads[reads["study_id"] != "D"], truth, "1x")


def test_monotone_decline_allows_ci_overlap():
    assert monotone_decline([1, 2, 3], [0.9, 0.8, 0.7], [0.8, 0.7, 0.6], [1.0, 0.9, 0.8]) == {
        "ok": True,
        "strict": True,
        "violations": [],
    }
    overlap = monotone_decline([1, 2, 3], [0.9, 0.8, 0.85], [0.8, 0.7, 0.75], [1.0, 0.9, 0.95])
    assert overlap["ok"] and not overlap["strict"]
    rise = monotone_decline([3, 1, 2], [0.95, 0.9, 0.6], [0.92, 0.85, 0.5], [0.98, 0.95, 0.7])
    assert rise == {"ok": False, "strict": False, "violations": [("2x", "3x")]}


def test_conclusion_is_written_from_the_numbers():
    from wbslib.sweep.results import conclusion

    summary = {
        "speeds": ["2x", "3x"],
        "n_patients": 83,
        "n_metastatic": 39,
        "n_readers": 3,
        "strategy": "per-speed",
        "raw_auc": {"1x": 0.9, "2x": 0.85, "3x": 0.7},
        "alpha": 0.025,
        "margin_auc": 0.05,
        "margin_sensitivity": 0.1,
        "raw_auc_monotone": {"ok": True, "strict": True, "violations": []},
        "fastest": {
            "real": {
                "speed": 2.0,
                "label": "2x",
                "auc_diff": -0.012,
                "auc_ci_low": -0.041,
                "auc_ci_high": 0.017,
                "isolated": [],
            },
            "simu": {"speed": None, "label": NONE_FOUND, "isolated": ["3x"]},
        },
    }
    text = conclusion(summary)
    assert "2 virtual readers and a virtual adjudicator" in text
    assert "Raw AUC falls monotonically with speed: 1x 0.900, 2x 0.850, 3x 0.700." in text
    assert (
        "real-trained model, images stayed non-inferior to 1x up to 2x: AUC difference -0.012 (95 % CI -0.041 to "
        "+0.017)" in text
    )
    assert "simu-trained model, no tested speed was non-inferior to 1x (none in the tested range)" in text
    assert "Faster speeds 3x passed again" in text and "not a clinical claim" in text


# --- mixed-speed dataset ------------------------------------------------------------------------------
class _Part:
    def __init__(self, tag: str, n: int):
        self.tag, self.n = tag, n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return self.tag, index


def test_mixed_dataset_visits_every_item_of_every_speed_once_per_epoch():
    data = MixedSpeedDataset([_Part("2x", 3), _Part("3x", 5)], seed=4)
    assert len(data) == 8
    for epoch in range(3):
        seen = sorted(data[epoch * 8 + k] for k in range(8))
        assert seen == sorted([("2x", epoch * 3 + i) for i in range(3)] + [("3x", epoch * 5 + i) for i in range(5)])
    assert [data[k] for k in range(16)] == [
        MixedSpeedDataset([_Part("2x", 3), _Part("3x", 5)], 4)[k] for k in range(16)
    ]
    assert [data[k] for k in range(8)] != [data[8 + k] for k in range(8)]


# --- fast scans at any speed and the resumable pipeline -------------------------------------------------
@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A tiny phantom cohort, 1x scans only: 4 test patients (2 metastatic), 2 train (1 metastatic),
    1 val, 4 observer (2 metastatic)."""
    from wbslib.phantom.cohort import simulate_from_params

    root = tmp_path_factory.mktemp("cohort")
    params = {
        "run": "cohort",
        "seed": 5,
        "data_root": str(root / "data"),
        "manifest": str(root / "data" / "manifest.csv"),
        "cohort": {
            "n_patients": 4,
            "n_metastatic": 2,
            "n_train": 2,
            "n_val": 1,
            "n_observer": 4,
            "speeds": [1],
            "workers": 1,
        },
    }
    simulate_from_params(params)
    return params


def test_rebuilt_phantom_matches_the_cohort_and_scans_at_any_speed(cohort):
    from wbslib.io.truth import load_patients, load_truth
    from wbslib.sweep.scans import (
        cohort_record,
        real_like_scan,
        rebuild_phantom,
        thinned_scan,
    )

    root = cohort["data_root"]
    patient = load_patients(root).to_dict("records")[1]
    phantom = rebuild_phantom(patient, cohort_record(root))
    reference = load_truth(root, patient["study_id"], 1.0)["expected"]
    assert np.array_equal(phantom.render().image, reference)  # the very phantom notebook 00 made
    counts, acquisition, rendered = real_like_scan(phantom, 2.7, seed=5)
    assert counts.dtype == np.int32 and counts.shape == reference.shape
    assert acquisition.speed_factor == 2.7 and acquisition.minutes_before_1x > 0 and acquisition.decay > 1
    # a 2.7x scan holds ≈ 1/2.7 of the 1x counts (decay, bladder filling and motion change it a little)
    assert rendered.image.sum() * 2.7 == pytest.approx(reference.sum(), rel=0.05)
    assert counts.sum() == pytest.approx(rendered.image.sum(), rel=0.01)
    again, _, _ = real_like_scan(rebuild_phantom(patient, cohort_record(root)), 2.7, seed=5)
    assert np.array_equal(counts, again)
    standard = np.rint(reference).astype(np.float32)
    standard[1] = np.nan
    thinned = thinned_scan(standard, patient["study_id"], 3.0, seed=5)
    assert np.isnan(thinned[1]).all() and (thinned[0] <= standard[0]).all()
    assert thinned[0].sum() == pytest.approx(standard[0].sum() / 3.0, rel=0.01)


def test_the_noise_free_truth_scores_perfectly(cohort):
    from wbslib.io.truth import load_lesions, load_patients
    from wbslib.sweep.images import StudyTruth, image_metrics

    root = cohort["data_root"]
    patients = load_patients(root)
    study_id = patients.loc[(patients["split"] == "test") & (patients["label"] == 1), "study_id"].iloc[0]
    truth = StudyTruth(root, study_id, 1.0, load_lesions(root), np.zeros((2, 1024, 256), np.float32))
    perfect = truth.by_speed[1.0]["expected_1x"]
    values = image_metrics(perfect, truth, 1.0)
    assert values["ssim"] == pytest.approx(1.0) and values["nrmse"] == 0.0
    assert values["contrast_recovery"] == pytest.approx(1.0) and values["noise_cv_bone"] == pytest.approx(
        0.0, abs=1e-12
    )
    assert np.isfinite(values["hottest_lesion_counts"])
    halved = image_metrics(perfect * 0.5, truth, 1.0)
    assert halved["hottest_lesion_counts"] == pytest.approx(values["hottest_lesion_counts"] / 2)
    assert halved["nrmse"] == pytest.approx(0.5)


def test_speed_data_root_is_built_once_and_claimed(cohort, tmp_path):
    from wbslib.sweep.scans import build_speed_data

    out = tmp_path / "2.5x" / "data"
    manifest = build_speed_data(cohort["data_root"], cohort["manifest"], out, 2.5, seed=5)
    assert sorted(manifest.groupby("kind")["study_id"].count().items()) == [("fast-real", 11), ("standard", 11)]
    assert set(manifest.loc[manifest["kind"] == "fast-real", "speed_factor"]) == {2.5}
    for row in manifest.itertuples():
        assert (out / row.path).is_file()
    stamp = (out / "manifest.csv").stat().st_mtime_ns
    build_speed_data(cohort["data_root"], cohort["manifest"], out, 2.5, seed=5)
    assert (out / "manifest.csv").stat().st_mtime_ns == stamp
    with pytest.raises(OutputConflictError, match="another cohort or seed"):
        build_speed_data(cohort["data_root"], cohort["manifest"], out, 2.5, seed=6)


def test_sweep_runs_and_a_finished_speed_is_not_recomputed(cohort, tmp_path, monkeypatch):
    import wbslib.sweep.images as images
    import wbslib.sweep.run as sweep

    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    calls = []
    real_enhance = images.enhance_counts
    monkeypatch.setattr(
        images, "enhance_counts", lambda *a, **k: calls.append(k["speed_factor"]) or real_enhance(*a, **k)
    )
    params = {
        **cohort,
        "run": "resume",
        "device": "cpu",
        "readers": {"n_virtual": 2},
        "train": {
            "nf": 4,
            "nb": 1,
            "gc": 4,
            "patch_size": 32,
            "batch_size": 1,
            "steps": 1,
            "val_every": 0,
            "checkpoint_every": 1,
            "perceptual": "none",
            "workers": 0,
        },
        "sweep": {"speeds": [2.5], "modes": ["simu"], "compare_strategies": [], "enhance_thinned": False},
    }
    first = sweep.run_sweep(params, progress=False)
    assert first["computed"] == ["1x", "2.5x"] and calls == [2.5] * (4 + 4)  # observer cohort, then test patients
    root = tmp_path / "runs" / "resume" / "sweep"
    results = pd.read_csv(root / "results.csv")
    assert set(results["group"]) == {"1x", "truth", "2.5x", "2.5x-thin", "2.5x-simu"}
    ideal = results[results["group"] == "truth"]  # the ideal-enhancer reference: read, never a method
    adapted = {"auc", "accuracy", "sensitivity", "specificity", "likert"}
    assert set(ideal["metric"]) == adapted | {"auc_unadapted", "sensitivity_unadapted", "specificity_unadapted"}
    assert (ideal["speed"] == 1.0).all() and ideal["reference"].str.startswith("ideal-enhancer").all()
    reads = pd.read_csv(root / "1x" / "reads.csv")
    assert reads.groupby("group")["study_id"].nunique().to_dict() == {"1x": 4, "truth": 4}
    unadapted = pd.read_csv(root / "2.5x" / "reads_unadapted.csv")
    adapted_reads = pd.read_csv(root / "2.5x" / "reads.csv")
    keys = ["reader", "study_id", "group"]
    pd.testing.assert_frame_equal(unadapted[keys], adapted_reads[keys])  # one worklist, two analyses
    assert (unadapted["likert"] == adapted_reads["likert"]).all()  # quality is the class's in both
    assert {"auc", "sensitivity", "specificity", "ssim", "nrmse", "hottest_lesion_bias", "auc_diff"} <= set(
        results["metric"]
    )
    assert set(results.loc[results["metric"] == "auc_diff", "group"]) == {"2.5x", "2.5x-thin", "2.5x-simu"}
    assert "not a clinical claim" in (root / "conclusion.md").read_text()
    stamp = (root / "2.5x" / "done.json").stat().st_mtime_ns
    calls.clear()
    params["sweep"]["speeds"] = [2.5, 3.5]
    second = sweep.run_sweep(params, progress=False)
    assert second["computed"] == ["3.5x"] and calls == [3.5] * 8  # 1x and 2.5x come from the cache
    assert (root / "2.5x" / "done.json").stat().st_mtime_ns == stamp
    summary = json.loads((root / "summary.json").read_text())
    assert summary["speeds"] == ["2.5x", "3.5x"] and set(summary["fastest"]) == {"raw", "thin", "simu"}
    # the strategy comparison trains the mixed-speed model once and reuses every per-speed model
    params["sweep"]["compare_strategies"] = [2.5]
    third = sweep.run_sweep(params, progress=False)
    assert third["computed"] == []
    table = third["comparison"]
    assert sorted(table["strategy"]) == ["mixed", "per-speed"] and set(table["speed"]) == {2.5}
    assert (table["l1"] > 0).all() and (table["nrmse_input"] > 0).all()
    from wbslib.enhance.checkpoint import load_checkpoint

    meta = load_checkpoint(root / "mixed" / "checkpoints" / "mixed-simu.pt")["meta"]
    assert meta["speed_factors"] == [2.5, 3.5] and meta["speed_factor"] == 3.5 and meta["mode"] == "simu"


def test_a_cohort_too_small_is_refused_up_front(cohort, tmp_path, monkeypatch):
    import wbslib.sweep.run as sweep
    from wbslib.io.truth import load_patients

    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    params = {**cohort, "run": "x", "train": {"steps": 1}, "sweep": {"speeds": [2], "compare_strategies": [2]}}
    assert sweep.check_params(params)["speeds"] == [2.0]
    patients = load_patients(cohort["data_root"])
    fewer = patients[(patients["split"] != "val") & ~((patients["split"] == "test") & (patients["label"] == 1))].iloc[
        1:
    ]
    fewer = pd.concat([fewer, patients[(patients["split"] == "test") & (patients["label"] == 1)].iloc[:1]])
    monkeypatch.setattr(sweep, "load_patients", lambda root: fewer)
    with pytest.raises(ParamsError, match="needs at least 2 metastatic test, 2 other test, 1 val patient"):
        sweep.check_params(params)
    assert list(tmp_path.iterdir()) == []
