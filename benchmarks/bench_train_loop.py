"""Training-loop throughput on the demo cohort, loader included: seconds per step of
`wbslib.enhance.training.loop.train_model` for real pairs (registered per patch) and simu pairs,
with NumPy's BLAS at one thread (what the loop does) and at its default thread count (the
reference, timed in the same run). Each timing is a fresh process (thread pools start cold), the
two settings alternate, and the table shows the median of `--repeats`. Needs the demo cohort on
disk (`make demo`, or notebook 00).

    PYTHONPATH=. python benchmarks/bench_train_loop.py [--params notebooks/params/demo.yaml] [--steps 100]
                                                        [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import yaml
from threadpoolctl import threadpool_info

from wbslib.core.params import resolve_path
from wbslib.core.repro import print_environment
from wbslib.enhance.hostinfo import host_line
from wbslib.enhance.training.loop import train_model


def seconds_per_step(params: dict, mode: str, steps: int, one_blas_thread: bool) -> float:
    """Wall seconds per step of one `steps`-step run (no validation, no checkpoints; set-up and
    loading included)."""
    train = train_model if one_blas_thread else train_model.__wrapped__
    run = {**params, "train": {**params["train"], "steps": steps, "val_every": 0, "checkpoint_every": 10_000}}
    start = time.perf_counter()
    train(run, {"mode": mode, "speed": 2}, tempfile.mkdtemp(), progress=False)
    return (time.perf_counter() - start) / steps


def in_fresh_process(args, mode: str, one_blas_thread: bool) -> float:
    child = [sys.executable, __file__, "--params", args.params, "--steps", str(args.steps), "--child", mode]
    out = subprocess.run(child + (["--one"] if one_blas_thread else []), capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="notebooks/params/demo.yaml")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    params = yaml.safe_load(open(resolve_path(args.params)))
    if args.child:
        print(seconds_per_step(params, args.child, args.steps, args.one))
        return
    print_environment()
    print(host_line())
    blas = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)
    print(
        f"\nBLAS default threads: {blas}; {args.steps} steps, batch {params['train']['batch_size']}, "
        f"patch {params['train']['patch_size']}\n"
    )
    print("| mode | BLAS threads | s/step | speed-up vs default |\n|---|---|---|---|")
    for mode in ("real", "simu"):
        runs = {False: [], True: []}
        for _ in range(args.repeats):
            for one_thread in runs:
                runs[one_thread].append(in_fresh_process(args, mode, one_thread))
        default, one = statistics.median(runs[False]), statistics.median(runs[True])
        print(f"| {mode} | {blas} (default) | {default:.3f} | 1.00 |")
        print(f"| {mode} | 1 | {one:.3f} | {default / one:.2f} |", flush=True)


if __name__ == "__main__":
    main()
