"""The synthetic cohort: phantom patients scanned with the real-like protocol, written as DICOM + truth.

`simulate_from_params(params)` reads `params['cohort']` (keys and defaults in `DEFAULTS`),
`params['seed']`, `params['data_root']` and `params['manifest']`, and writes
- `data_root/dicom/<study_id>/<speed_label>.dcm`: one 2-frame (ANT, POST) NM object per scan;
- `data_root/truth/<study_id>/<speed_label>.npz`: that scan's noise-free `expected` counts, its
  `shift_px`, `limb_shift_px`, `lesion_rc` and masks (`wbslib.io.truth`);
- `data_root/truth/{patients,lesions}.csv`, `cohort.json` (the params that made it);
- the manifest (kind `standard` for 1x, `fast-real` otherwise; source `phantom`).
Every patient, whatever its split (test, train, val, observer), is scanned at every speed of
`cohort.speeds` and gets its truth files; `n_observer` (default 0) adds the observer split, a
separate group that trains the virtual readers per image class and is never evaluated nor used to
train a model (`wbslib.phantom.patients`).
Every parameter is checked before any file is written; every file is written atomically; the
same seed gives byte-identical files, whatever the number of worker processes.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.counts import check_speed
from wbslib.core.errors import OutputConflictError, ParamsError
from wbslib.core.fileio import sha256_file, write_csv, write_text
from wbslib.core.params import resolve_path, section
from wbslib.core.repro import rng as keyed_rng
from wbslib.core.scan import speed_label
from wbslib.io.dicom import write_acquisition
from wbslib.io.dicom.common import derived_uid
from wbslib.io.manifest.schema import validate_manifest, write_manifest
from wbslib.io.truth import (
    LESION_COLUMNS,
    load_lesions,
    load_patients,
    load_truth,
    truth_dir,
    write_truth,
)
from wbslib.phantom.acquisition import acquire, expected_counts, plan_protocol
from wbslib.phantom.body import Phantom, make_phantom
from wbslib.phantom.patients import SPLIT_SCHEMES, sample_patients

__all__ = [
    "DEFAULTS",
    "cohort_config",
    "simulate_from_params",
    "simulate_patient",
    "phantom_for",
    "sample_patients",
    "load_truth",
    "load_lesions",
    "load_patients",
]
DEFAULTS = {
    "n_patients": 83,
    "n_metastatic": 39,
    "n_train": 24,
    "n_val": 6,
    "n_observer": 0,
    "speeds": [1, 2, 3],
    "counts_1x": 1.75e6,
    "split_scheme": "separate",
    "pixel_mm": 2.4,
    "workers": 0,
}
MAX_COUNTS_1X = 2.0e7  # above this a hot pixel would overflow 16-bit DICOM pixels
PIXEL_MM_RANGE = (2.0, 4.0)  # the tallest patient (1.92 m) must fit 1024 rows
FIRST_SCAN = datetime(2023, 1, 2, 9, 0, 0)


def _integer(cfg: dict, key: str, low: int, high: float = math.inf) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ParamsError(
            f"cohort.{key} = {value!r} is not a whole number in [{low}, {high}]; fix it in the "
            "params file's cohort section."
        )
    return int(value)


def cohort_config(params: dict) -> dict:
    """The `cohort` section with defaults filled in, checked; `ParamsError` for any bad value."""
    cfg = section(params, "cohort", DEFAULTS)
    n = _integer(cfg, "n_patients", 1)
    _integer(cfg, "n_metastatic", 0, n)
    for key in ("n_train", "n_val", "n_observer", "workers"):
        _integer(cfg, key, 0)
    speeds = cfg["speeds"]
    if not isinstance(speeds, (list, tuple)) or not speeds:
        raise ParamsError(f"cohort.speeds = {speeds!r} is not a non-empty list of speed factors such as [1, 2, 3].")
    cfg["speeds"] = sorted({check_speed(s, "cohort speed factor") for s in speeds})
    if len({speed_label(s) for s in cfg["speeds"]}) != len(cfg["speeds"]):
        raise ParamsError(f"cohort.speeds {speeds!r} holds speed factors with the same label; keep them distinct.")
    try:
        counts = math.nan if isinstance(cfg["counts_1x"], bool) else float(cfg["counts_1x"])
    except (TypeError, ValueError):
        counts = math.nan
    if not (math.isfinite(counts) and 0 < counts <= MAX_COUNTS_1X):
        raise ParamsError(
            f"cohort.counts_1x = {cfg['counts_1x']!r} is not a count level in (0, {MAX_COUNTS_1X:g}] "
            "expected counts per 1x view; use e.g. 1.75e6."
        )
    cfg["counts_1x"] = counts
    if cfg["split_scheme"] not in SPLIT_SCHEMES:
        raise ParamsError(
            f"cohort.split_scheme {cfg['split_scheme']!r} is unknown; use one of {', '.join(SPLIT_SCHEMES)}."
        )
    px = cfg["pixel_mm"]
    if not isinstance(px, (int, float)) or not PIXEL_MM_RANGE[0] <= px <= PIXEL_MM_RANGE[1]:
        raise ParamsError(f"cohort.pixel_mm = {px!r} is outside {PIXEL_MM_RANGE}; whole-body pixels are 2.2–2.4 mm.")
    cfg["pixel_mm"] = float(px)
    return cfg


def _seed(params: dict) -> int:
    seed = params.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParamsError(f"params 'seed' = {seed!r} is not a whole number ≥ 0; set seed: 7 (for example).")
    return int(seed)


def _paths(params: dict) -> tuple[Path, Path]:
    for key in ("data_root", "manifest"):
        if not isinstance(params.get(key), str) or not params[key]:
            raise ParamsError(f"params '{key}' is missing; give the {key.replace('_', ' ')} path (e.g. data/demo).")
    return resolve_path(params["data_root"]), resolve_path(params["manifest"])


def phantom_for(patient: dict, cfg: dict, seed: int) -> Phantom:
    """The phantom of one row of `sample_patients` (the same one `simulate_patient` scans)."""
    return make_phantom(
        patient["study_id"],
        {**patient, "metastatic": bool(patient["label"])},
        keyed_rng(seed, "phantom", patient["study_id"]),
        counts_1x=cfg["counts_1x"],
        pixel_mm=cfg["pixel_mm"],
    )


def simulate_patient(patient: dict, cfg: dict, seed: int, data_root: str | os.PathLike) -> dict:
    """Make, scan and write one patient: {'manifest': rows, 'lesions': rows, 'patient': extra columns}."""
    study_id, root = patient["study_id"], Path(data_root)
    phantom = phantom_for(patient, cfg, seed)
    protocol = plan_protocol(phantom, cfg["speeds"], keyed_rng(seed, "protocol", study_id))
    study_uid = derived_uid("wbs-accel phantom", seed, study_id)
    day = FIRST_SCAN + timedelta(days=int(study_id[2:]))
    manifest, totals = [], {}
    for acq in protocol:
        label = speed_label(acq.speed_factor)
        rendered = expected_counts(phantom, acq)
        counts = acquire(rendered.image, keyed_rng(seed, "noise", study_id, label))
        path = root / "dicom" / study_id / f"{label}.dcm"
        write_acquisition(
            path,
            counts,
            speed_factor=acq.speed_factor,
            patient_id=study_id,
            patient_name=f"PHANTOM^{study_id}",
            study_uid=study_uid,
            acquisition_datetime=day + timedelta(minutes=acq.start_min),
            pixel_spacing_mm=(cfg["pixel_mm"], cfg["pixel_mm"]),
            series_description=f"WB bone {label} (phantom)",
            patient_sex=patient["sex"],
            patient_age=int(patient["age"]),
        )
        write_truth(root, study_id, acq, rendered, phantom.grid.pixel_mm)
        totals[label] = counts.sum(axis=(1, 2))
        manifest.append(
            {
                "study_id": study_id,
                "views": "ANT+POST",
                "speed_factor": acq.speed_factor,
                "kind": "standard" if acq.speed_factor == 1 else "fast-real",
                "path": path.relative_to(root).as_posix(),
                "sha256": sha256_file(path),
                "counts_accumulated": int(counts.sum(dtype=np.int64)),
                "split": patient["split"],
                "label": int(patient["label"]),
                "source": "phantom",
            }
        )
    lesions = [{"study_id": study_id, **row} for row in phantom.lesion_table()]
    reference = phantom.render().image.sum(axis=(1, 2))
    injection = phantom.injection
    inj_rc = phantom.grid.to_pixel(*injection.centre()) if injection is not None else (math.nan, math.nan)
    extra = {
        "n_malignant": sum(l["malignant"] for l in lesions),
        "n_benign": sum(1 - l["malignant"] for l in lesions),
        "expected_1x_ant": round(float(reference[0])),
        "expected_1x_post": round(float(reference[1])),
        "bladder_ml": round(phantom.anatomy.bladder_ml, 1),
        "injection_row": round(float(inj_rc[0]), 2),
        "injection_col": round(float(inj_rc[1]), 2),
        "vertex_row": round(phantom.grid.row0, 2),
        "midline_col": round(phantom.grid.col0, 2),
    }
    return {"manifest": manifest, "lesions": lesions, "patient": extra}


def _run(jobs: list[tuple], workers: int) -> list[dict]:
    if workers == 1 or len(jobs) < 4:
        return [simulate_patient(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(simulate_patient, *zip(*jobs), chunksize=2))


def _claim(data_root: Path, record: dict) -> None:
    """Write cohort.json, or check that the one there was made with the same params."""
    path = truth_dir(data_root) / "cohort.json"
    if path.exists():
        if json.loads(path.read_text()) != record:
            raise OutputConflictError(
                f"{data_root} already holds a phantom cohort made with other params "
                f"({path}); choose another data_root or delete that folder first."
            )
        return
    write_text(json.dumps(record, indent=2, sort_keys=True), path)


def simulate_from_params(params: dict) -> pd.DataFrame:
    """Generate the whole cohort described by `params`; returns the manifest (also written to
    `params['manifest']`). See the module docstring for what is written where."""
    cfg, seed = cohort_config(params), _seed(params)
    data_root, manifest_path = _paths(params)
    patients = sample_patients(cfg, seed)
    workers = cfg["workers"] or min(os.cpu_count() or 1, 4)
    # n_observer 0 is left out of the record so that cohorts made before the observer split still match
    record = {k: v for k, v in cfg.items() if k != "workers" and not (k == "n_observer" and v == 0)}
    _claim(data_root, {"seed": seed, **record})
    jobs = [(row, cfg, seed, str(data_root)) for row in patients.to_dict("records")]
    results = _run(jobs, workers)
    patients = pd.concat([patients, pd.DataFrame([r["patient"] for r in results])], axis=1)
    lesions = pd.DataFrame([row for r in results for row in r["lesions"]])
    if lesions.empty:
        lesions = pd.DataFrame(columns=list(LESION_COLUMNS))
    write_csv(lesions, truth_dir(data_root) / "lesions.csv")
    write_csv(patients, truth_dir(data_root) / "patients.csv")
    manifest = pd.DataFrame([row for r in results for row in r["manifest"]])
    write_manifest(manifest, manifest_path)
    return validate_manifest(manifest, manifest_path)
