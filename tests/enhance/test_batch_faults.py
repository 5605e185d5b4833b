"""One fault policy for every batch step that enhances (models, `wbs enhance DIR`, baselines): an input
that cannot be read is quarantined and the batch goes on; an output folder that cannot be written
(read-only, full disk) stops the batch at once with one sentence naming the folder and how many studies
are finished and listed, nothing half-written under a final name and no temporary file left."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from fixtures_batch import write_studies
from fixtures_infer import tiny_checkpoint, tiny_cohort

from wbslib.cli import main
from wbslib.core.errors import OutputWriteError
from wbslib.core.fileio import remove_stale_tmp, sha256_file
from wbslib.enhance import baselines as bl
from wbslib.enhance.batch import read_enhanced_manifest
from wbslib.enhance.infer import enhance_manifest
from wbslib.enhance.studies import enhance_folder
from wbslib.io.manifest.pseudonym import file_id, load_key

N = 5


@pytest.fixture
def studies(tmp_path):
    folder = tmp_path / "studies"
    write_studies(folder, N, shape=(2, 64, 32))
    return folder, tiny_checkpoint(tmp_path / "simu-2x.pt")


def _unreadable(monkeypatch, where: str, path: Path) -> None:
    """Make `path` unreadable: chmod 000, and where that does not bite (root) a PermissionError from
    `where`'s sha256_file."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        real = sha256_file

        def denied(p, *args):
            if Path(p).resolve() == path.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(p))
            return real(p, *args)

        monkeypatch.setattr(where, denied)


def _tmp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


def _full_disk_after(monkeypatch, folder: Path, writes: int) -> None:
    """Every write under `folder` after the first `writes` DICOM files stores half its bytes, then fails
    with ENOSPC (as a full disk does)."""
    real, done = Path.write_bytes, []

    def write_bytes(self, data):
        if Path(self).resolve().is_relative_to(folder.resolve()):
            if len(done) >= writes:
                real(self, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            done.append(self)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def _listed_outputs_intact(out: Path) -> list[str]:
    listed = read_enhanced_manifest(out)
    for row in listed.itertuples():
        assert sha256_file(row.path) == row.sha256
    assert sorted(str(p) for p in out.rglob("*.dcm")) == sorted(listed["path"])
    return list(listed["study_id"])


def test_unreadable_input_mid_batch_is_quarantined_and_the_rest_go_on(studies, tmp_path, monkeypatch, capsys):
    folder, ckpt = studies
    _unreadable(monkeypatch, "wbslib.enhance.studies.sha256_file", folder / "study02.dcm")
    code = main(["enhance", str(folder), "--model", str(ckpt), "--out", str(tmp_path / "out"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    fid = file_id("study02.dcm", load_key())
    assert f"quarantined {fid}: UnreadableInputError: {fid} cannot be read (permission denied)" in err
    assert len(_listed_outputs_intact(tmp_path / "out")) == N - 1
    assert "UnreadableInputError" in (tmp_path / "out" / "quarantine.csv").read_text()


def test_unreadable_input_in_the_notebook_batch_and_the_baselines(tmp_path, monkeypatch):
    root = tmp_path / "data"
    manifest = tiny_cohort(root, (("S01", "test"), ("S02", "test"), ("S03", "test")))
    test = manifest[manifest["split"] == "test"]
    _unreadable(monkeypatch, "wbslib.enhance.batch.sha256_file", root / "dicom" / "S02" / "2x.dcm")
    ckpt = tiny_checkpoint(tmp_path / "simu-2x.pt")
    rows, bad = enhance_manifest(test, root, {"2x-simu": ckpt}, tmp_path / "enhanced", device="cpu", progress=False)
    assert list(rows["study_id"]) == ["S01", "S03"] and list(bad["error"]) == ["UnreadableInputError"]
    assert list(bad["file"]) == [file_id("dicom/S02/2x.dcm", load_key())] and "dicom/S02" not in bad.at[0, "sentence"]
    rows, bad = bl.enhance_baselines(
        test, root, tmp_path / "enhanced", speeds=[2.0], methods=("gaussian",), sigmas={2.0: 1.0}, progress=False
    )
    assert list(rows["study_id"]) == ["S01", "S03"] and list(bad["error"]) == ["UnreadableInputError"]
    listed = read_enhanced_manifest(tmp_path / "enhanced")
    assert sorted(zip(listed["group"], listed["study_id"])) == [
        ("2x-gauss", "S01"),
        ("2x-gauss", "S03"),
        ("2x-simu", "S01"),
        ("2x-simu", "S03"),
    ]


@pytest.mark.parametrize("writes", [0, 2])
def test_full_disk_stops_at_once_with_what_was_done(studies, tmp_path, monkeypatch, capsys, writes):
    folder, ckpt = studies
    out = tmp_path / "out"
    argv = ["enhance", str(folder), "--model", str(ckpt), "--out", str(out), "--device", "cpu"]
    with monkeypatch.context() as patch:
        _full_disk_after(patch, out, writes)
        code = main(argv)
    err = capsys.readouterr().err.splitlines()[-1]
    assert code == 2 and err == (
        f"wbs: Cannot write to {out} (the disk is full), so the step stopped: {writes} of {N} studies of this "
        f"batch are finished and listed in {out / 'manifest.csv'} (a rerun skips them); make room or make the "
        "folder writable, then run it again."
    )
    assert len(_listed_outputs_intact(out)) == writes and _tmp_files(out) == []
    assert main(argv) == 0  # room again: the rerun finishes what was left, skipping what is done
    assert f"{N - writes} enhanced, {writes} already done" in capsys.readouterr().out
    assert len(_listed_outputs_intact(out)) == N and _tmp_files(out) == []


def test_full_disk_while_listing_keeps_the_previous_listing(studies, tmp_path, monkeypatch):
    folder, ckpt = studies
    out = tmp_path / "out"
    real, calls = __import__("wbslib.enhance.journal", fromlist=["write_csv"]).write_csv, []

    def write_csv(df, path):
        calls.append(path)
        if len(calls) == 3:
            with open(Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp"), "w") as f:
                f.write("half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(df, path)

    with monkeypatch.context() as patch:
        patch.setattr("wbslib.enhance.journal.write_csv", write_csv)
        with pytest.raises(OutputWriteError, match="2 of 5 studies of this batch are finished and listed"):
            enhance_folder(folder, ckpt, out, device="cpu", progress=False)
    assert len(read_enhanced_manifest(out)) == 2 and len(list(out.rglob("*.dcm"))) == 3  # third: written, unlisted
    assert len(_tmp_files(out)) == 1
    rows, bad = enhance_folder(folder, ckpt, out, device="cpu", progress=False)  # stale .tmp removed, third kept
    assert bad.empty and sorted(rows["status"]) == ["enhanced"] * 3 + ["skipped"] * 2
    assert len(_listed_outputs_intact(out)) == N and _tmp_files(out) == []


def test_read_only_output_folder_stops_before_anything(studies, tmp_path, monkeypatch, capsys):
    folder, ckpt = studies
    out = tmp_path / "out"

    class ReadOnly:
        def __init__(self, path, *args, **kwargs):
            self.path = path

        def acquire(self, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system", str(self.path))

        def release(self):
            pass

    monkeypatch.setattr("wbslib.enhance.journal.filelock.FileLock", ReadOnly)
    code = main(["enhance", str(folder), "--model", str(ckpt), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # after the progress bar, one sentence
    assert code == 2 and "Traceback" not in err and last.startswith("wbs: ") and last.endswith("run it again.")
    assert f"Cannot write to {out} (the file system is read-only), so the step stopped: 0 of {N} studies" in last
    assert not list(out.rglob("*.dcm"))


def test_stale_temporary_files_are_removed_only_when_their_writer_is_gone(tmp_path):
    dead, alive, ours = (
        tmp_path / "a" / f".x.dcm.{2**22 + 12345}.tmp",
        tmp_path / f".y.csv.{os.getppid()}.tmp",
        tmp_path / f".z.csv.{os.getpid()}.tmp",
    )
    dead.parent.mkdir()
    for path in (dead, alive, ours, tmp_path / "keep.tmp", tmp_path / ".w.tmp"):
        path.write_text("x")
    assert remove_stale_tmp(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.rglob("*tmp")) == [".w.tmp", alive.name, "keep.tmp"]


def test_an_output_folder_inside_the_input_folder_is_not_input(studies):
    folder, ckpt = studies
    out = folder / "enhanced"
    first, bad = enhance_folder(folder, ckpt, out, device="cpu", progress=False)
    again, bad_again = enhance_folder(folder, ckpt, out, device="cpu", progress=False)
    assert len(first) == N and bad.empty and bad_again.empty and set(again["status"]) == {"skipped"}
