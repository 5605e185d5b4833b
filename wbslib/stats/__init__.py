"""Reader-study statistics (no torch): proportions with Wilson CIs, McNemar and Newcombe, agreement
(Wilcoxon, Bland–Altman, Pearson, kappa), ROC/DeLong and Obuchowski–Rockette MRMC.
"""

from wbslib.stats.mrmc import mrmc_or
from wbslib.stats.proportions import (
    Proportion,
    as_binary,
    as_finite,
    bland_altman,
    check_lengths,
    diagnostic_performance,
    mcnemar_paired,
    mcnemar_table,
    newcombe_paired_ci,
    paired_difference_ci,
    pearson_ci,
    weighted_kappa,
    wilcoxon_paired,
    wilson,
)
from wbslib.stats.roc import (
    AucResult,
    auc_delong,
    delong_covariance,
    delong_paired,
    noninferiority_auc,
    placement_values,
    roc_curve_points,
)

__all__ = [
    "AucResult",
    "Proportion",
    "as_binary",
    "as_finite",
    "auc_delong",
    "bland_altman",
    "check_lengths",
    "delong_covariance",
    "delong_paired",
    "diagnostic_performance",
    "mcnemar_paired",
    "mcnemar_table",
    "mrmc_or",
    "newcombe_paired_ci",
    "noninferiority_auc",
    "paired_difference_ci",
    "pearson_ci",
    "placement_values",
    "roc_curve_points",
    "weighted_kappa",
    "wilcoxon_paired",
    "wilson",
]
