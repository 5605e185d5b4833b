"""Objective image quality of every image set of the evaluation cohort, as one tidy table.

All images are (2, rows, cols) = (ANT, POST) in 1x-equivalent counts (raw fast scans × s).
Per study and group (`measure_cohort`), with `reference` naming what the value is measured against:
- `psnr` (dB), `ssim`, `nrmse` vs `1x` (the standard scan) and, on phantom data, vs `truth` (the
  noise-free expected image of that same acquisition × s; for an enhanced group the acquisition
  it was made from, so patient motion between scans does not count as error). skimage in float64,
  data_range = max of the reference view; SSIM with an 11 × 11 Gaussian window (σ = 1.5) and
  population covariances (Wang et al. 2004); NRMSE = ‖reference − image‖ / ‖reference‖. Each
  metric per view, then the mean over the views present.
- `lpips`, `fid` vs `1x`: see `wbslib.metrics.perceptual` (NaN where the backbone is missing).
- `hottest_lesion_counts` (reference `none`): max of the 3 × 3 mean counts in the hottest malignant
  lesion of the study (phantom: chosen on the 1x image from the lesion table; clinical: the hottest
  focal spot outside the bladder), measured in every group — for Bland–Altman and Pearson vs 1x.
- `contrast_recovery` (phantom, vs `truth`): measured / true lesion contrast against a bone ring.
- `noise_cv_bone`, `noise_cv_soft` (phantom, vs `truth`): CV in eroded uniform bone / soft tissue.
The 1x group gets no values against itself (`1x`): they are 0 or infinite by definition.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from wbslib.core.errors import MetricInputError
from wbslib.core.groups import STANDARD, group_key
from wbslib.core.params import resolve_device
from wbslib.core.scan import PIXEL_MM
from wbslib.metrics import lesion
from wbslib.metrics.perceptual import (
    FID_FEATURE,
    FID_PATCH,
    FID_STRIDE,
    PerceptualScorer,
    metric_status,
)
from wbslib.metrics.pixel import check_pair, pixel_metrics

__all__ = ["pixel_metrics", "measure_study", "measure_cohort", "summarise", "metric_status", "TIDY_COLUMNS"]

TIDY_COLUMNS = ["study_id", "group", "metric", "value", "reference"]
REQUIRED = ("study_id", "group", "speed_factor", "split")


def _rows(study_id: str, group: str, values: dict[str, float], reference: str) -> list[tuple]:
    return [(study_id, group, metric, float(value), reference) for metric, value in values.items()]


class _Truth:
    """Phantom truth of one study, per acquisition speed, in 1x-equivalent counts (cached)."""

    def __init__(self, load_truth, data_root: Path, study_id: str, lesions: pd.DataFrame, pixel_mm: float):
        self._load, self.data_root, self.study_id, self.pixel_mm = load_truth, data_root, study_id, pixel_mm
        self.lesions = lesions[lesions["study_id"].astype(str) == str(study_id)]
        self._cache: dict[float, dict] = {}

    def __call__(self, speed: float) -> dict:
        if speed not in self._cache:
            t = dict(self._load(self.data_root, self.study_id, speed))
            t["expected_1x"] = np.asarray(t["expected"], np.float64) * speed
            t["positions"] = lesion.acquisition_positions(self.lesions, t["shift_px"], t.get("lesion_rc"))
            t["regions"] = lesion.uniform_regions(t, self.lesions, t["positions"], self.pixel_mm)
            self._cache[speed] = t
        return self._cache[speed]


def _truth_rows(
    study_id: str, group: str, image: np.ndarray, t: dict, truth: _Truth, hottest: dict | None, what: str
) -> list[tuple]:
    """Rows of one image against the truth of its own acquisition `t` (phantom data)."""
    expected, positions = t["expected_1x"], t["positions"]
    check_pair(image, expected, what + " (truth)")
    out = _rows(study_id, group, pixel_metrics(image, expected, what), "truth")
    if hottest is not None:
        out += _rows(study_id, group, {"hottest_lesion_counts": lesion.lesion_peak(image, hottest, positions)}, "none")
    return out + _rows(
        study_id,
        group,
        {
            "contrast_recovery": lesion.contrast_recovery(
                image, expected, t["skeleton"], truth.lesions, positions, truth.pixel_mm
            ),
            "noise_cv_bone": lesion.noise_cv(image, expected, t["regions"]["bone"]),
            "noise_cv_soft": lesion.noise_cv(image, expected, t["regions"]["soft"]),
        },
        "truth",
    )


def measure_study(
    study: pd.DataFrame, load_counts, *, scorer: PerceptualScorer | None = None, truth: _Truth | None = None
) -> list[tuple]:
    """Tidy rows (study_id, group, metric, value, reference) of one study's image sets (incl. its 1x)."""
    study_id = str(study["study_id"].iloc[0])
    standard = study[study["group"] == STANDARD]
    if len(standard) != 1:
        raise MetricInputError(
            f"Study {study_id} has {len(standard)} image sets of group '{STANDARD}' in the "
            "image-set table; each evaluated study needs exactly one standard (1x) scan."
        )
    reference = np.asarray(load_counts(standard.iloc[0]), np.float64)
    if scorer is not None:
        scorer.set_reference(reference)
    if truth is not None:
        hottest = lesion.hottest_lesion(reference, truth.lesions, truth(1.0)["positions"], truth.pixel_mm)
    else:
        hottest = lesion.find_focal_spot(reference)
    out = []
    for _, row in study.iterrows():
        group, what = str(row["group"]), f"study {study_id} group {row['group']}"
        image = reference if group == STANDARD else np.asarray(load_counts(row), np.float64)
        check_pair(image, reference, what)
        if group != STANDARD:
            out += _rows(study_id, group, pixel_metrics(image, reference, what), STANDARD)
            if scorer is not None:
                out += _rows(study_id, group, scorer.score(image), STANDARD)
        if truth is not None:
            out += _truth_rows(study_id, group, image, truth(float(row["speed_factor"])), truth, hottest, what)
        elif hottest is not None:
            out += _rows(study_id, group, {"hottest_lesion_counts": lesion.spot_peak(image, hottest)}, "none")
    return out


def _test_rows(image_sets: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in image_sets.columns]
    if missing:
        raise MetricInputError(
            f"The image-set table lacks column(s) {', '.join(missing)}; pass the table of "
            "wbslib.io.imagesets (study_id, group, speed_factor, method, path, to_1x, split, label)."
        )
    return image_sets[image_sets["split"].astype(str) == "test"]


def measure_cohort(
    image_sets: pd.DataFrame,
    data_root: str | os.PathLike,
    *,
    lpips: bool = True,
    fid: bool = True,
    device: str = "auto",
    truth: bool = True,
    fid_feature: int = FID_FEATURE,
    fid_patch: int = FID_PATCH,
    fid_stride: int = FID_STRIDE,
    pixel_mm: float = PIXEL_MM,
    load_counts=None,
    progress: bool = True,
) -> pd.DataFrame:
    """Tidy table (study_id, group, metric, value, reference) of every test-split image set.

    `image_sets`: rows of `wbslib.io.imagesets` (one per study × group, each study with one '1x');
    only rows with split 'test' are measured. `truth`: use the phantom truth under
    `data_root/truth/` when it is there (lesion table, expected images, masks); without it the
    data are treated as clinical (no truth metrics, hottest spot found automatically).
    `lpips`/`fid` switch the perceptual metrics; missing weights give NaN (see `metric_status`).
    `load_counts(row)` defaults to `wbslib.io.imagesets.load_counts` (1x-equivalent counts).
    `pixel_mm`: pixel size (mm) for lesion radii (the phantom's `cohort.pixel_mm`). FID patches:
    `fid_patch`² at `fid_stride` with `fid_feature` Inception features (stride 32 on CPU).
    """
    if load_counts is None:
        from wbslib.io.imagesets import load_counts
    sets = _test_rows(image_sets)
    data_root = Path(data_root)
    scorer = None
    if lpips or fid:
        scorer = PerceptualScorer(
            lpips=lpips,
            fid=fid,
            device=resolve_device(device),
            fid_feature=fid_feature,
            patch=fid_patch,
            stride=fid_stride,
        )
    lesions = None
    if truth and (data_root / "truth" / "lesions.csv").exists():
        from wbslib.io.truth import load_lesions, load_truth

        lesions = load_lesions(data_root)
    rows = []
    studies = sets.groupby("study_id", sort=False)
    for study_id, study in tqdm(studies, total=studies.ngroups, desc="metrics", unit="study", disable=not progress):
        study_truth = _Truth(load_truth, data_root, str(study_id), lesions, pixel_mm) if lesions is not None else None
        rows += measure_study(study, load_counts, scorer=scorer, truth=study_truth)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def summarise(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean ± SD (ddof 1) over studies per group × metric × reference: n, mean, sd and 'text'
    ('0.190 ± 0.046', or 'not available' when every value is NaN). Groups in the paper's order."""
    missing = [c for c in TIDY_COLUMNS if c not in tidy.columns]
    if missing:
        raise MetricInputError(
            f"The metrics table lacks column(s) {', '.join(missing)}; pass the output of "
            "measure_cohort (runs/<run>/metrics.csv)."
        )
    grouped = tidy.groupby(["group", "metric", "reference"], sort=False)["value"]
    table = grouped.agg(n="count", mean="mean", sd="std").reset_index()
    table["text"] = [
        f"{m:.3f} ± {s:.3f}" if n > 1 else (f"{m:.3f}" if n == 1 else "not available")
        for n, m, s in zip(table["n"], table["mean"], table["sd"])
    ]
    table["_order"] = [group_key(g) for g in table["group"]]
    return (
        table.sort_values(["_order", "metric", "reference"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
