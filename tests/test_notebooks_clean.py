"""Committed notebooks are clean: no outputs or execution counts, a `parameters` cell whose defaults
match demo.yaml, kernelspec python3, Unicode text (no LaTeX), no links that a report would fetch."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
TOP_LEVEL = ("run", "seed", "device", "data_root", "manifest")
LATEX = re.compile(r"\$[^$\n]+\$|\\\(|\\\[|\\begin\{")
HTTP = re.compile(r"https?://")


def _ids(paths):
    return [p.stem for p in paths]


def test_there_are_notebooks():
    assert any(p.stem == "01-audit-cohort" for p in NOTEBOOKS)


def _parameters(nb) -> dict:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    values = {}
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "parameters cell: plain assignments only"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stripped_and_parameterised(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {i} has outputs; strip them"
        else:
            assert not LATEX.search(cell.source), f"cell {i} uses LaTeX; write Unicode (×, ≤, σ) instead"
            assert not HTTP.search(cell.source), f"cell {i} links to the web; reports must open offline"
    params = _parameters(nb)
    missing = [k for k in TOP_LEVEL if k not in params]
    assert not missing, f"parameters cell lacks {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_parameter_defaults_equal_demo_yaml(path):
    demo = yaml.safe_load((ROOT / "notebooks" / "params" / "demo.yaml").read_text())
    params = _parameters(nbformat.read(str(path), as_version=4))
    for key, value in params.items():
        if key not in demo:
            continue
        if isinstance(value, dict) and isinstance(demo[key], dict):
            differing = {k: v for k, v in value.items() if k in demo[key] and demo[key][k] != v}
            assert not differing, f"{key} defaults {differing} differ from demo.yaml {key}"
        else:
            assert value == demo[key], f"{key} = {value!r} but demo.yaml has {demo[key]!r}"
