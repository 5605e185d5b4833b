"""The clinician version: no progress bars, warnings, settings dumps, dtype footers or absolute paths."""

from __future__ import annotations

import nbformat
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from wbslib.core import repro
from wbslib.report.clean import (
    NONE_HTML,
    clinician_notebook,
    fold_long_table,
    mark_cells,
    relative_paths,
)
from wbslib.report.html import notebook_html
from wbslib.report.page import PageContext

ROOT = "/home/ana/wbs-accel"
PREFIXES = [(ROOT, ""), ("/mnt/scans/cohort", "[data_root]"), ("/home/ana", "~")]
WARNING = (
    f"{ROOT}/.venv/lib/python3.11/site-packages/statsmodels/stats/inter_rater.py:534: RuntimeWarning: "
    'invalid value encountered in scalar divide\n  self["z_value"] = self["kappa"] / self["std_kappa0"]\n'
)


def _out(kind: str, **kw) -> nbformat.NotebookNode:
    return nbformat.v4.new_output(kind, **kw)


def _result(data: dict) -> nbformat.NotebookNode:
    return _out("execute_result", data=data, execution_count=1)


def _notebook(environment_line: str) -> nbformat.NotebookNode:
    """A notebook with one cell per kind of clutter (and the results that must survive)."""
    cells = [nbformat.v4.new_markdown_cell("# 09 · Clutter\nEvery output a notebook leaves.")]

    def code(*outputs, tags=()):
        cell = nbformat.v4.new_code_cell("x")
        cell.outputs = list(outputs)
        cell.metadata["tags"] = list(tags)
        cells.append(cell)

    code(_out("stream", name="stdout", text=environment_line))
    code(
        _out("stream", name="stderr", text="\rtrain:  50%|#####     | 2/4 [00:02<00:02,  1.0it/s]"),
        _out("stream", name="stderr", text=WARNING),
        _out(
            "stream", name="stdout", text=f"36 DICOM files → /mnt/scans/cohort\nwrote {ROOT}/runs/demo/01/audit.csv\n"
        ),
    )
    code(_result({"text/plain": "{'n_patients': 40,\n 'speeds': [1.0, 2.0, 3.0]}"}))
    code(_result({"text/plain": "'No study was quarantined.'"}))
    code(_result({"text/plain": "group\n1x    8\n2x    8\nName: study_id, dtype: int64"}))
    empty = pd.DataFrame(columns=["error", "sentence"])
    code(_result({"text/html": empty._repr_html_(), "text/plain": repr(empty)}))
    code(_out("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "a"}, "text/plain": "x"}))
    code(_out("stream", name="stdout", text="settings for the code version only\n"), tags=["wbs-code-only"])
    code()  # a code cell without output (imports, parameters)
    code(_out("error", ename="ValueError", evalue=f"bad {ROOT}/data/x.dcm", traceback=[f'File "{ROOT}/wbslib/a.py"']))
    return nbformat.v4.new_notebook(cells=cells)


def _environment_line(capsys) -> str:
    repro.print_environment()
    return capsys.readouterr().out


def test_clinician_notebook_drops_and_rewrites_each_kind_of_clutter(capsys):
    nb = _notebook(_environment_line(capsys))
    clean = clinician_notebook(nb, PREFIXES)
    outputs = [[dict(o) for o in c.outputs] for c in clean.cells if c.cell_type == "code"]
    assert outputs == [
        [{"output_type": "stream", "name": "stdout",
          "text": "36 DICOM files → [data_root]\nwrote runs/demo/01/audit.csv\n"}],
        [{"output_type": "execute_result", "data": {"text/plain": "No study was quarantined."}, "metadata": {},
          "execution_count": 1}],
        [{"output_type": "execute_result", "data": {"text/plain": "group\n1x    8\n2x    8\n"}, "metadata": {},
          "execution_count": 1}],
        [{"output_type": "execute_result", "data": {"text/html": NONE_HTML, "text/plain": "none"}, "metadata": {},
          "execution_count": 1}],
        [{"output_type": "error", "ename": "ValueError", "evalue": "bad data/x.dcm",
          "traceback": ['File "wbslib/a.py"']}],
    ]  # fmt: skip
    assert len(nb.cells) == 11 and len(nb.cells[2].outputs) == 3  # the input notebook is untouched


def test_clinician_html_has_no_clutter_and_code_version_keeps_it(capsys):
    nb = _notebook(_environment_line(capsys))
    page = notebook_html(nb, context=PageContext(prefixes=tuple(PREFIXES)))
    for clutter in ("it/s]", "RuntimeWarning", ROOT, "/mnt/scans", "dtype: int64", "n_patients", "wbs-accel git ",
                    "code version only", "&#x27;No study", "widget"):  # fmt: skip
        assert clutter not in page, clutter
    assert "No study was quarantined." in page and NONE_HTML in page and "runs/demo/01/audit.csv" in page
    code = notebook_html(nb, include_code=True)
    for kept in ("1.0it/s]", "RuntimeWarning", f"{ROOT}/runs/demo", "dtype: int64", "n_patients", "code version only"):
        assert kept in code, kept


@given(st.from_regex(r"[A-Za-z0-9_.-]{1,12}(/[A-Za-z0-9_.-]{1,12}){0,3}", fullmatch=True))
def test_paths_under_the_root_become_relative(rest):
    assert relative_paths(f"see {ROOT}/{rest} now", PREFIXES) == f"see {rest} now"
    assert relative_paths(f"{ROOT}2/{rest}", PREFIXES) == f"~/wbs-accel2/{rest}"  # a sibling of the root
    uri = f"data:image/png;base64,AAAA{ROOT}/{rest}"
    if "." not in rest and "-" not in rest and "_" not in rest:  # a valid base64 payload is left alone
        assert relative_paths(uri, PREFIXES) == uri


def test_relative_paths_prefers_the_longest_folder_and_names_the_root_itself():
    assert relative_paths("/home/ana/wbs-accel /home/ana/x /home/ana", PREFIXES) == ". ~/x ~"
    assert relative_paths("nothing here", []) == "nothing here"


def test_mark_cells_right_aligns_numbers_and_lets_only_long_text_wrap():
    cells = ["37.5 % (3/8) [13.7–69.4]", "2x-real", "0.001", "—", "p &lt; 0.001", "&lt; 0.001", "8.33e-07", "x" * 40]
    page = mark_cells("<table><tr>" + "".join(f'<td class="data">{c}</td>' for c in cells) + "</tr></table>")
    classes = [c.split('"')[0] for c in page.split('<td class="')[1:]]
    assert classes == ["wbs-num data", "data", "wbs-num data", "wbs-num data", "data", "wbs-num data",
                       "wbs-num data", "wbs-text data"]  # fmt: skip
    assert mark_cells("<td>12</td>") == '<td class="wbs-num">12</td>' and mark_cells("<p>1</p>") == "<p>1</p>"


def test_long_tables_fold_behind_a_summary():
    rows = lambda n: "<table><thead><tr><th>a</th></tr></thead><tbody>" + "<tr><td>1</td></tr>" * n + "</tbody></table>"  # noqa: E731
    assert fold_long_table(rows(30)) == rows(30)
    folded = fold_long_table(rows(31))
    assert folded.startswith('<details class="wbs-long"><summary>Show all 31 rows</summary><table>')
