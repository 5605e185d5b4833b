"""wbslib.sweep.findings: notebook 06's findings box opens with the fastest non-inferior speed, then
one row per swept image set with plain-language headers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.sweep.analysis import NONE_FOUND
from wbslib.sweep.findings import decision_table, difference, findings_html, headline

SUMMARY = {
    "alpha": 0.025,
    "margin_auc": 0.05,
    "margin_sensitivity": 0.1,
    "fastest": {
        "raw": {"speed": None, "label": NONE_FOUND, "isolated": []},
        "real": {"speed": 2.5, "label": "2.5x", "auc_diff": -0.012, "auc_ci_low": -0.041, "auc_ci_high": 0.017,
                 "isolated": []},
        "simu": {"speed": None, "label": NONE_FOUND, "isolated": []},
    },
}  # fmt: skip
DECISIONS = pd.DataFrame(
    {
        "speed": [4.0, 2.5, 2.5],
        "group": ["4x-real", "2.5x-simu", "2.5x-real"],
        "auc_diff": [-0.2, -0.08, -0.012],
        "auc_ci_low": [-0.31, -0.12, -0.041],
        "auc_ci_high": [-0.09, -0.04, 0.017],
        "sens_diff": [-0.3, 0.0, 0.05],
        "sens_ci_low": [-0.5, -0.08, -0.02],
        "sens_ci_high": [-0.1, 0.08, 0.12],
        "spec_diff": [0.1, 0.0, np.nan],
        "spec_ci_low": [-0.02, -0.1, np.nan],
        "spec_ci_high": [0.2, 0.1, np.nan],
        "non_inferior": [False, False, True],
    }
)


def test_decision_table_is_wide_and_ordered():
    table = decision_table(DECISIONS)
    assert list(table.columns) == [
        "Images",
        "AUC − 1x (CI)",
        "Sensitivity − 1x (CI)",
        "Specificity − 1x (CI)",
        "Non-inferior",
    ]
    assert list(table["Images"]) == ["2.5x-real", "2.5x-simu", "4x-real"]
    assert list(table.iloc[0]) == ["2.5x-real", "-0.01 (-0.04 to +0.02)", "+0.05 (-0.02 to +0.12)", "—", "yes"]
    assert difference(0.1, np.nan, 0.2) == "+0.10"


def test_box_opens_with_the_fastest_non_inferior_speed():
    box = findings_html({"summary": SUMMARY, "noninferiority": DECISIONS})
    first = box.split("</p>", 2)[1]
    assert "real-trained model, images stayed non-inferior to 1x up to 2.5x" in first
    assert "simu-trained model, no tested speed was non-inferior" in box and "raw fast scans" not in box
    assert '<div class="wbs-scroll"><table' in box and "(95 % CI)" in box
    assert headline(SUMMARY) == (
        f"Fastest speed non-inferior to 1x: real model 2.5x, simu model {NONE_FOUND} (phantom, virtual readers)."
    )
