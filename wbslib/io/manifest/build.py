"""Cohort manifest: build one from a folder of whole-body DICOM files.

`build_manifest` walks the folder (`walk.walk_folder`: symlink loops, dangling links and unreadable
folders are quarantined) and reads every file with `wbslib.io.dicom.read_wholebody`; a file that cannot
be used goes to the quarantine list and the build goes on. Files are grouped into studies by patient,
each patient gets a keyed-hash pseudonym (`wbslib.io.manifest.pseudonym`), and the split is drawn per
patient, stratified by label. Schema, validation and CSV I/O live in `wbslib.io.manifest.schema`.

Where source paths may go (`wbslib.io.manifest.privacy`): the quarantine and checksum lists name
files by keyed file ids, never paths. The manifest must locate its files, so it lists paths relative
to the data root: with `copy_to`, pseudonymous copies `<study_id>/<kind>-<speed>.dcm`, and such a
manifest may go anywhere (data_manifest/); without it, the source files' own paths, so the manifest
must stay inside the data folder (`check_destination`), like the phantom's `data_root/manifest.csv`,
and files whose path holds an identifier of the cohort's headers or a date are quarantined.
File-system faults: an unreadable input is quarantined (`UnreadableInputError`); an output that
cannot be written (read-only, full disk) stops the build with `OutputWriteError`.
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
from wbslib.core.fileio import (
    atomic_path,
    remove_stale_tmp,
    sha256_file,
    unreadable_input,
    unwritable_output,
)
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, speed_label
from wbslib.io.dicom import check_read_options
from wbslib.io.manifest.labels import assign_splits, check_fractions, read_labels
from wbslib.io.manifest.privacy import FileNames, IdentifierSearch
from wbslib.io.manifest.pseudonym import load_key, pseudonym
from wbslib.io.manifest.scan import Acquired, scan_file
from wbslib.io.manifest.schema import KINDS, MANIFEST_COLUMNS, validate_manifest
from wbslib.io.manifest.walk import walk_folder

__all__ = ["build_manifest", "check_destination"]

QUARANTINE_COLUMNS = ("file", "error", "sentence")
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
    destination: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, quarantine) for every file under `dicom_dir`.

    labels_csv: CSV with columns patient_id, label (1 metastatic, 0 not, empty unknown).
    fractions: (train, val, test) shares of patients, per label stratum; split_seed seeds the draw.
    data_root: the folder manifest paths are relative to (default `dicom_dir`). copy_to: copy each
        accepted file to copy_to/<study_id>/<kind>-<speed>[-<view>].dcm and make paths relative to it
        (needed for a manifest kept outside the data folder). Without copy_to, files whose path holds an
        identifier (any header identifier of the cohort, normalised, or any date) are quarantined.
    standard_velocity_mm_s, allow_single_view, assume_view, speed_factor: passed to read_wholebody.
    destination: where the manifest will be written, refused before any file is read when it would leave
        the data folder with source paths (`check_destination`).
    quarantine: file (keyed id of its path relative to `dicom_dir`), error class, sentence (paths
        replaced by ids); `quarantine.attrs["paths"]` maps those ids to the relative paths, for the local
        terminal only (never written to a file).
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
    speed_factor = check_read_options(standard_velocity_mm_s, assume_view, speed_factor)
    key = load_key(key_file)
    labels = read_labels(labels_csv) if labels_csv else {}
    if destination is not None:
        check_destination(destination, dicom_dir, data_root, copy_to)
    names = FileNames(dicom_dir, key)
    files, problems = walk_folder(dicom_dir)
    for rel in [*files, *(rel for rel, _ in problems)]:
        names.id(rel)
    options = dict(standard_velocity_mm_s=standard_velocity_mm_s, assume_view=assume_view, speed_factor=speed_factor)
    quarantine: list[tuple[str, WbsError]] = list(problems)
    accepted: list[Acquired] = []
    for rel in files:
        try:
            accepted.append(scan_file(dicom_dir / rel, dicom_dir, **options))
        except WbsError as exc:
            quarantine.append((rel, exc))
        except OSError as exc:
            quarantine.append((rel, unreadable_input(rel, exc)))
    if copy_to is None:
        accepted = _without_identifiers(accepted, dicom_dir.resolve().relative_to(root), quarantine)
    accepted = _pair_single_views(accepted, allow_single_view, quarantine, options)
    accepted = _drop_duplicates(accepted, quarantine)
    ids = {item.patient_id: pseudonym(item.patient_id, key) for item in accepted}
    study_labels = pd.Series({ids[p]: labels.get(p) for p in ids}, dtype="Int64")
    splits = assign_splits(study_labels, fractions, split_seed)
    located = _locate(accepted, ids, dicom_dir.resolve(), root, copy_to, quarantine)
    rows = [_row(item, path, ids[item.patient_id], splits, study_labels, source) for item, path in located]
    manifest = validate_manifest(pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)), dicom_dir)
    order = manifest["kind"].map(KINDS.index)
    manifest = manifest.assign(_k=order).sort_values(["study_id", "_k", "speed_factor", "path"]).drop(columns="_k")
    listed = [
        {"file": names.id(rel), "error": type(exc).__name__, "sentence": names.redact(str(exc))}
        for rel, exc in sorted(quarantine, key=lambda q: q[0])
    ]
    table = pd.DataFrame(listed, columns=list(QUARANTINE_COLUMNS))
    table.attrs["paths"] = {row["file"]: names.paths[row["file"]] for row in listed}
    return manifest.reset_index(drop=True), table


def check_destination(
    out: str | os.PathLike,
    dicom_dir: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    copy_to: str | os.PathLike | None = None,
) -> None:
    """`ManifestError` unless a manifest written to `out` keeps source paths inside the data folder: without
    `copy_to` it lists the source files' own paths, so it must lie inside the data root."""
    if copy_to is not None:
        return
    root = Path(data_root or dicom_dir).resolve()
    if not Path(out).resolve().is_relative_to(root):
        raise ManifestError(
            f"Manifest {out} would lie outside the data folder {root} and list the source files' own paths, "
            "which can carry names or dates; pass --copy-to DIR to store the files under pseudonymous names "
            f"(that manifest may go anywhere, e.g. data_manifest/), or write it inside {root}."
        )


def _without_identifiers(items: list[Acquired], above: Path, quarantine: list[tuple[str, WbsError]]) -> list[Acquired]:
    """Items whose path as the manifest lists it (`above`/relpath) holds no identifier of any file of the
    cohort and no date; the others quarantined."""
    search = IdentifierSearch(t for item in items for t in item.identifiers)
    kept = []
    for item in items:
        found = search.describe((above / item.relpath).as_posix())
        if found:
            quarantine.append(
                (
                    item.relpath,
                    ManifestError(
                        f"{item.relpath} holds {found} in its file or folder name; rerun with --copy-to DIR to "
                        "store the files under pseudonymous names."
                    ),
                )
            )
        else:
            kept.append(item)
    return kept


def _pair_single_views(
    items: list[Acquired], allow_single_view: bool, quarantine: list[tuple[str, WbsError]], options: dict
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
                quarantine += [(g.relpath, exc) for g in group]
                continue
        for g in group:
            quarantine.append(
                (
                    g.relpath,
                    SingleViewError(
                        f"{g.relpath} holds only the {g.views[0]} view and no single file with the other view of the "
                        "same acquisition was found; add it, or pass --allow-single-view to use one view."
                    ),
                )
            )
    return sorted(kept, key=lambda i: i.relpath)


def _drop_duplicates(items: list[Acquired], quarantine: list[tuple[str, WbsError]]) -> list[Acquired]:
    """The first file (path order) of each patient × kind × speed × view; later repeats quarantined."""
    seen: dict[tuple, str] = {}
    kept = []
    for item in items:
        keys = [(item.patient_id, item.kind, item.speed_factor, v) for v in item.views]
        first = next((seen[k] for k in keys if k in seen), None)
        if first is not None and item.kind != "enhanced":
            quarantine.append(
                (
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


def _locate(
    items: list[Acquired],
    ids: dict[str, str],
    base: Path,
    root: Path,
    copy_to: str | os.PathLike | None,
    quarantine: list[tuple[str, WbsError]],
) -> list[tuple[Acquired, str]]:
    """(item, manifest path) per item: its path (`base`/relpath) relative to the root, or that of its
    pseudonymous copy. A source that cannot be read while copying is quarantined; a copy that cannot be
    written stops the build (`OutputWriteError`, saying how many files were copied)."""
    if copy_to is None:
        return [(item, (base / item.relpath).relative_to(root).as_posix()) for item in items]
    located = []
    try:
        if root.is_dir():
            remove_stale_tmp(root)
        for item in items:
            view = "" if len(item.views) == 2 else f"-{item.views[0]}"
            suffix = f"-{item.sha256[:8]}" if item.kind == "enhanced" else ""
            dest = root / ids[item.patient_id] / f"{item.kind}-{speed_label(item.speed_factor)}{view}{suffix}.dcm"
            try:
                source = open(item.path, "rb")
            except OSError as exc:
                quarantine.append((item.relpath, unreadable_input(item.relpath, exc)))
                continue
            with source:
                _copy(source, item.sha256, dest)
            located.append((item, dest.relative_to(root).as_posix()))
    except OSError as exc:
        raise unwritable_output(
            root, exc, f"{len(located)} of {len(items)} files were copied (a rerun keeps them) and no manifest was made"
        ) from None
    return located


def _row(item: Acquired, path: str, study_id: str, splits: pd.Series, labels: pd.Series, source: str) -> dict:
    """The manifest row of one accepted file listed at `path` (relative to the data root)."""
    return {
        "study_id": study_id,
        "views": "+".join(item.views),
        "speed_factor": item.speed_factor,
        "kind": item.kind,
        "path": path,
        "sha256": item.sha256,
        "counts_accumulated": item.counts_accumulated,
        "split": splits[study_id],
        "label": labels[study_id],
        "source": source,
    }


def _copy(source, sha256: str, dest: Path) -> None:
    """Copy an open source file to `dest` atomically; an existing identical copy is kept, a different one refused."""
    if dest.exists():
        if sha256_file(dest) == sha256:
            return
        raise OutputConflictError(f"{dest} already holds a different file; choose an empty --copy-to folder.")
    with atomic_path(dest) as tmp, open(tmp, "wb") as target:
        shutil.copyfileobj(source, target)
