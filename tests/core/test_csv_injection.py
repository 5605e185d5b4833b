"""OWASP's CSV-injection rule in every CSV the project writes (`core.fileio.write_csv`), and the
readers of the project's own CSVs getting every value back (`core.fileio.read_csv`)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbslib.core.fileio import FORMULA_START, QUOTE, neutralise_cell, read_csv, restore_cell, write_csv
from wbslib.io.imagesets import IMAGE_SET_COLUMNS, read_image_sets, write_image_sets
from wbslib.io.manifest.schema import MANIFEST_COLUMNS, read_manifest, write_manifest
from wbslib.paper.summary import load_run_tables
from wbslib.readers.worklist import ADJUDICATED_COLUMNS, READ_COLUMNS

HOSTILE = ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR", "'quoted"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_leading_text_gets_one_quote(text):
    assert neutralise_cell(text) == QUOTE + text
    assert restore_cell(neutralise_cell(text)) == text


@pytest.mark.parametrize("value", ["-1.5", "+2", "-3e-4", ".5", "ok", "", "a=b", 7, -1.5, None, np.nan])
def test_numbers_and_plain_text_are_left_alone(value):
    assert neutralise_cell(value) is value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_neutralise_restore_round_trip_property(text):
    safe = neutralise_cell(text)
    assert restore_cell(safe) == text
    assert not safe.startswith(FORMULA_START) or safe == text  # only plain numbers keep a leading sign
    if safe != text:
        assert safe == QUOTE + text


def test_write_csv_neutralises_text_cells_and_headers_not_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "path": ["=HYPERLINK(1)", "-scans/a.dcm", "b.dcm"],
            "value": [-1.5, 2.0, -3.25],
            "n": [-1, 0, 1],
            "label": pd.Categorical(["@x", "y", "y"]),
            "=bad": ["ok", "ok", "ok"],
        }
    )
    path = write_csv(df, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "path,value,n,label,'=bad"
    assert lines[1] == "'=HYPERLINK(1),-1.5,-1,'@x,ok"
    assert lines[2] == "'-scans/a.dcm,2.0,0,y,ok"
    back = read_csv(path)
    pd.testing.assert_frame_equal(back, df.assign(label=df["label"].astype(str)), check_dtype=False)
    assert back["value"].dtype == float and back["n"].dtype.kind == "i"  # numbers stay numbers
    assert df.loc[0, "path"] == "=HYPERLINK(1)"  # the caller's frame is not changed


def _manifest(path_text: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "study_id": "S0123456789abcdef",
                "views": "ANT+POST",
                "speed_factor": "1",
                "kind": "standard",
                "path": path_text,
                "sha256": "0" * 64,
                "counts_accumulated": "",
                "split": "test",
                "label": "",
                "source": "clinical",
            }
        ],
        columns=list(MANIFEST_COLUMNS),
    )


@pytest.mark.parametrize("name", ["-scan/wbs.dcm", '=HYPERLINK("x")/wbs.dcm', "'q/wbs.dcm", "@home/wbs.dcm"])
def test_manifest_path_round_trips_and_is_neutralised_on_disk(tmp_path, name):
    out = write_manifest(_manifest(name), tmp_path / "m.csv")
    header, row = list(csv.reader(out.read_text().splitlines()))
    assert row[header.index("path")] == QUOTE + name  # a spreadsheet shows it as text
    assert read_manifest(out)["path"].tolist() == [name]


def test_image_set_paths_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    row = {"study_id": "S1", "group": "2x", "speed_factor": 2.0, "method": "raw", "path": "-odd/2x.dcm"}
    sets = pd.DataFrame([{**row, "to_1x": 2.0, "split": "test", "label": 1}], columns=list(IMAGE_SET_COLUMNS))
    write_image_sets(sets, "r")
    assert read_image_sets("r")["path"].tolist() == ["-odd/2x.dcm"]


def test_reads_of_a_reader_named_with_a_dash_round_trip(tmp_path):
    reads = pd.DataFrame(
        [("-anna", "clinician", "S1", "2x", 4, 1, 5, None), ("ben", "clinician", "S1", "2x", 3, 1, 4, None)],
        columns=READ_COLUMNS,
    )
    adjudicated = pd.DataFrame([("S1", "2x", 3.5, 1, 4.5, 9.5, False, 1)], columns=ADJUDICATED_COLUMNS)
    write_csv(reads, tmp_path / "reads.csv")
    write_csv(adjudicated, tmp_path / "reads_adjudicated.csv")
    assert "'-anna" in (tmp_path / "reads.csv").read_text()
    _, back, _ = load_run_tables(tmp_path)
    assert sorted(back["reader"]) == ["-anna", "ben"]
