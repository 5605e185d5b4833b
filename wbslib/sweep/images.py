"""The image sets of one study at one swept speed, and their quality against the phantom truth.

Groups at speed s (label L, e.g. '2.5x'), all in 1x-equivalent counts:
- `L` the real-like fast scan × s; `L-thin` the simu fast scan (1x thinned to 1/s) × s;
- `L-real`, `L-simu`: the real and simu models applied to the real-like scan (as the paper: a
  deployed model sees real fast scans); `L-thin-simu` (optional): the simu model on the thinned
  scan, the simulation's own world — the gap to `L-simu` is the sim-to-real gap.
Truth: the noise-free expected image of the acquisition an image comes from (× its speed factor):
the fast acquisition for `L`, `L-real`, `L-simu`; the 1x acquisition for the thinned groups.

Measures (`image_metrics`, each the mean over the views; see `wbslib.metrics.measure`):
`ssim`, `nrmse`, `psnr` vs truth; `hottest_lesion_counts` (3 × 3 mean peak of the study's
hottest malignant lesion, chosen on the 1x scan); `contrast_recovery` (measured / true lesion
contrast); `noise_cv_bone`, `noise_cv_soft` (CV of image / truth in uniform regions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.groups import TRUTH
from wbslib.core.scan import PIXEL_MM, speed_label
from wbslib.enhance.datasets import read_counts
from wbslib.enhance.infer import enhance_counts
from wbslib.io.truth import load_truth
from wbslib.metrics import lesion
from wbslib.metrics.measure import pixel_metrics
from wbslib.sweep.scans import thinned_scan

METRICS = ("ssim", "nrmse", "psnr", "hottest_lesion_counts", "contrast_recovery", "noise_cv_bone", "noise_cv_soft")


class StudyTruth:
    """One study's truth at 1x and at one fast speed, in 1x-equivalent counts, with its uniform
    regions and the hottest malignant lesion (chosen on `standard`, the 1x scan)."""

    def __init__(
        self,
        data_root,
        study_id: str,
        speed: float,
        lesions: pd.DataFrame,
        standard: np.ndarray,
        pixel_mm: float = PIXEL_MM,
    ):
        self.lesions = lesions[lesions["study_id"].astype(str) == str(study_id)]
        self.pixel_mm = pixel_mm
        self.by_speed = {s: self._load(data_root, study_id, s) for s in sorted({1.0, float(speed)})}
        self.hottest = lesion.hottest_lesion(standard, self.lesions, self.by_speed[1.0]["positions"], pixel_mm)

    def _load(self, data_root, study_id: str, speed: float) -> dict:
        t = dict(load_truth(data_root, study_id, speed))
        t["expected_1x"] = np.asarray(t["expected"], np.float64) * speed
        t["positions"] = lesion.acquisition_positions(self.lesions, t["shift_px"], t.get("lesion_rc"))
        t["regions"] = lesion.uniform_regions(t, self.lesions, t["positions"], self.pixel_mm)
        return t


def image_metrics(image: np.ndarray, truth: StudyTruth, speed: float) -> dict[str, float]:
    """The `METRICS` of a 1x-equivalent image made from the acquisition at `speed` (1 for thinned)."""
    t = truth.by_speed[float(speed)]
    expected, positions = t["expected_1x"], t["positions"]
    out = dict(pixel_metrics(image, expected))
    out["hottest_lesion_counts"] = (
        lesion.lesion_peak(image, truth.hottest, positions) if truth.hottest is not None else np.nan
    )
    out["contrast_recovery"] = lesion.contrast_recovery(
        image, expected, t["skeleton"], truth.lesions, positions, truth.pixel_mm
    )
    out["noise_cv_bone"] = lesion.noise_cv(image, expected, t["regions"]["bone"])
    out["noise_cv_soft"] = lesion.noise_cv(image, expected, t["regions"]["soft"])
    return out


def study_images(
    study_id: str,
    fast: np.ndarray,
    standard: np.ndarray,
    speed: float,
    models: dict,
    seed: int,
    *,
    enhance_thinned: bool,
    device: str = "auto",
) -> dict[str, tuple[np.ndarray, float]]:
    """{group: (1x-equivalent image float32, speed of the acquisition it comes from)} of one study.

    `fast`: the real-like scan's counts at speed `speed`; `standard`: the 1x counts; `models`:
    {mode: (generator, meta)} for this speed.
    """
    s, label = float(speed), speed_label(speed)
    thinned = thinned_scan(standard, study_id, s, seed)
    out = {label: (fast * np.float32(s), s), f"{label}-thin": (thinned * np.float32(s), 1.0)}
    for mode, (model, meta) in models.items():
        out[f"{label}-{mode}"] = (enhance_counts(fast, model, meta, speed_factor=s, device=device), s)
    if enhance_thinned and "simu" in models:
        model, meta = models["simu"]
        out[f"{label}-thin-simu"] = (enhance_counts(thinned, model, meta, speed_factor=s, device=device), 1.0)
    return out


def study_sets(
    root, study_id: str, speed: float, paths: dict, lesions: pd.DataFrame, models: dict, seed: int, **options
) -> tuple[StudyTruth, dict[str, tuple[np.ndarray, float]]]:
    """(truth, {group: (1x-equivalent image, source speed)}) of one study of the data root `root`
    at `speed` (`paths`: (study_id, speed) → its acquisition files). At 1.0 the groups are the 1x
    scan and the noise-free `truth` (the ideal-enhancer reference); else `study_images`'
    (`options`: its enhance_thinned and device)."""
    standard = read_counts(root, paths[(study_id, 1.0)])
    truth = StudyTruth(root, study_id, speed, lesions, standard)
    if speed == 1.0:
        return truth, {"1x": (standard, 1.0), TRUTH: (truth.by_speed[1.0]["expected_1x"].astype(np.float32), 1.0)}
    fast = read_counts(root, paths[(study_id, speed)])
    return truth, study_images(study_id, fast, standard, speed, models, seed, **options)
