"""wbslib.sweep.findings: notebook 06's findings box opens with the fastest non-inferior speed, then
one row per swept image set with plain-language headers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbslib.sweep.analysis import NONE_FOUND
from wbslib.sweep.findings import decision_table, difference, enhancement_gains, findings_html, gain_flags, headline

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


def results_with(auc: dict[tuple[float, str], tuple[float, float]]) -> pd.DataFrame:
    """A results table holding only AUCs: {(speed, group): (adapted, unadapted)}."""
    rows = [
        {"speed": speed, "group": group, "metric": metric, "estimate": value}
        for (speed, group), pair in auc.items()
        for metric, value in zip(("auc", "auc_unadapted"), pair)
    ]
    return pd.DataFrame(rows + [{"speed": 4.0, "group": "4x-real", "metric": "ssim", "estimate": 0.99}])


def test_enhanced_sets_are_compared_with_the_scan_they_enhanced_and_large_gains_flagged():
    results = results_with(
        {
            (1.0, "1x"): (0.82, 0.82),
            (1.0, "truth"): (0.80, 0.78),
            (4.0, "4x"): (0.60, 0.62),
            (4.0, "4x-real"): (0.75, 0.70),
            (4.0, "4x-thin"): (0.70, 0.71),
            (4.0, "4x-thin-simu"): (0.75, 0.60),
        }
    )
    gains = enhancement_gains(results).set_index(["group", "analysis"])
    assert sorted(gains.index) == [
        ("4x-real", "adapted"),
        ("4x-real", "unadapted"),
        ("4x-thin-simu", "adapted"),
        ("4x-thin-simu", "unadapted"),
    ]  # raw, thinned and truth are inputs or references, not enhancement
    assert gains.loc[("4x-real", "adapted"), "auc_input"] == 0.60
    assert gains.loc[("4x-real", "adapted"), "gain_vs_input"] == pytest.approx(0.15)
    assert gains.loc[("4x-thin-simu", "adapted"), "auc_input"] == 0.70  # against the thinned scan
    assert gains["flag"].tolist() == [True, False, False, False]
    (sentence,) = gain_flags(enhancement_gains(results))
    assert sentence.startswith("Flag: 4x-real (adapted reader) reads +0.15 AUC over the scan it enhanced")
    box = findings_html({"summary": SUMMARY, "noninferiority": DECISIONS, "results": results})
    assert "<strong>Flag: 4x-real" in box
    assert "Flag:" not in findings_html({"summary": SUMMARY, "noninferiority": DECISIONS})
