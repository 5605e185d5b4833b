"""The paper's tables and figures from our reads and metrics, beside the published numbers."""

from wbslib.paper.config import statistics_config
from wbslib.paper.figures import bland_altman_figure, likert_bars, pearson_figure, roc_figure
from wbslib.paper.findings import findings_content, findings_html, flags, key_findings
from wbslib.paper.panels import (
    counts_figure,
    crop_box,
    difference_figure,
    grey_limit,
    lesion_marks,
    load_images,
    panel_figure,
    panel_rows,
    true_lesions,
)
from wbslib.paper.summary import lesion_agreement, load_run_tables, reproduction_summary, table4, write_outputs
from wbslib.paper.tables import (
    auc_table,
    cohort_source,
    comparisons,
    has_reference,
    likert_table,
    mrmc_table,
    paired,
    show,
    study_label,
    table2,
    table3,
    too_few_patients,
)

__all__ = [
    "auc_table",
    "bland_altman_figure",
    "cohort_source",
    "comparisons",
    "counts_figure",
    "crop_box",
    "difference_figure",
    "findings_content",
    "findings_html",
    "flags",
    "grey_limit",
    "has_reference",
    "key_findings",
    "lesion_agreement",
    "lesion_marks",
    "likert_bars",
    "likert_table",
    "load_images",
    "load_run_tables",
    "mrmc_table",
    "paired",
    "panel_figure",
    "panel_rows",
    "pearson_figure",
    "reproduction_summary",
    "roc_figure",
    "show",
    "study_label",
    "table2",
    "table3",
    "table4",
    "too_few_patients",
    "true_lesions",
    "write_outputs",
    "statistics_config",
]
