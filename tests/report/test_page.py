"""Page framing: reading order (findings first, appendix last), contents, navigation, run facts."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd

from wbslib import RESEARCH_USE
from wbslib.report.html import notebook_html
from wbslib.report.page import (
    TOC_MARKER,
    PageContext,
    arrange,
    banner,
    cohort_kind,
    executed_at,
    navigation,
    notebook_title,
    outputs_html,
    path_prefixes,
    reader_kind,
    table_of_contents,
)


def _cell(source: str, tags=(), kind="code", outputs=()):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = list(tags)
    if kind == "code":
        cell.outputs = list(outputs)
    return cell


def _md_output(text: str):
    return nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": "<Markdown>"})


def _notebook() -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(
        cells=[
            _cell("# 05 · Statistics\n**Purpose.** A long introduction.", kind="md"),
            _cell("## Table 2 · diagnostic performance", kind="md"),
            _cell("table2()", outputs=[_md_output("Table 2 here")]),
            _cell("per_patient()", tags=["wbs-appendix"], outputs=[_md_output("per-patient rows")]),
            _cell("### Subsection", kind="md"),
            _cell("findings()", tags=["wbs-findings"], outputs=[_md_output("**2x-simu** is as accurate as 1x")]),
            _cell("headline()", tags=["wbs-headline"], outputs=[_md_output("2x-simu non-inferior to 1x")]),
        ]
    )


def test_arrange_puts_findings_under_the_title_and_the_appendix_last():
    nb = arrange(_notebook())
    sources = [c.source for c in nb.cells]
    assert sources == [
        "# 05 · Statistics",
        "findings()",
        TOC_MARKER,
        "**Purpose.** A long introduction.",
        "## Table 2 · diagnostic performance",
        "table2()",
        "### Subsection",
        "headline()",
        "## Appendix",
        "per_patient()",
    ]
    code = arrange(_notebook(), move=False)  # the code version keeps the notebook's order
    assert [c.source for c in code.cells][:3] == ["# 05 · Statistics", TOC_MARKER, "**Purpose.** A long introduction."]
    assert [c.source for c in code.cells][-1] == "headline()"


def test_rendered_page_has_title_findings_box_contents_and_navigation():
    context = PageContext(banner="BANNER · phantom", facts=("run demo",), previous=("04-r", "04 · Reader study"),
                          next=("06-s", "06 · Speed sweep"))  # fmt: skip
    head, page = notebook_html(_notebook(), context=context).split("</head>")
    assert "<title>05 · Statistics</title>" in head
    assert '<meta content="width=device-width, initial-scale=1" name="viewport"/>' in head
    assert page.index('class="wbs-banner">BANNER · phantom<') < page.index("<h1") < page.index("celltag_wbs-findings")
    assert page.index("celltag_wbs-findings") < page.index('class="wbs-toc"') < page.index("A long introduction")
    assert '<a href="#Table-2-%C2%B7-diagnostic-performance">Table 2 · diagnostic performance</a>' in page
    assert page.index("Subsection") < page.index(">Appendix<") < page.index("per-patient rows")
    assert page.count('<a href="04-r.html" rel="prev">← 04 · Reader study</a>') == 2  # top and bottom
    assert '<a href="06-s.html" rel="next">06 · Speed sweep →</a>' in page and "run demo" in page
    assert "jp-CodeMirrorEditor" not in page and TOC_MARKER not in page
    code = notebook_html(_notebook(), include_code=True, context=context).split("</head>")[1]
    assert 'href="04-r-code.html"' in code and 'class="wbs-toc"' in code
    assert code.index("A long introduction") < code.index("celltag_wbs-findings")  # stays in place


def test_contents_lists_h2_and_h3_only():
    body = (
        '<h1 id="T">T<a class="anchor-link" href="#T">¶</a></h1><h2 id="A-b">A <em>b</em><a class="anchor-link" '
        'href="#A-b">¶</a></h2><h3 id="C">C<a class="anchor-link" href="#C">¶</a></h3>'
    )
    assert table_of_contents(body) == (
        '<details class="wbs-toc"><summary>Contents</summary><ul><li class="wbs-toc-2"><a href="#A-b">A b</a></li>'
        '<li class="wbs-toc-3"><a href="#C">C</a></li></ul></details>'
    )
    assert table_of_contents("<h1 id='x'>x</h1>") == ""


def test_navigation_without_neighbours_links_the_index_only():
    assert (
        navigation(PageContext(), include_code=False) == '<nav class="wbs-nav"><a href="index.html">Run index</a></nav>'
    )


def test_headline_and_findings_come_from_tagged_cells():
    nb = _notebook()
    assert outputs_html(nb, "wbs-headline", first_only=True).strip() == "<p>2x-simu non-inferior to 1x</p>"
    assert "<strong>2x-simu</strong> is as accurate as 1x" in outputs_html(nb, "wbs-findings")
    assert outputs_html(nb, "wbs-nothing") == ""
    md = nbformat.v4.new_notebook(cells=[_cell("Static *headline*", tags=["wbs-headline"], kind="md")])
    assert outputs_html(md, "wbs-headline").strip() == "<p>Static <em>headline</em></p>"


def test_title_and_execution_time():
    nb = _notebook()
    assert notebook_title(nb, "x") == "05 · Statistics" and notebook_title(nbformat.v4.new_notebook(), "x") == "x"
    nb.metadata["papermill"] = {"end_time": "2024-05-06T07:08:09.123456"}
    assert executed_at(nb) == "2024-05-06 07:08 UTC"
    assert executed_at(nbformat.v4.new_notebook()) is None


def test_banner_names_cohort_and_reader_kind(tmp_path):
    manifest = tmp_path / "manifest.csv"
    params = {"manifest": str(manifest), "notebooks": ["00-simulate-cohort"], "readers": {"score_sheets": None}}
    assert banner(params) == f"{RESEARCH_USE} · phantom · virtual readers"  # no manifest yet: notebook 00 → phantom
    pd.DataFrame({"study_id": ["a", "b"], "source": ["phantom", "clinical"]}).to_csv(manifest, index=False)
    assert cohort_kind(params) == "clinical"
    pd.DataFrame({"source": ["phantom", "phantom"]}).to_csv(manifest, index=False)
    assert cohort_kind({**params, "notebooks": ["01-audit-cohort"]}) == "phantom"
    assert cohort_kind({"notebooks": ["01-audit-cohort"]}) == "clinical"
    assert reader_kind({"readers": {"score_sheets": ["s.csv"]}}) == "clinician readers"
    assert reader_kind({}) == "virtual readers"


def test_path_prefixes_hide_root_and_outside_data_root(tmp_path, monkeypatch):
    root = tmp_path / "project"
    monkeypatch.setenv("WBS_ROOT", str(root))
    inside = dict(path_prefixes({"data_root": "data/demo"}, root))
    assert inside[str(root)] == "" and str(root / "data/demo") not in inside and inside[str(Path.home())] == "~"
    outside = dict(path_prefixes({"data_root": str(tmp_path / "scans")}, root))
    assert outside[str(tmp_path / "scans")] == "[data_root]"
    assert list(outside) == sorted(outside, key=len, reverse=True)  # longest first
