"""The papermill runner and the offline HTML reports (depends on core only)."""

from wbslib.report.browser import browser_missing, check_page, screenshots
from wbslib.report.clean import clinician_notebook, fold_long_table, relative_paths
from wbslib.report.html import (
    collapse_streams,
    gather_flags,
    gather_quarantine,
    network_references,
    notebook_html,
    render_notebook,
    strip_widgets,
)
from wbslib.report.images import preview, shrink_images
from wbslib.report.index import index_html, notebook_summary, write_index
from wbslib.report.page import PageContext, arrange, banner, notebook_title, outputs_html, table_of_contents
from wbslib.report.pipeline import check_kernel, run_pipeline, select_notebooks

__all__ = [
    "PageContext",
    "arrange",
    "banner",
    "browser_missing",
    "check_kernel",
    "check_page",
    "clinician_notebook",
    "collapse_streams",
    "fold_long_table",
    "gather_flags",
    "gather_quarantine",
    "index_html",
    "network_references",
    "notebook_html",
    "notebook_summary",
    "notebook_title",
    "outputs_html",
    "preview",
    "relative_paths",
    "render_notebook",
    "run_pipeline",
    "screenshots",
    "select_notebooks",
    "shrink_images",
    "strip_widgets",
    "table_of_contents",
    "write_index",
]
