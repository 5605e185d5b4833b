"""The shipped pretrained models' numbers for docs/models.md: on the test split of the workstation
cohort (phantom patients never trained on), per speed, the NRMSE against the noise-free truth of the
same acquisition (1x-equivalent) of the raw fast scan (× s), the Gaussian filter whose σ was tuned on
the validation split, BM3D (first `--bm3d` studies) and the shipped model, with the model's margin over
the Gaussian, and its counts (enhanced total / input total × s).

    wbs simulate --params notebooks/params/workstation.yaml      # the cohort (≈ 15 s)
    .venv/bin/python benchmarks/model_card.py                    # ≈ 3 min on 2 cores
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from wbslib.core.counts import gaussian_counts
from wbslib.core.params import load_params, resolve_path
from wbslib.enhance.baselines import bm3d_counts, choose_gaussian_sigma, validation_pairs
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.hostinfo import host_line
from wbslib.enhance.infer import enhance_counts
from wbslib.enhance.pretrained import pretrained_checkpoint, shipped_speeds
from wbslib.io.dicom import read_wholebody
from wbslib.io.manifest import read_manifest
from wbslib.io.truth import load_truth
from wbslib.metrics.pixel import nrmse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="notebooks/params/workstation.yaml")
    parser.add_argument("--bm3d", type=int, default=4, help="BM3D on the first N test studies")
    args = parser.parse_args()
    params = load_params(args.params)
    root, cohort = resolve_path(params["data_root"]), read_manifest(resolve_path(params["manifest"]))
    test = cohort[(cohort["split"] == "test") & (cohort["kind"] == "fast-real")]
    print(host_line())
    rows = []
    for speed in shipped_speeds():
        net, meta = load_generator(pretrained_checkpoint(speed))
        sigma, _ = choose_gaussian_sigma(validation_pairs(cohort, root, speed)[0])
        files = test[(test["speed_factor"] - speed).abs() < 0.005].sort_values("study_id")
        for i, r in enumerate(files.itertuples()):
            raw = read_wholebody([root / r.path]).counts.astype(np.float32)
            truth = load_truth(root, r.study_id, speed)["expected"] * speed
            enhanced = enhance_counts(raw, net, meta, device="cpu")
            row = {
                "speed": f"{speed:g}x",
                "study": r.study_id,
                "raw": nrmse(raw * speed, truth),
                "gauss": nrmse(gaussian_counts(raw * speed, sigma), truth),
                "gauss σ px": sigma,
                "bm3d": nrmse(bm3d_counts(raw, speed), truth) if i < args.bm3d else np.nan,
                "model": nrmse(enhanced, truth),
                "counts": float(enhanced.sum() / (raw.sum() * speed)),
            }
            rows.append(row)
    table = pd.DataFrame(rows)
    summary = table.drop(columns="study").groupby("speed", sort=False).mean()
    summary["model vs gauss %"] = 100 * (summary["model"] / summary["gauss"] - 1)
    summary["model vs bm3d %"] = 100 * (summary["model"] / summary["bm3d"] - 1)
    summary["studies"] = table.groupby("speed", sort=False).size()
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
