"""The cohort generator: files, manifest, truth, loaders, determinism and parameter checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbslib.core.errors import OutputConflictError, ParamsError, PhantomTruthError
from wbslib.core.fileio import sha256_file
from wbslib.io.dicom import read_wholebody
from wbslib.io.manifest.schema import MANIFEST_COLUMNS, read_manifest
from wbslib.io.truth import LESION_COLUMNS, load_lesions, load_patients, load_truth
from wbslib.phantom.cohort import cohort_config, simulate_from_params
from wbslib.phantom.patients import sample_patients

COHORT = {"n_patients": 3, "n_metastatic": 2, "n_train": 1, "n_val": 1, "speeds": [1, 2, 3], "workers": 1}


def params(root: Path, seed: int = 7, **cohort) -> dict:
    return {
        "run": "t",
        "seed": seed,
        "data_root": str(root),
        "manifest": str(root / "manifest.csv"),
        "cohort": {**COHORT, **cohort},
    }


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    return root, simulate_from_params(params(root))


def test_files_and_manifest(cohort):
    root, manifest = cohort
    assert list(manifest.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert read_manifest(root / "manifest.csv").equals(manifest)
    assert len(manifest) == 5 * 3 and set(manifest["views"]) == {"ANT+POST"} and set(manifest["source"]) == {"phantom"}
    assert (manifest["kind"] == np.where(manifest["speed_factor"] == 1, "standard", "fast-real")).all()
    studies = manifest.drop_duplicates("study_id").set_index("study_id")
    assert list(studies.index) == ["PH0001", "PH0002", "PH0003", "PH0004", "PH0005"]
    assert list(studies["split"]) == ["test", "test", "test", "train", "val"]
    assert studies.loc[studies["split"] == "test", "label"].sum() == 2
    for row in manifest.itertuples():
        assert row.path == f"dicom/{row.study_id}/{row.speed_factor:g}x.dcm"
        assert sha256_file(root / row.path) == row.sha256


def test_dicom_counts_speed_and_truth(cohort):
    root, manifest = cohort
    for row in manifest[manifest["study_id"] == "PH0002"].itertuples():
        scan = read_wholebody(root / row.path)
        assert scan.speed_factor == pytest.approx(row.speed_factor) and scan.counts.shape == (2, 1024, 256)
        assert scan.counts.sum() == row.counts_accumulated
        truth = load_truth(root, "PH0002", row.speed_factor)
        assert truth["expected"].dtype == np.float32 and truth["expected"].shape == (2, 1024, 256)
        assert scan.counts.sum() == pytest.approx(truth["expected"].sum(), rel=0.005)  # Poisson of the truth
        for mask in ("skeleton", "bladder", "kidneys", "body"):
            assert truth[mask].dtype == bool and truth[mask].shape == (2, 1024, 256)
        assert np.array_equal(truth["skeleton"][1], truth["skeleton"][0][:, ::-1])  # POST as acquired
        assert truth["shift_px"].shape == (2,) and float(truth["speed_factor"]) == row.speed_factor
        if row.speed_factor == 1:
            assert np.array_equal(truth["shift_px"], [0.0, 0.0]) and float(truth["decay"]) == 1.0
        else:
            assert np.hypot(*truth["shift_px"]) * 2.4 >= 3.0 and float(truth["decay"]) > 1.0


def test_truth_tables(cohort):
    root, manifest = cohort
    patients, lesions = load_patients(root), load_lesions(root)
    assert list(patients["study_id"]) == sorted(manifest["study_id"].unique())
    assert list(lesions.columns) == list(LESION_COLUMNS)
    for row in patients.itertuples():
        mine = lesions[lesions["study_id"] == row.study_id]
        assert row.label == int(mine["malignant"].any()) == int(row.n_malignant > 0)
        truth = load_truth(root, row.study_id, 1.0)
        assert len(truth["lesion_rc"]) == len(mine)
        for les in mine[mine["malignant"] == 1].itertuples():
            assert truth["skeleton"][0, round(les.row), round(les.col)]
            assert truth["skeleton"][1, round(les.row), round(les.col_post)]
    moved = load_truth(root, "PH0001", 2.0)
    lesion_rows = lesions[lesions["study_id"] == "PH0001"]
    trunk = lesion_rows["site"].isin(["spine", "rib", "pelvis", "skull", "sternum"]).to_numpy()
    expected_rc = lesion_rows[["row", "col"]].to_numpy() + moved["shift_px"]
    assert np.allclose(moved["lesion_rc"][trunk], expected_rc[trunk], atol=0.01)


def test_same_seed_same_bytes_any_workers_other_seed_differs(cohort, tmp_path):
    root, _ = cohort
    again = tmp_path / "again"
    simulate_from_params(params(again, workers=2))
    assert digests(again) == digests(root)
    simulate_from_params(params(root))  # rerun in place: fine
    other = tmp_path / "other"
    simulate_from_params(params(other, seed=8, n_patients=1, n_metastatic=1, n_train=0, n_val=0, speeds=[1]))
    assert (
        read_wholebody(other / "dicom/PH0001/1x.dcm").counts.tobytes()
        != read_wholebody(root / "dicom/PH0001/1x.dcm").counts.tobytes()
    )


def test_other_params_into_the_same_root_is_refused(cohort):
    root, _ = cohort
    before = digests(root)
    with pytest.raises(OutputConflictError):
        simulate_from_params(params(root, seed=99))
    assert digests(root) == before


@pytest.mark.parametrize(
    "change",
    [
        {"speeds": [0.5, 1]},
        {"speeds": []},
        {"n_patients": 0},
        {"counts_1x": 0},
        {"counts_1x": -5},
        {"split_scheme": "random"},
        {"n_metastatic": 4},
        {"n_train": -1},
        {"colour": 1},
        {"pixel_mm": 1.0},
        {"n_patients": 2.5},
        {"n_observer": -1},
        {"n_observer": 1.5},
        {"n_observer": True},
        {"n_observer": "4"},
    ],
)
def test_bad_params_fail_before_writing(tmp_path, change):
    root = tmp_path / "bad"
    with pytest.raises(ParamsError):
        simulate_from_params(params(root, **change))
    assert not root.exists()
    with pytest.raises(ParamsError):
        simulate_from_params({**params(root), "seed": -1})


def test_sample_patients_schemes():
    cfg = cohort_config({"cohort": {"n_patients": 83, "n_metastatic": 39, "n_train": 20, "n_val": 6}})
    table = sample_patients(cfg, 7)
    test = table[table["split"] == "test"]
    assert len(test) == 83 and test["label"].sum() == 39
    assert table.loc[table["split"] == "train", "label"].sum() == 10
    assert table.loc[table["split"] == "val", "label"].sum() == 3
    assert test["age"].between(25, 81).all() and abs(test["age"].mean() - 61) < 5
    assert set(test.loc[test["diagnosis"] == "breast", "sex"]) <= {"F"}
    assert set(test.loc[test["diagnosis"] == "prostate", "sex"]) <= {"M"}
    strat = sample_patients({**cfg, "split_scheme": "stratified"}, 7)
    assert strat.loc[strat["split"] == "train", "label"].sum() == round(20 * 39 / 83)
    assert sample_patients(cfg, 7).equals(table)


def test_observer_split_is_appended_with_the_test_share_and_changes_no_other_patient():
    base = cohort_config({"cohort": {"n_patients": 83, "n_metastatic": 39, "n_train": 20, "n_val": 6}})
    assert base["n_observer"] == 0
    before = sample_patients(base, 7)
    assert "observer" not in set(before["split"])
    for scheme in ("separate", "stratified"):
        cfg = {**base, "n_observer": 40, "split_scheme": scheme}
        table = sample_patients(cfg, 7)
        observer = table[table["split"] == "observer"]
        assert len(observer) == 40 and observer["label"].sum() == 19  # 40 · 39/83 = 18.8 → 19
        assert list(observer["study_id"]) == [f"PH{i:04d}" for i in range(110, 150)]
        others = sample_patients({**cfg, "n_observer": 0}, 7)
        assert table.iloc[: len(others)].reset_index(drop=True).equals(others)
    assert sample_patients({**base, "n_observer": 40}, 7).iloc[:109].equals(before)
    assert sample_patients({**base, "n_observer": 40}, 7).equals(sample_patients({**base, "n_observer": 40}, 7))


@pytest.mark.parametrize(
    ("n_patients", "n_metastatic", "n_observer", "metastatic"),
    [(8, 4, 4, 2), (40, 19, 20, 10), (83, 39, 40, 19), (12, 6, 24, 12), (3, 0, 5, 0), (3, 3, 5, 5), (4, 1, 2, 1)],
)
def test_observer_metastatic_count_is_the_test_share_rounded_half_up(n_patients, n_metastatic, n_observer, metastatic):
    cfg = cohort_config({"cohort": {"n_patients": n_patients, "n_metastatic": n_metastatic, "n_observer": n_observer}})
    observer = sample_patients(cfg, 3).query("split == 'observer'")
    assert len(observer) == n_observer and observer["label"].sum() == metastatic


def test_observer_patients_are_scanned_like_test_patients(tmp_path):
    root = tmp_path / "obs"
    cohort = {"n_patients": 1, "n_metastatic": 1, "n_train": 0, "n_val": 0, "n_observer": 1, "speeds": [1, 2]}
    manifest = simulate_from_params(params(root, **cohort))
    by_split = {
        split: sorted(zip(rows["speed_factor"].astype(float), rows["kind"]))
        for split, rows in manifest.groupby("split")
    }
    assert by_split == {
        "test": [(1.0, "standard"), (2.0, "fast-real")],
        "observer": [(1.0, "standard"), (2.0, "fast-real")],
    }
    assert set(manifest.loc[manifest["split"] == "observer", "study_id"]) == {"PH0002"}
    assert manifest.loc[manifest["split"] == "observer", "label"].tolist() == [1, 1]  # 1 · 1/1
    assert (root / "truth" / "PH0002" / "1x.npz").is_file() and (root / "truth" / "PH0002" / "2x.npz").is_file()
    assert set(load_patients(root)["split"]) == {"test", "observer"}
    assert json.loads((root / "truth" / "cohort.json").read_text())["n_observer"] == 1


def test_cohort_record_leaves_out_n_observer_0(cohort):
    assert "n_observer" not in json.loads((cohort[0] / "truth" / "cohort.json").read_text())


def test_loaders_name_missing_truth(tmp_path):
    with pytest.raises(PhantomTruthError, match="does not exist"):
        load_truth(tmp_path, "PH0001", 2)
    with pytest.raises(PhantomTruthError):
        load_lesions(tmp_path)
    with pytest.raises(PhantomTruthError):
        load_patients(tmp_path)
    bad = tmp_path / "truth" / "PH0001" / "1x.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a zip")
    with pytest.raises(PhantomTruthError, match="unreadable"):
        load_truth(tmp_path, "PH0001", 1)
    pd.DataFrame({"study_id": ["PH0001"]}).to_csv(tmp_path / "truth" / "lesions.csv", index=False)
    with pytest.raises(PhantomTruthError, match="lacks"):
        load_lesions(tmp_path)
