"""Each notebook's `parameters` cell takes its defaults from notebooks/params/demo.yaml through
`notebook_default`, so they cannot drift from the params file; papermill's injected cell overrides them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from wbslib.core.errors import ParamsError
from wbslib.core.params import notebook_default

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
DEMO = ROOT / "notebooks" / "params" / "demo.yaml"
COMMON = ("run", "seed", "device", "data_root", "manifest")  # every notebook takes these
IMPORT = "from wbslib.core.params import notebook_default"


def _ids(paths):
    return [p.stem for p in paths]


def _demo() -> dict:
    return yaml.safe_load(DEMO.read_text())


def _parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    return cells[0]


def _call(tree: ast.Module) -> tuple[list[str], list[str], list[ast.Call]]:
    """(target names, key strings, the calls) of the cell's `name = notebook_default("name")` lines."""
    assigns = [n for n in tree.body if isinstance(n, ast.Assign)]
    assert assigns, "the parameters cell assigns the parameters"
    targets, keys, calls = [], [], []
    for node in assigns:
        assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), (
            'one plain name per line: run = notebook_default("run")'
        )
        call = node.value
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "notebook_default", (
            "the value is a call of notebook_default"
        )
        assert not call.keywords, "the defaults come from demo.yaml (no params_file=...)"
        assert len(call.args) == 1 and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str), (
            "the argument is the key name as a string literal"
        )
        targets.append(node.targets[0].id)
        keys.append(call.args[0].value)
        calls.append(call)
    return targets, keys, calls


def _parameters(nb) -> list[str]:
    return _call(ast.parse(_parameters_cell(nb).source))[0]


def _run_parameters_cell(nb, path: Path) -> dict:
    """The variables the parameters cell defines when run as the kernel would run it."""
    namespace: dict = {}
    # the committed notebook's own cell, executed on purpose: its values are what is being tested
    exec(compile(_parameters_cell(nb).source, f"{path.name}:parameters", "exec"), namespace)  # noqa: S102
    return namespace


def _python(source: str) -> str:
    """A code cell's source without IPython magics and shell escapes."""
    return "\n".join("" if re.match(r"\s*[%!]", line) else line for line in source.splitlines())


def _names_read_before_written(nb) -> set[str]:
    """Names that a notebook's code cells (parameters cell aside) read before any cell assigns them,
    in execution order; a statement's reads count as before its writes (`device = f(device)` reads)."""
    written: set[str] = set()
    read: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        for statement in ast.parse(_python(cell.source)).body:
            loads, stores = set(), set()
            for node in ast.walk(statement):
                if isinstance(node, ast.Name):
                    (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    stores.add(node.name)
                elif isinstance(node, ast.alias):
                    stores.add((node.asname or node.name).split(".")[0])
            read |= loads - written
            written |= stores
    return read


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7 and any(p.stem == "06-speed-sweep" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_parameters_cell_only_calls_notebook_default(path):
    cell = _parameters_cell(nbformat.read(str(path), as_version=4))
    lines = cell.source.splitlines()
    assert lines and lines[0].startswith("#") and "params/demo.yaml" in lines[0] and "papermill" in lines[0], (
        "first line: a comment saying the defaults come from params/demo.yaml and papermill overrides them"
    )
    tree = ast.parse(cell.source)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            assert ast.unparse(node) == IMPORT, f"only `{IMPORT}` may be imported here"
        else:
            assert isinstance(node, ast.Assign), f"parameters cell: unexpected statement {ast.unparse(node)!r}"
    assert sum(isinstance(n, ast.ImportFrom) for n in tree.body) == 1, f"the cell needs `{IMPORT}`"
    targets, keys, _ = _call(tree)
    assert targets == keys, f"variables {targets} must be named as the keys {keys} they receive"
    assert len(set(keys)) == len(keys), f"a key is listed twice in {keys}"
    missing = [k for k in COMMON if k not in keys]
    assert not missing, f"parameters cell lacks {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_parameter_defaults_are_demo_yaml(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("WBS_ROOT", raising=False)
    nb = nbformat.read(str(path), as_version=4)
    names = _parameters(nb)
    namespace = _run_parameters_cell(nb, path)
    demo = _demo()
    for name in names:
        assert name in demo, f"{name} is not a top-level key of demo.yaml"
        assert namespace[name] == demo[name], f"{name} = {namespace[name]!r} but demo.yaml has {demo[name]!r}"
        assert type(namespace[name]) is type(demo[name]), f"{name} has type {type(namespace[name]).__name__}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_parameters_run_from_the_notebooks_folder(path, monkeypatch):
    """JupyterLab runs a notebook with notebooks/ as cwd: the defaults still resolve to demo.yaml."""
    monkeypatch.chdir(ROOT / "notebooks")
    monkeypatch.delenv("WBS_ROOT", raising=False)
    nb = nbformat.read(str(path), as_version=4)
    namespace = _run_parameters_cell(nb, path)
    demo = _demo()
    assert all(namespace[name] == demo[name] for name in _parameters(nb))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_key_the_notebook_reads_is_a_parameter(path):
    nb = nbformat.read(str(path), as_version=4)
    params = set(_parameters(nb))
    used = _names_read_before_written(nb) & set(_demo())
    missing = sorted(used - params)
    assert not missing, f"the notebook reads {missing} but its parameters cell does not define them"
    unused = sorted(params - used - set(COMMON))
    assert not unused, f"parameters {unused} are never read by the notebook"


def test_notebook_default_returns_the_value():
    demo = _demo()
    assert notebook_default("seed") == demo["seed"] and notebook_default("train") == demo["train"]


def test_notebook_default_unknown_key_is_named_error():
    with pytest.raises(ParamsError, match=r"no_such_key") as err:
        notebook_default("no_such_key")
    assert "demo.yaml" in str(err.value)


def test_notebook_default_other_file(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("run: other\nseed: 3\ntrain: {steps: 2}\n")
    assert notebook_default("train", params_file=other) == {"steps": 2}
    with pytest.raises(ParamsError, match=r"enhance.*other\.yaml|other\.yaml.*enhance"):
        notebook_default("enhance", params_file=other)


def test_papermill_sees_every_parameter():
    """One assignment per line, so `papermill --help-notebook` lists the parameters and an injected
    params file raises no "unknown parameter" warning."""
    import papermill

    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        assert list(papermill.inspect_notebook(str(path))) == _parameters(nb)
