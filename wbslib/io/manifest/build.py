"""Cohort manifest: build one from a folder of whole-body DICOM files, verify its checksums.

`build_manifest` reads every file with `wbslib.io.dicom.read_wholebody`; a file that cannot be used
goes to the quarantine list (path, error class, sentence) and the build goes on. Files are grouped
into studies by patient, each patient gets a keyed-hash pseudonym (`wbslib.io.manifest.pseudonym`), and the
split is drawn per patient, stratified by label. Schema, validation and CSV I/O live in
`wbslib.io.manifest.schema` and are re-exported here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from wbslib.core.errors import (
    ManifestError,
    OutputConflictError,
    SingleViewError,
    WbsError,
)
from wbslib.core.fileio import atomic_path, sha256_file
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, speed_label
from wbslib.io.manifest.labels import assign_splits, check_fractions, read_labels
from wbslib.io.manifest.pseudonym import load_key, pseudonym
from wbslib.io.manifest.scan import Acquired, identifying_text, scan_file
from wbslib.io.manifest.schema import (
    KINDS,
    MANIFEST_COLUMNS,
    read_manifest,
    validate_manifest,
)

__all__ = ["build_manifest", "verify_manifest"]

QUARANTINE_COLUMNS = ("path", "error", "sentence")
DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)


def build_manifest(
    dicom_dir: str | os.PathLike,
    *,
    labels_csv: str | os.PathLike | None = None,
    split_seed: int = 0,
    key_file: str | os.PathLike | None = None,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    data_root: str | os.PathLike | None = None,
    copy_to: str | os.PathLike | None = None,
    source: str = "clinical",
    standard_velocity_mm_s: float = STANDARD_VELOCITY_MM_S,
    allow_single_view: bool = False,
    assume_view: str | None = None,
    speed_factor: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, quarantine) for every file under `dicom_dir`.

    labels_csv: CSV with columns patient_id, label (1 metastatic, 0 not, empty unknown).
    fractions: (train, val, test) shares of patients, per label stratum; split_seed seeds the draw.
    data_root: the folder manifest paths are relative to (default `dicom_dir`). copy_to: copy each
        accepted file to copy_to/<study_id>/<kind>-<speed>[-<view>].dcm and make paths relative to it
        (use when file or folder names hold names, IDs or UIDs). Without copy_to such files are
        quarantined, since their path would put identifying text into the manifest.
    standard_velocity_mm_s, allow_single_view, assume_view, speed_factor: passed to read_wholebody.
    """
    dicom_dir = Path(dicom_dir)
    if not dicom_dir.is_dir():
        raise ManifestError(f"DICOM folder {dicom_dir} does not exist; pass the folder holding the cohort's files.")
    root = Path(copy_to or data_root or dicom_dir).resolve()
    if copy_to is None and not dicom_dir.resolve().is_relative_to(root):
        raise ManifestError(
            f"DICOM folder {dicom_dir} is not inside the data root {root}; pass a data root that contains it."
        )
    check_fractions(fractions)
    key = load_key(key_file)
    labels = read_labels(labels_csv) if labels_csv else {}
    files = sorted(
        p for p in dicom_dir.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )
    options = dict(standard_velocity_mm_s=standard_velocity_mm_s, assume_view=assume_view, speed_factor=speed_factor)
    quarantine: list[dict] = []
    accepted: list[Acquired] = []
    for f in files:
        try:
            item = scan_file(f, dicom_dir, **options)
            if copy_to is None and (found := identifying_text(item, f.resolve().relative_to(root).as_posix())):
                raise ManifestError(
                    f"{item.relpath} holds identifying text ({found}) in its file or folder name; "
                    "rerun with --copy-to DIR to store the files under pseudonymous names."
                )
            accepted.append(item)
        except WbsError as exc:
            quarantine.append(_quarantined(f.relative_to(dicom_dir).as_posix(), exc))
    accepted = _pair_single_views(accepted, allow_single_view, quarantine, options)
    accepted = _drop_duplicates(accepted, quarantine)
    ids = {item.patient_id: pseudonym(item.patient_id, key) for item in accepted}
    study_labels = pd.Series({ids[p]: labels.get(p) for p in ids}, dtype="Int64")
    splits = assign_splits(study_labels, fractions, split_seed)
    rows = [_row(item, ids[item.patient_id], splits, study_labels, source, root, copy_to) for item in accepted]
    manifest = validate_manifest(pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)), dicom_dir)
    order = manifest["kind"].map(KINDS.index)
    manifest = manifest.assign(_k=order).sort_values(["study_id", "_k", "speed_factor", "path"]).drop(columns="_k")
    return manifest.reset_index(drop=True), pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS))


def _quarantined(relpath: str, exc: WbsError) -> dict:
    return {"path": relpath, "error": exc.__class__.__name__, "sentence": str(exc)}


def _pair_single_views(
    items: list[Acquired], allow_single_view: bool, quarantine: list[dict], options: dict
) -> list[Acquired]:
    """Keep one-view files only as an ANT/POST pair of one acquisition, unless single views are allowed."""
    if allow_single_view:
        return items
    from wbslib.io.dicom import read_wholebody

    kept = [i for i in items if len(i.views) == 2]
    singles: dict[tuple, list[Acquired]] = {}
    for item in (i for i in items if len(i.views) == 1):
        singles.setdefault(item.acquisition_key, []).append(item)
    for group in singles.values():
        if sorted(v for i in group for v in i.views) == ["ANT", "POST"]:
            try:
                read_wholebody([g.path for g in group], **options)
                kept += group
                continue
            except WbsError as exc:
                quarantine += [_quarantined(g.relpath, exc) for g in group]
                continue
        for g in group:
            quarantine.append(
                _quarantined(
                    g.relpath,
                    SingleViewError(
                        f"{g.relpath} holds only the {g.views[0]} view and no single file with the other view of the "
                        "same acquisition was found; add it, or pass --allow-single-view to use one view."
                    ),
                )
            )
    return sorted(kept, key=lambda i: i.relpath)


def _drop_duplicates(items: list[Acquired], quarantine: list[dict]) -> list[Acquired]:
    """The first file (path order) of each patient × kind × speed × view; later repeats quarantined."""
    seen: dict[tuple, str] = {}
    kept = []
    for item in items:
        keys = [(item.patient_id, item.kind, item.speed_factor, v) for v in item.views]
        first = next((seen[k] for k in keys if k in seen), None)
        if first is not None and item.kind != "enhanced":
            quarantine.append(
                _quarantined(
                    item.relpath,
                    ManifestError(
                        f"{item.relpath} repeats the {item.kind} {speed_label(item.speed_factor)} acquisition already "
                        f"listed from {first}; keep one of them in the folder (or build separate manifests)."
                    ),
                )
            )
            continue
        seen.update({k: item.relpath for k in keys})
        kept.append(item)
    return kept


def _row(
    item: Acquired,
    study_id: str,
    splits: pd.Series,
    labels: pd.Series,
    source: str,
    root: Path,
    copy_to: str | os.PathLike | None,
) -> dict:
    """The manifest row of one accepted file (copied under a pseudonymous name when asked)."""
    path = item.path.resolve()
    if copy_to is not None:
        view = "" if len(item.views) == 2 else f"-{item.views[0]}"
        suffix = f"-{item.sha256[:8]}" if item.kind == "enhanced" else ""
        path = _copy(item, root / study_id / f"{item.kind}-{speed_label(item.speed_factor)}{view}{suffix}.dcm")
    return {
        "study_id": study_id,
        "views": "+".join(item.views),
        "speed_factor": item.speed_factor,
        "kind": item.kind,
        "path": path.relative_to(root).as_posix(),
        "sha256": item.sha256,
        "counts_accumulated": item.counts_accumulated,
        "split": splits[study_id],
        "label": labels[study_id],
        "source": source,
    }


def _copy(item: Acquired, dest: Path) -> Path:
    """Copy a source file to `dest` atomically; an existing identical copy is kept, a different one refused."""
    if dest.exists():
        if sha256_file(dest) == item.sha256:
            return dest
        raise OutputConflictError(f"{dest} already holds a different file; choose an empty --copy-to folder.")
    with atomic_path(dest) as tmp:
        shutil.copyfile(item.path, tmp)
    return dest


def verify_manifest(path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Check every listed file: study_id, path, status (ok|missing|changed), sha256, actual_sha256.

    data_root: folder the paths are relative to (default: the manifest's folder).
    """
    manifest = read_manifest(path)
    root = Path(data_root) if data_root is not None else Path(path).resolve().parent
    rows = []
    for study, rel, expected in manifest[["study_id", "path", "sha256"]].itertuples(index=False):
        f = root / rel
        actual = sha256_file(f) if f.is_file() else ""
        status = "missing" if not actual else ("ok" if actual == expected else "changed")
        rows.append({"study_id": study, "path": rel, "status": status, "sha256": expected, "actual_sha256": actual})
    return pd.DataFrame(rows, columns=["study_id", "path", "status", "sha256", "actual_sha256"])
