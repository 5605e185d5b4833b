"""The image-set index: one row per (study, group), paths, 1x-equivalent factors, loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_dicom import split_views
from fixtures_infer import tiny_checkpoint, tiny_cohort

from wbslib.core.errors import ManifestError
from wbslib.core.fileio import sha256_file
from wbslib.enhance.infer import enhance_manifest
from wbslib.io import imagesets as ims
from wbslib.io.dicom import read_wholebody


@pytest.fixture()
def cohort(tmp_path):
    root = tmp_path / "data"
    manifest = tiny_cohort(root, (("S01", "test"), ("S02", "val")))
    rows, _ = enhance_manifest(
        manifest[manifest["split"] == "test"],
        root,
        {"2x-simu": tiny_checkpoint(tmp_path / "simu-2x.pt")},
        tmp_path / "enhanced",
        device="cpu",
        progress=False,
    )
    return root, manifest, rows


def test_index_rows_groups_and_factors(cohort):
    root, manifest, enhanced = cohort
    df = ims.build_image_sets(manifest, root, enhanced)
    assert list(df.columns) == list(ims.IMAGE_SET_COLUMNS)
    assert list(zip(df["study_id"], df["group"])) == [
        ("S01", "1x"),
        ("S01", "2x"),
        ("S01", "2x-simu"),
        ("S02", "1x"),
        ("S02", "2x"),
    ]
    assert list(df["to_1x"]) == [1.0, 2.0, 1.0, 1.0, 2.0]
    assert list(df["method"]) == ["raw", "raw", "rrdb-simu", "raw", "raw"]
    assert list(df["split"]) == ["test"] * 3 + ["val"] * 2 and list(df["label"]) == [0, 0, 0, 1, 1]


def test_load_counts_gives_1x_equivalent_counts(cohort):
    root, manifest, enhanced = cohort
    df = ims.build_image_sets(manifest, root, enhanced).set_index("group", drop=False)
    s01 = df[df["study_id"] == "S01"]
    raw = read_wholebody(root / "dicom" / "S01" / "2x.dcm").counts
    np.testing.assert_array_equal(ims.load_counts(s01.loc["2x"]), raw * 2.0)
    np.testing.assert_array_equal(
        ims.load_counts(s01.loc["1x"]), read_wholebody(root / "dicom" / "S01" / "1x.dcm").counts
    )
    enh = ims.load_counts(s01.loc["2x-simu"])
    assert enh.dtype == np.float32 and enh.shape == raw.shape and (enh >= 0).all()
    wrong = s01.loc["2x"].copy()
    wrong["to_1x"] = 1.0
    with pytest.raises(ManifestError, match="2x"):
        ims.load_counts(wrong)


def test_write_read_round_trip(cohort, tmp_path, monkeypatch):
    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    root, manifest, enhanced = cohort
    df = ims.build_image_sets(manifest, root, enhanced)
    path = ims.write_image_sets(df, "r1")
    assert path == tmp_path / "runs" / "r1" / "image_sets.csv"
    back = ims.read_image_sets("r1")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert "data/dicom/S01/2x.dcm" in set(back["path"])  # project-relative paths
    with pytest.raises(ManifestError, match="notebook 03"):
        ims.read_image_sets("nothing-here")


def test_two_single_view_files_form_one_image_set(tmp_path):
    root = tmp_path / "data"
    manifest = tiny_cohort(root, (("S01", "test"),))
    ant, post = split_views(root / "dicom" / "S01" / "2x.dcm", root / "dicom" / "S01")
    two = pd.DataFrame(
        [
            {**manifest.iloc[1].to_dict(), "views": v, "path": p.relative_to(root).as_posix(), "sha256": sha256_file(p)}
            for v, p in (("POST", post), ("ANT", ant))
        ]
    )
    df = ims.build_image_sets(pd.concat([manifest.iloc[:1], two]), root)
    row = df[df["group"] == "2x"].iloc[0]
    assert row["path"].split(";")[0].endswith("ANT.dcm")
    np.testing.assert_array_equal(ims.load_counts(row), read_wholebody(root / "dicom" / "S01" / "2x.dcm").counts * 2)


def test_duplicate_study_group_is_a_named_error(cohort):
    root, manifest, enhanced = cohort
    with pytest.raises(ManifestError, match="listed once"):
        ims.build_image_sets(manifest, root, pd.concat([enhanced, enhanced]))
