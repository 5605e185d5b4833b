"""Coded values, UIDs and private tags shared by the DICOM reader and writers (`wbslib.io.dicom`)."""

from __future__ import annotations

import hashlib
import uuid

from pydicom.dataset import Dataset

# View Code Sequence (0054,0220), CID 26 "Nuclear Medicine Projection". The writers use the SNOMED CT
# projection codes; the reader also accepts the legacy SRT codes DICOM used for NM views and their
# SNOMED CT equivalents (postero-anterior = detector in front = anterior view, and vice versa).
VIEW_CODE_WRITTEN = {
    "ANT": ("399321004", "SCT", "Anterior projection"),
    "POST": ("399001007", "SCT", "Posterior projection"),
}
VIEW_BY_CODE = {
    ("SCT", "399321004"): "ANT",
    ("SCT", "399001007"): "POST",
    ("SRT", "R-10214"): "ANT",
    ("SNM3", "R-10214"): "ANT",
    ("SCT", "272479007"): "ANT",
    ("SRT", "R-10206"): "POST",
    ("SNM3", "R-10206"): "POST",
    ("SCT", "399348003"): "POST",
    ("SCT", "255549009"): "ANT",
    ("SCT", "255551008"): "POST",
}

# Private block holding Counts Accumulated per frame (the standard (0018,0070) has VM 1: the total).
PRIVATE_GROUP = 0x0071
PRIVATE_CREATOR = "WBS-ACCEL 1"
PRIVATE_COUNTS_PER_FRAME = 0x10

# The phrase in Derivation Description (0008,2111) by which the reader recognises 1x-equivalent counts.
ONE_X_EQUIVALENT_PHRASE = "counts are 1x-equivalent"


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """One Code Sequence item (Code Value, Coding Scheme Designator, Code Meaning)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def derived_uid(*parts: object) -> str:
    """A deterministic '2.25.<name-based UUID>' UID (PS3.5 B.2) from the given parts: same parts, same UID."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, chr(31).join(str(p) for p in parts)).int}"


def digest(data: bytes) -> str:
    """Hex sha256 of bytes (pixel data), used as UID entropy so new content gets a new SOP UID."""
    return hashlib.sha256(data).hexdigest()
