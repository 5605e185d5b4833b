"""`wbs run` on tiny stand-in notebooks written in a temporary project root (real papermill runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from wbslib.core.errors import NotebookFailedError, ParamsError
from wbslib.report.pipeline import check_kernel, run_pipeline, select_notebooks

PARAMS_CELL = "run = 'default'\nseed = 0\ndata_root = 'default'"


def _notebook(path: Path, *sources: str) -> None:
    """A notebook with a `parameters` cell, then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {path.stem}\nStand-in notebook."),
        params,
        *(nbformat.v4.new_code_cell(s) for s in sources),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A temporary project root (WBS_ROOT) with three stand-in notebooks, two good and one failing."""
    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    nbs = tmp_path / "notebooks"
    _notebook(
        nbs / "01-first.ipynb",
        "import sys, pathlib\nprint('executable', sys.executable)\nprint('cwd', pathlib.Path.cwd())",
        "print('marker is', data_root)",
        "import pandas as pd, pathlib\n"
        "d = pathlib.Path('runs') / run / '01'\nd.mkdir(parents=True, exist_ok=True)\n"
        "pd.DataFrame({'path': ['x/bad.dcm'], 'error': ['NotDicomError'],"
        " 'sentence': ['x/bad.dcm is not DICOM; remove it.']}).to_csv(d / 'quarantine.csv', index=False)",
    )
    _notebook(nbs / "02-second.ipynb", "print('second ran with seed', seed)")
    _notebook(nbs / "03-broken.ipynb", "print('before the error')", "raise ValueError('boom 42')")
    _notebook(nbs / "04-after.ipynb", "print('never')")
    return tmp_path


def _params(root: Path, notebooks: list[str], run: str = "t") -> Path:
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump({"run": run, "seed": 5, "data_root": "from-params", "notebooks": notebooks}))
    return path


def test_two_notebooks_succeed_and_index_links_both(project, capsys):
    index = run_pipeline(_params(project, ["01-first", "02-second"]), code=True)
    assert index == project / "reports" / "t" / "index.html"
    page = index.read_text()
    for stem in ("01-first", "02-second"):
        assert f'href="{stem}.html"' in page and f'href="{stem}-code.html"' in page
        assert (project / "runs" / "t" / f"{stem}.ipynb").exists()
    assert page.count('class="ok">ok<') == 2 and "All notebooks ran." in page
    assert "x/bad.dcm is not DICOM; remove it." in page  # quarantine gathered from runs/t/01
    assert "from-params" in page  # resolved params
    executed = nbformat.read(str(project / "runs" / "t" / "01-first.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "marker is from-params" in text
    # the kernel is this environment's Python and papermill's cwd is the project root
    assert f"executable {sys.executable}" in text or f"executable {Path(sys.executable).resolve()}" in text
    assert f"cwd {project}" in text
    report = (project / "reports" / "t" / "01-first.html").read_text()
    assert "marker is from-params" in report and 'class="jp-CodeMirrorEditor' not in report  # clinician: no code
    assert 'class="jp-CodeMirrorEditor' in (project / "reports" / "t" / "01-first-code.html").read_text()
    # framed by the run: banner with cohort and reader kind, next link by title, paths relative to the project
    assert "RESEARCH USE – NOT FOR DIAGNOSIS · clinical · virtual readers" in report
    assert '<a href="02-second.html" rel="next">02-second →</a>' in report and f"cwd {project}" not in report
    assert 'href="02-second-code.html" rel="next"' in (project / "reports" / "t" / "01-first-code.html").read_text()
    assert str(index) in capsys.readouterr().out


def test_failing_notebook_stops_run_and_index_says_which(project, capsys):
    with pytest.raises(NotebookFailedError, match=r"03-broken failed in cell \d+: ValueError: boom 42"):
        run_pipeline(_params(project, ["02-second", "03-broken", "04-after"]))
    assert "ValueError: boom 42" in capsys.readouterr().err
    page = (project / "reports" / "t" / "index.html").read_text()
    assert "Run stopped: notebook 03-broken failed." in page
    assert '<a href="03-broken.html">03-broken</a> <span class="failed">failed</span>' in page
    assert '<b>04-after</b> <span class="not-run">not run</span>' in page
    partial = (project / "reports" / "t" / "03-broken.html").read_text()
    assert "before the error" in partial and "boom 42" in partial
    assert not (project / "runs" / "t" / "04-after.ipynb").exists()


def test_only_filters_by_prefix_and_rejects_unknown():
    params = {"run": "x", "notebooks": ["00-sim", "01-audit", "02-train", "03-enh"]}
    assert select_notebooks(params, ["03", "01"], "p.yaml") == ["01-audit", "03-enh"]
    assert select_notebooks(params, None, "p.yaml") == params["notebooks"]
    with pytest.raises(ParamsError, match="--only 07 matches none"):
        select_notebooks(params, ["07"], "p.yaml")
    with pytest.raises(ParamsError, match="needs 'notebooks'"):
        select_notebooks({"run": "x"}, None, "p.yaml")


def test_missing_notebook_is_named_before_anything_runs(project):
    with pytest.raises(ParamsError, match=r"lists notebooks \['09-nope'\]"):
        run_pipeline(_params(project, ["01-first", "09-nope"]))
    assert not (project / "runs" / "t" / "01-first.ipynb").exists()


def test_python3_kernel_is_this_environment():
    check_kernel()  # raises KernelSpecError when `python3` would run another interpreter


def test_only_runs_selected_and_index_keeps_earlier_reports(project):
    run_pipeline(_params(project, ["01-first", "02-second"]))
    stale = project / "runs" / "t" / "02-second.ipynb"
    before = stale.stat().st_mtime_ns
    page = run_pipeline(_params(project, ["01-first", "02-second"]), only=["01"]).read_text()
    assert stale.stat().st_mtime_ns == before  # 02 was not executed again
    assert '<a href="02-second.html">02-second</a> <span class="not-selected">not selected</span>' in page
    assert "The selected notebooks ran (--only)" in page
