"""The papermill runner and the offline HTML reports (depends on core only)."""

from wbslib.report.html import (
    collapse_streams,
    gather_flags,
    gather_quarantine,
    index_html,
    network_references,
    notebook_html,
    render_notebook,
    strip_widgets,
    write_index,
)
from wbslib.report.pipeline import check_kernel, run_pipeline, select_notebooks

__all__ = [
    "check_kernel",
    "collapse_streams",
    "gather_flags",
    "gather_quarantine",
    "index_html",
    "network_references",
    "notebook_html",
    "render_notebook",
    "run_pipeline",
    "select_notebooks",
    "strip_widgets",
    "write_index",
]
