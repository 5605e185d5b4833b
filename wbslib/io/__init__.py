"""Data in and out, without torch: whole-body NM DICOM, cohort manifests, the image-set index,
phantom truth files and the cohort audit.
"""

from wbslib.io.audit import (
    AuditResult,
    acquisitions,
    audit_cohort,
    audit_config,
    counts_summary,
    flagged,
    read_acquisition,
    save_audit,
    thumbnail_figure,
)
from wbslib.io.imagesets import (
    acquisition_mid_time,
    acquisition_paths,
    build_image_sets,
    load_counts,
    load_scan,
    portable_path,
    read_counts,
    read_image_sets,
    write_image_sets,
)
from wbslib.io.truth import load_lesions, load_patients, load_truth, save_npz, truth_dir, truth_path, write_truth

__all__ = [
    "AuditResult",
    "acquisition_mid_time",
    "acquisition_paths",
    "acquisitions",
    "audit_cohort",
    "build_image_sets",
    "counts_summary",
    "flagged",
    "load_counts",
    "load_lesions",
    "load_patients",
    "load_scan",
    "load_truth",
    "portable_path",
    "read_acquisition",
    "read_counts",
    "read_image_sets",
    "save_audit",
    "save_npz",
    "thumbnail_figure",
    "truth_dir",
    "truth_path",
    "write_image_sets",
    "write_truth",
    "audit_config",
]
