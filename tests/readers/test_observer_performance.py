"""wbslib.readers.performance and adapted: exact numbers on small hand-made decision tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbslib.core.errors import ReaderStudyError
from wbslib.readers.adapted import class_observers, truth_rows
from wbslib.readers.performance import COLUMNS, observer_performance, performance_checks, tied_fraction

LABELS = [1, 1, 1, 0, 0, 0]


def decisions(group: str, analysis: str, values, calls) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study_id": [f"S{i}" for i in range(6)],
            "group": group,
            "label": LABELS,
            "analysis": analysis,
            "decision": values,
            "call": calls,
        }
    )


def table() -> pd.DataFrame:
    return pd.concat(
        [
            decisions("1x", "adapted", [3.0, 2.0, 0.5, 1.0, 0.0, -1.0], [1, 1, 0, 0, 0, 0]),  # AUC 8/9
            decisions("3x", "adapted", [1.0, 0.0, -1.0, 0.5, 2.0, 3.0], [1, 0, 0, 0, 1, 1]),  # AUC 1/9 + 0
            decisions("3x-real", "adapted", [3.0, 2.0, 1.0, 0.0, 0.0, 0.0], [1, 1, 1, 0, 0, 0]),  # AUC 1, ties
            decisions("truth", "adapted", [3.0, 2.0, 0.5, 1.0, 0.0, -1.0], [1, 1, 1, 0, 0, 0]),
        ],
        ignore_index=True,
    )


def test_performance_rows_exact():
    perf = observer_performance(table()).set_index("group")
    assert list(observer_performance(table()).columns) == list(COLUMNS)
    assert list(perf.index) == ["1x", "3x", "3x-real", "truth"]  # display order, truth last
    assert perf.at["1x", "auc"] == pytest.approx(8 / 9)
    assert perf.at["3x", "auc"] == pytest.approx(1 / 9)
    assert (perf.at["1x", "sensitivity"], perf.at["1x", "specificity"]) == (pytest.approx(2 / 3), 1.0)
    assert perf.at["3x-real", "tied_fraction"] == pytest.approx(0.5)
    assert perf.at["3x-real", "gain_vs_raw"] == pytest.approx(1 - 1 / 9) and perf.at["3x-real", "flag"]
    assert not perf.at["1x", "flag"] and np.isnan(perf.at["1x", "gain_vs_raw"])
    assert perf.at["truth", "reference"] and not perf.at["1x", "reference"]
    assert (perf["n_cases"] == 6).all() and (perf["auc_ci_low"] <= perf["auc"]).all()
    assert perf["localisation"].isna().all()  # no on_lesion column: not reported
    located = table().assign(on_lesion=[1, 0, 0, np.nan, np.nan, np.nan] * 4)
    assert observer_performance(located)["localisation"].tolist() == pytest.approx([1 / 3] * 4)


def test_tied_fraction():
    assert tied_fraction([1.0, 2.0, 3.0]) == 0.0
    assert tied_fraction([1.0, 1.0, 1.0, 1.0]) == 1.0
    assert tied_fraction([1.0, 1.0, 2.0, 3.0]) == 0.5


def test_checks_catch_a_degenerate_group_and_a_bad_truth():
    checks = performance_checks(observer_performance(table())).set_index("check")["holds"]
    assert checks["AUC 1x > raw 3x"]
    assert not checks["every group: both calls, < 20 % ties"]  # 3x-real ties half its λ
    assert checks["truth AUC ≥ 1x − 0.02 and specificity ≥ 1x − 0.1"]
    worse = table()
    worse.loc[worse["group"] == "truth", "call"] = 1  # every truth image called malignant
    assert not performance_checks(observer_performance(worse)).set_index("check")["holds"].iloc[1]


def test_truth_rows_and_missing_observer_cohort(tmp_path):
    sets = pd.DataFrame(
        {
            "study_id": ["P1", "P1", "P2"],
            "group": ["1x", "2x", "1x"],
            "speed_factor": [1.0, 2.0, 1.0],
            "method": ["raw", "raw", "raw"],
            "path": ["a", "b", "c"],
            "to_1x": [1.0, 2.0, 1.0],
            "split": ["test", "test", "observer"],
            "label": [1, 1, 0],
        }
    )
    (tmp_path / "truth" / "P1").mkdir(parents=True)
    (tmp_path / "truth" / "P1" / "1x.npz").write_bytes(b"")
    rows = truth_rows(sets, tmp_path)
    assert rows[["study_id", "group", "method", "split"]].values.tolist() == [["P1", "truth", "truth", "test"]]
    with pytest.raises(ReaderStudyError, match="observer cohort"):
        class_observers(sets[sets["split"] == "test"], tmp_path)
