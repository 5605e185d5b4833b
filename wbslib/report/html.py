"""Offline HTML reports: executed notebooks → self-contained HTML, plus the run's index page.

A report must open on a reading-room PC without network access: the project template
(`wbslib/report/templates/wbs`, extending nbconvert's `lab`) loads no require.js, MathJax, mermaid or
widget manager; widget outputs (tqdm in a notebook) are reduced to their text/plain fallback and
a progress bar's updates to its final line;
images are base64-embedded. The clinician version hides code cells and prompts.
"""

from __future__ import annotations

import copy
import html
import logging
import os
import re
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from wbslib import RESEARCH_USE
from wbslib.core.fileio import write_text

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "wbs"
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")  # embedded images: not network
NETWORK_PATTERN = re.compile(r"""unpkg|cdnjs|jsdelivr|(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
_QUIET = logging.getLogger("wbslib.report.html.nbconvert")  # nbconvert's notes (e.g. images without alt text)
_QUIET.setLevel(logging.ERROR)
WIDGET_MIMETYPES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")


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


def notebook_html(nb: nbformat.NotebookNode, *, include_code: bool = False, title: str | None = None) -> str:
    """HTML text of a notebook with the offline template; without `include_code`, no code or prompts."""
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
    nb = collapse_streams(strip_widgets(nb))
    if title:
        nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"wbs_banner": RESEARCH_USE})
    return body


def render_notebook(nb_path: str | os.PathLike, html_path: str | os.PathLike, *, include_code: bool = False) -> Path:
    """Render an executed notebook file to `html_path` (atomically); returns the HTML path."""
    nb = nbformat.read(str(nb_path), as_version=4)
    text = notebook_html(nb, include_code=include_code, title=Path(nb_path).stem)
    return write_text(text, html_path)


# --- index page ------------------------------------------------------------------------------------
_CSS = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; color: #222; }
.banner { background: #8b0000; color: #fff; font-weight: bold; text-align: center; padding: 6px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
.ok { color: #060; } .failed { color: #b00; font-weight: bold; } .not { color: #777; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; }
"""


def _table(df: pd.DataFrame) -> str:
    """An escaped HTML table (no links) of a small DataFrame."""
    if df.empty:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _notebook_rows(entries: list[dict]) -> str:
    """Rows of the notebook table: name, status, wall time, links to the rendered reports."""
    rows = []
    for e in entries:
        status = e["status"]
        links = []
        for key, label in (("html", "report"), ("code_html", "with code")):
            if e.get(key):
                links.append(f'<a href="{html.escape(Path(e[key]).name)}">{label}</a>')
        wall = f"{e['wall_s']:.1f}" if e.get("wall_s") is not None else ""
        error = html.escape(e.get("error") or "")
        rows.append(
            f'<tr><td>{html.escape(e["stem"])}</td><td class="{status}">{status}</td>'
            f"<td>{wall}</td><td>{' · '.join(links)}</td><td>{error}</td></tr>"
        )
    return (
        "<table><tr><th>notebook</th><th>status</th><th>wall time (s)</th><th>reports</th>"
        "<th>error</th></tr>" + "".join(rows) + "</table>"
    )


def index_html(run: str, entries: list[dict], metadata: dict, quarantine: pd.DataFrame, flags: pd.DataFrame) -> str:
    """The run's index page: notebooks with status and wall time, then metadata and data problems.

    entries: dicts with stem, status ('ok'|'failed'|'not run'|'not selected'), wall_s, html, code_html,
    error.
    metadata: `wbslib.core.repro.run_metadata(params)`. quarantine: quarantined files (where, path,
    error, sentence). flags: audit rows carrying lossy / counts-mismatch flags.
    """
    failed = [e["stem"] for e in entries if e["status"] == "failed"]
    if failed:
        state = f'<p class="failed">Run stopped: notebook {html.escape(failed[0])} failed.</p>'
    elif any(e["status"] == "not selected" for e in entries):
        state = (
            '<p class="ok">The selected notebooks ran (--only); the others link to their earlier reports, if any.</p>'
        )
    else:
        state = '<p class="ok">All notebooks ran.</p>'
    versions = pd.DataFrame(sorted(metadata.get("versions", {}).items()), columns=["package", "version"])
    params = yaml.safe_dump(metadata.get("params", {}), sort_keys=False, allow_unicode=True)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wbs-accel run {html.escape(run)}</title>
<style>{_CSS}</style></head><body>
<div class="banner">{html.escape(RESEARCH_USE)}</div>
<h1>wbs-accel run “{html.escape(run)}”</h1>
{state}
<h2>Notebooks</h2>
{_notebook_rows(entries)}
<h2>Quarantined files</h2>
<p>Files a step could not use; each was set aside with the reason and the run went on.</p>
{_table(quarantine)}
<h2>Integrity flags</h2>
<p>Acquisitions the audit flagged (lossy compression, pixel sum differing from Counts Accumulated,
negative values): their pixel values are not trustworthy photon counts.</p>
{_table(flags)}
<h2>Run metadata</h2>
<table><tr><th>git commit</th><td>{html.escape(str(metadata.get("git_sha", "unknown")))}</td></tr>
<tr><th>device</th><td>{html.escape(str(metadata.get("device", "unknown")))}</td></tr>
<tr><th>platform</th><td>{html.escape(str(metadata.get("platform", "unknown")))}</td></tr></table>
<h3>Package versions</h3>
{_table(versions)}
<h3>Resolved parameters</h3>
<pre>{html.escape(params)}</pre>
</body></html>
"""


def gather_quarantine(run_folder: Path) -> pd.DataFrame:
    """Every `quarantine.csv` under the run folder, stacked, with the sub-folder that wrote it."""
    frames = []
    for path in sorted(Path(run_folder).rglob("quarantine.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        if not df.empty:
            df.insert(0, "where", str(path.parent.relative_to(run_folder)))
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["where", "path", "error", "sentence"])
    return pd.concat(frames, ignore_index=True)


def gather_flags(run_folder: Path) -> pd.DataFrame:
    """Audit rows (runs/<run>/01/audit.csv) flagged lossy or counts-mismatch, if the audit wrote them."""
    path = Path(run_folder) / "01" / "audit.csv"
    if not path.exists():
        return pd.DataFrame(columns=["study_id", "kind", "speed_factor", "flags"])
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "flags" not in df.columns:
        return pd.DataFrame(columns=["study_id", "kind", "speed_factor", "flags"])
    cols = [c for c in ("study_id", "kind", "speed_factor", "views", "flags") if c in df.columns]
    return df.loc[df["flags"].str.len() > 0, cols].reset_index(drop=True)


def write_index(run: str, run_folder: Path, report_folder: Path, entries: list[dict], metadata: dict) -> Path:
    """Write reports/<run>/index.html atomically and return its path."""
    text = index_html(run, entries, metadata, gather_quarantine(run_folder), gather_flags(run_folder))
    return write_text(text, Path(report_folder) / "index.html")
