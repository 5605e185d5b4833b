"""Benchmark of the phantom cohort generator: the evaluation cohort at 3 speeds × 2 views, with DICOM.

Runs `wbslib.phantom.cohort.simulate_from_params` into a temporary data root (deleted afterwards unless
--keep) and prints one table row: patients, speeds, workers, wall s, s/patient, peak RSS MiB
(the largest of this process and its worker processes) and the load average when it started,
since the machine is shared. Target (issue 3): 83 patients in ≤ 60 s on 2 CPU cores.

    .venv/bin/python benchmarks/bench_simulation.py [--patients 83] [--workers 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from wbslib.phantom.cohort import simulate_from_params


def peak_rss_mib() -> float:
    """Peak resident memory (MiB) of this process and of its largest finished child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def run(patients: int, workers: int, speeds: list[float], root: Path) -> dict:
    """Simulate `patients` evaluation patients (no training cohort) into `root`; timings and memory."""
    params = {
        "seed": 7,
        "data_root": str(root),
        "manifest": str(root / "manifest.csv"),
        "cohort": {
            "n_patients": patients,
            "n_metastatic": round(patients * 39 / 83),
            "n_train": 0,
            "n_val": 0,
            "speeds": speeds,
            "workers": workers,
        },
    }
    load = os.getloadavg()[0]
    start = time.perf_counter()
    manifest = simulate_from_params(params)
    wall = time.perf_counter() - start
    return {
        "patients": patients,
        "speeds": "/".join(f"{s:g}x" for s in speeds),
        "files": len(manifest),
        "workers": workers or min(os.cpu_count() or 1, 4),
        "wall_s": wall,
        "s_per_patient": wall / patients,
        "peak_rss_mib": peak_rss_mib(),
        "load_avg": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=83)
    parser.add_argument("--workers", type=int, default=0, help="0 = one per CPU core (at most 4)")
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--keep", type=Path, default=None, help="write into this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="wbs-bench-sim-"))
    try:
        row = run(args.patients, args.workers, args.speeds, root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print("| patients | speeds | DICOM files | workers | wall s | s/patient | peak RSS MiB | load avg at start |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {row['patients']} | {row['speeds']} | {row['files']} | {row['workers']} | {row['wall_s']:.1f} | "
        f"{row['s_per_patient']:.2f} | {row['peak_rss_mib']:.0f} | {row['load_avg']:.1f} |"
    )


if __name__ == "__main__":
    main()
