"""The `wbs` command: manifest build/verify end to end, and every bad input → one sentence, exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from fixtures_manifest import write_cohort

from wbslib.cli import main
from wbslib.io.manifest.pseudonym import file_id, load_key

WBS = Path(sys.executable).with_name("wbs")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "dicom"
    write_cohort(folder)
    return folder


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_manifest_build_then_verify(cohort, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    labels = tmp_path / "labels.csv"
    labels.write_text("patient_id,label\nPAT-A,1\nPAT-B,0\n")
    outside = tmp_path / "manifests" / "site.csv"  # source paths may not leave the data folder
    code, _, err = _run(capsys, "manifest", "build", data, "--out", outside, "--labels", labels)
    assert code == 2 and "outside the data folder" in err and "--copy-to" in err and not outside.exists()
    out = tmp_path / "site.csv"
    code, stdout, err = _run(
        capsys, "manifest", "build", data, "--out", out, "--labels", labels, "--data-root", tmp_path
    )
    assert code == 0 and out.exists()
    assert f"{out}: 12 files of 4 studies; 4 quarantined" in stdout
    notes = file_id("notes.txt", load_key())
    assert f"quarantined {notes}: NotDicomError" in err and "notes.txt" not in err
    code, _, err = _run(
        capsys, "manifest", "build", data, "--out", out, "--data-root", tmp_path, "--force", "--show-paths"
    )
    assert code == 0 and f"quarantined notes.txt ({notes}): NotDicomError" in err
    code, stdout, _ = _run(capsys, "manifest", "verify", out)
    assert code == 0 and "12 of 12 files ok" in stdout
    (data / "case2" / "wb3.dcm").write_bytes(b"changed")
    code, stdout, err = _run(capsys, "manifest", "verify", out)
    changed = file_id("data/case2/wb3.dcm", load_key())
    assert code == 1 and "11 of 12 files ok" in stdout and f"changed: {changed} (study S" in err and "case2" not in err
    code, _, err = _run(capsys, "manifest", "verify", out, "--show-paths")
    assert code == 1 and f"changed: data/case2/wb3.dcm ({changed})" in err and err.count("\n") == 12
    moved = tmp_path / "elsewhere" / "site.csv"
    moved.parent.mkdir()
    shutil.copy(out, moved)
    code, _, err = _run(capsys, "manifest", "verify", moved)  # wrong data root: every file missing
    assert code == 1 and "pass --data-root" in err
    code, _, err = _run(capsys, "manifest", "build", data, "--out", out, "--data-root", tmp_path)
    assert code == 2 and err.startswith("wbs: ") and "already exists; pass --force" in err
    copied = tmp_path / "copy"
    code, stdout, _ = _run(capsys, "manifest", "build", data, "--out", outside, "--copy-to", copied)
    assert code == 0 and outside.exists() and "case" not in outside.read_text()


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "bad_manifest.csv").write_text("study_id,views\nS1,ANT\n")
    (tmp_path / "no_notebooks.yaml").write_text("run: x\n")
    (tmp_path / "not_yaml.yaml").write_text("run: [unclosed\n")
    (tmp_path / "labels.csv").write_text("patient_id,label\nPAT-A,maybe\n")
    (tmp_path / "study.dcm").write_bytes(b"x")
    return tmp_path


@pytest.mark.parametrize(
    "argv,sentence",
    [
        (["manifest", "build", "{t}/nowhere", "--out", "{t}/m.csv"], "does not exist"),
        (["manifest", "build", "{cohort}", "--out", "{t}/m.csv", "--labels", "{t}/labels.csv"], "line 2"),
        (["manifest", "build", "{cohort}", "--out", "{t}/m.csv", "--split", "0.9,0.9,0.1"], "summing to 1"),
        (["manifest", "build", "{cohort}", "--out", "{t}/m.csv", "--data-root", "{t}"], "not inside the data root"),
        (["manifest", "verify", "{t}/missing.csv"], "does not exist"),
        (["manifest", "verify", "{t}/bad_manifest.csv"], "lacks the column(s) speed_factor"),
        (["run", "--params", "{t}/missing.yaml"], "does not exist"),
        (["run", "--params", "{t}/not_yaml.yaml"], "is not valid YAML"),
        (["run", "--params", "{t}/no_notebooks.yaml"], "needs 'notebooks'"),
        (["simulate", "--params", "{t}/missing.yaml"], "does not exist"),
        (["enhance", "{t}/none.dcm", "--model", "{t}/m.pt", "--out", "{t}/o"], "Study file"),
        (["enhance", "{t}/study.dcm", "--model", "{t}/m.pt", "--out", "{t}/o"], "Checkpoint"),
    ],
)
def test_bad_input_prints_one_sentence_and_exits_2(argv, sentence, bad_files, cohort, capsys):
    args = [a.format(t=bad_files, cohort=cohort) for a in argv]
    code, _, err = _run(capsys, *args)
    assert code == 2, err
    assert err.startswith("wbs: ") and sentence in err and err.count("\n") == 1


def test_console_script_has_no_traceback(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [str(WBS), "manifest", "verify", str(tmp_path / "none.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("wbs: Manifest ") and "does not exist" in proc.stderr


def test_run_with_failing_notebook_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('detector 2 missing')")]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, str(tmp_path / "notebooks" / "01-fail.ipynb"))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"run": "r", "notebooks": ["01-fail"]}))
    code, out, err = _run(capsys, "run", "--params", tmp_path / "p.yaml", "--only", "01")
    assert code == 2 and "RuntimeError: detector 2 missing" in err
    assert f"index: {tmp_path / 'reports' / 'r' / 'index.html'}" in out
