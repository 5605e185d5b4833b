"""Cohort audit (notebook 01): checksums, every acquisition read, counts and integrity flags, thumbnails.

Meant for a hospital cohort before anything is trained: a file that is missing, changed since the
manifest was built, or unreadable is quarantined (path, error class, sentence) and the audit goes on.
Counts are photon counts per view (pixel sums); `counts_1x_equivalent` = total × the speed factor
the counts correspond to (s for a raw s× scan, 1 for an enhanced image), so all speeds compare.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ChecksumMismatchError, WbsError
from wbslib.core.fileio import write_csv
from wbslib.core.scan import STANDARD_VELOCITY_MM_S, VIEWS, speed_label
from wbslib.io.manifest.build import verify_manifest
from wbslib.io.manifest.schema import KINDS, VIEW_SETS, read_manifest

AUDIT_COLUMNS = (
    "study_id",
    "split",
    "label",
    "kind",
    "speed_factor",
    "views",
    "paths",
    "counts_ant",
    "counts_post",
    "counts_accumulated",
    "counts_1x_equivalent",
    "max_count",
    "lossy",
    "counts_mismatch",
    "flags",
)
QUARANTINE_COLUMNS = ("path", "error", "sentence")
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


def _audit_row(rows: pd.DataFrame, scan, extra: list[str]) -> dict:
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
        "paths": ";".join(rows["path"]),
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
) -> AuditResult:
    """Verify checksums and read every acquisition of a manifest; thumbnails of the first studies.

    standard_velocity_mm_s: the 1x table speed the manifest's speed factors refer to (mm/s).
    """
    manifest, data_root = read_manifest(manifest_path), Path(data_root)
    checksums = verify_manifest(manifest_path, data_root)
    status = dict(zip(checksums["path"], checksums["status"]))
    thumb_studies = set(sorted(manifest["study_id"].unique())[: max(int(max_thumbnails), 0)])
    rows_out, quarantine, thumbs = [], [], {}
    for rows in acquisitions(manifest):
        bad = [p for p in rows["path"] if status[p] != "ok"]
        if bad:
            quarantine += [
                {
                    "path": p,
                    "error": ChecksumMismatchError.__name__,
                    "sentence": f"{p} is {status[p]} since the manifest was built; restore the file from "
                    "the original export or rebuild the manifest with `wbs manifest build`.",
                }
                for p in bad
            ]
            continue
        try:
            scan, extra = read_acquisition(rows, data_root, standard_velocity_mm_s)
        except WbsError as exc:
            quarantine += [{"path": p, "error": exc.__class__.__name__, "sentence": str(exc)} for p in rows["path"]]
            continue
        row = _audit_row(rows, scan, extra)
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
    """Write audit.csv, quarantine.csv and checksums.csv (atomically) into runs/<run>/01/."""
    out = Path(out_dir)
    return {
        "audit": write_csv(result.audit, out / "audit.csv"),
        "quarantine": write_csv(result.quarantine, out / "quarantine.csv"),
        "checksums": write_csv(result.checksums, out / "checksums.csv"),
    }
