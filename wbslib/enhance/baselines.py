"""Classical denoisers a department could use today, on the same fast scans as the models.

Both return 1x-equivalent counts (float32, (2, rows, cols), NaN for a missing view), like the models.
- Gaussian filter of the 1x-equivalent counts (raw × s) with σ in pixels chosen on the validation
  patients (`choose_gaussian_sigma`): the σ of `SIGMA_GRID` minimising the mean NRMSE
  (‖reference − image‖ / ‖reference‖, both views) against the noise-free truth of the same
  acquisition × s (phantom), or, where no truth exists (clinical cohorts), against the patient's
  1x scan — noisy and not aligned, so that σ is a compromise; the notebook states which was used.
- BM3D (`bm3d` package, profile 'np', both stages) on Anscombe-transformed raw counts,
  A(x) = 2 √(x + 3/8) (Poisson → unit variance), then the closed-form approximation of the exact
  unbiased inverse (Mäkitalo & Foi 2011), clamped at 0, × s. Run on the body's bounding box
  (+ 16 px); pixels outside it held no counts and stay 0. ≈ 4–10 s per view on 2 CPU cores, so
  notebook 03 limits it to `bm3d_max_studies` studies per split.
"""

from __future__ import annotations

import importlib.metadata
import os
import re

import numpy as np
import pandas as pd

from wbslib.core.counts import gaussian_counts
from wbslib.core.errors import ManifestError, ParamsError
from wbslib.core.groups import SPEED_RTOL
from wbslib.core.masks import body_box
from wbslib.core.params import resolve_path
from wbslib.core.scan import WholeBodyScan, speed_label
from wbslib.enhance.batch import Job, input_jobs, run_batch
from wbslib.metrics.pixel import nrmse

SIGMA_GRID = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)  # pixels
BBOX_MARGIN_PX = 16
METHODS = ("gaussian", "bm3d")
GROUP_SUFFIX = {"gaussian": "gauss", "bm3d": "bm3d"}
RAW_GROUP = re.compile(r"^\d+(?:\.\d+)?x$")


def anscombe(counts: np.ndarray) -> np.ndarray:
    """Anscombe transform 2 √(x + 3/8): Poisson counts → approximately unit-variance Gaussian."""
    return 2.0 * np.sqrt(np.clip(counts, 0, None) + 0.375)


def inverse_anscombe(d: np.ndarray) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse Anscombe transform (Mäkitalo & Foi 2011),
    ≥ 0; values below A(0) = √1.5 are treated as A(0)."""
    d = np.maximum(np.asarray(d, dtype=np.float64), np.sqrt(1.5))
    r = np.sqrt(1.5)
    return np.maximum(0.25 * d**2 + 0.25 * r / d - 1.375 / d**2 + 0.625 * r / d**3 - 0.125, 0.0)


def bm3d_counts(counts: np.ndarray, speed_factor: float) -> np.ndarray:
    """BM3D-denoised raw counts of an acquisition at `speed_factor`, returned × s (1x-equivalent)."""
    import bm3d

    raw = np.asarray(counts, dtype=np.float64)
    out = np.full(raw.shape, np.nan, dtype=np.float32)
    for i, view in enumerate(raw):
        if not np.isfinite(view).all():
            continue
        rows, cols = body_box(view > 0)
        denoised = np.zeros(view.shape)
        if view[rows, cols].size:
            z = anscombe(view[rows, cols])
            denoised[rows, cols] = inverse_anscombe(bm3d.bm3d(z, sigma_psd=1.0, profile="np"))
        out[i] = denoised * speed_factor
    return out


def validation_pairs(
    manifest_df: pd.DataFrame, data_root: str | os.PathLike, speed_factor: float, kind: str = "fast-real"
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """([(noisy 1x-equivalent counts, reference)], 'truth' | '1x') for the validation studies."""
    from wbslib.io.dicom import read_wholebody

    root = resolve_path(data_root)
    val = manifest_df[manifest_df["split"] == "val"]
    truth = (root / "truth").is_dir()
    pairs = []
    for study_id, files in val.groupby("study_id", sort=True):
        fast = files[(files["kind"] == kind) & ((files["speed_factor"] - speed_factor).abs() < 0.005)]
        standard = files[files["kind"] == "standard"]
        if fast.empty or (not truth and standard.empty):
            continue
        noisy = read_wholebody([root / p for p in fast["path"]], allow_single_view=True).counts * speed_factor
        if truth:
            from wbslib.io.truth import load_truth

            reference = load_truth(root, str(study_id), speed_factor)["expected"] * speed_factor
        else:
            reference = read_wholebody([root / p for p in standard["path"]], allow_single_view=True).counts
        pairs.append((noisy.astype(np.float32), np.asarray(reference, np.float32)))
    if not pairs:
        raise ManifestError(
            f"No validation study holds a {speed_label(speed_factor)} {kind} scan"
            f"{'' if truth else ' and a 1x scan'}; give the manifest validation patients (split 'val')."
        )
    return pairs, "truth" if truth else "1x"


def choose_gaussian_sigma(
    pairs: list[tuple[np.ndarray, np.ndarray]], sigmas: tuple[float, ...] = SIGMA_GRID
) -> tuple[float, pd.DataFrame]:
    """(σ in px with the lowest mean NRMSE over the pairs, table sigma_px / nrmse_mean / nrmse_sd)."""
    table = []
    for sigma in sigmas:
        values = [nrmse(gaussian_counts(noisy, sigma), ref) for noisy, ref in pairs]
        table.append(
            {
                "sigma_px": float(sigma),
                "nrmse_mean": float(np.mean(values)),
                "nrmse_sd": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
            }
        )
    df = pd.DataFrame(table)
    return float(df.loc[df["nrmse_mean"].idxmin(), "sigma_px"]), df


def baseline_speeds(groups) -> list[float]:
    """Speed factors of the raw fast-scan groups ('2x', '3x', ...; not '1x') among `groups`."""
    return sorted({float(g[:-1]) for g in map(str, groups) if RAW_GROUP.match(g) and float(g[:-1]) != 1.0})


def baseline_jobs(
    manifest_df: pd.DataFrame,
    method: str,
    speed_factor: float,
    *,
    sigma_px: float | None = None,
    kind: str = "fast-real",
) -> list[Job]:
    """Jobs for one baseline at one speed (group '<s>x-gauss' or '<s>x-bm3d')."""
    label = speed_label(speed_factor)
    if method == "gaussian":
        if sigma_px is None:
            raise ParamsError(f"The Gaussian baseline at {label} needs σ; choose it with choose_gaussian_sigma.")
        provenance = f"gaussian sigma_px={sigma_px:g}"

        def enhance(scan: WholeBodyScan):
            return (
                gaussian_counts(scan.counts * np.float32(scan.speed_factor), sigma_px),
                f"Gaussian filter, sigma {sigma_px:g} px, of 1x-equivalent counts",
                f"WBS {label} Gaussian",
            )
    elif method == "bm3d":
        provenance = f"bm3d {importlib.metadata.version('bm3d')} anscombe sigma_psd=1 profile=np"

        def enhance(scan: WholeBodyScan):
            return (
                bm3d_counts(scan.counts, scan.speed_factor),
                "BM3D on Anscombe-transformed counts, exact unbiased inverse",
                f"WBS {label} BM3D",
            )
    else:
        raise ParamsError(f"Baseline {method!r} is unknown; use one of {METHODS}.")
    return input_jobs(
        manifest_df,
        group=f"{label}-{GROUP_SUFFIX[method]}",
        method=method,
        speed_factor=speed_factor,
        provenance=provenance,
        enhance=enhance,
        kind=kind,
    )


def runs_bm3d(speed: float, bm3d_speeds: list[float] | None) -> bool:
    """True when BM3D runs at `speed`: `bm3d_speeds` is None (every speed) or holds it (within 2 %)."""
    return bm3d_speeds is None or any(abs(speed / s - 1) <= SPEED_RTOL for s in bm3d_speeds)


def first_per_split(jobs: list[Job], n: int | None) -> list[Job]:
    """The first `n` jobs of each split, in the jobs' (study) order; all of them when `n` is None."""
    if n is None:
        return list(jobs)
    taken: dict[str, int] = {}
    out = []
    for job in jobs:
        if taken.get(job.split, 0) < n:
            taken[job.split] = taken.get(job.split, 0) + 1
            out.append(job)
    return out


def enhance_baselines(
    manifest_df: pd.DataFrame,
    data_root: str | os.PathLike,
    out_root: str | os.PathLike,
    *,
    speeds: list[float],
    methods: tuple[str, ...] = METHODS,
    sigmas: dict[float, float] | None = None,
    bm3d_max_studies: int | None = None,
    bm3d_speeds: list[float] | None = None,
    force: bool = False,
    kind: str = "fast-real",
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the baselines on every study of `manifest_df` (BM3D on the first `bm3d_max_studies` by
    study id of each split — the test and observer splits get the cap each —, at the `bm3d_speeds`
    only when given) at each speed; outputs as derived DICOM through `wbslib.enhance.batch.run_batch`."""
    jobs = []
    for speed in speeds:
        for method in methods:
            if method == "bm3d" and not runs_bm3d(speed, bm3d_speeds):
                continue
            batch = baseline_jobs(manifest_df, method, speed, sigma_px=(sigmas or {}).get(speed), kind=kind)
            jobs += first_per_split(batch, bm3d_max_studies) if method == "bm3d" else batch
    return run_batch(jobs, resolve_path(data_root), out_root, force=force, progress=progress, desc="baselines")
