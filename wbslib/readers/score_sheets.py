"""Score sheets of the reader study: the CSV schema, blank templates, validated ingestion.

Columns: worklist_id (optional, pre-filled in templates), reader, case_code, likert (1–5 image
quality: 5 excellent … 1 non-diagnostic), malignant (0/1), confidence (1–5: the reader's
certainty of that call, 1 a guess, 5 certain). `read_score_sheets` checks every sheet and reports
every problem (file and line) at once in one `ScoreSheetError`.

Parsing is strict (Python's csv module, UTF-8 with or without BOM, cells stripped, blank lines
skipped): every row must have as many fields as line 1 names columns. The one exception is a
trailing comma — empty fields after the last named column are accepted and ignored, since
spreadsheets often export them. A cell starting with = + - or @ (a spreadsheet formula, OWASP's
CSV-injection rule) is rejected, never passed on.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ReaderStudyError, ScoreSheetError

SHEET_COLUMNS = ("reader", "case_code", "likert", "malignant", "confidence")
RANGES = {"likert": (1, 5), "malignant": (0, 1), "confidence": (1, 5)}
MAX_LISTED = 10
FORMULA_START = ("=", "+", "-", "@")
WORKLIST_COLUMNS = ("case_code", "worklist_id")


def parse_sheet(path: Path) -> tuple[pd.DataFrame | None, list[str]]:
    """(table, problems) of one score-sheet CSV, parsed strictly (see the module docstring).

    The table has lower-case column names, stripped text cells and the file's line numbers as index;
    None when the file cannot be read or its rows do not fit its header.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
        records = [(n, row) for n, row in _records(text) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return None, [f"{path}: not a readable CSV file ({exc.__class__.__name__}); save it as UTF-8 CSV"]
    if not records:
        return None, [f"{path}: not a readable CSV file (it is empty); fill in the template sheet"]
    header = [cell.strip().lower() for cell in records[0][1]]
    while header and not header[-1]:
        header.pop()
    problems = []
    if "" in header or len(set(header)) != len(header):
        problems.append(f"{path}: line {records[0][0]}: a column has no name or a name twice ({', '.join(header)})")
    rows, lines = [], []
    for n, row in records[1:]:
        cells = [cell.strip() for cell in row]
        if len(cells) > len(header) and not any(cells[len(header) :]):
            cells = cells[: len(header)]  # a trailing comma
        if len(cells) != len(header):
            id_first = len(cells) == len(header) + 1 and "worklist_id" not in header and cells[0].startswith("WL-")
            fix = (
                "its first field is a worklist id, so add the column name worklist_id to the header"
                if id_first
                else "a column name (e.g. worklist_id) is missing from the header or a value holds an unquoted comma"
            )
            problems.append(
                f"{path}: line {n}: {len(cells)} fields where line {records[0][0]} names {len(header)} columns; {fix}"
            )
        rows.append(cells)
        lines.append(n)
    if problems:
        return None, problems[:MAX_LISTED]
    return pd.DataFrame(rows, columns=header, index=lines, dtype=object), []


def _records(text: str):
    """(line number where the record starts, fields) for each CSV record of `text`."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _integer(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if np.isfinite(value) and value == int(value) else None


def _formula(value: str) -> bool:
    """A cell a spreadsheet would run as a formula: starting with = or @, or with + or - but not a number."""
    if value[:1] in ("+", "-"):
        try:
            float(value)
        except ValueError:
            return True
        return False
    return value[:1] in FORMULA_START


def _sheet_problems(
    path: Path, table: pd.DataFrame, worklist: pd.DataFrame, seen: dict
) -> tuple[list[str], list[dict]]:
    """Problems and valid rows of one score sheet (index: line numbers); `seen` maps (reader, code) →
    first location."""
    wid = str(worklist["worklist_id"].iloc[0])
    codes = set(worklist["case_code"].astype(str))
    missing = [c for c in SHEET_COLUMNS if c not in table.columns]
    if missing:
        return [f"{path}: line 1: missing column(s) {', '.join(missing)} (need {', '.join(SHEET_COLUMNS)})"], []
    checked = [c for c in ("worklist_id", *SHEET_COLUMNS) if c in table.columns]
    formulas = [
        f"{path}: line {i}: {col} {rec[col]!r} starts with {rec[col][0]!r} as a spreadsheet formula does; "
        "type the plain value"
        for i, rec in table.iterrows()
        for col in checked
        if _formula(rec[col])
    ]
    if formulas:
        return formulas, []
    if "worklist_id" in table.columns:
        other = table[(table["worklist_id"] != wid) & (table["worklist_id"] != "")]
        if len(other):
            return [
                f"{path}: line {other.index[0]}: sheet is for worklist {other['worklist_id'].iloc[0]}, "
                f"not this worklist {wid}"
            ], []
    if len(table) and not table["case_code"].isin(codes).any():
        return [f"{path}: none of its {len(table)} case codes is in worklist {wid}; it belongs to another worklist"], []
    problems, rows = [], []
    for i, rec in table.iterrows():
        where = f"{path}: line {i}"
        row, bad = {"reader": rec["reader"], "case_code": rec["case_code"]}, False
        if not rec["reader"]:
            problems.append(f"{where}: empty reader")
            bad = True
        if rec["case_code"] not in codes:
            problems.append(f"{where}: unknown case code {rec['case_code']!r}")
            bad = True
        for col, (low, high) in RANGES.items():
            value = _integer(rec[col])
            if value is None or not low <= value <= high:
                problems.append(f"{where}: {col} {rec[col]!r} is not an integer in {low}–{high}")
                bad = True
            row[col] = value
        pair = (rec["reader"], rec["case_code"])
        if pair in seen:
            problems.append(
                f"{where}: duplicate score of reader {pair[0]!r} for case {pair[1]} (first at {seen[pair]})"
            )
            bad = True
        seen.setdefault(pair, where)
        if not bad:
            rows.append(row)
    return problems, rows


def read_score_sheets(paths, worklist: pd.DataFrame, *, partial_readers=()) -> pd.DataFrame:
    """Validated scores (reader, case_code, likert, malignant, confidence) from score-sheet CSVs.

    Checks every sheet for unreadable files, missing columns, a sheet of another worklist, empty
    readers, unknown codes, duplicates (also across files), non-integer or out-of-range values,
    and cases a reader left out (readers in `partial_readers`, e.g. the adjudicator who reads only
    the discordant sets, may read a subset). Raises one ScoreSheetError listing every problem.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if not paths:
        raise ScoreSheetError("No score sheet was given; list the readers' CSV files in readers.score_sheets.")
    lacking = [c for c in WORKLIST_COLUMNS if c not in worklist.columns]
    if lacking or worklist.empty:
        what = f"lacks column(s) {', '.join(lacking)}" if lacking else "has no rows"
        raise ReaderStudyError(
            f"The worklist given to check the score sheets {what}; pass the worklist.csv that write_worklist "
            "wrote (position, case_code, worklist_id)."
        )
    problems, rows, seen = [], [], {}
    for path in paths:
        table, found = parse_sheet(path)
        problems += found
        if table is None:
            continue
        found, valid = _sheet_problems(path, table, worklist, seen)
        problems += found
        rows += valid
    codes = worklist["case_code"].astype(str).tolist()
    by_reader: dict[str, set] = {}
    for reader, code in seen:
        by_reader.setdefault(reader, set()).add(code)
    for reader, read in sorted(by_reader.items()):
        absent = [c for c in codes if c not in read]
        if reader and absent and reader not in partial_readers and len(read & set(codes)):
            problems.append(
                f"reader {reader!r}: no score for {len(absent)} of {len(codes)} cases "
                f"({', '.join(absent[:MAX_LISTED])}{', …' if len(absent) > MAX_LISTED else ''})"
            )
    if problems:
        raise ScoreSheetError(
            f"The score sheets have {len(problems)} problem(s); correct them and ingest again:\n- "
            + "\n- ".join(problems)
        )
    return pd.DataFrame(rows, columns=list(SHEET_COLUMNS))
