"""The reader study (no torch): blinded worklist and key, score and reading sheets, virtual readers
(model observers) and inter-reader agreement.
"""

from wbslib.readers.agreement import adjudication_summary, agreement_table, reading_headline, reference_status
from wbslib.readers.atlas import atlas_z, cells, fit_atlas
from wbslib.readers.candidates import ImageFeatures, image_features
from wbslib.readers.observer import Observer, candidate_labels, model_inputs, train_observer
from wbslib.readers.quality import ImageQuality, TruthPair, fit_quality
from wbslib.readers.reading_sheet import case_block, display_window, sheet_html, view_png, write_reading_sheets
from wbslib.readers.score_sheets import read_score_sheets
from wbslib.readers.virtual import VirtualReader, read, read_cases, virtual_panel
from wbslib.readers.worklist import (
    adjudicate,
    check_reader_names,
    effective_reads,
    image_lookup,
    interleaved_order,
    make_worklist,
    panel_roles,
    reader_config,
    reads_table,
    write_worklist,
)

__all__ = [
    "ImageFeatures",
    "ImageQuality",
    "Observer",
    "TruthPair",
    "VirtualReader",
    "adjudicate",
    "adjudication_summary",
    "agreement_table",
    "atlas_z",
    "candidate_labels",
    "case_block",
    "cells",
    "check_reader_names",
    "display_window",
    "effective_reads",
    "fit_atlas",
    "image_features",
    "image_lookup",
    "interleaved_order",
    "make_worklist",
    "model_inputs",
    "panel_roles",
    "fit_quality",
    "read",
    "read_cases",
    "reading_headline",
    "read_score_sheets",
    "reader_config",
    "reads_table",
    "reference_status",
    "sheet_html",
    "train_observer",
    "view_png",
    "virtual_panel",
    "write_reading_sheets",
    "write_worklist",
]
