"""Committed notebooks are clean: no outputs or execution counts (the parameters cell is checked by
test_notebook_params.py), kernelspec python3, Unicode text (no LaTeX), no links that a report would fetch."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
LATEX = re.compile(r"\$[^$\n]+\$|\\\(|\\\[|\\begin\{")
HTTP = re.compile(r"https?://")


def _ids(paths):
    return [p.stem for p in paths]


def test_there_are_notebooks():
    assert any(p.stem == "01-audit-cohort" for p in NOTEBOOKS)


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
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1, "tag one cell 'parameters'"
