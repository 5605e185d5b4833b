"""Batch enhancement into an output folder: one derived NM DICOM per job, a manifest of the outputs and a
quarantine list — shared by the RRDB models (`enhance.infer.enhance_manifest`, `wbs enhance DIR`) and the
baselines (`enhance.baselines`).

- Outputs: `<out_root>/<group>/<name>.dcm` (name: the study id; for `wbs enhance`, study id and source
  file id), written atomically by `wbslib.io.dicom.write_enhanced`.
- The folder is an `enhance.journal.OutputFolder`: locked against a second batch, its manifest.csv
  (`ENHANCED_COLUMNS`: input by keyed file id and sha256, the `provenance` of the method — checkpoint
  sha256 or the baseline's parameters —, output path and sha256) rewritten after every study, so a
  killed batch resumes. A job whose row matches its input, provenance and the output file's sha256 is
  skipped unless `force`; rows of other jobs are kept.
- Inputs are only read: each is checked against its manifest sha256 first, and an output path that would
  be an input is refused. A job whose input raises a `WbsError` or cannot be read (OSError) is
  quarantined (study, group, source file id, error class, sentence with paths replaced by file ids) and
  the batch goes on; an OSError on the output side stops it at once (`OutputWriteError`).
- An output this batch listed before that is out of date is replaced via a temporary file (removed if
  its input is now quarantined); a file at the output path that the manifest does not list is kept when
  identical, and never overwritten otherwise (`OutputConflictError`, quarantined).
- Throughput: the model stays loaded; the next study's input is read and checksummed in a background
  thread while the current one computes; the progress bar shows studies/min.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from wbslib.core.errors import ChecksumMismatchError, OutputConflictError, OutputWriteError, WbsError
from wbslib.core.fileio import sha256_file, unreadable_input
from wbslib.core.scan import VIEWS, WholeBodyScan
from wbslib.enhance.journal import (
    ENHANCED_COLUMNS,
    QUARANTINE_COLUMNS,
    OutputFolder,
    quarantine_key,
    read_enhanced_manifest,
)
from wbslib.io.dicom import read_wholebody, write_enhanced
from wbslib.io.imagesets import portable_path
from wbslib.io.manifest.privacy import FileNames
from wbslib.io.manifest.pseudonym import load_key

__all__ = ["ENHANCED_COLUMNS", "QUARANTINE_COLUMNS", "Job", "input_jobs", "read_enhanced_manifest", "run_batch"]

BATCH_COLUMNS = (*ENHANCED_COLUMNS, "status", "seconds")  # status 'enhanced' | 'skipped'; seconds of wall time
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
    name: str = ""  # output file stem (default: the study id)
    read_options: dict = field(default_factory=dict)  # extra read_wholebody options (speed_factor, assume_view)

    @property
    def output_name(self) -> str:
        return self.name or self.study_id


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
        try:
            actual = sha256_file(src) if src.is_file() else ""
        except OSError as exc:
            raise unreadable_input(str(src), exc) from None
        if actual != sha:
            raise ChecksumMismatchError(
                f"Input {src} of study {job.study_id} is missing or changed since the "
                "manifest was built; restore it or rebuild the manifest."
            )
        if src.resolve() == out.resolve():
            raise OutputConflictError(f"Output {out} would replace its own input; choose another output folder.")
    scan = read_wholebody(sources, allow_single_view=True, **job.read_options)
    if scan.count_equivalent_speed is None:  # header without Scan Velocity: the manifest knows the speed
        scan = replace(scan, scan_velocity_mm_s=job.speed_factor * scan.standard_velocity_mm_s)
    return scan


def _write(out: Path, counts: np.ndarray, scan: WholeBodyScan, method: str, description: str, ours: bool) -> str:
    """Write the derived DICOM (replacing our own out-of-date output when `ours`); returns its sha256.
    OSError: the output side failed (nothing half-written stays under the final name)."""
    if ours and out.exists():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            write_enhanced(tmp, counts, scan, method=method, description=description)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        write_enhanced(out, counts, scan, method=method, description=description)
    return sha256_file(out)


def _row(job: Job, source_file: str, path: str, sha256: str) -> dict:
    return {
        "study_id": job.study_id,
        "group": job.group,
        "method": job.method,
        "speed_factor": job.speed_factor,
        "split": job.split,
        "label": job.label,
        "source_file": source_file,
        "source_sha256": job.source_sha256,
        "provenance": job.provenance,
        "path": path,
        "sha256": sha256,
    }


def _output(out_root: Path, job: Job) -> Path:
    return out_root / job.group / f"{job.output_name}.dcm"


class _Prefetch:
    """Reads of the jobs' inputs, the next one in a background thread while the current one computes
    (reading and checksumming overlap the model); a read's error is raised by `take`, in its turn."""

    def __init__(self, jobs: list[Job], data_root: Path, out_root: Path, rows: dict, force: bool):
        self.jobs, self.data_root, self.out_root, self.rows, self.force = jobs, data_root, out_root, rows, force
        self.pool, self.pending = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wbs-read"), {}

    def start(self, i: int) -> None:
        if i >= len(self.jobs) or i in self.pending:
            return
        job = self.jobs[i]
        out = _output(self.out_root, job)
        if not self.force and _done(self.rows.get(portable_path(out)), job, out):
            return
        self.pending[i] = self.pool.submit(_read_input, job, self.data_root, out)

    def take(self, i: int) -> WholeBodyScan:
        self.start(i)
        return self.pending.pop(i).result()

    def __enter__(self) -> _Prefetch:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def run_batch(
    jobs: list[Job],
    data_root: str | os.PathLike,
    out_root: str | os.PathLike,
    *,
    force: bool = False,
    progress: bool = True,
    desc: str = "enhance",
    strict: bool = False,
    wait: float | None = None,
    key_file: str | os.PathLike | None = None,
    rejected: tuple[dict, ...] | list[dict] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the jobs (tqdm progress, studies/min); returns (this batch's rows: `ENHANCED_COLUMNS`, status
    'enhanced' | 'skipped', seconds; its quarantine rows) and keeps `<out_root>/manifest.csv` and
    `<out_root>/quarantine.csv` up to date after every study.

    strict: raise a job's named error instead of quarantining it (one study, `wbs enhance FILE`).
    wait: seconds to wait for another batch writing into `out_root` (None: as long as it takes).
    key_file: the pseudonym key that names source files (default as in `wbslib.io.manifest.pseudonym`).
    rejected: quarantine rows (`QUARANTINE_COLUMNS`) of inputs that could not even become jobs, listed too.
    """
    data_root, out_root = Path(data_root), Path(out_root)
    names = FileNames(data_root, load_key(key_file))
    sources = {id(job): ";".join(names.id(p) for p in job.source_path.split(";")) for job in jobs}
    rows, bad = [], list(rejected)
    with (
        OutputFolder(out_root, total=len(jobs), wait=wait) as folder,
        tqdm(jobs, desc=desc, unit="study", disable=not progress) as bar,
        _Prefetch(jobs, data_root, out_root, folder.rows, force) as reads,
    ):
        for entry in rejected:
            folder.reject(None, entry, quarantine_key(entry["group"], entry["study_id"], entry["file"]))
        enhanced, busy = 0, 0.0  # studies enhanced and seconds spent on them, for the rate
        for i, job in enumerate(bar):
            out = _output(out_root, job)
            key, source_file = portable_path(out), sources[id(job)]
            qkey = quarantine_key(job.group, job.study_id, source_file)
            old, start = folder.rows.get(key), time.perf_counter()
            try:
                if not force and _done(old, job, out):
                    row, status = _row(job, source_file, key, old["sha256"]), "skipped"
                else:
                    scan = reads.take(i)
                    reads.start(i + 1)  # read the next study while this one computes
                    counts, method_text, description = job.enhance(scan)
                    sha = _write(out, counts, scan, method_text, description, ours=old is not None)
                    row, status = _row(job, source_file, key, sha), "enhanced"
                folder.record(key, row, qkey)
            except OutputWriteError:
                raise
            except WbsError as exc:
                if strict:
                    raise
                entry = {
                    "study_id": job.study_id,
                    "group": job.group,
                    "file": source_file,
                    "error": type(exc).__name__,
                    "sentence": names.redact(str(exc)),
                }
                bad.append(entry)
                try:
                    if old is not None and out.is_file():  # our own output of an input that is no longer valid
                        out.unlink()
                except OSError as error:
                    raise folder.failed(error) from None
                folder.reject(key, entry, qkey)
                continue
            except OSError as exc:
                raise folder.failed(exc) from None
            seconds = time.perf_counter() - start
            rows.append({**row, "status": status, "seconds": round(seconds, 3)})
            if status == "enhanced":
                enhanced, busy = enhanced + 1, busy + seconds
                bar.set_postfix_str(f"{60 * enhanced / busy:.1f} studies/min")
    return pd.DataFrame(rows, columns=list(BATCH_COLUMNS)), pd.DataFrame(bad, columns=list(QUARANTINE_COLUMNS))
