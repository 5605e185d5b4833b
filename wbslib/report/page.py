"""What frames a report page: title, research banner, run facts, navigation, contents, findings.

Notebooks mark cells for the reports with cell tags (JupyterLab: property inspector → Cell Tags):
- `wbs-findings`: the cell's outputs are the notebook's key findings. In the clinician report the
  cell moves under the title (first screen, boxed); the index shows it at the top, too.
- `wbs-headline`: the cell's first output (Markdown, HTML or text; or a Markdown cell's text) is
  the notebook's one-line result, shown beside its link on the index.
- `wbs-appendix`: the cell moves to an "Appendix" at the end of the clinician report.
- `wbs-code-only`: the cell appears in the code version only (`wbslib.report.clean`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd

from wbslib import RESEARCH_USE
from wbslib.core.params import resolve_path

FINDINGS_TAG = "wbs-findings"
HEADLINE_TAG = "wbs-headline"
APPENDIX_TAG = "wbs-appendix"
TOC_MARKER = "<!--wbs-toc-->"
_HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)<a class="anchor-link"', re.S)


@dataclass(frozen=True)
class PageContext:
    """How one report is framed within its run.

    banner: the sticky research-use line; facts: short run facts under the navigation ('run demo',
    'phantom cohort'); neighbours: (stem, title) of the previous and next notebook, or None;
    prefixes: (absolute folder, replacement) for `clean.relative_paths`; images: write large images'
    full resolution beside the report (else previews only).
    """

    banner: str = RESEARCH_USE
    facts: tuple[str, ...] = ()
    previous: tuple[str, str] | None = None
    next: tuple[str, str] | None = None
    prefixes: tuple[tuple[str, str], ...] = ()
    images: bool = True


def tagged(cell, tag: str) -> bool:
    """Whether a notebook cell carries the cell tag `tag`."""
    return tag in cell.get("metadata", {}).get("tags", [])


def notebook_title(nb: nbformat.NotebookNode, default: str) -> str:
    """The notebook's first '# ' heading (its title), else `default`."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


def executed_at(nb: nbformat.NotebookNode) -> str | None:
    """When papermill finished the notebook, as 'YYYY-MM-DD HH:MM UTC', or None."""
    end = nb.metadata.get("papermill", {}).get("end_time") or nb.metadata.get("papermill", {}).get("start_time")
    if not end:
        return None
    try:
        when = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.strftime("%Y-%m-%d %H:%M UTC")


def now_utc() -> str:
    """The current time as 'YYYY-MM-DD HH:MM UTC'."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def arrange(nb: nbformat.NotebookNode, move: bool = True) -> nbformat.NotebookNode:
    """`nb` with the contents marker under its title heading; with `move` (the clinician version) in
    reading order: title heading, findings cells, contents, the rest, then an Appendix of
    `wbs-appendix` cells. Cells are moved, not copied; `nb` itself is changed."""
    cells = list(nb.cells)
    head = []
    if cells and cells[0].cell_type == "markdown" and cells[0].source.startswith("# "):
        title, _, rest = cells[0].source.partition("\n")
        head = [nbformat.v4.new_markdown_cell(title)]
        cells = ([nbformat.v4.new_markdown_cell(rest)] if rest.strip() else []) + cells[1:]
    findings = [c for c in cells if move and tagged(c, FINDINGS_TAG)]
    appendix = [c for c in cells if move and tagged(c, APPENDIX_TAG) and not tagged(c, FINDINGS_TAG)]
    body = [c for c in cells if not any(c is x for x in (*findings, *appendix))]
    if appendix:
        appendix.insert(0, nbformat.v4.new_markdown_cell("## Appendix"))
    nb.cells = [*head, *findings, nbformat.v4.new_markdown_cell(TOC_MARKER), *body, *appendix]
    return nb


def table_of_contents(body: str) -> str:
    """A folded list of links to the h2/h3 headings of a rendered page ('' when there are none)."""
    items = [
        f'<li class="wbs-toc-{level}"><a href="#{anchor}">{re.sub(r"<[^>]+>", "", text).strip()}</a></li>'
        for level, anchor, text in _HEADING.findall(body)
    ]
    if not items:
        return ""
    return f'<details class="wbs-toc"><summary>Contents</summary><ul>{"".join(items)}</ul></details>'


def navigation(context: PageContext, include_code: bool) -> str:
    """Links to the previous notebook's report, the run index and the next one (same version)."""
    suffix = "-code.html" if include_code else ".html"
    links = []
    if context.previous:
        stem, title = context.previous
        links.append(f'<a rel="prev" href="{html.escape(stem + suffix)}">← {html.escape(title)}</a>')
    links.append('<a href="index.html">Run index</a>')
    if context.next:
        stem, title = context.next
        links.append(f'<a rel="next" href="{html.escape(stem + suffix)}">{html.escape(title)} →</a>')
    return f'<nav class="wbs-nav">{"".join(links)}</nav>'


def outputs_html(nb: nbformat.NotebookNode, tag: str, first_only: bool = False) -> str:
    """HTML of the cells tagged `tag`: each output's HTML, Markdown, PNG or text, or a Markdown
    cell's text ('' when no cell carries the tag)."""
    from nbconvert.filters.markdown import markdown2html

    parts = []
    for cell in (c for c in nb.cells if tagged(c, tag)):
        if cell.cell_type == "markdown":
            parts.append(markdown2html(cell.source))
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream":
                data = {"text/plain": out.get("text", "")}
            if "text/html" in data:
                parts.append(data["text/html"])
            elif "text/markdown" in data:
                parts.append(markdown2html(data["text/markdown"]))
            elif "image/png" in data:
                parts.append(f'<img src="data:image/png;base64,{data["image/png"]}" alt="figure">')
            elif "text/plain" in data:
                parts.append(f"<p>{html.escape(str(data['text/plain']).strip())}</p>")
    parts = [p for p in parts if p.strip()]
    return (parts[0] if first_only else "\n".join(parts)) if parts else ""


def cohort_kind(params: dict) -> str:
    """'phantom' or 'clinical' from the manifest's `source` column; before a manifest exists,
    'phantom' when the run simulates its cohort (notebook 00), else 'clinical'."""
    try:
        source = pd.read_csv(resolve_path(params["manifest"]), usecols=["source"], dtype=str)["source"]
        if len(source):
            return "phantom" if (source == "phantom").all() else "clinical"
    except (KeyError, ValueError, OSError, TypeError):
        pass
    return "phantom" if any(str(s).startswith("00-") for s in params.get("notebooks") or []) else "clinical"


def reader_kind(params: dict) -> str:
    """'clinician readers' when the params list returned score sheets, else 'virtual readers'."""
    readers = params.get("readers") or {}
    return "clinician readers" if isinstance(readers, dict) and readers.get("score_sheets") else "virtual readers"


def banner(params: dict) -> str:
    """'RESEARCH USE – NOT FOR DIAGNOSIS · phantom · virtual readers' for a run's params."""
    return f"{RESEARCH_USE} · {cohort_kind(params)} · {reader_kind(params)}"


def path_prefixes(params: dict, root: Path) -> tuple[tuple[str, str], ...]:
    """(absolute folder, shown as) for the clinician version: project root → relative, a data root
    outside it → '[data_root]', the home folder → '~' (each also as resolved, symlinks followed)."""
    pairs = {}
    folders = [(Path.home(), "~")]
    if params.get("data_root"):
        data = resolve_path(params["data_root"])
        if not data.resolve().is_relative_to(root.resolve()):
            folders.append((data, "[data_root]"))
    folders.append((root, ""))
    for folder, name in folders:
        for p in {str(folder), str(Path(folder).resolve())}:
            if p != "/":
                pairs[p] = name
    return tuple(sorted(pairs.items(), key=lambda kv: -len(kv[0])))
