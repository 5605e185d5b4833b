"""Cohort audit (notebook 01's library): counts per view, integrity flags, quarantine, thumbnails."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pydicom
import pytest
from fixtures_manifest import counts, write_cohort

from wbslib.core.fileio import sha256_file
from wbslib.io.audit import (
    AuditResult,
    acquisitions,
    audit_cohort,
    audit_headline,
    counts_summary,
    flagged,
    save_audit,
    thumbnail_figure,
)
from wbslib.io.manifest.build import build_manifest
from wbslib.io.manifest.pseudonym import file_id, load_key
from wbslib.io.manifest.schema import read_manifest, write_manifest
from wbslib.report.html import gather_flags, gather_quarantine


def _ids(*paths: str) -> str:
    """The keyed file ids the audit lists for these manifest paths, joined as in its `files` column."""
    return ";".join(file_id(p, load_key()) for p in paths)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit") / "dicom"
    write_cohort(folder)
    return folder


@pytest.fixture
def data(source, tmp_path):
    """A fresh copy of the cohort with its manifest (so tests may damage files)."""
    root = tmp_path / "data"
    shutil.copytree(source, root)
    manifest, _ = build_manifest(root)
    return root, write_manifest(manifest, root / "manifest.csv")


def test_counts_known_answers_and_thumbnails(data):
    root, manifest_path = data
    result = audit_cohort(manifest_path, root, max_thumbnails=2)
    audit = result.audit
    assert len(audit) == 11 and result.quarantine.empty and set(result.checksums["status"]) == {"ok"}
    one_x = audit[audit["files"] == _ids("case1/wb1.dcm")].iloc[0]
    expected = counts(1, 1)
    assert one_x["counts_ant"] == expected[0].sum() and one_x["counts_post"] == expected[1].sum()
    three_x = audit[audit["files"] == _ids("case1/wb3.dcm")].iloc[0]
    assert three_x["counts_1x_equivalent"] == 3 * counts(3, 3).sum()
    enhanced = audit[audit["kind"] == "enhanced"].iloc[0]
    assert enhanced["counts_1x_equivalent"] == (2 * counts(2, 2)).sum()
    pair = audit[audit["files"] == _ids("case4/ant1.dcm", "case4/post1.dcm")].iloc[0]
    assert pair["views"] == "ANT+POST" and pair["kind"] == "standard"
    assert flagged(audit).empty and not audit["lossy"].any()
    assert len(result.thumbnails) == 2
    for study, thumbs in result.thumbnails.items():
        rows = audit[(audit["study_id"] == study) & (audit["kind"] != "enhanced")]
        assert [label for label, _ in thumbs] == ["1x", "2x", "3x"][: len(rows)]
        totals = rows["counts_ant"] + rows["counts_post"]
        assert [float(np.nansum(t)) for _, t in thumbs] == list(totals)  # 4×4 block sums keep every count
        assert all(t.shape == (2, 256, 64) for _, t in thumbs)
    fig = thumbnail_figure(result.thumbnails)
    assert len(fig.axes) == 2 * 6
    summary = counts_summary(audit)
    assert summary.loc[("standard", "1x"), "acquisitions"] == 4
    assert summary.loc[("fast-real", "3x"), "acquisitions"] == 3


def test_changed_missing_and_unreadable_files_are_quarantined(data):
    root, manifest_path = data
    (root / "case1" / "wb2.dcm").write_bytes(b"tampered")
    (root / "case2" / "wb3.dcm").unlink()
    result = audit_cohort(manifest_path, root)
    got = dict(zip(result.quarantine["file"], result.quarantine["error"]))
    assert got == {_ids("case1/wb2.dcm"): "ChecksumMismatchError", _ids("case2/wb3.dcm"): "ChecksumMismatchError"}
    sentence = result.quarantine.set_index("file").at[_ids("case2/wb3.dcm"), "sentence"]
    assert sentence.startswith(f"{_ids('case2/wb3.dcm')} is missing since the manifest was built")
    assert len(result.audit) == 9

    manifest = read_manifest(manifest_path)
    junk = root / "junk.dcm"
    junk.write_bytes(b"not dicom")
    extra = manifest.iloc[[0]].assign(
        path="junk.dcm", sha256=sha256_file(junk), views="ANT+POST", kind="fast-real", speed_factor=5.0
    )
    write_manifest(pd.concat([manifest, extra], ignore_index=True), manifest_path)
    result = audit_cohort(manifest_path, root)
    junk_row = result.quarantine.set_index("file").loc[_ids("junk.dcm")]
    assert junk_row["error"] == "NotDicomError" and "junk" not in junk_row["sentence"]
    assert junk_row["sentence"].startswith(_ids("junk.dcm")) and str(root) not in junk_row["sentence"]


def test_integrity_flags_for_mismatched_counts_and_speed(source, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(source / "case1", root / "case1")
    ds = pydicom.dcmread(root / "case1" / "wb1.dcm")
    ds.CountsAccumulated = int(ds.CountsAccumulated) + 1000
    for tag in [t for t in ds.keys() if t.group == 0x0071]:  # the per-frame private copy would disagree
        del ds[tag]
    ds.save_as(root / "case1" / "wb1.dcm", enforce_file_format=True)
    manifest, _ = build_manifest(root)
    manifest.loc[manifest["path"] == "case1/wb3.dcm", "speed_factor"] = 2.5
    path = write_manifest(manifest, root / "manifest.csv")
    result = audit_cohort(path, root)
    flags = flagged(result.audit).set_index("speed_factor")["flags"]
    assert flags.to_dict() == {1.0: "counts-mismatch", 2.5: "speed-mismatch"}
    assert result.audit.set_index("speed_factor").at[1.0, "counts_mismatch"]

    run = tmp_path / "runs" / "r"
    save_audit(result, run / "01")
    assert list(gather_flags(run)["flags"]) == ["counts-mismatch", "speed-mismatch"]
    assert gather_quarantine(run).empty


def test_acquisitions_group_views_and_keep_enhanced_apart(data):
    manifest = read_manifest(data[1])
    groups = acquisitions(manifest)
    assert sum(len(g) for g in groups) == len(manifest) == 12 and len(groups) == 11
    assert [len(g) for g in groups if "case4/ant1.dcm" in set(g["path"])] == [2]


def test_audit_headline_counts_files_studies_quarantine_and_flags():
    audit = pd.DataFrame(
        {
            "study_id": ["S1", "S1", "S2", "S3"],
            "files": ["Fa", "Fb;Fc", "Fd", "Fe"],
            "lossy": [False, True, False, False],
            "counts_mismatch": [True, False, False, False],
            "flags": ["counts-mismatch", "lossy;speed-mismatch", "", "negative-values"],
        }
    )
    checksums = pd.DataFrame({"study_id": ["S1", "S1", "S1", "S2", "S3", "S4"], "file": list("abcdef")})
    quarantine = pd.DataFrame({"study_id": ["S4"], "file": ["Ff"], "error": ["X"], "sentence": ["x"]})
    assert audit_headline(AuditResult(audit, quarantine, checksums)) == (
        "6 files of 4 studies audited: 1 quarantined, 2 lossy, 1 count mismatch, 3 with other flags."
    )
    clean = audit.assign(lossy=False, counts_mismatch=False, flags="")
    empty = quarantine.iloc[:0]
    assert audit_headline(AuditResult(clean, empty, checksums)) == (
        "6 files of 4 studies audited: 0 quarantined, 0 lossy, 0 count mismatches."
    )
