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
    network_references,
    notebook_html,
    render_notebook,
    strip_widgets,
)
from wbslib.report.index import index_html, write_index

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
    # code version: a widget shows its text fallback, a tqdm bar on stderr its last line; clinician: neither
    assert (TQDM_TEXT.replace("<", "&lt;") in page) is include_code
    assert ("studies: 100%" in page) is include_code
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
    assert out.exists() and "<title>Report test</title>" in out.read_text()  # the notebook's title
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
    assert '<a href="01-audit-cohort.html">01-audit-cohort</a>' in page and "3.2 s" in page  # no title: the stem
    assert "Run stopped: notebook 02-train failed." in page and "ValueError: &lt;bad&gt;" in page
    assert "a/&lt;x&gt;.dcm" in page and "<x>" not in page
    assert "abc123" in page and "cpu (2 threads)" in page and network_references(page) == []


def _executed(tmp_path, stem: str, *cells) -> None:
    """runs/<run>/<stem>.ipynb as papermill leaves it, with the given cells."""
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nbformat.write(nb, str(tmp_path / "runs" / f"{stem}.ipynb"))


def _tagged(tag: str, markdown: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("show()")
    cell.metadata["tags"] = [tag]
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": markdown, "text/plain": "md"})]
    return cell


def test_index_opens_with_findings_then_titled_links_and_headlines(tmp_path):
    (tmp_path / "runs").mkdir()
    title = nbformat.v4.new_markdown_cell("# 05 · Statistics\nPurpose.")
    _executed(tmp_path, "05-statistics", title, _tagged("wbs-findings", "**2x** as good as 1x (from /abs/root/x)"),
              _tagged("wbs-headline", "2x non-inferior"))  # fmt: skip
    _executed(tmp_path, "06-sweep", nbformat.v4.new_markdown_cell("# 06 · Speed sweep"))
    entries = [
        {"stem": "05-statistics", "status": "ok", "wall_s": 2.0, "html": tmp_path / "05-statistics.html",
         "code_html": tmp_path / "05-statistics-code.html"},
        {"stem": "06-sweep", "status": "failed", "wall_s": 1.0, "html": tmp_path / "06-sweep.html", "error": "boom"},
        {"stem": "07-never", "status": "not run", "wall_s": None, "title": "07 · Never"},
    ]  # fmt: skip
    params = {"run": "demo", "data_root": "/abs/root/data/demo", "manifest": "/elsewhere/m.csv"}
    path = write_index("demo", tmp_path / "runs", tmp_path, entries, {"params": params},
                       banner="BANNER", facts=("phantom cohort", "run started 2024-01-02 03:04 UTC"),
                       prefixes=(("/elsewhere", "[data_root]"), ("/abs/root", "")))  # fmt: skip
    page = path.read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<header class="wbs-banner">BANNER</header>' in page and "phantom cohort · run started 2024-01-02" in page
    box = page.index('<section class="wbs-findings" id="findings-05-statistics">')
    assert page.index("<h1") < box < page.index("<h2>Notebooks</h2>")
    assert "<strong>2x</strong> as good as 1x (from x)" in page  # cleaned as in the clinician version
    assert "data_root: data/demo" in page and "/abs/root" not in page  # parameters shown relative too
    assert '<a href="05-statistics.html">05 · Statistics</a> <span class="ok">ok</span> · 2.0 s' in page
    assert '<div class="wbs-headline"><p>2x non-inferior</p>' in page
    assert 'aria-label="05 · Statistics, code version">code version</a>' in page
    assert '<a href="06-sweep.html">06 · Speed sweep</a> <span class="failed">failed</span>' in page
    assert '<b>07 · Never</b> <span class="not-run">not run</span>' in page and ">report<" not in page
