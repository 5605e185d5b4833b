"""Whole-body NM DICOM in and out — the public face of `dicom_read`, `dicom_write`, `dicom_enhanced`.

- `read_wholebody(path | [paths], ...) -> WholeBodyScan`: clinical and project files, 1 or 2 views,
  with integrity flags ('lossy', 'counts-mismatch', 'negative-values', ...).
- `write_acquisition(path, counts, ...)`: a primary 2-frame NM whole-body object (the phantom's).
- `write_enhanced(path, counts, source, ...)`: a DERIVED NM object of 1x-equivalent counts,
  labelled RESEARCH USE – NOT FOR DIAGNOSIS.
Bad input raises a `wbslib.core.errors.WbsError` subclass whose one sentence names the file.
"""

from wbslib.io.dicom.enhanced import write_enhanced
from wbslib.io.dicom.read import check_read_options, read_wholebody
from wbslib.io.dicom.write import write_acquisition

__all__ = ["check_read_options", "read_wholebody", "write_acquisition", "write_enhanced"]
