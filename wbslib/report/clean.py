"""The clinician version of an executed notebook: what a physician reads, without the clutter.

Dropped: stderr streams (progress bars, warnings), widget outputs (notebook progress bars),
settings dumps (a result that is nothing but a dict's repr), the environment line that
`wbslib.core.repro.print_environment` prints, code cells left without output and cells tagged
`wbs-code-only`. Changed: a quoted string result shows as plain text, pandas `dtype:` footers go,
an empty table reads "none", a table of more than `FOLD_ROWS` rows is folded, and absolute paths of
the project, data and home folders become relative. Error outputs stay: a failed notebook must say
why. The code version (`--with-code`) keeps everything.
"""

from __future__ import annotations

import ast
import copy
import html as html_module
import re

import nbformat

CODE_ONLY_TAG = "wbs-code-only"
FOLD_ROWS = 30  # tables longer than this are folded (a <details> the reader opens)
WIDGET_MIMETYPES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
ENVIRONMENT_LINE = re.compile(r"^wbs-accel git \S+ · .*\n?", re.M)  # core.repro.print_environment
DTYPE_FOOTER = re.compile(r"^(?:Name: .*, )?(?:Length: \d+, )?dtype: \w+\n?", re.M)
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")
NONE_HTML = '<p class="wbs-none">none</p>'
LONG_CELL = 32  # characters: a table cell with more text may wrap (class wbs-text); shorter ones stay on one line
_NUMERIC = re.compile(r"[\s\d.,%()\[\]/+\-−–—<>≤≥±eE]*\d[\s\d.,%()\[\]/+\-−–—<>≤≥±eE]*|[—–-]|nan|NaN")
_TD = re.compile(r"<td(\s[^>]*)?>(.*?)</td>", re.S)
_TAG = re.compile(r"<[^>]+>")


def relative_paths(text: str, prefixes: list[tuple[str, str]]) -> str:
    """`text` with each absolute folder of `prefixes` ((folder, replacement), e.g. project root → '')
    shown relative: '/work/p/runs/x/a.csv' → 'runs/x/a.csv'; base64 payloads are left alone."""
    if not prefixes:
        return text
    pattern = re.compile(
        "|".join(f"({re.escape(p)})(/|(?![\\w.-]))" for p, _ in prefixes),
    )
    names = [r for _, r in prefixes]

    def swap(m: re.Match) -> str:
        i = next(k for k in range(len(names)) if m.group(2 * k + 1) is not None)
        slash = m.group(2 * i + 2)
        return f"{names[i]}{slash}" if names[i] else ("" if slash else ".")

    parts, last = [], 0
    for m in DATA_URI.finditer(text):
        parts += [pattern.sub(swap, text[last : m.start()]), m.group(0)]
        last = m.end()
    return "".join([*parts, pattern.sub(swap, text[last:])])


def _literal(text: str):
    """The Python literal a text/plain repr spells, or None."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _is_empty_table(data: dict) -> bool:
    """An empty DataFrame (or Styler of one): headers without a single data cell."""
    if str(data.get("text/plain", "")).startswith("Empty DataFrame"):
        return True
    html = str(data.get("text/html", ""))
    return "<table" in html and "<td" not in html


def fold_long_table(html: str, max_rows: int = FOLD_ROWS) -> str:
    """An HTML table with more than `max_rows` body rows, folded behind 'Show all N rows'."""
    if html.count("<table") != 1:
        return html
    body = html.split("<tbody", 1)[-1]
    rows = body.count("<tr")
    if rows <= max_rows:
        return html
    return f'<details class="wbs-long"><summary>Show all {rows} rows</summary>{html}</details>'


def mark_cells(html: str, limit: int = LONG_CELL) -> str:
    """`html` with a class on each table cell for the stylesheet: `wbs-num` (numbers, CIs, '—':
    right-aligned) or `wbs-text` (more than `limit` characters: may wrap); other cells stay on one
    line, left-aligned."""

    def mark(m: re.Match) -> str:
        attrs, inner = m.group(1) or "", m.group(2)
        text = html_module.unescape(_TAG.sub("", inner)).strip()
        css = "wbs-num" if _NUMERIC.fullmatch(text) else "wbs-text" if len(text) > limit else ""
        if not css:
            return m.group(0)
        if re.search(r'\bclass="', attrs):
            attrs = re.sub(r'\bclass="', f'class="{css} ', attrs, count=1)
        else:
            attrs += f' class="{css}"'
        return f"<td{attrs}>{inner}</td>"

    return _TD.sub(mark, html) if "<td" in html else html


def mark_tables(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` (changed in place) with `mark_cells` applied to every HTML output."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if isinstance(out.get("data", {}).get("text/html"), str):
                out["data"]["text/html"] = mark_cells(out["data"]["text/html"])
    return nb


def _clean_output(out: dict, prefixes: list[tuple[str, str]]) -> dict | None:
    """The clinician form of one output, or None to drop it."""
    kind = out.get("output_type")
    if kind == "stream":
        if out.get("name") != "stdout":
            return None
        text = DTYPE_FOOTER.sub("", ENVIRONMENT_LINE.sub("", out["text"]))
        return {**out, "text": relative_paths(text, prefixes)} if text.strip() else None
    if kind == "error":
        return {
            **out,
            "evalue": relative_paths(out.get("evalue", ""), prefixes),
            "traceback": [relative_paths(line, prefixes) for line in out.get("traceback", [])],
        }
    data = dict(out.get("data", {}))
    if any(m in data for m in WIDGET_MIMETYPES):
        return None
    if _is_empty_table(data):
        return {**out, "data": {"text/html": NONE_HTML, "text/plain": "none"}, "metadata": {}}
    if set(data) == {"text/plain"}:
        value = _literal(data["text/plain"])
        if isinstance(value, dict):
            return None
        text = value if isinstance(value, str) else DTYPE_FOOTER.sub("", data["text/plain"])
        data["text/plain"] = text
    for mime in ("text/plain", "text/markdown", "text/html"):
        if isinstance(data.get(mime), str):
            data[mime] = relative_paths(data[mime], prefixes)
    if "text/html" in data:
        data["text/html"] = fold_long_table(data["text/html"])
    return {**out, "data": data}


def clinician_notebook(nb: nbformat.NotebookNode, prefixes: list[tuple[str, str]] = ()) -> nbformat.NotebookNode:
    """A copy of `nb` as the clinician reads it (see the module docstring); `prefixes` as in
    `relative_paths`, longest first."""
    nb = copy.deepcopy(nb)
    prefixes = sorted(prefixes, key=lambda p: -len(p[0]))
    cells = []
    for cell in nb.cells:
        if CODE_ONLY_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            outs = [_clean_output(o, prefixes) for o in cell.get("outputs", [])]
            cell.outputs = [nbformat.from_dict(o) for o in outs if o is not None]
            if not cell.outputs:
                continue
        cells.append(cell)
    nb.cells = cells
    return nb
