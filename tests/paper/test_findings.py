"""wbslib.paper.findings / method: notebook 05's findings box, written from the tables' numbers.

A hand-made cohort of 10 patients (S0–S4 metastatic): 1x misses S0; 2x-real and 2x-simu make 1x's
calls with slightly worse ratings (AUC 24/25, 23/25); raw 2x calls every patient malignant with one
tied rating (the degenerate group); raw 3x gets 8 patients wrong that 1x gets right (exact McNemar
p = 2 · 0.5⁸); 3x-real and 3x-simu differ from 1x in 1 and 2 patients only. Wilson CIs, AUCs and
McNemar p-values follow by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from wbslib.paper import findings as pf
from wbslib.paper import method
from wbslib.paper import tables as pt

LABELS = [1] * 5 + [0] * 5
STUDIES = [f"S{i}" for i in range(10)]
READS = {  # group: (calls S0–S9, ratings S0–S9)
    "1x": ([0, 1, 1, 1, 1, 0, 0, 0, 0, 0], [4, 9, 9, 8, 10, 1, 2, 3, 2, 1]),
    "2x": ([1] * 10, [6] * 10),
    "2x-real": ([0, 1, 1, 1, 1, 0, 0, 0, 0, 0], [4, 9, 8, 8, 10, 1, 2, 5, 2, 1]),
    "2x-simu": ([0, 1, 1, 1, 1, 0, 0, 0, 0, 0], [4, 9, 8, 7, 10, 1, 2, 5, 6, 1]),
    "3x": ([0, 0, 0, 0, 0, 1, 1, 1, 1, 0], [3, 2, 4, 3, 1, 6, 7, 5, 8, 2]),
    "3x-real": ([0, 1, 1, 1, 0, 0, 0, 0, 0, 0], [4, 9, 8, 8, 5, 1, 2, 5, 2, 1]),
    "3x-simu": ([0, 1, 1, 0, 1, 0, 0, 0, 0, 1], [3, 9, 8, 4, 7, 1, 2, 2, 3, 6]),
}
LABEL = "phantom cohort · virtual readers"
VIRTUAL = pd.DataFrame({"reader_kind": ["virtual"]})
NO_METRICS = pd.DataFrame(columns=["study_id", "group", "metric", "value", "reference"])
MALIGNANT = "every patient called malignant (specificity 0/5)"
TIED = "AUC 0.50 from tied ratings (every patient rated 6)"
DEMO_TRAIN = {"nf": 16, "nb": 1, "gc": 8, "steps": 500, "loss_weights": {"l1": 0.005, "gan": 0.0}, "perceptual": "none"}


def adjudicated(reads=READS) -> pd.DataFrame:
    rows = [
        {"study_id": sid, "group": group, "malignant": c, "rating": float(r), "likert_mean": 3.0, "label": y}
        for group, (calls, ratings) in reads.items()
        for sid, y, c, r in zip(STUDIES, LABELS, calls, ratings)
    ]
    return pd.DataFrame(rows)


def tables(adj):
    return pt.table2(adj), pt.table3(adj), pt.auc_table(adj)


def content(adj, t2=None, t3=None, auc=None, **kw):
    if t2 is None and pt.has_reference(adj):
        t2, t3, auc = tables(adj)
    args = {"reads": VIRTUAL, "metrics": NO_METRICS, "train": DEMO_TRAIN, "source": "phantom", "label": LABEL}
    return pf.findings_content(adj, t2, t3, auc, **{**args, **kw})


def test_p_and_interval_text():
    assert [pf.p_text(p) for p in (0.0004, 0.0078125, 0.21875, 0.5, 1.0)] == [
        "p < 0.001",
        "p = 0.0078",
        "p = 0.22",
        "p = 0.5",
        "p = 1.0",
    ]
    assert pf.p_text(0.0004, named=False) == "< 0.001" and pf.p_text(np.nan) == "—"
    assert pf.interval(0.9, 0.59585, 0.98212) == "0.90 (0.60–0.98)" and pf.interval(np.nan, 0, 1) == "—"


def test_every_paper_group_shows_with_the_papers_value_beside_ours():
    adj = adjudicated()
    table = pf.key_findings(adj, *tables(adj))
    assert list(table["Images"]) == list(pt.GROUP_ORDER)
    assert list(table.columns[:3]) == ["Images", "Accuracy (95 % CI)", "Paper"]
    assert list(table.iloc[0, :11]) == [
        "1x",
        "0.90 (0.60–0.98)",  # 9/10, Wilson
        "0.84",  # 70/83
        "0.80 (0.38–0.96)",
        "0.87",  # 34/39
        "1.00 (0.57–1.00)",
        "0.82",  # 36/44
        "1.00 (1.00–1.00)",
        "> 0.80",
        "—",
        "—",
    ]
    x2 = table.set_index("Images").loc["2x"]
    assert list(x2.iloc[:10]) == [
        "0.50 (0.24–0.76)",
        "0.73",
        "1.00 (0.57–1.00)",
        "0.78",
        "0.00 (0.00–0.43)",
        "0.70",
        "0.50 (0.50–0.50)",
        "< 0.80",
        "0.22",  # 1 vs 5 discordant: 2 · 7/64
        "0.087",
    ]
    by_group = table.set_index("Images")
    assert by_group.loc["2x-real", "AUC (95 % CI)"].startswith("0.96 (")  # 24/25 pairs ranked right
    assert by_group.loc["3x", "McNemar p vs 1x"] == "0.0078"  # 0 vs 8 discordant: 2 · 0.5⁸
    assert by_group.loc["3x-simu"].iloc[-2] == "0.007"  # the paper's p beside ours


def test_a_group_calling_every_patient_malignant_is_flagged_in_the_box_and_beside_its_row():
    adj = adjudicated()
    found = content(adj)
    assert found["flags"] == {
        "1x": [],
        "2x": [MALIGNANT, TIED],
        "2x-real": [],
        "2x-simu": [],
        "3x": [],
        "3x-real": ["1 discordant pair vs 1x: McNemar cannot reach p < 0.05"],
        "3x-simu": ["2 discordant pairs vs 1x: McNemar cannot reach p < 0.05"],
    }
    row = found["table"].set_index("Images")["Flag"]
    assert row["2x"] == f"{MALIGNANT}; {TIED}"
    assert row["1x"] == "" and row["2x-real"] == ""
    box = pf.findings_html(found, LABEL)
    assert box.count("every patient called malignant (specificity 0/5)") == 3  # the row, the flag list, 2x vs 1x
    assert '<span class="wbs-flag">flag</span> 2x: every patient called malignant' in box
    assert '<div class="wbs-scroll"><table' in box and "<th>Images</th>" in box
    assert '<td>2x <span class="wbs-flag">flag</span></td>' in box and "<td>2x-real</td>" in box
    assert found["headline"] == (
        "AUC 1x 1.00, 2x 0.50, 2x-real 0.96, 2x-simu 0.92, 3x 0.14, 3x-real 0.94, 3x-simu 0.90 "
        "(phantom cohort · virtual readers; 3 groups flagged)."
    )


def test_three_sentences_written_from_the_numbers():
    found = content(adjudicated())
    assert found["sentences"] == [
        "2x vs 1x (1x: accuracy 0.90, AUC 1.00): raw 2x (accuracy 0.50, AUC 0.50, McNemar p = 0.22; flagged: every "
        "patient called malignant (specificity 0/5)), 2x-real (accuracy 0.90, AUC 0.96, McNemar p = 1.0) and 2x-simu "
        "(accuracy 0.90, AUC 0.92, McNemar p = 1.0) were not significantly different from 1x in accuracy.",
        "3x vs 1x (1x: accuracy 0.90, AUC 1.00): raw 3x (accuracy 0.10, AUC 0.14, McNemar p = 0.0078) was less "
        "accurate than 1x; 3x-real (accuracy 0.80, AUC 0.94, McNemar p = 1.0; flagged: 1 discordant pair vs 1x: "
        "McNemar cannot reach p < 0.05) and 3x-simu (accuracy 0.70, AUC 0.90, McNemar p = 0.5; flagged: 2 discordant "
        "pairs vs 1x: McNemar cannot reach p < 0.05) were not significantly different from 1x in accuracy.",
        "Enhanced vs raw at the same speed (point estimates): 2x-real vs raw 2x: accuracy +0.40, AUC +0.46 (higher); "
        "2x-simu vs raw 2x: accuracy +0.40, AUC +0.42 (higher); 3x-real vs raw 3x: accuracy +0.70, AUC +0.80 "
        "(higher); 3x-simu vs raw 3x: accuracy +0.60, AUC +0.76 (higher).",
    ]


def test_missing_groups_still_show_the_paper_and_the_sentences_say_so():
    reads = {g: READS[g] for g in ("1x", "2x-real")}
    found = content(adjudicated(reads))
    table = found["table"].set_index("Images")
    assert list(table.index) == list(pt.GROUP_ORDER)
    assert list(table.loc["3x-simu"].iloc[:4]) == ["not read", "0.66", "not read", "0.69"]
    assert found["sentences"][1] == "3x vs 1x: no 3x images were read in this run."
    no_1x = content(adjudicated({"2x-real": READS["2x-real"]}))
    assert no_1x["sentences"][0] == "2x vs 1x: not compared — no 1x reads in this run."


def test_enhanced_vs_raw_says_higher_lower_or_mixed():
    reads = {
        "2x": READS["2x-simu"],
        "2x-real": READS["2x-real"],  # same calls as raw 2x, AUC 0.96 vs 0.92
        "3x": READS["3x-real"],
        "3x-simu": READS["3x-simu"],  # accuracy 0.70 vs 0.80, AUC 0.90 vs 0.94
        "1x": READS["1x"],
    }
    assert content(adjudicated(reads))["sentences"][2] == (
        "Enhanced vs raw at the same speed (point estimates): 2x-real vs raw 2x: accuracy +0.00, AUC +0.04 "
        "(higher); 3x-simu vs raw 3x: accuracy -0.10, AUC -0.04 (lower)."
    )


def test_all_tied_ratings_at_auc_one_half_are_flagged_but_an_untied_one_half_is_not():
    tied = {**READS, "3x": (READS["3x"][0], [5] * 10)}
    assert "AUC 0.50 from tied ratings (every patient rated 5)" in content(adjudicated(tied))["flags"]["3x"]
    untied = {**READS, "3x": (READS["3x"][0], [1, 2, 3, 4, 5, 1, 2, 3, 4, 5])}  # AUC 0.5 with no tie across all
    adj = adjudicated(untied)
    assert pt.auc_table(adj).set_index("group").loc["3x", "auc"] == 0.5
    assert not any("AUC" in f for f in content(adj)["flags"]["3x"])


def test_nan_statistics_are_flagged():
    adj = adjudicated()
    t2, t3, auc = tables(adj)
    t2.loc[(t2["group"] == "3x") & (t2["measure"] == "specificity"), "ci_low"] = np.nan
    auc.loc[auc["group"] == "3x", "auc"] = np.nan
    found = content(adj, t2, t3, auc)
    assert found["flags"]["3x"] == ["NaN specificity, AUC"]
    assert found["table"].set_index("Images").loc["3x", "Flag"] == "NaN specificity, AUC"


def test_identical_rows_across_groups_are_flagged():
    same = {**READS, "2x-simu": READS["2x-real"]}
    flagged = content(adjudicated(same))["flags"]
    assert flagged["2x-real"] == ["same numbers as 2x-simu"] and flagged["2x-simu"] == ["same numbers as 2x-real"]


def test_too_few_patients_for_an_auc_is_flagged_and_other_groups_follow_the_papers():
    adj = pd.concat(
        [adjudicated(), adjudicated({"2x-bm3d": READS["1x"]}).query("study_id in ['S1', 'S5', 'S6']")],
        ignore_index=True,
    )
    found = content(adj)
    assert list(found["table"]["Images"]) == [*pt.GROUP_ORDER, "2x-bm3d"]
    assert found["flags"]["2x-bm3d"] == [
        "too few patients for an AUC: 1 metastatic and 2 non-metastatic patients read in 2x-bm3d; "
        "a DeLong AUC needs at least 2 of each"
    ]


def test_without_the_reference_standard_the_box_says_what_it_needs():
    adj = adjudicated().assign(label=np.nan)
    found = content(adj)
    assert found["table"] is None and found["flags"] == {}
    assert found["sentences"] == [
        "Accuracy, sensitivity, specificity and AUC not computed — needs the reference standard (a 0/1 label per "
        "patient)."
    ]
    box = pf.findings_html(found, LABEL)
    assert "needs the reference standard" in box and "<table" not in box
    assert "Departures from the paper" in box and found["headline"].startswith("Accuracy, sensitivity")


def test_departures_from_the_papers_method():
    assert method.departures(DEMO_TRAIN, n_patients=40, source="phantom", reads=VIRTUAL, metrics=NO_METRICS) == [
        "GAN term off (γ = 0; paper 0.001).",
        "Perceptual term: off (paper: VGG19 perceptual loss).",
        "500 training steps (paper.yaml: 200,000 for the paper's 800 epochs).",
        "Generator size nf 16, nb 1, gc 8 (paper: nf 64, nb 9, gc 32).",
        "40 digital phantom patients (paper: 83 patients).",
        "Virtual readers (model observers) instead of the paper's two clinicians and a senior adjudicator.",
        "LPIPS and FID not available (pretrained weights missing).",
    ]
    paper = yaml.safe_load((Path(__file__).resolve().parents[2] / "notebooks/params/paper.yaml").read_text())
    train = {**paper["train"], "perceptual": "vgg19"}
    metrics = pd.DataFrame({"metric": ["lpips", "fid"], "value": [0.2, np.nan]})
    clinicians = pd.DataFrame({"reader_kind": ["clinician"]})
    assert method.departures(train, n_patients=83, source="clinical", reads=clinicians, metrics=metrics) == [
        "FID not available (pretrained weights missing)."
    ]
