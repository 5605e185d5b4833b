"""wbslib.readers.worklist / score_sheets / reading_sheet / reader_agreement: worklist, sheets, ingestion, adjudication.

Known answers: hand-made reads whose adjudication is worked out by hand, a broken score sheet
with one problem of every kind, the display window of a known image; property tests of the
worklist order (no patient twice in a row, every set once, reproducible).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbslib import RESEARCH_USE
from wbslib.core.errors import ParamsError, ReaderStudyError, ScoreSheetError
from wbslib.readers.agreement import (
    adjudication_summary,
    agreement_table,
    reading_headline,
    reference_status,
)
from wbslib.readers.reading_sheet import display_window, view_png, write_reading_sheets
from wbslib.readers.worklist import (
    adjudicate,
    effective_reads,
    image_lookup,
    interleaved_order,
    make_worklist,
    read_score_sheets,
    reader_config,
    reads_table,
    write_worklist,
)
from wbslib.report.html import network_references

GROUPS = ["1x", "2x", "3x", "2x-real", "2x-simu", "3x-real", "3x-simu"]


def image_sets(n_patients: int = 6, groups=GROUPS, extra_train: bool = True) -> pd.DataFrame:
    rows = [
        {"study_id": f"PH{p:04d}", "group": g, "split": "test", "label": p % 2, "path": f"{p}/{g}", "to_1x": 1.0}
        for p in range(n_patients)
        for g in groups
    ]
    if extra_train:
        rows.append({"study_id": "TR0001", "group": "1x", "split": "train", "label": 1, "path": "t", "to_1x": 1.0})
    return pd.DataFrame(rows)


# --- worklist ---------------------------------------------------------------------------------------------
def test_worklist_covers_every_test_set_once_and_hides_the_key():
    sets = image_sets()
    worklist, key = make_worklist(sets, seed=3)
    assert list(worklist.columns) == ["position", "case_code", "worklist_id"]
    assert worklist["position"].tolist() == list(range(1, 43))
    assert set(zip(key["study_id"], key["group"])) == set(zip(sets["study_id"][:42], sets["group"][:42]))
    assert "TR0001" not in set(key["study_id"])  # evaluation cohort only
    assert worklist["case_code"].is_unique and worklist["case_code"].str.fullmatch(r"[A-Z0-9]{6}").all()
    assert worklist["case_code"].tolist() == key["case_code"].tolist()
    text = worklist.to_csv()
    assert not any(s in text for s in set(sets["study_id"])) and not any(g in text for g in GROUPS)


def test_worklist_is_reproducible_and_seed_dependent():
    sets = image_sets()
    a, key_a = make_worklist(sets, seed=3)
    b, key_b = make_worklist(sets.sample(frac=1.0, random_state=1), seed=3)  # row order does not matter
    c, _ = make_worklist(sets, seed=4)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(key_a, key_b)
    assert a["case_code"].tolist() != c["case_code"].tolist()


def test_no_patient_sets_adjacent_and_groups_interleaved():
    worklist, key = make_worklist(image_sets(12), seed=11)
    patients = key["study_id"].tolist()
    assert all(p != q for p, q in zip(patients, patients[1:]))
    half = len(key) // 2
    for group in GROUPS:  # each group appears in both halves: no block of one group
        positions = np.flatnonzero(key["group"] == group)
        assert positions.min() < half <= positions.max()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=12), st.integers(0, 2**31 - 1))
def test_interleaved_order_property(counts, seed):
    patients = [f"P{i}" for i, k in enumerate(counts) for _ in range(k)]
    largest, total = max(counts), sum(counts)
    if largest > (total + 1) // 2:
        with pytest.raises(ReaderStudyError, match="more than half"):
            interleaved_order(patients, seed)
        return
    order = interleaved_order(patients, seed)
    assert sorted(order) == list(range(total))
    seq = [patients[i] for i in order]
    assert all(a != b for a, b in zip(seq, seq[1:]))
    assert order == interleaved_order(patients, seed)


def test_worklist_bad_input():
    with pytest.raises(ReaderStudyError, match="lacks column"):
        make_worklist(image_sets().drop(columns="group"), 1)
    with pytest.raises(ReaderStudyError, match="split 'test'"):
        make_worklist(image_sets().assign(split="train"), 1)


def test_reader_facing_files_never_hold_the_key(tmp_path):
    sets = image_sets(4, ["1x", "3x"], extra_train=False)
    worklist, key = make_worklist(sets, seed=5)
    written = write_worklist(worklist, key, tmp_path, ["reader-1", "reader-2"])
    pixels = image_lookup(key, sets, load_counts=lambda row: np.full((2, 40, 16), float(len(row["path"]))))
    pages = write_reading_sheets(worklist, pixels, tmp_path, ["reader-1"], session_size=3)
    assert [p.name for p in pages] == [
        "reading_sheet_reader-1_part01.html",
        "reading_sheet_reader-1_part02.html",
        "reading_sheet_reader-1_part03.html",
    ]
    facing = [written["worklist"], written["template reader-1"], written["template reader-2"], *pages]
    for path in facing:
        text = re.sub(r"data:image/png;base64,[^\"]*", "", path.read_text())  # images cannot leak text
        assert not any(s in text for s in set(sets["study_id"])), path
        assert "3x" not in text and "1x" not in text, path
    key_text = written["key"].read_text()
    assert "PH0000" in key_text and "3x" in key_text
    html = "".join(p.read_text() for p in pages)
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)  # nothing to fetch
    assert RESEARCH_USE in html and network_references(re.sub(r"data:image/png;base64,[^\"]*", "", html)) == []
    assert html.count("data:image/png;base64,") == 2 * len(worklist)
    assert all(code in html for code in worklist["case_code"])
    template = pd.read_csv(written["template reader-2"], dtype=str, keep_default_na=False)
    assert list(template.columns) == ["worklist_id", "reader", "case_code", "likert", "malignant", "confidence"]
    assert (template["reader"] == "reader-2").all() and (template["likert"] == "").all()


def test_display_window_and_inverted_grey():
    counts = np.zeros((2, 100, 40), np.float32)
    counts[:, 10:90, 5:35] = 50.0
    counts[0, 50, 20] = 1000.0  # one hot pixel does not set the window
    assert display_window(counts) == pytest.approx(50.0)
    from io import BytesIO

    from PIL import Image

    image = np.asarray(Image.open(BytesIO(view_png(np.array([[0.0, 25.0, 50.0, 99.0]]), 50.0))))
    assert image.tolist() == [[255, 127, 0, 0]]  # 0 counts white, ≥ window black, 25/50 → 255 − 128


def test_reader_names_and_config():
    with pytest.raises(ParamsError, match="letters, digits"):
        write_worklist(*make_worklist(image_sets(3), 1), "/tmp/unused", ["../evil"])
    cfg = reader_config({"n_virtual": 3, "score_sheets": "a.csv"})
    assert cfg["score_sheets"] == ["a.csv"] and cfg["clinicians"] == ["reader-1", "reader-2", "reader-3"]
    for bad, words in (({"n_virtual": 1}, "≥ 2"), ({"nvirtual": 2}, "Unknown key"), ({"session_size": 0}, "positive")):
        with pytest.raises(ParamsError, match=words):
            reader_config(bad)


# --- score sheets -----------------------------------------------------------------------------------------
def filled(worklist: pd.DataFrame, reader: str, seed: int = 0) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    n = len(worklist)
    return pd.DataFrame(
        {
            "worklist_id": worklist["worklist_id"],
            "reader": reader,
            "case_code": worklist["case_code"],
            "likert": gen.integers(1, 6, n),
            "malignant": gen.integers(0, 2, n),
            "confidence": gen.integers(1, 6, n),
        }
    )


def test_score_sheets_round_trip(tmp_path):
    worklist, key = make_worklist(image_sets(3, ["1x", "2x"]), 2)
    paths = []
    for i, reader in enumerate(("anna", "ben")):
        paths.append(tmp_path / f"{reader}.csv")
        filled(worklist, reader, i).to_csv(paths[-1], index=False)
    partial = filled(worklist, "carl", 9).iloc[:2].drop(columns="worklist_id")  # adjudicator: a subset, no id column
    partial.to_csv(tmp_path / "carl.csv", index=False)
    scores = read_score_sheets([*paths, tmp_path / "carl.csv"], worklist, partial_readers=["carl"])
    assert len(scores) == 2 * len(worklist) + 2 and list(scores.columns) == [
        "reader",
        "case_code",
        "likert",
        "malignant",
        "confidence",
    ]
    reads = reads_table(scores, key, "clinician")
    assert list(reads.columns) == [
        "reader",
        "reader_kind",
        "study_id",
        "group",
        "likert",
        "malignant",
        "confidence",
        "score",
    ]
    assert reads["score"].isna().all()  # clinicians' sheets carry no continuous score
    assert (reads["reader_kind"] == "clinician").all() and set(reads["group"]) == {"1x", "2x"}
    with pytest.raises(ReaderStudyError, match="reader_kind"):
        reads_table(scores, key, "human")


def test_broken_score_sheet_reports_every_problem_at_once(tmp_path):
    worklist, _ = make_worklist(image_sets(3, ["1x", "2x"]), 2)
    sheet = filled(worklist, "anna").astype(object)
    sheet.loc[1, "case_code"] = "ZZZZZZ"  # line 3: unknown code (and so case 2 is missing)
    sheet.loc[2, "likert"] = 7  # line 4: out of range
    sheet.loc[3, "malignant"] = "yes"  # line 5: not an integer
    sheet.loc[4, "reader"] = ""  # line 6: empty reader
    sheet = pd.concat([sheet, sheet.iloc[[0]]])  # line 8: duplicate of line 2
    path = tmp_path / "anna.csv"
    sheet.to_csv(path, index=False)
    with pytest.raises(ScoreSheetError) as err:
        read_score_sheets(path, worklist)
    text = str(err.value)
    for expected in (
        f"{path}: line 3: unknown case code 'ZZZZZZ'",
        f"{path}: line 4: likert '7' is not an integer in 1–5",
        f"{path}: line 5: malignant 'yes'",
        f"{path}: line 6: empty reader",
        f"{path}: line 8: duplicate score of reader 'anna' for case {worklist['case_code'][0]} "
        f"(first at {path}: line 2)",
        "reader 'anna': no score for 2 of 6 cases",
    ):
        assert expected in text, expected
    assert "6 problem(s)" in text


def test_sheet_for_another_worklist_and_unreadable_files(tmp_path):
    worklist, _ = make_worklist(image_sets(3, ["1x", "2x"]), 2)
    other, _ = make_worklist(image_sets(3, ["1x", "2x"]), 99)
    filled(other, "anna").to_csv(tmp_path / "with_id.csv", index=False)
    filled(other, "ben").drop(columns="worklist_id").to_csv(tmp_path / "no_id.csv", index=False)
    (tmp_path / "cols.csv").write_text("reader,case\nanna,X\n")
    (tmp_path / "empty.csv").write_text("")
    paths = [tmp_path / n for n in ("with_id.csv", "no_id.csv", "cols.csv", "empty.csv", "absent.csv")]
    with pytest.raises(ScoreSheetError) as err:
        read_score_sheets(paths, worklist)
    text = str(err.value)
    assert f"sheet is for worklist {other['worklist_id'][0]}, not this worklist {worklist['worklist_id'][0]}" in text
    assert "no_id.csv: none of its 6 case codes is in worklist" in text
    assert "cols.csv: line 1: missing column(s) case_code, likert, malignant, confidence" in text
    assert "empty.csv: not a readable CSV" in text and "absent.csv: not a readable CSV" in text
    with pytest.raises(ScoreSheetError, match="No score sheet"):
        read_score_sheets([], worklist)


# --- adjudication -----------------------------------------------------------------------------------------
def reads_by_hand() -> pd.DataFrame:
    """3 image sets × readers a, b, c: S1 agree malignant; S2 disagree (c says benign); S3 a's Likert 1."""
    rows = [
        ("a", "S1", 4, 1, 5),
        ("b", "S1", 3, 1, 3),
        ("c", "S1", 5, 0, 2),
        ("a", "S2", 4, 1, 2),
        ("b", "S2", 2, 0, 4),
        ("c", "S2", 3, 0, 5),
        ("a", "S3", 1, 1, 5),
        ("b", "S3", 2, 0, 2),
        ("c", "S3", 4, 1, 4),
    ]
    return pd.DataFrame(
        [
            {
                "reader": r,
                "reader_kind": "virtual",
                "study_id": s,
                "group": "1x",
                "likert": lk,
                "malignant": m,
                "confidence": c,
            }
            for r, s, lk, m, c in rows
        ]
    )


def test_effective_reads_rule_and_rating():
    eff = effective_reads(reads_by_hand())
    a_s3 = eff[(eff["reader"] == "a") & (eff["study_id"] == "S3")].iloc[0]
    assert (a_s3["malignant"], a_s3["confidence"], a_s3["rating"]) == (0, 1, 5)  # Likert 1 → benign guess
    assert eff["rating"].tolist() == [10, 8, 4, 7, 2, 1, 5, 4, 9]


def test_adjudication_known_answer():
    adj = adjudicate(reads_by_hand(), {"S1": 1, "S2": 0}).set_index("study_id")
    assert adj.loc["S1", "malignant"] == 1 and not adj.loc["S1", "adjudicated"]
    assert adj.loc["S1", "rating"] == 9.0 and adj.loc["S1", "confidence"] == 4.0 and adj.loc["S1", "likert_mean"] == 3.5
    assert adj.loc["S2", "malignant"] == 0 and adj.loc["S2", "adjudicated"] and adj.loc["S2", "rating"] == 1.0
    assert adj.loc["S3", "malignant"] == 0 and not adj.loc["S3", "adjudicated"]  # a's Likert 1 → both benign
    assert adj.loc["S1", "label"] == 1 and np.isnan(adj.loc["S3", "label"])
    assert ((adj["rating"] > 5.5) == (adj["malignant"] == 1)).all()
    summary = adjudication_summary(adj.reset_index())
    assert summary.loc[0, "image_sets"] == 3 and summary.loc[0, "adjudicated"] == pytest.approx(1 / 3)


def test_adjudication_bad_input():
    reads = reads_by_hand()
    with pytest.raises(ReaderStudyError, match="two primary readers"):
        adjudicate(reads[reads["reader"] == "a"])
    with pytest.raises(ReaderStudyError, match="disagree on 1 image sets and 1 lack a third"):
        adjudicate(reads[reads["reader"] != "c"])
    with pytest.raises(ReaderStudyError, match="lack a read by a or b"):
        adjudicate(reads.drop(index=0))
    assert adjudicate(reads, primary=("a", "c"), adjudicator="b").shape[0] == 3


def test_agreement_table_and_reference_status():
    reads = reads_by_hand()
    twin = pd.concat([reads[reads["reader"] == "a"], reads[reads["reader"] == "a"].assign(reader="b")])
    same = agreement_table(twin).iloc[0]
    assert same["likert_kappa"] == pytest.approx(1.0) and same["call_agreement"] == 1.0
    table = agreement_table(reads).iloc[0]
    assert table["n"] == 3 and table["call_agreement"] == pytest.approx(2 / 3)
    assert "every analysis runs" in reference_status(pd.Series([1, 0]))
    text = reference_status(pd.Series([np.nan, np.nan]))
    assert "2 of 2 patients lack a reference standard" in text and "Table 2" in text and "Table 4" in text


def test_reading_headline_counts_image_sets_readers_and_adjudications():
    reads = pd.DataFrame(
        {"reader": ["virtual-1", "virtual-2", "virtual-3"] * 2, "reader_kind": "virtual", "study_id": "P1"}
    )
    adjudicated = pd.DataFrame(
        {
            "study_id": ["P1", "P1", "P2", "P2", "P3", "P3"],
            "group": ["1x", "2x"] * 3,
            "adjudicated": [False, True, False, False, True, False],
        }
    )
    assert reading_headline(reads, adjudicated) == (
        "6 image sets of 3 patients in 2 groups read by 3 virtual readers (blinded worklist); "
        "the third reader settled 2 where the two primary readers disagreed."
    )
    clinicians = reads.iloc[:2].assign(reader=["dr-a", "dr-b"], reader_kind="clinician")
    assert reading_headline(clinicians, adjudicated.iloc[:1].assign(adjudicated=False)) == (
        "1 image set of 1 patient in 1 group read by 2 clinicians (blinded worklist); "
        "the two primary readers agreed on every call."
    )
