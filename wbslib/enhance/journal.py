"""The output folder of a batch (runs/<run>/enhanced/, or `wbs enhance --out`): one writer at a time, a
manifest that is its journal, and no leftovers of killed runs.

- Lock: `<folder>/.wbs-batch.lock`, an OS file lock (the maintained `filelock` package) that the system
  releases when the process ends, even by SIGKILL. A second batch into the same folder says so on
  stderr and waits for the first (or gives up after `wait` seconds with `OutputConflictError`).
- Journal: `<folder>/manifest.csv` (`ENHANCED_COLUMNS`) and `<folder>/quarantine.csv` are rewritten
  atomically after every study, in a fixed order (by output path), so at any moment they list exactly
  the outputs finished so far and a killed batch resumes from them. They hold no wall times, so an
  interrupted and resumed batch leaves the same bytes as an uninterrupted one.
- Temporary files (`.<name>.<pid>.tmp`) of killed writers are removed when the folder is opened.
- An OSError while writing stops the batch with `OutputWriteError`, naming the folder and how many
  studies are finished and listed.
- Sources are named by keyed file ids (`source_file`), never by path: the folder leaves the data folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import filelock
import pandas as pd

from wbslib.core.errors import ManifestError, OutputConflictError
from wbslib.core.fileio import read_csv, remove_stale_tmp, unwritable_output, write_csv

ENHANCED_COLUMNS = (
    "study_id",
    "group",
    "method",
    "speed_factor",
    "split",
    "label",
    "source_file",
    "source_sha256",
    "provenance",
    "path",
    "sha256",
)
QUARANTINE_COLUMNS = ("study_id", "group", "file", "error", "sentence")
LOCK_NAME = ".wbs-batch.lock"


def read_enhanced_manifest(out_root: str | os.PathLike) -> pd.DataFrame:
    """`<out_root>/manifest.csv` as a DataFrame with `ENHANCED_COLUMNS` (speed_factor float, label Int64;
    empty when there is none yet; columns of older versions, such as source paths, are dropped)."""
    df = _read_text(Path(out_root) / "manifest.csv", ENHANCED_COLUMNS)
    df["speed_factor"] = pd.to_numeric(df["speed_factor"]).astype(float)
    df["label"] = pd.array([None if v == "" else int(float(v)) for v in df["label"]], dtype="Int64")
    return df


def _read_text(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=list(columns), dtype=str)
    try:
        df = read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"{path} is not a readable CSV ({type(exc).__name__}); move it away and run the batch again (finished "
            "outputs are checked and kept)."
        ) from None
    return df.reindex(columns=list(columns), fill_value="")


def _text(row: dict) -> dict:
    """A row as the CSV holds it: every value text, missing values ''."""
    return {k: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for k, v in row.items()}


def quarantine_key(group: str, study_id: str, file: str) -> str:
    """The key of a job's quarantine row: group, study and source file id(s)."""
    return f"{group}/{study_id}/{file}"


class OutputFolder:
    """Context manager: lock the folder, clear stale temporary files, hold its manifest and quarantine rows
    (keyed by output path) and rewrite both files atomically on every change."""

    def __init__(self, root: str | os.PathLike, *, total: int, wait: float | None = None):
        self.root = Path(root)
        self.total, self.finished, self.wait = total, 0, wait
        self._lock = filelock.FileLock(self.root / LOCK_NAME)
        self.rows: dict[str, dict] = {}
        self.bad: dict[str, dict] = {}

    def __enter__(self) -> OutputFolder:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._acquire()
            remove_stale_tmp(self.root)
        except filelock.Timeout:
            raise OutputConflictError(
                f"Another batch is still writing into {self.root} after {self.wait:g} s; let it finish or "
                "choose another output folder."
            ) from None
        except OSError as exc:
            raise self.failed(exc) from None
        previous = _read_text(self.root / "manifest.csv", ENHANCED_COLUMNS).to_dict("records")
        self.rows = {r["path"]: r for r in previous}
        quarantined = _read_text(self.root / "quarantine.csv", QUARANTINE_COLUMNS).to_dict("records")
        self.bad = {quarantine_key(r["group"], r["study_id"], r["file"]): r for r in quarantined}
        return self

    def _acquire(self) -> None:
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            print(
                f"Another batch is writing into {self.root}; waiting for it to finish (lock {LOCK_NAME}).",
                file=sys.stderr,
                flush=True,
            )
            self._lock.acquire(timeout=-1 if self.wait is None else self.wait)

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def failed(self, exc: OSError) -> Exception:
        """The `OutputWriteError` that stops the batch after `exc`, saying how far it got."""
        done = (
            f"{self.finished} of {self.total} studies of this batch are finished and listed in "
            f"{self.root / 'manifest.csv'} (a rerun skips them)"
        )
        return unwritable_output(self.root, exc, done)

    def record(self, key: str, row: dict, quarantine_key: str) -> None:
        """List a finished output (`key`: its path as the manifest gives it) and drop its old quarantine row."""
        row = _text(row)
        changed = self.rows.get(key) != row
        self.rows[key] = row
        cleared = self.bad.pop(quarantine_key, None) is not None
        if changed or cleared:
            self._write(quarantine=cleared)
        self.finished += 1

    def reject(self, key: str, row: dict, quarantine_key: str) -> None:
        """Quarantine a job: its previous output row (if any) goes, its quarantine row is listed."""
        self.rows.pop(key, None)
        self.bad[quarantine_key] = _text(row)
        self._write(quarantine=True)

    def _write(self, quarantine: bool) -> None:
        try:
            rows = [self.rows[k] for k in sorted(self.rows)]
            write_csv(pd.DataFrame(rows, columns=list(ENHANCED_COLUMNS)), self.root / "manifest.csv")
            if quarantine:
                bad = [self.bad[k] for k in sorted(self.bad)]
                write_csv(pd.DataFrame(bad, columns=list(QUARANTINE_COLUMNS)), self.root / "quarantine.csv")
        except OSError as exc:
            raise self.failed(exc) from None
