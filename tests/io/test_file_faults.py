"""The fault policy of the manifest and audit steps: an unreadable input is quarantined (or listed as
unreadable) and the step goes on; an output that cannot be written (read-only, full disk) stops the step
with one sentence naming the folder and what was done, nothing half-written under a final name and no
temporary file left; the CLI prints that sentence, never a traceback."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from fixtures_manifest import write_cohort

from wbslib.cli import main
from wbslib.core.errors import OutputWriteError, PseudonymKeyError
from wbslib.core.fileio import sha256_file
from wbslib.io.audit import audit_cohort, save_audit
from wbslib.io.manifest.build import build_manifest
from wbslib.io.manifest.pseudonym import file_id, load_key
from wbslib.io.manifest.schema import write_manifest
from wbslib.io.manifest.verify import verify_manifest


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults") / "dicom"
    write_cohort(folder)
    return folder


@pytest.fixture
def data(source, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(source, root)
    return root


def _deny(monkeypatch, where: str, path: Path) -> None:
    """`path` unreadable: chmod 000, and where that does not bite (root) a PermissionError from `where`."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        real = sha256_file

        def denied(p, *args):
            if Path(p).resolve() == path.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(p))
            return real(p, *args)

        monkeypatch.setattr(where, denied)


def _no_tmp(folder: Path) -> bool:
    return not list(folder.rglob("*.tmp"))


def test_unreadable_file_is_quarantined_and_the_build_goes_on(data, monkeypatch):
    _deny(monkeypatch, "wbslib.io.manifest.scan.sha256_file", data / "case1" / "wb2.dcm")
    manifest, quarantine = build_manifest(data)
    assert "case1/wb2.dcm" not in set(manifest["path"]) and len(manifest) == 11
    row = quarantine.set_index("file").loc[file_id("case1/wb2.dcm", load_key())]
    assert row["error"] == "UnreadableInputError" and "cannot be read (permission denied)" in row["sentence"]


def test_unreadable_file_in_verify_and_audit(data, monkeypatch, capsys):
    manifest, _ = build_manifest(data)
    path = write_manifest(manifest, data / "manifest.csv")
    _deny(monkeypatch, "wbslib.io.manifest.verify.sha256_file", data / "case2" / "wb1.dcm")
    status = verify_manifest(path).set_index("file")["status"]
    fid = file_id("case2/wb1.dcm", load_key())
    assert status[fid] == "unreadable" and (status.drop(fid) == "ok").all()
    assert main(["manifest", "verify", str(path)]) == 1
    assert f"unreadable: {fid} (study S" in capsys.readouterr().err
    result = audit_cohort(path, data)
    assert list(result.quarantine["error"]) == ["UnreadableInputError"] and len(result.audit) == 10


def test_full_disk_while_copying_stops_with_what_was_copied(data, tmp_path, monkeypatch, capsys):
    real, copies = shutil.copyfileobj, []

    def copyfileobj(src, dst, *args):
        copies.append(dst)
        if len(copies) >= 3:
            dst.write(src.read(100))  # a partial copy, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *args)

    monkeypatch.setattr("wbslib.io.manifest.build.shutil.copyfileobj", copyfileobj)
    copy, out = tmp_path / "copy", tmp_path / "site.csv"
    with pytest.raises(OutputWriteError, match=r"2 of 12 files were copied \(a rerun keeps them\) and no manifest"):
        build_manifest(data, copy_to=copy)
    assert len(list(copy.rglob("*.dcm"))) == 2 and _no_tmp(copy)
    code = main(["manifest", "build", str(data), "--copy-to", str(copy), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"wbs: Cannot write to {copy} (the disk is full)")
    assert not out.exists() and _no_tmp(copy)
    monkeypatch.setattr("wbslib.io.manifest.build.shutil.copyfileobj", real)
    assert main(["manifest", "build", str(data), "--copy-to", str(copy), "--out", str(out)]) == 0
    assert len(list(copy.rglob("*.dcm"))) == 12 and out.exists()


def test_read_only_manifest_folder_leaves_nothing(data, tmp_path, monkeypatch, capsys):
    def read_only(df, path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr("wbslib.io.manifest.schema.write_csv", read_only)
    out = data / "manifest.csv"
    code = main(["manifest", "build", str(data), "--out", str(out)])
    err = capsys.readouterr().err.splitlines()[-1]
    assert code == 2 and not out.exists()
    assert err == (
        f"wbs: Cannot write to {data} (the file system is read-only), so the step stopped: the manifest of 12 "
        "files was built but not written (nothing under manifest.csv); make room or make the folder writable, "
        "then run it again."
    )


def test_full_disk_while_saving_the_audit(data, tmp_path, monkeypatch):
    manifest, _ = build_manifest(data)
    result = audit_cohort(write_manifest(manifest, data / "manifest.csv"), data)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "quarantine.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr("wbslib.core.fileio.os.replace", replace)
    out = tmp_path / "runs" / "r" / "01"
    with pytest.raises(OutputWriteError, match="the audit read 11 acquisitions and wrote audit of its tables"):
        save_audit(result, out)
    assert sorted(p.name for p in out.iterdir()) == ["audit.csv"] and _no_tmp(out)


def test_stale_temporary_manifest_of_a_killed_build_is_removed(data, tmp_path):
    out = tmp_path / "site" / "manifest.csv"
    out.parent.mkdir()
    stale, other = out.with_name(f".manifest.csv.{2**22 + 7}.tmp"), out.with_name(f".other.csv.{2**22 + 7}.tmp")
    stale.write_text("half a manifest")
    other.write_text("someone else's")
    manifest, _ = build_manifest(data, copy_to=tmp_path / "copy")
    write_manifest(manifest, out)
    assert out.exists() and not stale.exists() and other.exists()


def test_unreadable_key_file_is_a_named_error(monkeypatch):
    load_key()  # created

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(PseudonymKeyError, match=r"cannot be read or created \(permission denied\)"):
        load_key()
