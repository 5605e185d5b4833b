"""Cohort audit (notebook 01): checksums, every acquisition read, counts and integrity flags, thumbnails.

Meant for a hospital cohort before anything is trained: a file that is missing, changed since the
manifest was built, or unreadable is quarantined (study, file id, error class, sentence) and the audit
goes on. The outputs leave the data folder, so they name files by keyed file ids
(`wbslib.io.manifest.privacy`), never by path, and sentences have their paths replaced by those ids.
Counts are photon counts per view (pixel sums); `counts_1x_equivalent` = total × the speed factor
the counts correspond to (s for a raw s× scan, 1 for an enhanced image), so all speeds compare.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ChecksumMismatchError, ParamsError, UnreadableInputError, WbsError
from wbslib.core.fileio import remove_stale_tmp, unwritable_output, write_csv
from wbslib.core.params import section
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, VIEWS, speed_label
from wbslib.core.text import counted
from wbslib.io.manifest.privacy import FileNames
from wbslib.io.manifest.pseudonym import load_key
from wbslib.io.manifest.schema import KINDS, VIEW_SETS, read_manifest
from wbslib.io.manifest.verify import verify_manifest

AUDIT_COLUMNS = (
    "study_id",
    "split",
    "label",
    "kind",
    "speed_factor",
    "views",
    "files",
    "counts_ant",
    "counts_post",
    "counts_accumulated",
    "counts_1x_equivalent",
    "max_count",
    "lossy",
    "counts_mismatch",
    "flags",
)
QUARANTINE_COLUMNS = ("study_id", "file", "error", "sentence")
THUMB_BLOCK = 4  # thumbnails sum 4 × 4 pixel blocks: (1024, 256) → (256, 64)


@dataclass
class AuditResult:
    """audit: one row per acquisition read; quarantine: files set aside; checksums: per file;
    thumbnails: study_id → [(acquisition label, counts (2, h, w) block-summed, NaN for a missing view)]."""

    audit: pd.DataFrame
    quarantine: pd.DataFrame
    checksums: pd.DataFrame
    thumbnails: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)


def acquisitions(manifest: pd.DataFrame) -> list[pd.DataFrame]:
    """Manifest rows grouped into acquisitions: one study × kind × speed (two rows for two one-view
    files); each enhanced file on its own."""
    groups = []
    keyed = manifest.assign(_kind=manifest["kind"].map(KINDS.index))
    for _, rows in keyed.groupby(["study_id", "_kind", "speed_factor"], sort=True):
        rows = rows.drop(columns="_kind")
        if rows["kind"].iat[0] == "enhanced":
            groups += [rows.loc[[i]] for i in rows.index]
        else:
            groups.append(rows)
    return groups


def _block_sum(counts: np.ndarray) -> np.ndarray:
    v, h, w = counts.shape
    h2, w2 = h // THUMB_BLOCK, w // THUMB_BLOCK
    trimmed = counts[:, : h2 * THUMB_BLOCK, : w2 * THUMB_BLOCK]
    return trimmed.reshape(v, h2, THUMB_BLOCK, w2, THUMB_BLOCK).sum(axis=(2, 4))


def read_acquisition(rows: pd.DataFrame, data_root: Path, standard_velocity_mm_s: float = STANDARD_VELOCITY_MM_S):
    """Read one acquisition's file(s) as the manifest describes them; returns (scan, extra flags).

    Extra flags: 'speed-mismatch' (header speed ≠ manifest speed, both relative to
    `standard_velocity_mm_s`), 'speed-from-manifest' (no Scan Velocity), 'views-mismatch'.
    """
    from wbslib.io.dicom import read_wholebody

    views = [v for value in rows["views"] for v in VIEW_SETS[value]]
    paths = [data_root / p for p in rows["path"]]
    single = len(views) == 1
    scan = read_wholebody(
        paths if len(paths) > 1 else paths[0],
        allow_single_view=single,
        assume_view=views[0] if single else None,
        standard_velocity_mm_s=standard_velocity_mm_s,
    )
    extra = []
    speed = float(rows["speed_factor"].iat[0])
    if scan.speed_factor is None:
        extra.append("speed-from-manifest")
    elif round(scan.speed_factor, 2) != speed:
        extra.append("speed-mismatch")
    if tuple(sorted(scan.views_present)) != tuple(sorted(views)):
        extra.append("views-mismatch")
    return scan, extra


def _audit_row(rows: pd.DataFrame, files: list[str], scan, extra: list[str]) -> dict:
    first = rows.iloc[0]
    sums = [float(np.nansum(scan.counts[i])) if v in scan.views_present else np.nan for i, v in enumerate(VIEWS)]
    total = float(np.nansum(sums))
    equivalent = 1.0 if first["kind"] == "enhanced" else float(first["speed_factor"])
    flags = list(dict.fromkeys([*scan.flags, *extra]))
    stated = rows["counts_accumulated"]
    return {
        "study_id": first["study_id"],
        "split": first["split"],
        "label": first["label"],
        "kind": first["kind"],
        "speed_factor": first["speed_factor"],
        "views": "+".join(scan.views_present),
        "files": ";".join(files),
        "counts_ant": sums[0],
        "counts_post": sums[1],
        "counts_accumulated": stated.sum() if stated.notna().all() else pd.NA,
        "counts_1x_equivalent": total * equivalent,
        "max_count": float(np.nanmax(scan.counts)),
        "lossy": "lossy" in flags,
        "counts_mismatch": "counts-mismatch" in flags,
        "flags": ";".join(flags),
    }


def audit_cohort(
    manifest_path: str | os.PathLike,
    data_root: str | os.PathLike,
    *,
    max_thumbnails: int = 4,
    standard_velocity_mm_s: float = STANDARD_VELOCITY_MM_S,
    key_file: str | os.PathLike | None = None,
) -> AuditResult:
    """Verify checksums and read every acquisition of a manifest; thumbnails of the first studies.

    standard_velocity_mm_s: the 1x table speed the manifest's speed factors refer to (mm/s).
    key_file: the pseudonym key that names files (default as in `wbslib.io.manifest.pseudonym`).
    """
    manifest, data_root = read_manifest(manifest_path), Path(data_root)
    checksums = verify_manifest(manifest_path, data_root, key_file=key_file)
    names = FileNames(data_root, load_key(key_file))
    status = {names.id(p): s for p, s in zip(manifest["path"], checksums["status"])}
    thumb_studies = set(sorted(manifest["study_id"].unique())[: max(int(max_thumbnails), 0)])
    rows_out, quarantine, thumbs = [], [], {}
    for rows in acquisitions(manifest):
        study, files = rows["study_id"].iat[0], [names.id(p) for p in rows["path"]]
        bad = [f for f in files if status[f] != "ok"]
        if bad:
            quarantine += [_checksum_problem(study, f, status[f]) for f in bad]
            continue
        try:
            scan, extra = read_acquisition(rows, data_root, standard_velocity_mm_s)
        except WbsError as exc:
            quarantine += [
                {"study_id": study, "file": f, "error": type(exc).__name__, "sentence": names.redact(str(exc))}
                for f in files
            ]
            continue
        row = _audit_row(rows, files, scan, extra)
        rows_out.append(row)
        if row["study_id"] in thumb_studies and row["kind"] != "enhanced":
            label = speed_label(row["speed_factor"]) + (" simu" if row["kind"] == "fast-simu" else "")
            thumbs.setdefault(row["study_id"], []).append((label, _block_sum(scan.counts)))
    return AuditResult(
        pd.DataFrame(rows_out, columns=list(AUDIT_COLUMNS)),
        pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS)),
        checksums,
        thumbs,
    )


def _checksum_problem(study: str, file: str, status: str) -> dict:
    """The quarantine row of a file that is missing, changed or unreadable since the manifest was built."""
    if status == "unreadable":
        error = UnreadableInputError(
            f"{file} exists but cannot be read; check its permissions or copy it again from the original "
            "export (the audit went on)."
        )
    else:
        error = ChecksumMismatchError(
            f"{file} is {status} since the manifest was built; restore the file from the original export or "
            "rebuild the manifest with `wbs manifest build`."
        )
    return {"study_id": study, "file": file, "error": type(error).__name__, "sentence": str(error)}


def counts_summary(audit: pd.DataFrame) -> pd.DataFrame:
    """Per kind and speed (the index): acquisitions, median counts per view, median 1x-equivalent total."""
    if audit.empty:
        return pd.DataFrame(
            columns=[
                "kind",
                "speed",
                "acquisitions",
                "median counts ANT",
                "median counts POST",
                "median 1x-equivalent total",
            ]
        ).set_index(["kind", "speed"])
    g = audit.groupby(["kind", "speed_factor"], sort=True)
    out = pd.DataFrame(
        {
            "acquisitions": g.size(),
            "median counts ANT": g["counts_ant"].median(),
            "median counts POST": g["counts_post"].median(),
            "median 1x-equivalent total": g["counts_1x_equivalent"].median(),
        }
    ).reset_index()
    out.insert(1, "speed", out.pop("speed_factor").map(speed_label))
    return out.set_index(["kind", "speed"]).round(0)


def flagged(audit: pd.DataFrame) -> pd.DataFrame:
    """Acquisitions carrying any integrity flag (lossy, counts-mismatch, negative-values, ...)."""
    rows = audit.loc[audit["flags"].str.len() > 0, ["study_id", "kind", "speed_factor", "views", "flags"]]
    return rows.set_index("study_id")


def audit_headline(result: AuditResult) -> str:
    """One sentence (notebook 01's headline): files and studies audited, files quarantined, and files
    of acquisitions flagged lossy, with a count mismatch or with any other integrity flag."""
    audit = result.audit

    def files(rows: pd.Series) -> int:
        return sum(len(str(f).split(";")) for f in audit.loc[rows.astype(bool), "files"])

    other = audit["flags"].fillna("").map(lambda f: bool(set(f.split(";")) - {"", "lossy", "counts-mismatch"}))
    studies = counted(result.checksums["study_id"].nunique(), "study", "studies")
    mismatches = counted(files(audit["counts_mismatch"]), "count mismatch", "count mismatches")
    sentence = (
        f"{counted(len(result.checksums), 'file')} of {studies} audited: {result.quarantine['file'].nunique()} "
        f"quarantined, {files(audit['lossy'])} lossy, {mismatches}"
    )
    return sentence + (f", {files(other)} with other flags." if other.any() else ".")


def thumbnail_figure(thumbnails: dict[str, list[tuple[str, np.ndarray]]]):
    """A grid: one row per study, columns = each acquisition's ANT and POST (own grey scale each)."""
    from matplotlib.figure import Figure

    studies = sorted(thumbnails)
    ncols = max((2 * len(v) for v in thumbnails.values()), default=1)
    fig = Figure(figsize=(1.1 * ncols, 3.0 * max(len(studies), 1)))
    axes = fig.subplots(max(len(studies), 1), ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, study in enumerate(studies):
        for c, (label, counts) in enumerate((lab, cts[i]) for lab, cts in thumbnails[study] for i in range(2)):
            ax = axes[r, c]
            if np.isnan(counts).all():
                continue
            vmax = max(float(np.nanpercentile(counts, 99.5)), 1.0)
            ax.imshow(counts, cmap="gray_r", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{label} {VIEWS[c % 2]}", fontsize=7)
        axes[r, 0].text(
            -0.15, 0.5, study, transform=axes[r, 0].transAxes, rotation=90, fontsize=7, va="center", ha="right"
        )
    fig.tight_layout()
    return fig


def save_audit(result: AuditResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write audit.csv, quarantine.csv and checksums.csv (atomically) into runs/<run>/01/; a folder that
    cannot be written → `OutputWriteError` naming what was written."""
    out = Path(out_dir)
    written: dict[str, Path] = {}
    try:
        if out.is_dir():
            remove_stale_tmp(out)
        tables = {"audit": result.audit, "quarantine": result.quarantine, "checksums": result.checksums}
        for name, table in tables.items():
            written[name] = write_csv(table, out / f"{name}.csv")
    except OSError as exc:
        done = f"the audit read {len(result.audit)} acquisitions and wrote {', '.join(written) or 'none'} of its tables"
        raise unwritable_output(out, exc, done) from None
    return written


AUDIT_DEFAULTS = {"standard_velocity_cm_min": 20, "max_thumbnails": 4}


def audit_config(audit: dict | None) -> dict:
    """params['audit'] with `AUDIT_DEFAULTS` filled in; ParamsError for an unknown key (closest suggested),
    a 1x table speed (`standard_velocity_cm_min`, cm/min) that is not > 0, or a negative `max_thumbnails`."""
    cfg = section({"audit": audit}, "audit", AUDIT_DEFAULTS)
    speed = cfg["standard_velocity_cm_min"]
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not (math.isfinite(speed) and speed > 0):
        raise ParamsError(
            f"audit.standard_velocity_cm_min = {speed!r} is not a table speed > 0 in cm/min; use 20 (the 1x speed)."
        )
    n = cfg["max_thumbnails"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ParamsError(f"audit.max_thumbnails = {n!r} is not a whole number ≥ 0.")
    return cfg
