"""Score sheets of the reader study: the CSV schema, blank templates, validated ingestion.

Columns: worklist_id (optional, pre-filled in templates), reader, case_code, likert (1–5 image
quality: 5 excellent … 1 non-diagnostic), malignant (0/1), confidence (1–5: the reader's
certainty of that call, 1 a guess, 5 certain). `read_score_sheets` checks every sheet and reports
every problem (file and line) at once in one `ScoreSheetError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ScoreSheetError

SHEET_COLUMNS = ("reader", "case_code", "likert", "malignant", "confidence")
RANGES = {"likert": (1, 5), "malignant": (0, 1), "confidence": (1, 5)}
MAX_LISTED = 10


def _integer(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if np.isfinite(value) and value == int(value) else None


def _sheet_problems(
    path: Path, table: pd.DataFrame, worklist: pd.DataFrame, seen: dict
) -> tuple[list[str], list[dict]]:
    """Problems and valid rows of one score sheet; `seen` maps (reader, code) → first location."""
    wid = str(worklist["worklist_id"].iloc[0])
    codes = set(worklist["case_code"].astype(str))
    missing = [c for c in SHEET_COLUMNS if c not in table.columns]
    if missing:
        return [f"{path}: line 1: missing column(s) {', '.join(missing)} (need {', '.join(SHEET_COLUMNS)})"], []
    if "worklist_id" in table.columns:
        other = table[(table["worklist_id"] != wid) & (table["worklist_id"] != "")]
        if len(other):
            return [
                f"{path}: line {other.index[0] + 2}: sheet is for worklist {other['worklist_id'].iloc[0]}, "
                f"not this worklist {wid}"
            ], []
    if len(table) and not table["case_code"].isin(codes).any():
        return [f"{path}: none of its {len(table)} case codes is in worklist {wid}; it belongs to another worklist"], []
    problems, rows = [], []
    for i, rec in table.iterrows():
        where = f"{path}: line {i + 2}"
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
    problems, rows, seen = [], [], {}
    for path in paths:
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: not a readable CSV file ({exc.__class__.__name__})")
            continue
        table = table.rename(columns=lambda c: str(c).strip().lower()).apply(lambda s: s.str.strip())
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
