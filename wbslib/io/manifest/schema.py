"""The cohort manifest's schema: columns, validation, CSV read/write, one-row-per-study view.

One row per DICOM file (see data_manifest/SCHEMA.md). No names, birth dates or original UIDs:
studies are known by a pseudonym, files by a path relative to the data root.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from wbslib.core.errors import ManifestError
from wbslib.core.fileio import read_csv, remove_stale_tmp, unwritable_output, write_csv
from wbslib.core.scan import speed_label
from wbslib.core.text import listed

MANIFEST_COLUMNS = (
    "study_id",
    "views",
    "speed_factor",
    "kind",
    "path",
    "sha256",
    "counts_accumulated",
    "split",
    "label",
    "source",
)
KINDS = ("standard", "fast-real", "fast-simu", "enhanced")
# train/val: the models; test: evaluation; observer (phantom cohorts): trains the virtual readers only
SPLITS = ("train", "val", "test", "observer")
SOURCES = ("phantom", "clinical")
VIEW_SETS = {"ANT+POST": ("ANT", "POST"), "ANT": ("ANT",), "POST": ("POST",)}
SPEED_DECIMALS = 2  # speed factors are stored to 0.01 (20 cm/min stored as 3.33 mm/s is still 1x)
STUDY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_LISTED = 8
INT64_MAX = 2**63 - 1  # counts and labels are stored as nullable Int64


def _text(value: object) -> str:
    """A cell as stripped text; NaN/None/NA become ''."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _integer(text: str) -> int | None:
    """'12', '12.0' → 12; '' → None; anything else raises ValueError."""
    if text == "":
        return None
    number = float(text)
    if not number.is_integer():
        raise ValueError(text)
    return int(number)


def _row_problems(row: dict) -> tuple[list[str], dict]:
    """Problems of one row and its typed values."""
    bad, out = [], {}
    out["study_id"] = _text(row["study_id"])
    if not STUDY_ID.match(out["study_id"]):
        bad.append(f"study_id {out['study_id']!r} is not 1–64 letters, digits, '-' or '_'")
    out["views"] = _text(row["views"])
    if out["views"] not in VIEW_SETS:
        bad.append(f"views {out['views']!r} is not one of {', '.join(VIEW_SETS)}")
    try:
        out["speed_factor"] = round(float(_text(row["speed_factor"])), SPEED_DECIMALS)
        if not (math.isfinite(out["speed_factor"]) and out["speed_factor"] >= 1):
            raise ValueError
    except ValueError:
        bad.append(f"speed_factor {_text(row['speed_factor'])!r} is not a number ≥ 1")
        out["speed_factor"] = math.nan
    out["kind"] = _text(row["kind"])
    speed = out["speed_factor"]
    if out["kind"] not in KINDS:
        bad.append(f"kind {out['kind']!r} is not one of {', '.join(KINDS)}")
    elif out["kind"] == "standard" and speed != 1:
        bad.append(f"kind standard needs speed_factor 1, not {speed:g}")
    elif out["kind"].startswith("fast") and not speed > 1:
        bad.append(f"kind {out['kind']} needs speed_factor > 1, not {speed:g}")
    out["path"] = _text(row["path"])
    parts = PurePosixPath(out["path"]).parts
    if not out["path"] or out["path"].startswith("/") or "\\" in out["path"] or ".." in parts:
        bad.append(f"path {out['path']!r} is not a relative POSIX path inside the data root")
    out["sha256"] = _text(row["sha256"]).lower()
    if not SHA256.match(out["sha256"]):
        bad.append("sha256 is not 64 hexadecimal digits")
    for column, allowed in (("counts_accumulated", None), ("label", (0, 1))):
        try:
            out[column] = _integer(_text(row[column]))
            if out[column] is not None and (
                not 0 <= out[column] <= INT64_MAX or (allowed and out[column] not in allowed)
            ):
                raise ValueError
        except ValueError:
            what = "1, 0 or empty" if allowed else "a whole number ≥ 0 (below 2^63) or empty"
            bad.append(f"{column} {_text(row[column])!r} is not {what}")
            out[column] = None
    for column, allowed in (("split", SPLITS), ("source", SOURCES)):
        out[column] = _text(row[column])
        if out[column] not in allowed:
            bad.append(f"{column} {out[column]!r} is not one of {', '.join(allowed)}")
    return bad, out


def _table_problems(df: pd.DataFrame) -> list[tuple[int, str]]:
    """Problems between rows: duplicate paths, studies with mixed split/label/source, repeated views."""
    bad = []
    for i in df.index[df["path"].duplicated()]:
        bad.append((i, f"path {df.at[i, 'path']!r} is listed twice"))
    for study, rows in df.groupby("study_id", sort=False):
        for column in ("split", "label", "source"):
            values = sorted({_text(v) or "empty" for v in rows[column]})
            if len(values) > 1:
                bad.append((rows.index[0], f"study {study} has more than one {column} ({', '.join(values)})"))
    acquisitions = df[df["kind"] != "enhanced"]
    for (study, kind, speed), rows in acquisitions.groupby(["study_id", "kind", "speed_factor"], sort=False):
        views = [v for value in rows["views"] for v in VIEW_SETS.get(value, ())]
        repeated = sorted({v for v in views if views.count(v) > 1})
        if repeated:
            bad.append(
                (
                    rows.index[1],
                    f"study {study} lists its {kind} {speed_label(speed)} {'+'.join(repeated)} view more than once",
                )
            )
    return bad


def validate_manifest(df: pd.DataFrame, path: str | os.PathLike = "<manifest>") -> pd.DataFrame:
    """A typed copy of a manifest DataFrame, or `ManifestError` listing its bad rows by CSV line.

    Types: speed_factor float (rounded to 0.01), counts_accumulated and label nullable Int64,
    the rest strings. Extra columns are kept after the schema's.
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(
            f"Manifest {path} lacks the column(s) {', '.join(missing)}; see data_manifest/"
            "SCHEMA.md or rebuild it with `wbs manifest build`."
        )
    df = df.reset_index(drop=True)
    problems, typed = [], []
    for i, row in enumerate(df[list(MANIFEST_COLUMNS)].to_dict("records")):
        bad, values = _row_problems(row)
        problems += [(i, b) for b in bad]
        typed.append(values)
    out = pd.DataFrame(typed, columns=list(MANIFEST_COLUMNS))
    if not problems:
        problems = _table_problems(out)
    if problems:
        listed = "; ".join(
            f"line {i + 2} ({_text(df.at[i, 'study_id']) or 'no study_id'}): {what}"
            for i, what in sorted(problems)[:MAX_LISTED]
        )
        more = f" and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise ManifestError(
            f"Manifest {path} has {len(problems)} problem(s) — {listed}{more}; fix these rows "
            "(schema: data_manifest/SCHEMA.md) or rebuild it with `wbs manifest build`."
        )
    for column in ("counts_accumulated", "label"):
        out[column] = pd.array(out[column].tolist(), dtype="Int64")
    extras = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    return pd.concat([out, df[extras]], axis=1) if extras else out


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a manifest CSV (see `validate_manifest` for the column types)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"Manifest {path} does not exist; build it with `wbs manifest build` or check "
            "the 'manifest' entry of your params file."
        )
    try:
        df = read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"Manifest {path} is not a readable CSV ({exc.__class__.__name__}); rebuild it with `wbs manifest build`."
        ) from exc
    return validate_manifest(df, path)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate and write a manifest CSV atomically (schema columns first); returns the path. A folder that
    cannot be written (read-only, full disk) → `OutputWriteError`, and nothing is left under the final name."""
    df = validate_manifest(df, path).copy()
    df["speed_factor"] = [f"{s:g}" for s in df["speed_factor"]]
    for column in ("counts_accumulated", "label"):
        df[column] = ["" if pd.isna(v) else str(int(v)) for v in df[column]]
    try:
        if Path(path).parent.is_dir():
            remove_stale_tmp(Path(path).parent, Path(path).name)
        return write_csv(df, path)
    except OSError as exc:
        done = f"the manifest of {len(df)} files was built but not written (nothing under {Path(path).name})"
        raise unwritable_output(Path(path).parent, exc, done) from None


def acquisition_column(kind: str, speed_factor: float) -> str:
    """Column of `study_table` holding an acquisition's path: 'path_2x', 'path_2x_simu'."""
    return f"path_{speed_label(speed_factor)}" + ("_simu" if kind == "fast-simu" else "")


def study_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per study: study_id, split, label, source, n_files, speeds, and a path column per
    acquisition (`acquisition_column`; two single-view files joined by ';'). Enhanced files are
    counted in n_files but get no path column."""
    rows = []
    for study, group in df.groupby("study_id", sort=True):
        first = group.iloc[0]
        acquired = group[group["kind"] != "enhanced"]
        row = {
            "study_id": study,
            "split": first["split"],
            "label": first["label"],
            "source": first["source"],
            "n_files": len(group),
            "speeds": " ".join(speed_label(s) for s in sorted(acquired["speed_factor"].unique())),
        }
        for (kind, speed), files in acquired.groupby(["kind", "speed_factor"], sort=True):
            row[acquisition_column(kind, speed)] = ";".join(files["path"])
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["label"] = table["label"].astype("Int64")
    return table


def cohort_headline(df: pd.DataFrame, counts_1x: float | None = None) -> str:
    """One sentence on a manifest's cohort (notebook 00's headline): patients per split (evaluation =
    `test`, with its metastatic count and any without a label; observer patients when any), the speeds
    scanned and, for a phantom, the expected counts per 1x view (`counts_1x`, counts; left out when None)."""
    studies = df.drop_duplicates("study_id")
    splits = studies["split"].astype(str).value_counts()
    test = studies[studies["split"].astype(str) == "test"]
    label = pd.to_numeric(test["label"], errors="coerce")
    parts = [f"{splits.get('test', 0)} evaluation, {int((label == 1).sum())} metastatic"]
    if label.isna().any():
        parts[0] += f", {int(label.isna().sum())} without a label"
    parts.append(f"{splits.get('train', 0)} training, {splits.get('val', 0)} validation")
    if splits.get("observer", 0):
        parts[-1] += f", {splits['observer']} observer"
    kind = "phantom patients" if (studies["source"] == "phantom").all() else "patients"
    speeds = sorted(df.loc[df["kind"] != "enhanced", "speed_factor"].astype(float).unique())
    sentence = f"{len(studies)} {kind} ({'; '.join(parts)}) scanned at {listed(speed_label(s) for s in speeds)}"
    if counts_1x is not None:
        sentence += f"; {counts_1x / 1e6:.3g} M expected counts per 1x view"
    return sentence + "."
