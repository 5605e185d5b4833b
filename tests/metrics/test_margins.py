"""Margins of the models over the classical baselines (wbslib.metrics.margins)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbslib.metrics.margins import baseline_margins, margin_sentences


def tidy(values: dict[str, list[float]], metric: str = "nrmse", reference: str = "truth") -> pd.DataFrame:
    rows = [
        {"study_id": f"PH{i:04d}", "group": g, "metric": metric, "value": v, "reference": reference}
        for g, vs in values.items()
        for i, v in enumerate(vs)
        if np.isfinite(v)
    ]
    return pd.DataFrame(rows)


def test_margins_are_paired_by_patient_and_bm3d_uses_only_its_studies():
    metrics = tidy(
        {
            "2x": [0.30, 0.30, 0.30, 0.30],
            "2x-gauss": [0.10, 0.10, 0.10, 0.10],
            "2x-bm3d": [0.05, np.nan, np.nan, np.nan],
            "2x-split": [0.04, 0.08, 0.08, 0.09],
            "3x-real": [0.12, 0.12, np.nan, 0.12],
        }
    )
    table = baseline_margins(pd.concat([metrics, tidy({"2x-split": [9.0]}, reference="1x")]))
    split = table.set_index("group").loc["2x-split"]
    assert split["n_gauss"] == 4 and split["nrmse"] == pytest.approx(0.0725)
    assert split["vs_gauss_pct"] == pytest.approx(-27.5)
    assert (
        split["n_bm3d"] == 1 and split["bm3d"] == pytest.approx(0.05) and split["vs_bm3d_pct"] == pytest.approx(-20.0)
    )
    assert list(table["group"]) == ["2x-split", "3x-real"]
    real = table.set_index("group").loc["3x-real"]
    assert real["n_gauss"] == 0 and np.isnan(real["vs_gauss_pct"]) and real["n_bm3d"] == 0
    sentences = margin_sentences(table)
    assert sentences[0] == (
        "2x-split: NRMSE 0.0725, 27.5 % below the tuned Gaussian (goal ≥ 10 %: met; 4 patients) "
        "and 20.0 % below BM3D (1 patient)."
    )
    assert sentences[1] == "3x-real: no tuned Gaussian at 3x to compare with."


def test_a_model_above_the_gaussian_does_not_meet_the_goal_and_no_truth_gives_no_rows():
    table = baseline_margins(tidy({"2x-gauss": [0.10, 0.10], "2x-real": [0.095, 0.095]}))
    assert table["vs_gauss_pct"].iloc[0] == pytest.approx(-5.0)
    assert "goal ≥ 10 %: not met" in margin_sentences(table)[0] and "BM3D not run" in margin_sentences(table)[0]
    assert baseline_margins(tidy({"2x-real": [0.1]}, reference="1x")).empty
