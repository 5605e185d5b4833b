"""Cohort manifests: schema and validation, building from a DICOM folder with keyed pseudonyms,
labels, verification, and what may leave the data folder (keyed file ids, redacted sentences).
"""

from wbslib.io.manifest.build import build_manifest, check_destination
from wbslib.io.manifest.labels import apportion, assign_splits, check_fractions, read_labels
from wbslib.io.manifest.privacy import FileNames, IdentifierSearch
from wbslib.io.manifest.pseudonym import file_id, key_path, load_key, pseudonym
from wbslib.io.manifest.scan import Acquired, identifying_text, scan_file
from wbslib.io.manifest.schema import (
    KINDS,
    MANIFEST_COLUMNS,
    acquisition_column,
    cohort_headline,
    read_manifest,
    study_table,
    validate_manifest,
    write_manifest,
)
from wbslib.io.manifest.verify import verify_manifest
from wbslib.io.manifest.walk import walk_folder

__all__ = [
    "Acquired",
    "FileNames",
    "IdentifierSearch",
    "KINDS",
    "MANIFEST_COLUMNS",
    "acquisition_column",
    "apportion",
    "assign_splits",
    "build_manifest",
    "check_destination",
    "check_fractions",
    "cohort_headline",
    "file_id",
    "identifying_text",
    "key_path",
    "load_key",
    "pseudonym",
    "read_labels",
    "read_manifest",
    "scan_file",
    "study_table",
    "validate_manifest",
    "verify_manifest",
    "walk_folder",
    "write_manifest",
]
