"""Validation during training: whole-body enhancement of the val patients, L1 and NRMSE against a
reference in 1x-equivalent counts, and the raw-input and Gaussian-filter baselines beside it.

Reference: the phantom's noise-free expected image of the very acquisition (× its speed factor =
1x-equivalent, `wbslib.io.truth.load_truth`) where truth exists, else the patient's standard scan.
Every mode (real, simu, split) is validated on the same cases at its speed: the fast-real scan where
the cohort has one, else the standard scan binomially thinned (as the simu and split inputs are).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from wbslib.core.counts import from_model_output, gaussian_counts, thin, to_model_input
from wbslib.core.errors import TrainingDataError
from wbslib.core.repro import rng
from wbslib.core.scan import speed_label
from wbslib.enhance.baselines import SIGMA_GRID, choose_gaussian_sigma
from wbslib.enhance.datasets import acquisition_paths, read_counts
from wbslib.io.truth import load_truth, truth_path
from wbslib.metrics.pixel import l1, nrmse

VAL_COLUMNS = (
    "step",
    "study_id",
    "speed",
    "input",
    "reference",
    "l1",
    "nrmse",
    "l1_input",
    "nrmse_input",
    "l1_standard",
    "nrmse_standard",
)


@dataclass
class ValCase:
    """One validation acquisition: counts at `speed_factor` and its 1x-equivalent reference."""

    study_id: str
    counts: np.ndarray  # (2, rows, cols) counts as acquired (NaN: missing view)
    speed_factor: float
    reference: np.ndarray  # (2, rows, cols) 1x-equivalent counts
    reference_kind: str  # 'truth' (noise-free phantom truth) | 'standard' (the 1x scan)
    input_kind: str  # 'fast-real' | 'thinned' (binomial thinning of the standard scan)
    standard: np.ndarray  # (2, rows, cols) the 1x scan
    standard_truth: np.ndarray | None = None  # its own noise-free truth (phantom only)


def _truth(data_root: Path, study_id: str, speed: float) -> np.ndarray | None:
    """Noise-free expected counts × speed (1x-equivalent) of that acquisition, None without truth."""
    if not truth_path(data_root, study_id, speed).is_file():
        return None
    return np.asarray(load_truth(data_root, study_id, speed)["expected"], np.float32) * np.float32(speed)


def load_val_cases(
    manifest: pd.DataFrame, data_root: str | Path, speed: float, seed: int, split: str = "val"
) -> list[ValCase]:
    """The `split` patients at `speed`: their fast-real scan, or (none at that speed) the standard
    scan thinned with rng(seed, 'val', study), each with its reference. No standard scan → error."""
    root = Path(data_root)
    std = acquisition_paths(manifest, split, "standard")
    if not std:
        raise TrainingDataError(
            f"The manifest lists no standard scan in split '{split}'; validation needs "
            "held-out patients (set some studies' split to val)."
        )
    fast = acquisition_paths(manifest, split, "fast-real", speed)
    cases = []
    for sid, std_paths in std.items():
        standard = read_counts(root, std_paths)
        if sid in fast:
            counts, kind, truth = read_counts(root, fast[sid]), "fast-real", _truth(root, sid, speed)
        else:
            counts = thin(np.rint(np.nan_to_num(standard)).astype(np.int32), speed, rng(seed, "val", sid)).astype(
                np.float32
            )
            counts[~np.isfinite(standard)] = np.nan
            kind, truth = "thinned", _truth(root, sid, 1.0)
        ref_kind = "standard" if truth is None else "truth"
        cases.append(
            ValCase(
                sid,
                counts,
                float(speed),
                standard if truth is None else truth,
                ref_kind,
                kind,
                standard,
                _truth(root, sid, 1.0),
            )
        )
    return cases


@torch.no_grad()
def enhance(
    generator: torch.nn.Module,
    counts: np.ndarray,
    speed_factor: float,
    scale: float,
    device: str = "cpu",
    amp_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """1x-equivalent counts (2, rows, cols) from the generator applied to each present view whole."""
    out = np.full(counts.shape, np.nan, np.float32)
    views = [v for v in range(counts.shape[0]) if np.isfinite(counts[v]).all()]
    if not views:
        return out
    x = torch.from_numpy(to_model_input(counts[views], speed_factor, scale))[:, None].to(device)
    with torch.autocast(device_type=x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        y = generator(x.contiguous(memory_format=torch.channels_last if x.is_cuda else torch.contiguous_format))
    out[views] = from_model_output(y.float()[:, 0].cpu().numpy(), scale)
    return out


def image_errors(image: np.ndarray, reference: np.ndarray) -> dict:
    """L1 (counts per pixel) and NRMSE against the reference (`wbslib.metrics.pixel`, per view, then
    the mean over the views both hold) — the same numbers Table 4 reports for the same pair."""
    return {"l1": l1(image, reference), "nrmse": nrmse(image, reference)}


def raw_input(case: ValCase) -> np.ndarray:
    """The raw fast scan in 1x-equivalent counts (counts × speed factor)."""
    return case.counts * np.float32(case.speed_factor)


def gaussian_filtered(case: ValCase, sigma_px: float) -> np.ndarray:
    """The raw input (1x-equivalent) smoothed with a Gaussian of `sigma_px`, each view alone."""
    return gaussian_counts(raw_input(case), sigma_px)


def best_gaussian(cases: list[ValCase], sigmas: tuple[float, ...] = SIGMA_GRID) -> dict:
    """The Gaussian σ (px) chosen as notebook 03's baseline is (`choose_gaussian_sigma`: lowest mean
    NRMSE), with its mean L1 and NRMSE — the baseline a trained model must beat to be worth more
    than a smoothing filter."""
    sigma, table = choose_gaussian_sigma([(raw_input(c), c.reference) for c in cases], sigmas)
    l1_mean = np.mean([l1(gaussian_filtered(c, sigma), c.reference) for c in cases])
    nrmse_mean = float(table.loc[table["sigma_px"] == sigma, "nrmse_mean"].iloc[0])
    return {"method": f"gaussian σ={sigma:g} px", "sigma_px": float(sigma), "l1": float(l1_mean), "nrmse": nrmse_mean}


def validate(
    generator: torch.nn.Module, cases: list[ValCase], scale: float, device: str, amp_dtype: torch.dtype | None
) -> list[dict]:
    """One row per case: the model's and the raw input's L1/NRMSE against the reference, and the
    standard 1x scan's against its own noise-free truth (the noise level the paper aims at; NaN
    without truth)."""
    was_training = generator.training
    generator.eval()
    rows = []
    for case in cases:
        model = image_errors(
            enhance(generator, case.counts, case.speed_factor, scale, device, amp_dtype), case.reference
        )
        raw = image_errors(raw_input(case), case.reference)
        std = (
            image_errors(case.standard, case.standard_truth)
            if case.standard_truth is not None
            else {"l1": float("nan"), "nrmse": float("nan")}
        )
        rows.append(
            {
                "study_id": case.study_id,
                "speed": speed_label(case.speed_factor),
                "input": case.input_kind,
                "reference": case.reference_kind,
                "l1": model["l1"],
                "nrmse": model["nrmse"],
                "l1_input": raw["l1"],
                "nrmse_input": raw["nrmse"],
                "l1_standard": std["l1"],
                "nrmse_standard": std["nrmse"],
            }
        )
    generator.train(was_training)
    return rows
