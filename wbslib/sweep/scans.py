"""Fast scans of the phantom cohort at any speed factor, for the speed sweep (notebook 06).

The cohort (notebook 00) holds each patient's standard 1x scan and truth. For a swept speed s the
patient's phantom is rebuilt from the cohort's own seed and settings (`rebuild_phantom`; its 1x
rendering equals the cohort's 1x truth exactly) and scanned again:
- **real-like** (`real_like_scan`): its own acquisition with the protocol of `wbslib.phantom.acquisition`
  for the pair (s, 1x) — the fast scan directly before the standard one, so the tracer decays, the
  bladder fills, soft tissue clears and the patient shifts between them — with its own Poisson
  noise. Each speed is planned on its own (keys `sweep-protocol`, `sweep-noise`, study, speed), so
  adding a speed to the sweep changes no other speed's scans.
- **simu** (`thinned_scan`): binomial thinning of the cohort's 1x integer counts, k ~ Bin(N, 1/s).

`build_speed_data` writes one data root per speed (`runs/<run>/sweep/<label>/data/`): the
real-like scans as DICOM with their truth npz, the cohort's 1x files and 1x truth hard-linked (or
copied), the truth tables, and a manifest — the layout of ARCHITECTURE.md, so `wbslib.enhance.training.loop`,
`wbslib.metrics.measure` and `wbslib.phantom.cohort.load_truth` read it like the cohort itself.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.counts import check_speed, thin
from wbslib.core.errors import OutputConflictError, PhantomTruthError
from wbslib.core.fileio import atomic_path, sha256_file, write_text
from wbslib.core.repro import rng as keyed_rng
from wbslib.core.scan import speed_label
from wbslib.io.dicom import write_acquisition
from wbslib.io.dicom.common import derived_uid
from wbslib.io.manifest.schema import read_manifest, write_manifest
from wbslib.io.truth import load_patients, truth_dir, truth_path, write_truth
from wbslib.phantom.acquisition import acquire, expected_counts, plan_protocol
from wbslib.phantom.body import Phantom
from wbslib.phantom.cohort import phantom_for

FIRST_SCAN = datetime(2023, 1, 2, 9, 0, 0)  # as wbslib.phantom.cohort: patient i is scanned on day i
RECORD = "sweep_data.json"
PARALLEL_FROM = 16  # fewer patients are scanned in-process (spawning workers costs seconds)


def cohort_record(cohort_root: str | os.PathLike) -> dict:
    """The settings the phantom cohort was made with (truth/cohort.json); PhantomTruthError if absent."""
    path = truth_dir(cohort_root) / "cohort.json"
    if not path.is_file():
        raise PhantomTruthError(
            f"{path} does not exist; the speed sweep rescans the phantom, so data_root must "
            "hold a phantom cohort (run notebook 00 first)."
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PhantomTruthError(f"{path} is not valid JSON; re-run the simulation into a fresh data_root.") from exc


def rebuild_phantom(patient: dict, record: dict) -> Phantom:
    """The phantom of one patient (a row of truth/patients.csv) exactly as `wbslib.phantom.cohort` made it
    (`cohort.phantom_for` with the settings of truth/cohort.json)."""
    row = {**patient, "study_id": str(patient["study_id"]), "label": int(patient["label"])}
    return phantom_for(
        row, {"counts_1x": float(record["counts_1x"]), "pixel_mm": float(record["pixel_mm"])}, int(record["seed"])
    )


def real_like_scan(phantom: Phantom, speed: float, seed: int):
    """(counts int32 (2, rows, cols) at the scan's own count level, Acquisition, Rendered truth) of a
    real-like acquisition at `speed` followed by the standard scan."""
    label = speed_label(speed)
    acquisition = plan_protocol(
        phantom, [check_speed(speed)], keyed_rng(seed, "sweep-protocol", phantom.study_id, label)
    )[0]
    rendered = expected_counts(phantom, acquisition)
    return acquire(rendered.image, keyed_rng(seed, "sweep-noise", phantom.study_id, label)), acquisition, rendered


def thinned_scan(counts_1x: np.ndarray, study_id: str, speed: float, seed: int) -> np.ndarray:
    """Simu fast scan: float32 counts (at the fast scan's level) thinned from the 1x counts; a NaN
    (missing) view stays NaN."""
    finite = np.isfinite(counts_1x)
    integers = np.rint(np.where(finite, counts_1x, 0)).astype(np.int32)
    out = thin(integers, speed, keyed_rng(seed, "sweep-thin", str(study_id), speed_label(speed))).astype(np.float32)
    out[~finite] = np.nan
    return out


def _scan_patient(patient: dict, record: dict, speed: float, seed: int, out_root: str) -> dict:
    """Scan one patient at `speed`, write its DICOM and truth; its manifest row."""
    sid, root, label = str(patient["study_id"]), Path(out_root), speed_label(speed)
    phantom = rebuild_phantom(patient, record)
    counts, acquisition, rendered = real_like_scan(phantom, speed, seed)
    path = root / "dicom" / sid / f"{label}.dcm"
    day = FIRST_SCAN + timedelta(days=int(sid[2:]))
    write_acquisition(
        path,
        counts,
        speed_factor=speed,
        patient_id=sid,
        patient_name=f"PHANTOM^{sid}",
        study_uid=derived_uid("wbs-accel phantom", int(record["seed"]), sid),
        acquisition_datetime=day + timedelta(minutes=acquisition.start_min),
        pixel_spacing_mm=(phantom.grid.pixel_mm, phantom.grid.pixel_mm),
        series_description=f"WB bone {label} (phantom, speed sweep)",
        patient_sex=patient["sex"],
        patient_age=int(patient["age"]),
    )
    write_truth(root, sid, acquisition, rendered, phantom.grid.pixel_mm)
    return {
        "study_id": sid,
        "views": "ANT+POST",
        "speed_factor": speed,
        "kind": "fast-real",
        "path": path.relative_to(root).as_posix(),
        "sha256": sha256_file(path),
        "counts_accumulated": int(counts.sum(dtype=np.int64)),
        "split": patient["split"],
        "label": int(patient["label"]),
        "source": "phantom",
    }


def _link(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (copy across file systems); an existing target is kept."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def _standard_rows(cohort_manifest: pd.DataFrame, cohort_root: Path, out_root: Path, studies: set[str]) -> list[dict]:
    """The cohort's 1x rows for `studies`, their files and 1x truth linked into `out_root`."""
    rows = cohort_manifest[(cohort_manifest["kind"] == "standard") & cohort_manifest["study_id"].isin(studies)]
    for row in rows.itertuples(index=False):
        _link(cohort_root / row.path, out_root / row.path)
        _link(truth_path(cohort_root, row.study_id, 1.0), truth_path(out_root, row.study_id, 1.0))
    return rows.to_dict("records")


def _claim(out_root: Path, record: dict) -> None:
    path = out_root / RECORD
    if path.exists():
        if json.loads(path.read_text()) != record:
            raise OutputConflictError(
                f"{out_root} holds sweep scans made from another cohort or seed ({path}); "
                "use another run name or delete that folder first."
            )
        return
    write_text(json.dumps(record, indent=2, sort_keys=True), path)


def build_speed_data(
    cohort_root: str | os.PathLike,
    cohort_manifest: str | os.PathLike,
    out_root: str | os.PathLike,
    speed: float,
    seed: int,
    *,
    workers: int = 1,
) -> pd.DataFrame:
    """Write (or find done) the data root of one swept speed; returns its manifest.

    Every patient of the cohort (test, train, val) gets a real-like scan at `speed`; a data root
    whose manifest exists is returned as it is. `workers` > 1 scans patients in parallel processes
    when there are at least PARALLEL_FROM of them (same bytes either way).
    """
    cohort_root, out_root, speed = Path(cohort_root), Path(out_root), check_speed(speed)
    record = {
        "speed_factor": speed,
        "seed": int(seed),
        "cohort": cohort_record(cohort_root),
        "cohort_manifest_sha256": sha256_file(cohort_manifest),
    }
    _claim(out_root, record)
    manifest_path = out_root / "manifest.csv"
    if manifest_path.is_file():
        return read_manifest(manifest_path)
    patients = load_patients(cohort_root).to_dict("records")
    jobs = [(p, record["cohort"], speed, int(seed), str(out_root)) for p in patients]
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            fast = list(pool.map(_scan_patient, *zip(*jobs), chunksize=2))
    else:
        fast = [_scan_patient(*job) for job in jobs]
    for name in ("patients.csv", "lesions.csv"):
        with atomic_path(truth_dir(out_root) / name) as tmp:
            shutil.copyfile(truth_dir(cohort_root) / name, tmp)
    standard = _standard_rows(read_manifest(cohort_manifest), cohort_root, out_root, {r["study_id"] for r in fast})
    write_manifest(pd.DataFrame(standard + fast), manifest_path)
    return read_manifest(manifest_path)
