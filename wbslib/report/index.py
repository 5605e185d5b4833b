"""The run's index page, reports/<run>/index.html: key findings first, then every notebook by its
title with its status and one-line result, then data problems and the run's metadata.

Findings and headlines come from the executed notebooks' cells tagged `wbs-findings` and
`wbs-headline` (`wbslib.report.page`), cleaned as in the clinician version.
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from wbslib import RESEARCH_USE
from wbslib.core.fileio import write_text
from wbslib.report.clean import clinician_notebook, mark_cells, mark_tables, relative_paths
from wbslib.report.html import STYLESHEET, gather_flags, gather_quarantine
from wbslib.report.page import FINDINGS_TAG, HEADLINE_TAG, notebook_title, outputs_html


def notebook_summary(nb_path: str | Path, prefixes: tuple[tuple[str, str], ...] = ()) -> dict:
    """{'title', 'headline', 'findings'} of an executed notebook (HTML; '' where a tag is absent)."""
    nb = nbformat.read(str(nb_path), as_version=4)
    clean = mark_tables(clinician_notebook(nb, list(prefixes)))
    return {
        "title": notebook_title(nb, Path(nb_path).stem),
        "headline": outputs_html(clean, HEADLINE_TAG, first_only=True),
        "findings": outputs_html(clean, FINDINGS_TAG),
    }


def _table(df: pd.DataFrame) -> str:
    """An escaped HTML table (no links) of a small DataFrame; 'None.' when it has no rows."""
    if df.empty:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False)
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="wbs-scroll">{mark_cells(table)}</div>'


def _notebook_items(entries: list[dict]) -> str:
    """One list item per notebook: its title linking to the clinician report, status, wall time,
    code-version link, one-line result, error."""
    items = []
    for e in entries:
        status = e["status"]
        title = html.escape(e.get("title") or e["stem"])
        name = f'<a href="{html.escape(Path(e["html"]).name)}">{title}</a>' if e.get("html") else f"<b>{title}</b>"
        wall = f" · {e['wall_s']:.1f} s" if e.get("wall_s") is not None else ""
        code = (
            f' · <a href="{html.escape(Path(e["code_html"]).name)}" aria-label="{title}, code version">code version</a>'
            if e.get("code_html")
            else ""
        )
        headline = f'<div class="wbs-headline">{e["headline"]}</div>' if e.get("headline") else ""
        error = f'<p class="failed">{html.escape(e["error"])}</p>' if e.get("error") else ""
        css = status.replace(" ", "-")
        items.append(
            f'<li id="nb-{html.escape(e["stem"])}">{name} <span class="{css}">{status}</span>{wall}{code}'
            f"{headline}{error}</li>"
        )
    return f'<ol class="wbs-notebooks">{"".join(items)}</ol>'


def _findings(entries: list[dict]) -> str:
    """The findings boxes of the notebooks that have them, in notebook order."""
    boxes = []
    for e in entries:
        if e.get("findings"):
            title = html.escape(e.get("title") or e["stem"])
            link = f'<a href="{html.escape(Path(e["html"]).name)}">{title}</a>' if e.get("html") else title
            boxes.append(
                f'<section class="wbs-findings" id="findings-{html.escape(e["stem"])}">'
                f'<p class="wbs-meta">Key findings from {link}</p>{e["findings"]}</section>'
            )
    return "".join(boxes)


def index_html(
    run: str,
    entries: list[dict],
    metadata: dict,
    quarantine: pd.DataFrame,
    flags: pd.DataFrame,
    *,
    banner: str = RESEARCH_USE,
    facts: tuple[str, ...] = (),
) -> str:
    """The run's index page.

    entries: dicts with stem, status ('ok'|'failed'|'not run'|'not selected'), wall_s, html,
    code_html, error, and optionally title, headline and findings (HTML).
    metadata: `wbslib.core.repro.run_metadata(params)`. quarantine: quarantined files (where, path,
    error, sentence). flags: audit rows carrying lossy / counts-mismatch flags. banner: the sticky
    research-use line; facts: run facts shown under the title ('phantom cohort', 'run … UTC').
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
    facts_line = f'<p class="wbs-meta">{html.escape(" · ".join(facts))}</p>' if facts else ""
    run_rows = "".join(
        f"<tr><th>{name}</th><td>{html.escape(str(metadata.get(key, 'unknown')))}</td></tr>"
        for name, key in (("git commit", "git_sha"), ("device", "device"), ("platform", "platform"))
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wbs-accel run {html.escape(run)}</title>
<style>{STYLESHEET.read_text(encoding="utf-8")}</style></head><body class="wbs">
<header class="wbs-banner">{html.escape(banner)}</header>
<main>
<h1>wbs-accel run “{html.escape(run)}”</h1>
{facts_line}
{state}
{_findings(entries)}
<h2>Notebooks</h2>
{_notebook_items(entries)}
<h2>Quarantined files</h2>
<p>Files a step could not use; each was set aside with the reason and the run went on.</p>
{_table(quarantine)}
<h2>Integrity flags</h2>
<p>Acquisitions the audit flagged (lossy compression, pixel sum differing from Counts Accumulated,
negative values): their pixel values are not trustworthy photon counts.</p>
{_table(flags)}
<h2>Run metadata</h2>
<div class="wbs-scroll"><table>{run_rows}</table></div>
<details><summary>Package versions</summary>{_table(versions)}</details>
<details><summary>Resolved parameters</summary><pre>{html.escape(params)}</pre></details>
</main></body></html>
"""


def write_index(
    run: str,
    run_folder: Path,
    report_folder: Path,
    entries: list[dict],
    metadata: dict,
    *,
    banner: str = RESEARCH_USE,
    facts: tuple[str, ...] = (),
    prefixes: tuple[tuple[str, str], ...] = (),
) -> Path:
    """Write reports/<run>/index.html atomically and return its path; each notebook's title, headline
    and findings are read from its executed notebook runs/<run>/<stem>.ipynb when there is one; the
    folders of `prefixes` are shown relative (`clean.relative_paths`), as in the reports."""
    full = []
    for e in entries:
        nb_path = Path(run_folder) / f"{e['stem']}.ipynb"
        summary = notebook_summary(nb_path, prefixes) if e["status"] != "not run" and nb_path.exists() else {}
        full.append({**summary, **{k: v for k, v in e.items() if v is not None}})
    quarantine, flags = gather_quarantine(run_folder), gather_flags(run_folder)
    text = index_html(run, full, metadata, quarantine, flags, banner=banner, facts=facts)
    return write_text(relative_paths(text, list(prefixes)), Path(report_folder) / "index.html")
