"""repro and params: seeding, stable random streams, path resolution, params errors."""

import json

import numpy as np
import pytest
import torch

from wbslib.core import params as P
from wbslib.core import repro
from wbslib.core.errors import ParamsError
from wbslib.core.fileio import atomic_path, sha256_file, write_text
from wbslib.core.scan import WholeBodyScan, speed_label


def test_rng_streams_are_stable_and_keyed():
    a = repro.rng(7, "thin", 3, 11).integers(0, 2**31, 5)
    b = repro.rng(7, "thin", 3, 11).integers(0, 2**31, 5)
    c = repro.rng(7, "thin", 3, 12).integers(0, 2**31, 5)
    assert (a == b).all() and not (a == c).all()
    # the stream for a string key is fixed across runs/machines (sha256-based)
    assert repro.rng(0, "x").integers(0, 1000) == repro.rng(0, "x").integers(0, 1000)


def test_seed_everything_makes_torch_repeatable():
    repro.seed_everything(5)
    x = torch.rand(3)
    repro.seed_everything(5)
    assert torch.equal(x, torch.rand(3))


def test_run_metadata_has_sha_versions_params(tmp_path):
    path = repro.write_run_metadata(tmp_path / "run.json", {"run": "t", "seed": 1})
    meta = json.loads(path.read_text())
    assert meta["params"] == {"run": "t", "seed": 1}
    assert meta["versions"]["torch"].startswith("2.14.1")
    assert meta["git_sha"]


def test_resolve_path_relative_to_project_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a notebook kernel may run elsewhere
    root = P.project_root()
    assert (root / "pyproject.toml").exists() or "WBS_ROOT" in __import__("os").environ
    assert P.resolve_path("data/demo") == root / "data/demo"
    assert P.resolve_path("/abs/x") == __import__("pathlib").Path("/abs/x")


def test_load_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        P.load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        P.load_params(bad)
    norun = tmp_path / "norun.yaml"
    norun.write_text("seed: 1\n")
    with pytest.raises(ParamsError, match="'run'"):
        P.load_params(norun)


def test_shipped_params_files_load():
    for name in ("smoke", "demo", "paper"):
        path = P.project_root() / "notebooks" / "params" / f"{name}.yaml"
        if path.exists():
            p = P.load_params(path)
            assert p["run"] == name and isinstance(p["notebooks"], list)


def test_resolve_device():
    assert P.resolve_device("cpu") == "cpu"
    assert P.resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ParamsError):
        P.resolve_device("tpu")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.txt"
    write_text("first", target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert sha256_file(target) == "a7937b64b8caa58f03721bb6bacf5c78cb235febe0e70b1b84cd99541461a08e"


def test_scan_speed_factors():
    counts = np.zeros((2, 4, 4), np.float32)
    scan = WholeBodyScan(counts, scan_velocity_mm_s=2 * 200 / 60)
    assert scan.speed_factor == pytest.approx(2.0)
    assert scan.count_equivalent_speed == pytest.approx(2.0)
    scan.derived_1x_equivalent = True
    assert scan.count_equivalent_speed == 1.0
    assert WholeBodyScan(counts).speed_factor is None
    assert speed_label(2) == "2x" and speed_label(2.5) == "2.5x"
