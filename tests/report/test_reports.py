"""Offline HTML reports: no CDN loaders, widgets reduced to text, figures embedded, index escaped."""

from __future__ import annotations

import base64
import copy

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from wbslib import RESEARCH_USE
from wbslib.report.html import (
    collapse_streams,
    index_html,
    network_references,
    notebook_html,
    render_notebook,
    strip_widgets,
)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TQDM_TEXT = "100%|##########| 3/3 [00:00<00:00, 41.2it/s]"


def _widget_output() -> nbformat.NotebookNode:
    """What tqdm.notebook (ipywidgets installed) leaves in a notebook: a widget view + text fallback."""
    return nbformat.v4.new_output(
        "display_data",
        data={WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "4f1c0a8e"}, "text/plain": TQDM_TEXT},
    )


@pytest.fixture(scope="module")
def executed():
    """A notebook executed for real: tqdm.auto progress bar, a matplotlib figure and a DataFrame."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Report test\nCounts in the anterior view, 1x-equivalent."),
        nbformat.v4.new_code_cell(
            "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport pandas as pd\nfrom tqdm.auto import tqdm"
        ),
        nbformat.v4.new_code_cell(
            "total = 0\nfor i in tqdm(range(3), desc='studies'):\n    total += i\nprint('total', total)"
        ),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([0, 1], [1, 0])\nplt.show()"),
        nbformat.v4.new_code_cell("pd.DataFrame({'study_id': ['S01', 'S02'], 'counts': [1750123, 874402]})"),
    ]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    nb.cells[2].outputs.append(_widget_output())
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {}}}
    return nb


def test_stock_lab_template_would_reach_the_network(executed):
    from nbconvert import HTMLExporter

    stock, _ = HTMLExporter(template_name="lab").from_notebook_node(executed)
    assert network_references(stock)  # the check below is not vacuous


@pytest.mark.parametrize("include_code", [False, True])
def test_report_is_offline_and_self_contained(executed, include_code):
    page = notebook_html(executed, include_code=include_code)
    assert network_references(page) == []
    assert "require.js" not in page and "MathJax" not in page and "mermaid" not in page
    assert WIDGET_VIEW not in page and WIDGET_STATE not in page
    assert TQDM_TEXT.replace("<", "&lt;") in page  # widget → its text fallback
    assert "studies: 100%" in page  # std tqdm bar on stderr is kept
    png = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"  # the figure is embedded
    assert "<table" in page and "1750123" in page and "total 3" in page
    assert RESEARCH_USE in page
    assert ('class="jp-CodeMirrorEditor' in page) is include_code


def test_strip_widgets_keeps_text_and_drops_view_only_outputs(executed):
    nb = copy.deepcopy(executed)
    nb.cells[2].outputs.append(nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "x"}}))
    n_before = len(nb.cells[2].outputs)
    clean = strip_widgets(nb)
    assert "widgets" not in clean.metadata and "widgets" in nb.metadata  # input untouched
    outs = clean.cells[2].outputs
    assert len(outs) == n_before - 1
    assert all(WIDGET_VIEW not in o.get("data", {}) for o in outs)
    assert outs[-1].data == {"text/plain": TQDM_TEXT}


def test_progress_bar_updates_collapse_to_their_final_line():
    cell = nbformat.v4.new_code_cell("run()")
    bar = [f"\rstudies: {k}/3 [{k}s]" for k in range(4)]
    cell.outputs = (
        [nbformat.v4.new_output("stream", name="stderr", text=t) for t in bar[:3]]
        + [nbformat.v4.new_output("stream", name="stderr", text=bar[3] + "\n")]
        + [
            nbformat.v4.new_output("stream", name="stdout", text="done\n"),
            nbformat.v4.new_output("stream", name="stderr", text="\r\n"),
        ]
    )
    nb = collapse_streams(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stderr", "studies: 3/3 [3s]\n"), ("stdout", "done\n")]


def test_render_notebook_writes_file(executed, tmp_path):
    src = tmp_path / "01-x.ipynb"
    nbformat.write(executed, str(src))
    out = render_notebook(src, tmp_path / "r" / "01-x.html")
    assert out.exists() and "<title>01-x</title>" in out.read_text()
    assert not list((tmp_path / "r").glob(".*.tmp"))


def test_network_references_finds_each_kind():
    for bad in (
        '<script src="https://cdn.example/x.js">',
        "<a href='http://doi.org/1'>",
        "<img src=//host/x.png>",
        "load('unpkg.com/x')",
        "cdnjs",
        "jsdelivr",
    ):
        assert network_references(bad), bad
    assert network_references('<a href="01-audit-cohort.html"> <img src="data:image/png;base64,AA">') == []


def test_index_escapes_text_and_links_locally():
    entries = [
        {"stem": "01-audit-cohort", "status": "ok", "wall_s": 3.25, "html": "/r/01-audit-cohort.html"},
        {
            "stem": "02-train",
            "status": "failed",
            "wall_s": 1.0,
            "html": "/r/02-train.html",
            "error": "Notebook 02-train failed in cell 4: ValueError: <bad>",
        },
    ]
    quarantine = pd.DataFrame(
        {"where": ["01"], "path": ["a/<x>.dcm"], "error": ["NotDicomError"], "sentence": ["a/<x>.dcm is not DICOM."]}
    )
    page = index_html(
        "demo",
        entries,
        {"git_sha": "abc123", "device": "cpu (2 threads)", "versions": {"numpy": "2.0"}, "params": {"run": "demo"}},
        quarantine,
        pd.DataFrame(),
    )
    assert 'href="01-audit-cohort.html"' in page and "3.2" in page
    assert "Run stopped: notebook 02-train failed." in page and "ValueError: &lt;bad&gt;" in page
    assert "a/&lt;x&gt;.dcm" in page and "<x>" not in page
    assert "abc123" in page and "cpu (2 threads)" in page and network_references(page) == []
