"""Image metrics: one PSNR/SSIM/NRMSE/L1 (`pixel`), lesion metrics, perceptual metrics under the
weights policy, the counts check, and the per-study table of notebook 03.

The torch-backed parts (`measure`, `perceptual`, `weights`) load on first use of one of their names,
so that the readers, which need only the lesion measures, stay free of torch.
"""

import importlib

from wbslib.metrics.counts_check import counts_check, decay_correction, summarise_counts
from wbslib.metrics.lesion import (
    acquisition_positions,
    contrast_recovery,
    disk,
    find_focal_spot,
    hottest_lesion,
    lesion_centre,
    lesion_contrast,
    lesion_peak,
    lesion_radius_px,
    noise_cv,
    roi_peak,
    spot_peak,
    uniform_regions,
)
from wbslib.metrics.pixel import check_pair, l1, nrmse
from wbslib.metrics.selfsupervised import (
    binomial_split,
    bootstrap_summary,
    estimated_nrmse,
    raw_input,
    selfsupervised_errors,
    standard_scans,
    truth_loader,
)

_LAZY = {
    "TIDY_COLUMNS": "wbslib.metrics.measure",
    "measure_cohort": "wbslib.metrics.measure",
    "measure_study": "wbslib.metrics.measure",
    "metric_status": "wbslib.metrics.measure",
    "pixel_metrics": "wbslib.metrics.measure",
    "summarise": "wbslib.metrics.measure",
    "PerceptualScorer": "wbslib.metrics.perceptual",
    "display_scale": "wbslib.metrics.perceptual",
    "load_fid": "wbslib.metrics.perceptual",
    "load_lpips": "wbslib.metrics.perceptual",
    "lpips_value": "wbslib.metrics.perceptual",
    "offline_weights": "wbslib.metrics.perceptual",
    "patch_corners": "wbslib.metrics.perceptual",
    "patches": "wbslib.metrics.perceptual",
    "to_unit": "wbslib.metrics.perceptual",
    "WeightsFile": "wbslib.metrics.weights",
    "available": "wbslib.metrics.weights",
    "checkpoints_dir": "wbslib.metrics.weights",
    "load_state_dict": "wbslib.metrics.weights",
    "load_vgg16": "wbslib.metrics.weights",
    "load_vgg19": "wbslib.metrics.weights",
    "load_vgg19_features": "wbslib.metrics.weights",
    "weights_path": "wbslib.metrics.weights",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wbslib.metrics' has no attribute {name!r}")


__all__ = [
    "PerceptualScorer",
    "TIDY_COLUMNS",
    "WeightsFile",
    "acquisition_positions",
    "available",
    "binomial_split",
    "bootstrap_summary",
    "check_pair",
    "checkpoints_dir",
    "contrast_recovery",
    "counts_check",
    "decay_correction",
    "disk",
    "display_scale",
    "estimated_nrmse",
    "find_focal_spot",
    "hottest_lesion",
    "l1",
    "lesion_centre",
    "lesion_contrast",
    "lesion_peak",
    "lesion_radius_px",
    "load_fid",
    "load_lpips",
    "load_state_dict",
    "load_vgg16",
    "load_vgg19",
    "load_vgg19_features",
    "lpips_value",
    "measure_cohort",
    "measure_study",
    "metric_status",
    "noise_cv",
    "nrmse",
    "offline_weights",
    "patch_corners",
    "patches",
    "pixel_metrics",
    "raw_input",
    "roi_peak",
    "selfsupervised_errors",
    "spot_peak",
    "standard_scans",
    "summarise",
    "summarise_counts",
    "to_unit",
    "truth_loader",
    "uniform_regions",
    "weights_path",
]
