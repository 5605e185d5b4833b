"""Params validated at the edge: unknown keys at the top level and in every section are named with the
closest valid key; a folder or unreadable file is a sentence; a misspelt key inside a notebook is a
ParamsError from the notebook's config function, never a KeyError."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from wbslib.cli import check_sections
from wbslib.core.errors import ParamsError
from wbslib.core.params import SECTIONS, TOP_LEVEL_KEYS, load_params, project_root
from wbslib.enhance.config import enhance_config
from wbslib.io.audit import audit_config
from wbslib.paper.config import statistics_config

PARAMS = project_root() / "notebooks" / "params"
NOTEBOOKS = project_root() / "notebooks"


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", ["smoke", "demo", "paper"])
def test_shipped_params_files_pass_every_check(name):
    params = load_params(PARAMS / f"{name}.yaml")
    assert set(params) <= {*TOP_LEVEL_KEYS, *SECTIONS}
    check_sections(params)


@pytest.mark.parametrize("typo, closest", [("sed", "seed"), ("notebook", "notebooks"), ("readr", "readers")])
def test_unknown_top_level_key_suggests_the_closest(tmp_path, typo, closest):
    path = _write(tmp_path, {"run": "x", typo: 1})
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert f"Unknown key(s) {typo!r} (did you mean {closest!r}?) in params file {path} (top level)" in str(err.value)


@pytest.mark.parametrize("seed", [-5, 1.5, True, "7"])
def test_seed_must_be_a_whole_number_not_below_zero(tmp_path, seed):
    with pytest.raises(ParamsError, match=r"seed .* is not a whole number ≥ 0"):
        load_params(_write(tmp_path, {"run": "x", "seed": seed}))


def test_params_folder_and_unreadable_files_are_sentences(tmp_path):
    with pytest.raises(ParamsError, match=r"is a folder; pass a YAML file such as notebooks/params/demo\.yaml"):
        load_params(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"run: \xff\xfe\n")
    with pytest.raises(ParamsError, match=r"cannot be read \(UnicodeDecodeError\)"):
        load_params(binary)


# (section, misspelt key, closest key) for every section of a params file
TYPOS = [
    ("cohort", "n_patient", "n_patients"),
    ("audit", "max_thumbnail", "max_thumbnails"),
    ("train", "step", "steps"),
    ("enhance", "group", "groups"),
    ("readers", "nvirtual", "n_virtual"),
    ("statistics", "alpah", "alpha"),
    ("sweep", "speds", "speeds"),
]


@pytest.mark.parametrize("name, typo, closest", TYPOS)
def test_every_section_rejects_a_misspelt_key_with_a_suggestion(name, typo, closest):
    params = copy.deepcopy(load_params(PARAMS / "demo.yaml"))
    params[name][typo] = params[name].get(closest, 1)
    with pytest.raises(ParamsError) as err:
        check_sections(params)
    assert f"Unknown key(s) {typo!r} (did you mean {closest!r}?) in params '{name}'" in str(err.value)


@pytest.mark.parametrize(
    "check, section, match",
    [
        (audit_config, {"standard_velocity_cm_min": 0}, "not a table speed > 0"),
        (audit_config, {"max_thumbnails": -1}, "max_thumbnails = -1"),
        (enhance_config, {"groups": ["2x", "fast"]}, "holds 'fast', not a group name"),
        (enhance_config, {"groups": []}, "non-empty list"),
        (enhance_config, {"baselines": ["median"]}, "gaussian, bm3d"),
        (enhance_config, {"tile": 4}, "≥ 8 px"),
        (enhance_config, {"bm3d_max_studies": -2}, "bm3d_max_studies = -2"),
        (enhance_config, {"bm3d_speeds": [1]}, "speed factors > 1"),
        (enhance_config, {"bm3d_speeds": 2}, "speed factors > 1"),
        (enhance_config, {"selfsupervised_max_studies": 0}, "selfsupervised_max_studies = 0"),
        (enhance_config, {"pretrained": ["2x-split"]}, "also in enhance.groups"),
        (enhance_config, {"groups": ["2x-real"], "pretrained": ["2x-real"]}, "split-model groups"),
        (enhance_config, {"groups": ["4x-split"], "pretrained": ["4x-split"]}, "No pretrained model ships for 4x"),
        (enhance_config, {"pretrained": "2x-split"}, "not a list of groups"),
        (statistics_config, {"alpha": 0.7}, r"not a number in \(0, 0.5\)"),
        (statistics_config, {"alpha": "5%"}, r"not a number in \(0, 0.5\)"),
    ],
)
def test_new_section_configs_check_values(check, section, match):
    with pytest.raises(ParamsError, match=match):
        check(section)


def test_section_configs_fill_defaults():
    assert audit_config(None) == {"standard_velocity_cm_min": 20, "max_thumbnails": 4}
    assert statistics_config({}) == {"alpha": 0.05}
    assert enhance_config({"tile": 256})["tile"] == 256 and "2x-simu" in enhance_config(None)["groups"]
    shipped = enhance_config({"groups": ["2x", "2x-split"], "pretrained": ["2x-split"], "bm3d_speeds": [2]})
    assert shipped["pretrained"] == ["2x-split"] and shipped["bm3d_speeds"] == [2]
    assert enhance_config(None)["pretrained"] == [] and enhance_config(None)["bm3d_speeds"] is None


def test_train_model_entries_are_checked():
    params = load_params(PARAMS / "demo.yaml")
    for spec, words in (
        ({"mode": "simu", "sped": 2}, "did you mean 'speed'"),
        ({"mode": "simu", "speed": "2x"}, "> 1"),
    ):
        bad = copy.deepcopy(params)
        bad["train"]["models"] = [spec]
        with pytest.raises(ParamsError, match=words):
            check_sections(bad)


def _code(notebook: str) -> list[str]:
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]


@pytest.mark.parametrize(
    "notebook, name, func, typo",
    [
        ("01-audit-cohort.ipynb", "audit", audit_config, {"max_thumbnail": 1}),
        ("03-enhance-and-measure.ipynb", "enhance", enhance_config, {"tyle": 64}),
        ("05-statistics.ipynb", "statistics", statistics_config, {"alpah": 0.05}),
    ],
)
def test_notebook_checks_its_section_before_reading_a_key(notebook, name, func, typo):
    """The notebook's first use of its section is its config function: a misspelt key is a ParamsError
    naming the closest key (the line is run as the notebook would run it), never a KeyError later."""
    lines = _code(notebook)
    uses = [i for i, line in enumerate(lines) if f"{name}[" in line or f"{name}.get(" in line or f"({name})" in line]
    first = lines[uses[0]]
    assert f"{func.__name__}({name})" in first
    with pytest.raises(ParamsError, match="did you mean"):
        exec(first.strip(), {func.__name__: func, name: typo})
