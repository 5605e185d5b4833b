"""Offline HTML reports: executed notebooks → HTML pages that open from disk.

A report must open on a reading-room PC without network access: the project template
(`wbslib/report/templates/wbs`, nbconvert's `lab` markup with a small stylesheet of its own) loads
no require.js, MathJax, mermaid or widget manager; widget outputs are reduced to their text/plain
fallback and a progress bar's updates to its final line; figures are embedded, large ones as
previews linking to full-resolution files under img/ beside the report. The clinician version
hides code and prompts and is cleaned (`clean`), arranged (`page`: findings first, contents,
appendix last) and framed (banner, run facts, previous/next links). The index page is `index`.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from pathlib import Path

import nbformat
import pandas as pd

from wbslib.core.fileio import read_csv, write_text
from wbslib.report.clean import DATA_URI, WIDGET_MIMETYPES, clinician_notebook, mark_tables
from wbslib.report.images import shrink_images
from wbslib.report.page import (
    TOC_MARKER,
    PageContext,
    arrange,
    executed_at,
    navigation,
    notebook_title,
    table_of_contents,
)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "wbs"
STYLESHEET = TEMPLATE_DIR / TEMPLATE_NAME / "static" / "wbs.css"  # the reports' and the index's CSS
NETWORK_PATTERN = re.compile(r"""unpkg|cdnjs|jsdelivr|(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
_QUIET = logging.getLogger("wbslib.report.html.nbconvert")  # nbconvert's notes (e.g. images without alt text)
_QUIET.setLevel(logging.ERROR)


def strip_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` without widget views/state: each widget output keeps its text/plain fallback.

    Widget views need the jupyter-widgets manager, which the stock template loads from a CDN;
    an output holding nothing but a widget view is dropped.
    """
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is not None:
                for mime in WIDGET_MIMETYPES:
                    data.pop(mime, None)
                if not data:
                    continue
            kept.append(out)
        cell.outputs = kept
    return nb


def collapse_streams(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` with each run of consecutive stream outputs of one kind (stdout, stderr) merged into one,
    every line reduced to what follows its last carriage return: a progress bar (tqdm) that wrote
    hundreds of updates shows its final state once."""
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            if (
                out.get("output_type") == "stream"
                and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")
            ):
                merged[-1]["text"] += out["text"]
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream":
                lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in out["text"].split("\n")]
                out["text"] = "\n".join(line for i, line in enumerate(lines) if line or i == len(lines) - 1)
        if cell.cell_type == "code":
            cell.outputs = [o for o in merged if o.get("output_type") != "stream" or o["text"].strip()]
    return nb


def network_references(text: str) -> list[str]:
    """Every place in an HTML text that would reach the network (CDN names, http(s) or //host src/href)."""
    text = DATA_URI.sub("data:", text)  # base64 payloads can spell 'cdnjs' by chance
    return [text[max(m.start() - 40, 0) : m.end() + 40] for m in NETWORK_PATTERN.finditer(text)]


def notebook_html(
    nb: nbformat.NotebookNode,
    *,
    include_code: bool = False,
    title: str | None = None,
    context: PageContext | None = None,
    folder: str | os.PathLike | None = None,
    name: str = "notebook",
) -> str:
    """HTML text of a notebook with the offline template.

    Without `include_code`: the clinician version (no code or prompts, `clean.clinician_notebook`,
    `page.arrange`). `context` frames the page within a run (banner, facts, previous/next links; none
    without it). With a `folder` (where the HTML goes), large images become previews linking to
    full-resolution files written to `folder/img/<name>-*.png`.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        template_name=TEMPLATE_NAME,
        exclude_input=not include_code,
        exclude_input_prompt=not include_code,
        exclude_output_prompt=not include_code,
        embed_images=True,
        log=_QUIET,
    )
    frame = context or PageContext()
    nb = collapse_streams(copy.deepcopy(nb))
    if not include_code:
        nb = clinician_notebook(nb, list(frame.prefixes))
    nb = mark_tables(arrange(strip_widgets(nb), move=not include_code))
    if folder is not None and frame.images:
        nb = shrink_images(nb, folder, name)
    when = executed_at(nb)
    resources = {
        "wbs": {
            "title": title or notebook_title(nb, name),
            "banner": frame.banner,
            "facts": [*frame.facts, *([f"executed {when}"] if when else [])],
            "nav": navigation(frame, include_code) if context else "",
        }
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body.replace(TOC_MARKER, table_of_contents(body), 1)


def render_notebook(
    nb_path: str | os.PathLike,
    html_path: str | os.PathLike,
    *,
    include_code: bool = False,
    context: PageContext | None = None,
) -> Path:
    """Render an executed notebook file to `html_path` (atomically; large images' full resolution
    under img/ beside it); returns the HTML path."""
    nb = nbformat.read(str(nb_path), as_version=4)
    html_path = Path(html_path)
    name = Path(nb_path).stem
    text = notebook_html(nb, include_code=include_code, context=context, folder=html_path.parent, name=name)
    return write_text(text, html_path)


PATH_COLUMNS = ("path", "paths", "source_path")  # quarantine lists written before files were named by keyed ids


def gather_quarantine(run_folder: Path) -> pd.DataFrame:
    """Every `quarantine.csv` under the run folder, stacked, with the sub-folder that wrote it. Files appear by
    their keyed file id; a path column of an older list is left out, since a path may carry a name or a date."""
    frames = []
    for path in sorted(Path(run_folder).rglob("quarantine.csv")):
        df = read_csv(path, dtype=str, keep_default_na=False)
        df = df.drop(columns=[c for c in PATH_COLUMNS if c in df.columns])
        if not df.empty:
            df.insert(0, "where", str(path.parent.relative_to(run_folder)))
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["where", "study_id", "file", "error", "sentence"])
    return pd.concat(frames, ignore_index=True)


def gather_flags(run_folder: Path) -> pd.DataFrame:
    """Audit rows (runs/<run>/01/audit.csv) flagged lossy or counts-mismatch, if the audit wrote them."""
    path = Path(run_folder) / "01" / "audit.csv"
    if not path.exists():
        return pd.DataFrame(columns=["study_id", "kind", "speed_factor", "flags"])
    df = read_csv(path, dtype=str, keep_default_na=False)
    if "flags" not in df.columns:
        return pd.DataFrame(columns=["study_id", "kind", "speed_factor", "flags"])
    cols = [c for c in ("study_id", "kind", "speed_factor", "views", "flags") if c in df.columns]
    return df.loc[df["flags"].str.len() > 0, cols].reset_index(drop=True)
