"""Verify a manifest: every listed file's sha256 against the one recorded when it was built."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from wbslib.core.fileio import sha256_file
from wbslib.io.manifest.privacy import FileNames
from wbslib.io.manifest.pseudonym import load_key
from wbslib.io.manifest.schema import read_manifest

CHECKSUM_COLUMNS = ("study_id", "file", "status", "sha256", "actual_sha256")


def verify_manifest(
    path: str | os.PathLike, data_root: str | os.PathLike | None = None, *, key_file: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Check every listed file: study_id, file (keyed id of its path, `privacy.FileNames`), status
    (ok | missing | changed | unreadable: the file exists but reading it failed), sha256, actual_sha256.

    data_root: folder the paths are relative to (default: the manifest's folder).
    `result.attrs["paths"]` maps each file id to its manifest path, for the local terminal only.
    """
    manifest = read_manifest(path)
    root = Path(data_root) if data_root is not None else Path(path).resolve().parent
    names = FileNames(root, load_key(key_file))
    rows = []
    for study, rel, expected in manifest[["study_id", "path", "sha256"]].itertuples(index=False):
        f = root / rel
        try:
            actual = sha256_file(f) if f.is_file() else ""
            status = "missing" if not actual else ("ok" if actual == expected else "changed")
        except OSError:
            actual, status = "", "unreadable"
        rows.append(
            {"study_id": study, "file": names.id(rel), "status": status, "sha256": expected, "actual_sha256": actual}
        )
    result = pd.DataFrame(rows, columns=list(CHECKSUM_COLUMNS))
    result.attrs["paths"] = dict(names.paths)
    return result
