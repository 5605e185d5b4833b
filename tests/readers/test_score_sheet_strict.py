"""Strict score-sheet parsing: trailing commas accepted, rows that do not fit the header, missing
columns, formula cells (OWASP CSV injection) and a worklist without its id — each one sentence."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbslib.core.errors import ParamsError, ReaderStudyError, ScoreSheetError
from wbslib.core.fileio import write_csv
from wbslib.readers.score_sheets import parse_sheet
from wbslib.readers.worklist import make_worklist, read_score_sheets, reader_config

HEADER = "worklist_id,reader,case_code,likert,malignant,confidence"


@pytest.fixture(scope="module")
def worklist() -> pd.DataFrame:
    sets = pd.DataFrame(
        [{"study_id": f"PH{p:04d}", "group": g, "split": "test"} for p in range(3) for g in ("1x", "2x")]
    )
    return make_worklist(sets, seed=2)[0]


def lines(worklist: pd.DataFrame, reader: str = "anna") -> list[str]:
    wid = worklist["worklist_id"][0]
    return [f"{wid},{reader},{code},{1 + i % 5},{i % 2},{5 - i % 5}" for i, code in enumerate(worklist["case_code"])]


def expected(worklist: pd.DataFrame, reader: str = "anna") -> pd.DataFrame:
    return pd.DataFrame(
        [(reader, code, 1 + i % 5, i % 2, 5 - i % 5) for i, code in enumerate(worklist["case_code"])],
        columns=["reader", "case_code", "likert", "malignant", "confidence"],
    )


def problems(path, worklist) -> str:
    with pytest.raises(ScoreSheetError) as err:
        read_score_sheets(path, worklist)
    return str(err.value)


@pytest.mark.parametrize("header_end, row_end", [(",", ","), ("", ","), ("", ",,"), ("", ", ,"), (",", "")], ids=str)
def test_trailing_commas_are_accepted_as_empty_columns(tmp_path, worklist, header_end, row_end):
    path = tmp_path / "sheet.csv"
    path.write_text("\n".join([HEADER + header_end, *(line + row_end for line in lines(worklist))]) + "\n")
    pd.testing.assert_frame_equal(read_score_sheets(path, worklist), expected(worklist))


def test_bom_blank_lines_crlf_and_quoted_cells_parse(tmp_path, worklist):
    body = [HEADER, "", *(f'"{line.split(",", 1)[0]}",{line.split(",", 1)[1]}' for line in lines(worklist)), ""]
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + "\r\n".join(body)).encode("utf-8"))
    pd.testing.assert_frame_equal(read_score_sheets(path, worklist), expected(worklist))


def test_header_without_worklist_id_but_rows_with_it_names_the_column(tmp_path, worklist):
    path = tmp_path / "shifted.csv"
    path.write_text("\n".join([HEADER.split(",", 1)[1], *lines(worklist)]) + "\n")
    text = problems(path, worklist)
    assert f"{path}: line 2: 6 fields where line 1 names 5 columns" in text
    assert "its first field is a worklist id, so add the column name worklist_id to the header" in text
    assert "TypeError" not in text and "unknown case code" not in text


def test_short_row_and_unnamed_column_are_named(tmp_path, worklist):
    rows = lines(worklist)
    path = tmp_path / "short.csv"
    path.write_text("\n".join([HEADER, rows[0].rsplit(",", 1)[0], *rows[1:]]) + "\n")
    assert f"{path}: line 2: 5 fields where line 1 names 6 columns; a column name (e.g. worklist_id)" in problems(
        path, worklist
    )
    path.write_text("\n".join([HEADER, rows[0] + ",x", *rows[1:]]) + "\n")
    assert "line 2: 7 fields where line 1 names 6 columns; a column name" in problems(path, worklist)
    path.write_text("\n".join([HEADER.replace(",likert", ",,likert"), *rows]) + "\n")
    assert f"{path}: line 1: a column has no name or a name twice" in problems(path, worklist)
    path.write_text("\n".join([HEADER + ",reader", *rows]) + "\n")
    assert "a column has no name or a name twice" in problems(path, worklist)


def test_missing_sheet_column_is_named(tmp_path, worklist):
    path = tmp_path / "no_conf.csv"
    path.write_text("\n".join([HEADER.rsplit(",", 1)[0], *(r.rsplit(",", 1)[0] for r in lines(worklist))]) + "\n")
    assert f"{path}: line 1: missing column(s) confidence" in problems(path, worklist)


@pytest.mark.parametrize(
    "column, value",
    [
        ("reader", '=HYPERLINK("http://evil","x")'),
        ("case_code", "@SUM(A1)"),
        ("likert", "+cmd|' /C calc'!A0"),
        ("confidence", "-2+3"),
        ("worklist_id", "=1+1"),
    ],
)
def test_formula_cells_are_rejected_never_passed_on(tmp_path, worklist, column, value):
    sheet = expected(worklist).astype(object).assign(worklist_id=worklist["worklist_id"][0])
    sheet.loc[2, column] = value
    path = tmp_path / "formula.csv"
    sheet.to_csv(path, index=False)
    text = problems(path, worklist)
    assert f"{path}: line 4: {column} {value!r} starts with {value[0]!r} as a spreadsheet formula does" in text
    assert "1 problem(s)" in text


def test_negative_number_is_a_range_problem_not_a_formula(tmp_path, worklist):
    sheet = expected(worklist).astype(object)
    sheet.loc[0, "likert"] = "-1"
    path = tmp_path / "neg.csv"
    sheet.to_csv(path, index=False)
    text = problems(path, worklist)
    assert "likert '-1' is not an integer in 1–5" in text and "formula" not in text


def test_unreadable_and_empty_sheets(tmp_path, worklist):
    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + b"\nx,\xe9,1,1,1,1\n")
    (tmp_path / "blank.csv").write_text("\n\n")
    (tmp_path / "quote.csv").write_text(HEADER + '\nx,"an"na,1,1,1,1\n')
    cases = (
        ("latin1.csv", "UnicodeDecodeError"),
        ("blank.csv", "it is empty"),
        ("quote.csv", "(Error)"),
        ("absent.csv", "FileNotFoundError"),
    )
    for name, why in cases:
        table, found = parse_sheet(tmp_path / name)
        assert table is None and len(found) == 1 and "not a readable CSV file" in found[0] and why in found[0]


@pytest.mark.parametrize("drop", ["worklist_id", "case_code"])
def test_worklist_without_its_columns_is_named(tmp_path, worklist, drop):
    path = tmp_path / "s.csv"
    path.write_text("\n".join([HEADER, *lines(worklist)]) + "\n")
    with pytest.raises(ReaderStudyError, match=f"lacks column\\(s\\) {drop}; pass the worklist.csv"):
        read_score_sheets(path, worklist.drop(columns=drop))
    with pytest.raises(ReaderStudyError, match="has no rows"):
        read_score_sheets(path, worklist.iloc[:0])


@settings(max_examples=25, deadline=None)
@given(scores=st.lists(st.tuples(st.integers(1, 5), st.integers(0, 1), st.integers(1, 5)), min_size=6, max_size=6))
def test_sheets_written_by_write_csv_round_trip(tmp_path_factory, worklist, scores):
    sheet = pd.DataFrame(scores, columns=["likert", "malignant", "confidence"])
    sheet.insert(0, "case_code", worklist["case_code"])
    sheet.insert(0, "reader", "reader.1")
    path = write_csv(sheet, tmp_path_factory.mktemp("rt") / "sheet.csv")
    pd.testing.assert_frame_equal(read_score_sheets(path, worklist), sheet, check_dtype=False)


@pytest.mark.parametrize("name", ["-anna", ".anna", "=anna", "+1"])
def test_reader_names_cannot_look_like_formulas(name):
    with pytest.raises(ParamsError, match="start with a letter or digit"):
        reader_config({"clinicians": [name]})
