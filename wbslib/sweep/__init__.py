"""The speed sweep beyond the paper: any-speed scans, per-speed models, virtual reads and the
fastest non-inferior speed. An application: nothing in wbslib imports it.
"""

from wbslib.sweep.analysis import (
    case_table,
    check_reads,
    fastest_noninferior,
    group_performance,
    monotone_decline,
    noninferiority,
)
from wbslib.sweep.config import sweep_config, training_params
from wbslib.sweep.figures import load_strip, plot_lesion_bias, plot_performance, plot_strip
from wbslib.sweep.images import StudyTruth, image_metrics, study_images
from wbslib.sweep.models import (
    MixedSpeedDataset,
    compare_strategies,
    mixed_dataset,
    summarise_comparison,
    train_mixed,
    train_per_speed,
)
from wbslib.sweep.reads import read_sweep_images, readers_config, sweep_observer
from wbslib.sweep.results import (
    analyse,
    collect_results,
    conclusion,
    difference_rows,
    image_rows,
    mean_ci,
    model_kind,
    summarise,
)
from wbslib.sweep.run import (
    Sweep,
    check_params,
    evaluation_studies,
    fingerprint,
    is_done,
    mark_done,
    run_comparison,
    run_speed,
    run_sweep,
)
from wbslib.sweep.scans import build_speed_data, cohort_record, real_like_scan, rebuild_phantom, thinned_scan

__all__ = [
    "MixedSpeedDataset",
    "StudyTruth",
    "Sweep",
    "analyse",
    "build_speed_data",
    "case_table",
    "check_params",
    "check_reads",
    "cohort_record",
    "collect_results",
    "compare_strategies",
    "conclusion",
    "difference_rows",
    "evaluation_studies",
    "fastest_noninferior",
    "fingerprint",
    "group_performance",
    "image_metrics",
    "image_rows",
    "is_done",
    "load_strip",
    "mark_done",
    "mean_ci",
    "mixed_dataset",
    "model_kind",
    "monotone_decline",
    "noninferiority",
    "plot_lesion_bias",
    "plot_performance",
    "plot_strip",
    "read_sweep_images",
    "readers_config",
    "real_like_scan",
    "rebuild_phantom",
    "run_comparison",
    "run_speed",
    "run_sweep",
    "study_images",
    "summarise",
    "summarise_comparison",
    "sweep_config",
    "sweep_observer",
    "thinned_scan",
    "train_mixed",
    "train_per_speed",
    "training_params",
]
