"""Identifiers in folder and file names never leave the data folder: names, birth dates and a third
person's name planted in paths are absent from every manifest, audit list, quarantine list, enhanced
manifest, derived DICOM and the index's tables; files are named there by keyed file ids, and only the
local terminal shows real paths (--show-paths). The normalised second-line search, and the walk's
symlink loops and dangling links."""

from __future__ import annotations

import errno

import pandas as pd
import pytest
from fixtures_batch import CLEAN, IN_PATHS, PLANTED, THIRD_PERSON, leaks, write_planted
from fixtures_infer import tiny_checkpoint

from wbslib.cli import main
from wbslib.core.fileio import sha256_file
from wbslib.enhance.infer import enhance_manifest
from wbslib.io.audit import audit_cohort, save_audit
from wbslib.io.manifest.build import build_manifest
from wbslib.io.manifest.privacy import FileNames, IdentifierSearch
from wbslib.io.manifest.pseudonym import file_id, load_key
from wbslib.io.manifest.schema import write_manifest
from wbslib.io.manifest.walk import walk_folder
from wbslib.report.html import gather_quarantine


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hospital") / "export"
    return folder, write_planted(folder)


@pytest.mark.parametrize(
    "path",
    [
        "Mueller_Joerg/wbs.dcm",
        "Muller_Jorg/wbs.dcm",
        "MUELLER-JOERG/wbs.dcm",
        "müller jörg/wbs.dcm",
        "MuellerJoerg.dcm",
        "scan_05.03.1957.dcm",
        "scan_1957_03_05.dcm",
        "scan_05031957.dcm",
        "1957-3-5/a.dcm",
        "570305.dcm",
        "x/mrn-4711.dcm",
        "Schmidt_Hans_19480212/other.dcm",  # not in the header: any calendar date counts
    ],
)
def test_second_line_finds_every_spelling(path):
    search = IdentifierSearch([("name", "Müller"), ("name", "Jörg"), ("date", "19570305"), ("id", "MRN4711")])
    assert search.describe(path), path


@pytest.mark.parametrize("path", ["case1/wb1.dcm", "dicom/S01/2x.dcm", "exports/site-b/scan_0001.dcm", "1.2.840.1.dcm"])
def test_second_line_passes_innocent_paths(path):
    search = IdentifierSearch([("name", "Müller"), ("name", "Jörg"), ("date", "19570305"), ("id", "MRN4711")])
    assert search.describe(path) == ""


def test_describe_names_kinds_never_values():
    search = IdentifierSearch([("name", "Müller"), ("date", "19570305"), ("id", "MRN4711")])
    assert search.describe("Mueller/MRN4711_05031957.dcm") == "a name, an ID or UID and a date"


def test_redact_replaces_every_form_of_a_path(tmp_path):
    names = FileNames(tmp_path / "export", load_key())
    fid = names.id("Mueller_Joerg/scan_05031957.dcm")
    assert fid == file_id("Mueller_Joerg/scan_05031957.dcm", load_key()) and len(fid) == 17
    text = names.redact(
        f"{tmp_path / 'export' / 'Mueller_Joerg' / 'scan_05031957.dcm'} is bad; so is Mueller_Joerg/scan_05031957.dcm; "
        "the folder Mueller_Joerg, the scan scan_05031957"
    )
    assert text == f"{fid} is bad; so is {fid}; the folder [name withheld], the scan [name withheld]"


def test_walk_quarantines_symlink_loops_and_dangling_links(planted):
    files, problems = walk_folder(planted[0])
    assert files == sorted([*PLANTED, THIRD_PERSON, CLEAN])
    got = {rel: str(error) for rel, error in problems}
    assert set(got) == {"loop", "Mueller_Joerg/gone.dcm"}
    assert "symbolic link into a folder already walked (a loop" in got["loop"]
    assert "dangling symbolic link" in got["Mueller_Joerg/gone.dcm"]


def test_manifest_build_quarantines_identifying_paths_by_file_id(planted, capsys):
    folder, _ = planted
    manifest, quarantine = build_manifest(folder)
    assert list(manifest["path"]) == [CLEAN]
    paths = quarantine.attrs["paths"]
    assert sorted(paths.values()) == sorted([*PLANTED, THIRD_PERSON, "loop", "Mueller_Joerg/gone.dcm"])
    errors = {paths[f]: (e, s) for f, e, s in quarantine[["file", "error", "sentence"]].itertuples(index=False)}
    assert errors["Muller_Jorg/wbs.dcm"][1].endswith(
        "holds a name in its file or folder name; rerun with --copy-to DIR to store the files under pseudonymous names."
    )
    assert "holds a date" in errors["scans/scan_05031957.dcm"][1]
    assert "holds a date" in errors[THIRD_PERSON][1]
    assert errors["loop"][0] == errors["Mueller_Joerg/gone.dcm"][0] == "UnreadableInputError"
    assert not any(s in quarantine.to_csv() for s in IN_PATHS)
    out = folder / "manifest.csv"
    try:
        assert main(["manifest", "build", str(folder), "--out", str(out)]) == 0
        default = capsys.readouterr().err
        assert main(["manifest", "build", str(folder), "--out", str(out), "--force", "--show-paths"]) == 0
        shown = capsys.readouterr().err
    finally:
        out.unlink(missing_ok=True)
    assert default.count("quarantined F") == 9 and not any(s in default for s in IN_PATHS)
    assert all(s in shown for s in IN_PATHS)  # the local terminal, on request


def test_nothing_planted_leaves_the_data_folder(planted, tmp_path, monkeypatch, capsys):
    folder, files = planted
    runs = tmp_path / "runs" / "r"
    # copies under pseudonymous names: a manifest that may go anywhere
    copied, quarantine = build_manifest(folder, copy_to=tmp_path / "copy")  # Müller's repeats are quarantined
    assert len(copied) == 3 and set(quarantine["error"]) == {"UnreadableInputError", "ManifestError"}
    write_manifest(copied, tmp_path / "data_manifest" / "site.csv")
    save_audit(audit_cohort(tmp_path / "data_manifest" / "site.csv", tmp_path / "copy"), runs / "01-copy")
    # a manifest inside the data folder that lists the source paths (hand-made or from an older version):
    # the audit and the notebook-03 batch still name the files by id only
    rows = [
        {
            "study_id": f"S{i:02d}",
            "views": "ANT+POST",
            "speed_factor": 2.0,
            "kind": "fast-real",
            "path": rel,
            "sha256": sha256_file(path),
            "counts_accumulated": None,
            "split": "test",
            "label": 1,
            "source": "clinical",
        }
        for i, (rel, path) in enumerate(sorted(files.items()))
    ]
    manifest = write_manifest(pd.DataFrame(rows), folder / "listed.csv")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for rel in ("Muller_Jorg/wbs.dcm", "scans/scan_1957_03_05.dcm"):  # changed since listed / unreadable
        (damaged / rel.replace("/", "_")).write_bytes(files[rel].read_bytes())
    files["Muller_Jorg/wbs.dcm"].write_bytes(b"changed")
    real_sha = sha256_file

    def unreadable(path, *args):
        if "1957_03_05" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_sha(path, *args)

    try:
        with monkeypatch.context() as patch:
            patch.setattr("wbslib.io.manifest.verify.sha256_file", unreadable)
            patch.setattr("wbslib.enhance.batch.sha256_file", unreadable)
            audit = audit_cohort(manifest, folder)
            ckpt = tiny_checkpoint(tmp_path / "simu-2x.pt")
            listed = pd.read_csv(manifest, dtype={"label": "Int64"})
            done, bad = enhance_manifest(
                listed, folder, {"2x-simu": ckpt}, runs / "enhanced", device="cpu", progress=False
            )
        save_audit(audit, runs / "01")
        assert dict(zip(audit.quarantine["file"], audit.quarantine["error"])) == {
            file_id("Muller_Jorg/wbs.dcm", load_key()): "ChecksumMismatchError",
            file_id("scans/scan_1957_03_05.dcm", load_key()): "UnreadableInputError",
        }
        assert len(done) == len(files) - 2 and sorted(bad["error"]) == ["ChecksumMismatchError", "UnreadableInputError"]
        assert (
            main(["enhance", str(folder), "--model", str(ckpt), "--out", str(runs / "folder"), "--device", "cpu"]) == 0
        )
        terminal = capsys.readouterr()
    finally:
        for rel in ("Muller_Jorg/wbs.dcm", "scans/scan_1957_03_05.dcm"):
            files[rel].write_bytes((damaged / rel.replace("/", "_")).read_bytes())
        (folder / "listed.csv").unlink()
    assert len(list((runs / "folder").rglob("*.dcm"))) == len(files) - 1  # the damaged one is quarantined
    index_tables = gather_quarantine(runs).to_html()
    assert not any(s in index_tables for s in IN_PATHS)
    assert leaks(tmp_path / "data_manifest") == {} and leaks(runs) == {} and leaks(tmp_path / "copy") == {}
    assert not any(s in terminal.out + terminal.err for s in IN_PATHS)
