"""Cohort manifest: build from a DICOM folder, schema validation, CSV round trip, splits, verification."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from fixtures_manifest import counts, write_cohort, write_scan
from hypothesis import given, settings
from hypothesis import strategies as st

from wbslib.core.errors import ManifestError, ParamsError, PseudonymKeyError
from wbslib.io.manifest.build import build_manifest
from wbslib.io.manifest.labels import CLINICAL_SPLITS, apportion, assign_splits
from wbslib.io.manifest.pseudonym import file_id, load_key, pseudonym
from wbslib.io.manifest.schema import (
    MANIFEST_COLUMNS,
    cohort_headline,
    read_manifest,
    study_table,
    validate_manifest,
    write_manifest,
)
from wbslib.io.manifest.verify import verify_manifest


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort") / "dicom"
    return folder, write_cohort(folder)


@pytest.fixture
def built(cohort, tmp_path):
    folder, paths = cohort
    labels = tmp_path / "labels.csv"
    labels.write_text("patient_id,label\nPAT-A,1\nPAT-B,0\nPAT-C,1\nPAT-D,\nPAT-Z,0\n")
    manifest, quarantine = build_manifest(folder, labels_csv=labels, split_seed=3)
    return folder, paths, manifest, quarantine


def _expected_id(patient_id: str) -> str:
    key = bytes.fromhex(Path(os.environ["WBS_PSEUDONYM_KEY_FILE"]).read_text().strip())
    return "S" + hmac.new(key, patient_id.encode(), hashlib.sha256).hexdigest()[:16]


def test_build_groups_files_into_pseudonymous_studies(built):
    folder, paths, manifest, _ = built
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert len(manifest) == 12 and manifest["study_id"].nunique() == 4
    a = manifest[manifest["study_id"] == _expected_id("PAT-A")]
    assert list(zip(a["kind"], a["speed_factor"])) == [
        ("standard", 1.0),
        ("fast-real", 2.0),
        ("fast-real", 3.0),
        ("enhanced", 2.0),
    ]
    row = a.iloc[0]
    assert row["path"] == "case1/wb1.dcm" and row["views"] == "ANT+POST"
    assert row["sha256"] == hashlib.sha256(paths["PAT-A/1x"].read_bytes()).hexdigest()
    assert row["counts_accumulated"] == int(counts(1, 1).sum())  # seed 10·0 + 1 in write_cohort
    assert a.iloc[3]["counts_accumulated"] == int((counts(2, 2) * 2).sum())  # enhanced = 1x-equivalent
    d = manifest[manifest["study_id"] == _expected_id("PAT-D")]
    assert list(zip(d["views"], d["path"])) == [("ANT", "case4/ant1.dcm"), ("POST", "case4/post1.dcm")]
    assert set(manifest["source"]) == {"clinical"}


def _with_paths(table: pd.DataFrame) -> pd.DataFrame:
    """A quarantine or checksum table with the local-only paths of its file ids as a column `path`."""
    return table.assign(path=[table.attrs["paths"][f] for f in table["file"]])


def test_unusable_files_are_quarantined_with_their_error(built):
    folder, quarantine = built[0], built[3]
    assert list(quarantine.columns) == ["file", "error", "sentence"]
    got = dict(zip(_with_paths(quarantine)["path"], quarantine["error"]))
    assert got == {
        "case3/cut.dcm": "TruncatedDicomError",
        "notes.txt": "NotDicomError",
        "case4/ant2.dcm": "SingleViewError",
        "case2/wb2.dcm": "ManifestError",
    }
    assert list(quarantine["file"]) == [file_id(p, load_key()) for p in got]
    dup = _with_paths(quarantine).set_index("path").at["case2/wb2.dcm", "sentence"]
    repeat = file_id("case2/wb2-repeat.dcm", load_key())
    assert f"repeats the fast-real 2x acquisition already listed from {repeat}" in dup
    text = quarantine.to_csv()
    assert not any(name in text for name in ("case", "notes", ".dcm", ".txt", str(folder)))


def test_labels_come_from_csv_and_split_is_per_patient(built):
    manifest = built[2]
    labels = manifest.groupby("study_id")["label"].first()
    assert labels[_expected_id("PAT-A")] == 1 and labels[_expected_id("PAT-B")] == 0
    assert pd.isna(labels[_expected_id("PAT-D")])
    assert (manifest.groupby("study_id")["split"].nunique() == 1).all()


def test_single_views_allowed_on_request(cohort):
    manifest, quarantine = build_manifest(cohort[0], allow_single_view=True)
    lonely = manifest[manifest["path"] == "case4/ant2.dcm"]
    assert list(zip(lonely["views"], lonely["kind"], lonely["speed_factor"])) == [("ANT", "fast-real", 2.0)]
    assert "case4/ant2.dcm" not in set(quarantine.attrs["paths"].values())


def test_missing_scan_velocity_quarantined_unless_speed_given(tmp_path):
    path = write_scan(tmp_path / "d" / "a.dcm", patient_id="P9", speed_factor=2, seed=1)
    ds = pydicom.dcmread(path)
    del ds.ScanVelocity
    ds.save_as(path, enforce_file_format=True)
    manifest, quarantine = build_manifest(tmp_path / "d")
    assert manifest.empty and list(quarantine["error"]) == ["SpeedUnknownError"]
    manifest, _ = build_manifest(tmp_path / "d", speed_factor=2)
    assert list(manifest["speed_factor"]) == [2.0] and list(manifest["kind"]) == ["fast-real"]


def test_pseudonym_key_created_private_and_stable(cohort, tmp_path, monkeypatch):
    key_file = Path(os.environ["WBS_PSEUDONYM_KEY_FILE"])
    first, _ = build_manifest(cohort[0])
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(load_key()) == 32
    again, _ = build_manifest(cohort[0])
    assert list(again["study_id"]) == list(first["study_id"])
    other, _ = build_manifest(cohort[0], key_file=tmp_path / "other.key")
    assert set(other["study_id"]).isdisjoint(first["study_id"])
    assert pseudonym(" PAT-A ", load_key()) == pseudonym("PAT-A", load_key())


def test_bad_key_files_are_named(tmp_path, monkeypatch):
    open_key = tmp_path / "open.key"
    open_key.write_text("ab" * 32)
    open_key.chmod(0o644)
    with pytest.raises(PseudonymKeyError, match="readable by other users"):
        load_key(open_key)
    short = tmp_path / "short.key"
    short.write_text("abcd")
    short.chmod(0o600)
    with pytest.raises(PseudonymKeyError, match="holds 2 bytes"):
        load_key(short)
    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    with pytest.raises(PseudonymKeyError, match="inside the project repository"):
        load_key(tmp_path / "keys" / "k.key")
    assert not (tmp_path / "keys" / "k.key").exists()


def test_write_read_round_trip_and_csv_format(built, tmp_path):
    manifest = built[2]
    path = write_manifest(manifest, tmp_path / "m" / "cohort.csv")
    again = read_manifest(path)
    pd.testing.assert_frame_equal(again, manifest)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(MANIFEST_COLUMNS)
    d_row = next(line for line in lines if "case4/ant1.dcm" in line).split(",")
    assert d_row[2] == "1" and d_row[8] == ""  # speed '1', unknown label empty
    assert not list(path.parent.glob(".*tmp"))


GOOD = {
    "study_id": "S01",
    "views": "ANT+POST",
    "speed_factor": "2",
    "kind": "fast-real",
    "path": "a/b.dcm",
    "sha256": "0" * 64,
    "counts_accumulated": "1200",
    "split": "test",
    "label": "1",
    "source": "phantom",
}


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("study_id", "S 01", "study_id 'S 01'"),
        ("views", "LAT", "views 'LAT'"),
        ("speed_factor", "0.5", "speed_factor '0.5' is not a number ≥ 1"),
        ("speed_factor", "x", "speed_factor 'x'"),
        ("kind", "standard", "kind standard needs speed_factor 1"),
        ("kind", "slow", "kind 'slow'"),
        ("path", "/abs/b.dcm", "not a relative POSIX path"),
        ("path", "../b.dcm", "not a relative POSIX path"),
        ("sha256", "abc", "sha256 is not 64"),
        ("counts_accumulated", "-3", "counts_accumulated '-3'"),
        ("counts_accumulated", "1E100", "counts_accumulated '1E100' is not a whole number ≥ 0 (below 2^63)"),
        ("label", "2", "label '2' is not 1, 0 or empty"),
        ("split", "dev", "split 'dev'"),
        ("source", "pacs", "source 'pacs'"),
    ],
)
def test_validate_names_the_bad_line(column, value, message):
    rows = [dict(GOOD, path=f"a/{i}.dcm", speed_factor=str(i + 2)) for i in range(3)]
    rows[1][column] = value
    with pytest.raises(ManifestError, match="line 3 \\(S") as info:
        validate_manifest(pd.DataFrame(rows), "m.csv")
    assert message in str(info.value) and "m.csv" in str(info.value)


def test_validate_table_level_problems():
    dup = pd.DataFrame([GOOD, dict(GOOD, path="a/c.dcm")])
    with pytest.raises(ManifestError, match=r"line 3 \(S01\): study S01 lists its fast-real 2x ANT\+POST view more"):
        validate_manifest(dup)
    mixed = pd.DataFrame([GOOD, dict(GOOD, path="a/c.dcm", speed_factor="3", split="train")])
    with pytest.raises(ManifestError, match="study S01 has more than one split"):
        validate_manifest(mixed)
    with pytest.raises(ManifestError, match="lacks the column\\(s\\) sha256"):
        validate_manifest(pd.DataFrame([GOOD]).drop(columns="sha256"))
    one_view_pair = pd.DataFrame([dict(GOOD, views="ANT"), dict(GOOD, views="POST", path="a/c.dcm")])
    assert len(validate_manifest(one_view_pair)) == 2


@settings(max_examples=60, deadline=None)
@given(column=st.sampled_from(MANIFEST_COLUMNS), value=st.text(max_size=12))
def test_any_corrupted_cell_gives_a_named_error_or_valid_manifest(column, value):
    df = pd.DataFrame([GOOD, dict(GOOD, path="a/c.dcm", speed_factor="3")])
    df.loc[0, column] = value
    try:
        out = validate_manifest(df)
    except ManifestError as exc:
        assert str(exc).startswith("Manifest <manifest> has") or "lacks" in str(exc)
    else:
        assert len(out) == 2


def test_read_manifest_missing_or_garbage(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError):
        read_manifest(tmp_path / "bin.csv")


def test_verify_detects_modified_and_missing_files(cohort, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cohort[0] / "case1", data / "case1")
    manifest, _ = build_manifest(data)
    path = write_manifest(manifest, data / "manifest.csv")
    checked = verify_manifest(path)
    assert set(checked["status"]) == {"ok"} and list(checked.columns) == [
        "study_id",
        "file",
        "status",
        "sha256",
        "actual_sha256",
    ]
    with open(data / "case1" / "wb2.dcm", "r+b") as f:  # flip one pixel byte
        f.seek(-10, os.SEEK_END)
        byte = f.read(1)
        f.seek(-10, os.SEEK_END)
        f.write(bytes([byte[0] ^ 1]))
    (data / "case1" / "wb3.dcm").unlink()
    result = _with_paths(verify_manifest(path)).set_index("path")["status"]
    assert result.to_dict() == {
        "case1/wb1.dcm": "ok",
        "case1/wb2.dcm": "changed",
        "case1/wb3.dcm": "missing",
        "case1/wb2-enhanced.dcm": "ok",
    }
    elsewhere = verify_manifest(path, data_root=tmp_path)
    assert set(elsewhere["status"]) == {"missing"}


def test_study_table_one_row_per_study(built):
    table = study_table(built[2]).set_index("study_id")
    a = table.loc[_expected_id("PAT-A")]
    assert a["n_files"] == 4 and a["speeds"] == "1x 2x 3x" and a["path_2x"] == "case1/wb2.dcm"
    assert table.loc[_expected_id("PAT-D"), "path_1x"] == "case4/ant1.dcm;case4/post1.dcm"
    assert len(table) == 4 and str(table["label"].dtype) == "Int64"


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 60), cut=st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(1, 10)))
def test_apportion_sums_and_stays_within_one(n, cut):
    fractions = tuple(c / sum(cut) for c in cut)
    counts_ = apportion(n, fractions)
    assert sum(counts_) == n
    assert all(abs(c - n * f) < 1 for c, f in zip(counts_, fractions))


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.sampled_from([0, 1, None]), min_size=1, max_size=40), seed=st.integers(0, 2**31))
def test_splits_are_stratified_and_seeded(labels, seed):
    series = pd.Series(labels, index=[f"S{i:03d}" for i in range(len(labels))], dtype="Int64")
    fractions = (0.6, 0.2, 0.2)
    splits = assign_splits(series, fractions, seed)
    assert splits.equals(assign_splits(series, fractions, seed))
    for value in (0, 1, None):
        members = series.isna() if value is None else (series == value).fillna(False)
        got = splits[members.to_numpy()].value_counts()
        expected = apportion(int(members.sum()), fractions)
        assert [got.get(s, 0) for s in ("train", "val", "test")] == expected


def test_clinical_splits_stay_train_val_test_with_the_same_draw():
    assert CLINICAL_SPLITS == ("train", "val", "test")
    series = pd.Series([1, 0, 1, None, 0, 1, 0, 0, 1, None], index=[f"S{i:02d}" for i in range(10)], dtype="Int64")
    # the draw made before the observer split existed (same seed, same fractions)
    assert assign_splits(series, (0.6, 0.2, 0.2), 3).to_dict() == {
        "S00": "test", "S01": "val", "S02": "val", "S03": "train", "S04": "train",
        "S05": "train", "S06": "test", "S07": "train", "S08": "train", "S09": "val",
    }  # fmt: skip
    many = pd.Series([1, 0, None] * 20, index=[f"S{i:02d}" for i in range(60)], dtype="Int64")
    assert set(assign_splits(many, (0.2, 0.2, 0.6), 0)) == {"train", "val", "test"}


def test_bad_split_fractions_and_labels(cohort, tmp_path):
    with pytest.raises(ParamsError, match="summing to 1"):
        build_manifest(cohort[0], fractions=(0.5, 0.1, 0.1))
    bad = tmp_path / "labels.csv"
    bad.write_text("patient_id,label\nPAT-A,yes\nPAT-B,1\nPAT-B,0\n")
    with pytest.raises(ManifestError, match="line 2, line 4"):
        build_manifest(cohort[0], labels_csv=bad)
    (tmp_path / "nolabel.csv").write_text("id,metastatic\nPAT-A,1\n")
    with pytest.raises(ManifestError, match="needs patient_id and label"):
        build_manifest(cohort[0], labels_csv=tmp_path / "nolabel.csv")
    with pytest.raises(ManifestError, match="does not exist"):
        build_manifest(tmp_path / "nowhere")


def test_counts_fixture_is_integer_and_seeded():
    a, b = counts(5, 2), counts(5, 2)
    assert np.array_equal(a, b) and np.array_equal(a, np.rint(a))


def _rows(study, split, label, speeds=(1, 2, 3), source="phantom"):
    return [
        dict(GOOD, study_id=study, split=split, label=label, source=source, speed_factor=str(s),
             kind="standard" if s == 1 else "fast-real", path=f"{study}/{s}.dcm")
        for s in speeds
    ]  # fmt: skip


def test_cohort_headline_counts_patients_per_split_and_names_speeds_and_counts():
    rows = _rows("P1", "test", "1") + _rows("P2", "test", "0") + _rows("P3", "test", "1")
    rows += _rows("P4", "train", "1") + _rows("P5", "val", "0")
    rows.append(dict(rows[0], kind="enhanced", speed_factor="4", path="P1/enh.dcm"))
    manifest = validate_manifest(pd.DataFrame(rows), "m.csv")
    assert cohort_headline(manifest, 1.75e6) == (
        "5 phantom patients (3 evaluation, 2 metastatic; 1 training, 1 validation) scanned at 1x, 2x and 3x; "
        "1.75 M expected counts per 1x view."
    )


def test_manifest_accepts_the_observer_split_and_the_headline_counts_it():
    rows = _rows("P1", "test", "1") + _rows("P2", "test", "0") + _rows("P3", "train", "1")
    rows += _rows("P4", "observer", "1") + _rows("P5", "observer", "0")
    manifest = validate_manifest(pd.DataFrame(rows), "m.csv")
    assert sorted(manifest.drop_duplicates("study_id")["split"]) == ["observer", "observer", "test", "test", "train"]
    assert cohort_headline(manifest) == (
        "5 phantom patients (2 evaluation, 1 metastatic; 1 training, 0 validation, 2 observer) "
        "scanned at 1x, 2x and 3x."
    )
    with pytest.raises(ManifestError, match="'readers' is not one of train, val, test, observer"):
        validate_manifest(pd.DataFrame(_rows("P6", "readers", "1")), "m.csv")


def test_cohort_headline_of_a_clinical_cohort_without_labels_or_counts():
    rows = _rows("C1", "test", "", (1, 2), "clinical") + _rows("C2", "test", "1", (1, 2), "clinical")
    manifest = validate_manifest(pd.DataFrame(rows), "m.csv")
    assert cohort_headline(manifest) == (
        "2 patients (2 evaluation, 1 metastatic, 1 without a label; 0 training, 0 validation) scanned at 1x and 2x."
    )
