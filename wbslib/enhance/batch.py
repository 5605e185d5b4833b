"""Batch enhancement into runs/<run>/enhanced/: one derived NM DICOM per (study, group), a manifest of
the outputs, a quarantine list — shared by the RRDB models (`wbslib.enhance.infer`) and the baselines.

- Outputs: `<out_root>/<group>/<study_id>.dcm`, written by `wbslib.io.dicom.write_enhanced`.
- `<out_root>/manifest.csv` (`ENHANCED_COLUMNS`): one row per output, with the input's path
  (relative to data_root) and sha256 and the `provenance` of the method (checkpoint sha256 or the
  baseline's parameters). A re-run skips a (study, group) whose row matches the input, the
  provenance and the output file's sha256, unless `force`; rows of other groups are kept.
- Inputs are only read: each is checked against its manifest sha256 first, and an output path that
  would be an input is refused. A study whose input raises a `WbsError` is quarantined (study,
  group, path, error class, sentence) in `<out_root>/quarantine.csv` and the batch goes on.
- An output this batch listed before that is out of date (other input or provenance) is replaced
  via a temporary file (removed if its input is now quarantined); a file at the output path that
  the manifest does not list is never overwritten (`OutputConflictError`, quarantined).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from wbslib.core.errors import ChecksumMismatchError, OutputConflictError, WbsError
from wbslib.core.fileio import sha256_file, write_csv
from wbslib.core.scan import VIEWS, WholeBodyScan
from wbslib.io.dicom import read_wholebody, write_enhanced
from wbslib.io.imagesets import portable_path

ENHANCED_COLUMNS = (
    "study_id",
    "group",
    "method",
    "speed_factor",
    "split",
    "label",
    "source_path",
    "source_sha256",
    "provenance",
    "path",
    "sha256",
    "status",
    "seconds",
)
QUARANTINE_COLUMNS = ("study_id", "group", "path", "error", "sentence")
SPEED_ATOL = 0.005  # manifest speed factors are stored to 0.01

# enhance(scan) -> (1x-equivalent counts (2, rows, cols), method text, series description stem)
Enhancer = Callable[[WholeBodyScan], tuple[np.ndarray, str, str]]


@dataclass
class Job:
    """One (study, group) to enhance: where its input is and what enhances it."""

    study_id: str
    group: str
    method: str  # 'rrdb-real' | 'rrdb-simu' | 'gaussian' | 'bm3d'
    speed_factor: float
    split: str
    label: object
    source_path: str  # relative to data_root; two single-view files joined by ';' (ANT first)
    source_sha256: str  # the manifest's sha256 of each source file, joined by ';'
    provenance: str  # checkpoint sha256, or the baseline's parameters
    enhance: Enhancer


def input_jobs(
    manifest_df: pd.DataFrame,
    *,
    group: str,
    method: str,
    speed_factor: float,
    provenance: str,
    enhance: Enhancer,
    kind: str = "fast-real",
) -> list[Job]:
    """A job per study holding an acquisition of `kind` at `speed_factor` in the manifest (sorted by study)."""
    rows = manifest_df[
        (manifest_df["kind"] == kind) & ((manifest_df["speed_factor"].astype(float) - speed_factor).abs() <= SPEED_ATOL)
    ]
    jobs = []
    for study_id, files in rows.groupby("study_id", sort=True):
        files = files.assign(_order=[VIEWS.index(v) if v in VIEWS else -1 for v in files["views"]]).sort_values(
            "_order"
        )
        first = files.iloc[0]
        jobs.append(
            Job(
                str(study_id),
                group,
                method,
                float(speed_factor),
                str(first["split"]),
                first["label"],
                ";".join(files["path"].astype(str)),
                ";".join(files["sha256"].astype(str)),
                provenance,
                enhance,
            )
        )
    return jobs


def read_enhanced_manifest(out_root: str | os.PathLike) -> pd.DataFrame:
    """`<out_root>/manifest.csv` as a DataFrame (empty with the columns when there is none yet)."""
    path = Path(out_root) / "manifest.csv"
    if not path.is_file():
        return pd.DataFrame(columns=list(ENHANCED_COLUMNS))
    return pd.read_csv(
        path,
        dtype={"study_id": str, "group": str, "source_sha256": str, "sha256": str, "provenance": str, "label": "Int64"},
        keep_default_na=False,
        na_values={"label": [""]},
    )


def _done(old: dict | None, job: Job, out: Path) -> bool:
    """True if the previous run made this output from the same input and method, intact."""
    return (
        old is not None
        and old["source_sha256"] == job.source_sha256
        and old["provenance"] == job.provenance
        and out.is_file()
        and sha256_file(out) == old["sha256"]
    )


def _read_input(job: Job, data_root: Path, out: Path) -> WholeBodyScan:
    """The job's input scan, after checking every source file against its manifest sha256."""
    sources = [data_root / p for p in job.source_path.split(";")]
    for src, sha in zip(sources, job.source_sha256.split(";")):
        if not src.is_file() or sha256_file(src) != sha:
            raise ChecksumMismatchError(
                f"Input {src} of study {job.study_id} is missing or changed since the "
                "manifest was built; restore it or rebuild the manifest."
            )
        if src.resolve() == out.resolve():
            raise OutputConflictError(f"Output {out} would replace its own input; choose another output folder.")
    scan = read_wholebody(sources, allow_single_view=True)
    if scan.count_equivalent_speed is None:  # header without Scan Velocity: the manifest knows the speed
        scan = replace(scan, scan_velocity_mm_s=job.speed_factor * scan.standard_velocity_mm_s)
    return scan


def _enhance_one(job: Job, data_root: Path, out: Path, ours: bool) -> dict:
    """Enhance one job and write its DICOM; `ours`: a previous output at `out` may be replaced."""
    start = time.perf_counter()
    scan = _read_input(job, data_root, out)
    counts, method_text, description = job.enhance(scan)
    if ours and out.exists():
        tmp = out.with_name(f".{out.name}.new")
        tmp.unlink(missing_ok=True)
        write_enhanced(tmp, counts, scan, method=method_text, description=description)
        os.replace(tmp, out)
    else:
        write_enhanced(out, counts, scan, method=method_text, description=description)
    return {
        "study_id": job.study_id,
        "group": job.group,
        "method": job.method,
        "speed_factor": job.speed_factor,
        "split": job.split,
        "label": job.label,
        "source_path": job.source_path,
        "source_sha256": job.source_sha256,
        "provenance": job.provenance,
        "path": portable_path(out),
        "sha256": sha256_file(out),
        "status": "enhanced",
        "seconds": round(time.perf_counter() - start, 3),
    }


def _merge(previous: pd.DataFrame, new_rows: list[dict], keys: set, columns: tuple[str, ...]) -> pd.DataFrame:
    """Previous rows of (study, group) pairs outside `keys`, then the new rows."""
    kept = (
        previous[[(s, g) not in keys for s, g in zip(previous["study_id"], previous["group"])]]
        if len(previous)
        else previous
    )
    frames = [f for f in (kept, pd.DataFrame(new_rows, columns=list(columns))) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def run_batch(
    jobs: list[Job],
    data_root: str | os.PathLike,
    out_root: str | os.PathLike,
    *,
    force: bool = False,
    progress: bool = True,
    desc: str = "enhance",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the jobs (tqdm progress bar); returns (this batch's output rows, its quarantine rows) and
    updates `<out_root>/manifest.csv` and `<out_root>/quarantine.csv`."""
    data_root, out_root = Path(data_root), Path(out_root)
    previous = read_enhanced_manifest(out_root)
    prev = {(r["study_id"], r["group"]): r for r in previous.to_dict("records")}
    rows, bad = [], []
    for job in tqdm(jobs, desc=desc, unit="study", disable=not progress):
        out = out_root / job.group / f"{job.study_id}.dcm"
        old = prev.get((job.study_id, job.group))
        if not force and _done(old, job, out):
            rows.append({**old, "status": "skipped"})
            continue
        try:
            rows.append(_enhance_one(job, data_root, out, ours=old is not None))
        except WbsError as exc:
            bad.append(
                {
                    "study_id": job.study_id,
                    "group": job.group,
                    "path": job.source_path,
                    "error": type(exc).__name__,
                    "sentence": str(exc),
                }
            )
            if old is not None and out.is_file():  # our own output of an input that is no longer valid
                out.unlink()
    keys = {(j.study_id, j.group) for j in jobs}
    write_csv(_merge(previous, rows, keys, ENHANCED_COLUMNS), out_root / "manifest.csv")
    qpath = out_root / "quarantine.csv"
    old_bad = pd.read_csv(qpath, dtype=str, keep_default_na=False) if qpath.is_file() else pd.DataFrame()
    write_csv(
        _merge(
            old_bad if len(old_bad) else pd.DataFrame(columns=list(QUARANTINE_COLUMNS)), bad, keys, QUARANTINE_COLUMNS
        ),
        qpath,
    )
    return pd.DataFrame(rows, columns=list(ENHANCED_COLUMNS)), pd.DataFrame(bad, columns=list(QUARANTINE_COLUMNS))
