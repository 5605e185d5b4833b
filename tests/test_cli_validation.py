"""Bad values at the `wbs` command line: one sentence naming the real cause and the fix, exit status 2,
never a traceback (issue 15, cases 5–8 and 10)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from fixtures_dicom import edit, keep_frames, write_scan
from fixtures_infer import tiny_checkpoint

from wbslib.cli import main
from wbslib.core.errors import AlreadyEnhancedError, ParamsError
from wbslib.core.params import project_root
from wbslib.enhance.infer import enhance_scan, load_model
from wbslib.io.dicom import read_wholebody
from wbslib.io.manifest.build import build_manifest
from wbslib.report.pipeline import select_notebooks

WBS = Path(sys.executable).with_name("wbs")
DEMO = project_root() / "notebooks" / "params" / "demo.yaml"


def run_main(capsys, *argv) -> tuple[int, str, str]:
    """`wbs ARGV` in this process: (exit status, stdout, stderr); a traceback would fail the test."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse reports a bad option by exiting
        code = stop.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_wbs(*argv, timeout: int = 120) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([str(WBS), *map(str, argv)], capture_output=True, text=True, env=env, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-validation")
    fast = write_scan(root, "fast.dcm", speed_factor=2.0)

    def one_view(ds):
        keep_frames(ds, [0])
        del ds.DetectorInformationSequence[0].ViewCodeSequence

    def odd_charset(ds):
        ds.SpecificCharacterSet = "ISO_IR 999"

    (root / "cohort").mkdir()
    with warnings.catch_warnings():  # pydicom warns while writing the odd character set; the CLI must not
        warnings.simplefilter("ignore")
        charset = edit(fast, root / "cohort" / "charset.dcm", odd_charset)
    (root / "empty.csv").write_text("")
    (root / "a_file.txt").write_text("not a folder")
    params = yaml.safe_load(DEMO.read_text())
    return {
        "root": root,
        "fast": fast,
        "one_view": edit(fast, root / "one_view.dcm", one_view),
        "charset": charset,
        "model": tiny_checkpoint(root / "simu-2x.pt"),
        "params": params,
    }


def _params(tmp_path: Path, params: dict) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


# --- 5: wbs run --only ---------------------------------------------------------------------------------
@pytest.mark.parametrize("only", [",,", "", " , "])
def test_only_naming_no_notebook_is_a_sentence_not_the_whole_pipeline(tmp_path, capsys, files, only):
    code, out, err = run_main(capsys, "run", "--params", _params(tmp_path, files["params"]), "--only", only)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"wbs: argument --only: {only!r} names no notebook; pass number prefixes such as 01,03" in err


@pytest.mark.parametrize("only", [[], [""], ["01", " "]])
def test_select_notebooks_refuses_an_empty_selection(only):
    params = {"run": "x", "notebooks": ["00-sim", "01-audit"]}
    with pytest.raises(ParamsError, match="names no notebook; pass number prefixes such as 01,03"):
        select_notebooks(params, only, "p.yaml")
    assert select_notebooks(params, None, "p.yaml") == params["notebooks"]


# --- 8: params at the edge -----------------------------------------------------------------------------
def test_params_folder_unknown_top_level_key_and_misspelt_section_key(tmp_path, capsys, files):
    code, _, err = run_main(capsys, "run", "--params", tmp_path)
    assert code == 2 and "is a folder; pass a YAML file" in err
    code, _, err = run_main(capsys, "run", "--params", _params(tmp_path, {**files["params"], "sede": 3}))
    assert code == 2 and "Unknown key(s) 'sede' (did you mean 'seed'?)" in err and err.count("\n") == 1
    params = copy.deepcopy(files["params"])
    params["audit"]["max_thumbnail"] = params["audit"].pop("max_thumbnails")
    path = _params(tmp_path, params)
    code, out, err = run_main(capsys, "run", "--params", path)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"wbs: Params file {path}: Unknown key(s) 'max_thumbnail' (did you mean 'max_thumbnails'?)")


# --- 8: manifest build options ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option, value, sentence",
    [
        ("--standard-velocity", "0", "the table speed '0' is not a number > 0 in cm/min"),
        ("--standard-velocity", "nan", "the table speed 'nan' is not a number > 0"),
        ("--standard-velocity", "-20", "the table speed '-20' is not a number > 0"),
        ("--split-seed", "-5", "the seed '-5' is not a whole number ≥ 0"),
        ("--split-seed", "1.5", "the seed '1.5' is not a whole number ≥ 0"),
        ("--speed-factor", "0", "The speed factor '0' is not a number ≥ 1"),
        ("--speed-factor", "nan", "The speed factor 'nan' is not a number ≥ 1"),
        ("--speed-factor", "-2", "The speed factor '-2' is not a number ≥ 1"),
        ("--speed-factor", "inf", "The speed factor 'inf' is not a number ≥ 1"),
        ("--labels", "{root}/cohort", "is a folder; pass a file"),
        ("--labels", "{root}/none.csv", "does not exist; pass a file"),
        ("--data-root", "{root}/a_file.txt", "is a file; pass a folder"),
        ("--copy-to", "{root}/a_file.txt", "is a file, not a folder"),
    ],
)
def test_bad_manifest_build_options_are_one_line(capsys, files, option, value, sentence):
    root = files["root"]
    out = root / "m.csv"
    code, stdout, err = run_main(
        capsys, "manifest", "build", root / "cohort", "--out", out, option, value.format(root=root)
    )
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith(f"wbs: argument {option}: ") and sentence in err and "wbs manifest build --help" in err
    assert not out.exists()


def test_manifest_out_folder_and_empty_labels_file(capsys, files):
    root = files["root"]
    code, _, err = run_main(capsys, "manifest", "build", root / "cohort", "--out", root / "cohort")
    assert code == 2 and "argument --out:" in err and "is a folder; pass a file name such as" in err
    code, _, err = run_main(
        capsys, "manifest", "build", root / "cohort", "--out", root / "m.csv", "--labels", root / "empty.csv"
    )
    assert code == 2 and f"wbs: Labels file {root / 'empty.csv'} is empty; write a header line patient_id,label" in err


def test_console_script_bad_options_and_charset_warning(files, tmp_path):
    """As a user runs it: no traceback, one line; a header with an unknown character set warns nobody."""
    root = files["root"]
    for option, value in (("--standard-velocity", "0"), ("--split-seed", "-5")):
        proc = run_wbs("manifest", "build", root / "cohort", "--out", tmp_path / "m.csv", option, value)
        assert proc.returncode == 2 and proc.stderr.startswith(f"wbs: argument {option}: ")
    proc = run_wbs("manifest", "build", root / "cohort", "--out", tmp_path / "m.csv", "--copy-to", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert "Unknown encoding" not in proc.stderr and "Warning" not in proc.stderr
    proc = run_wbs("run", "--params", DEMO, "--only", ",,")
    assert proc.returncode == 2 and "names no notebook" in proc.stderr


# --- 8 and 10: wbs enhance ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "nan", "-2", "0.5"])
def test_enhance_bad_speed_factor_names_the_speed_not_the_header_or_a_checkpoint(capsys, files, tmp_path, value):
    code, _, err = run_main(
        capsys, "enhance", files["fast"], "--model", files["model"], "--out", tmp_path, "--speed-factor", value
    )
    assert code == 2 and err.count("\n") == 1
    assert f"The speed factor {value!r} is not a number ≥ 1" in err
    for wrong in ("Scan Velocity", "checkpoint", "manifest"):
        assert wrong not in err


def test_enhance_out_that_is_a_file(capsys, files):
    code, _, err = run_main(
        capsys, "enhance", files["fast"], "--model", files["model"], "--out", files["root"] / "a_file.txt"
    )
    assert code == 2 and "argument --out:" in err and "is a file, not a folder; pass a folder to write into" in err


def test_one_view_file_suggests_assume_view_which_works(capsys, files, tmp_path):
    code, _, err = run_main(capsys, "enhance", files["one_view"], "--model", files["model"], "--out", tmp_path)
    assert code == 2 and "holds one view without View Code Sequence" in err
    assert "pass --assume-view ANT or --assume-view POST" in err
    code, out, err = run_main(
        capsys, "enhance", files["one_view"], "--model", files["model"], "--out", tmp_path, "--assume-view", "POST"
    )
    assert code == 0, err
    scan = read_wholebody(Path(out.strip()), allow_single_view=True)
    assert scan.views_present == ("POST",) and scan.derived_1x_equivalent
    code, _, err = run_main(
        capsys, "enhance", files["one_view"], "--model", files["model"], "--out", tmp_path, "--assume-view", "LAT"
    )
    assert code == 2 and "argument --assume-view: invalid choice: 'LAT'" in err


def test_re_enhancing_an_enhanced_file_says_it_is_already_enhanced(files, tmp_path, capsys):
    code, out, err = run_main(capsys, "enhance", files["fast"], "--model", files["model"], "--out", tmp_path / "once")
    assert code == 0, err
    enhanced = Path(out.strip())
    again = run_wbs("enhance", enhanced, "--model", files["model"], "--out", tmp_path / "twice")
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert again.stderr == (
        f"wbs: {enhanced} is already enhanced (a derived series whose counts are 1x-equivalent); "
        "enhance the original fast scan instead.\n"
    )
    assert not (tmp_path / "twice").exists() or not any((tmp_path / "twice").iterdir())


def test_nan_weights_are_blamed_on_the_checkpoint(capsys, files, tmp_path):
    state = torch.load(files["model"], weights_only=True)
    state["generator"]["conv_last.bias"][0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    code, _, err = run_main(capsys, "enhance", files["fast"], "--model", bad, "--out", tmp_path / "o")
    assert code == 2 and f"Checkpoint {bad} holds generator weights that are not finite" in err
    assert "conv_last.bias" in err and "Counts" not in err and "counts" not in err


# --- the same checks below the command line ------------------------------------------------------------
@pytest.mark.parametrize(
    "options, words",
    [
        ({"standard_velocity_mm_s": 0}, "standard table speed 0 mm/s is not a number > 0"),
        ({"standard_velocity_mm_s": float("nan")}, "standard table speed nan mm/s"),
        ({"speed_factor": 0}, "speed factor override 0 is not a number ≥ 1"),
        ({"speed_factor": -2.0}, "speed factor override -2.0 is not a number ≥ 1"),
        ({"assume_view": "LAT"}, "assume_view='LAT' is not a view"),
    ],
)
def test_read_and_manifest_build_refuse_bad_options_before_reading(files, tmp_path, options, words):
    with pytest.raises(ParamsError, match=words):
        read_wholebody(files["fast"], **options)
    with pytest.raises(ParamsError, match=words):  # once for the build, not once per quarantined file
        build_manifest(files["root"] / "cohort", copy_to=tmp_path / "copy", **options)
    assert not (tmp_path / "copy").exists()


def test_enhance_scan_refuses_an_enhanced_scan_and_a_bad_speed(files, tmp_path):
    model = load_model(files["model"], "cpu")
    enhanced = enhance_scan(read_wholebody(files["fast"]), model, device="cpu")
    with pytest.raises(AlreadyEnhancedError, match="is already enhanced"):
        enhance_scan(enhanced, model, device="cpu")
    with pytest.raises(ParamsError, match="not a number ≥ 1"):
        enhance_scan(read_wholebody(files["fast"]), model, speed_factor=float("nan"), device="cpu")
