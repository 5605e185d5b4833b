"""Atomic writes: every output goes to a temporary name in the same folder, then is renamed.

CSV files the project writes are safe to open in a spreadsheet (OWASP's CSV-injection rule): a text
cell starting with = + - @ tab or CR gets a leading single quote, so it is shown as text and never
run as a formula; a text cell starting with a quote gets one too, so `read_csv` can strip exactly
one quote and every value comes back as written. Numbers, and text that is a plain decimal
number such as '-1.5', are left as they are.

File-system faults have one policy in every batch step: an input that cannot be read becomes
`unreadable_input` (quarantined, the step goes on); an output that cannot be written becomes
`unwritable_output` (the step stops, saying what was done). A killed writer's temporary file is
removed by `remove_stale_tmp` on the next run.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from wbslib.core.errors import OutputWriteError, UnreadableInputError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # the folder became unwritable: `remove_stale_tmp` clears it on the next run
            pass


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value):
    """`value` safe for a spreadsheet: text starting with = + - @ tab CR (or a quote) gets a leading quote."""
    if isinstance(value, str) and value[:1] in (*FORMULA_START, QUOTE) and not _PLAIN_NUMBER.fullmatch(value):
        return QUOTE + value
    return value


def restore_cell(value):
    """The value `neutralise_cell` was given: one leading quote removed from text."""
    return value[1:] if isinstance(value, str) and value.startswith(QUOTE) else value


def _text_positions(df: pd.DataFrame) -> list[int]:
    """Positions of the columns that may hold text (object, string or categorical dtype)."""
    return [
        i
        for i, t in enumerate(df.dtypes)
        if pd.api.types.is_object_dtype(t) or isinstance(t, (pd.StringDtype, pd.CategoricalDtype))
    ]


def _map_text(df: pd.DataFrame, func) -> pd.DataFrame:
    """A copy of `df` with `func` applied to every text cell and to the column names."""
    out = df.copy()
    for i in _text_positions(out):
        out.isetitem(i, out.iloc[:, i].map(func))
    if not isinstance(out.columns, pd.MultiIndex):
        out.columns = [func(c) for c in out.columns]
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame as CSV (no index) atomically, text cells and headers neutralised (`neutralise_cell`)."""
    safe = _map_text(df, neutralise_cell)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False)
    return Path(path)


def read_csv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """`pandas.read_csv` of a CSV that `write_csv` wrote, text cells and headers restored (`restore_cell`)."""
    return _map_text(pd.read_csv(path, **kwargs), restore_cell)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib Figure as PNG atomically (library functions build figures; notebooks save them)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --- file-system faults and leftovers of killed writers -------------------------------------------
TMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")  # atomic_path's temporary names: .<name>.<pid>.tmp
OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "it does not exist",
    errno.ELOOP: "a loop of symbolic links",
    errno.EIO: "an input/output error",
}


def os_reason(exc: OSError) -> str:
    """A few words for an OSError ('the disk is full'), never its file name (which may quote a source path)."""
    return OS_REASONS.get(exc.errno) or (exc.strerror or type(exc).__name__)


def unreadable_input(name: str, exc: OSError) -> UnreadableInputError:
    """The named error of an input that cannot be read; `name` is how lists may show it (a file id)."""
    return UnreadableInputError(
        f"{name} cannot be read ({os_reason(exc)}); check its permissions or copy it again, then rerun "
        "(the other files went on)."
    )


def unwritable_output(folder: str | os.PathLike, exc: OSError, done: str) -> OutputWriteError:
    """The named error that stops a step whose output folder cannot be written; `done`: what was finished."""
    return OutputWriteError(
        f"Cannot write to {folder} ({os_reason(exc)}), so the step stopped: {done}; make room or make the "
        "folder writable, then run it again."
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_tmp(folder: str | os.PathLike, name: str | None = None) -> int:
    """Remove the temporary files (`.<name>.<pid>.tmp`) that killed writers left anywhere under `folder`
    (only those of the file `name` directly in `folder`, when given); those of other running processes are
    kept. Call it before writing (under the folder's lock, if it has one); returns how many were removed."""
    removed = 0
    found = Path(folder).glob(f".{glob.escape(name)}.*.tmp") if name else Path(folder).rglob(".*.tmp")
    for path in found:
        match = TMP_NAME.match(path.name)
        if match and path.is_file():
            pid = int(match.group(1))
            if pid == os.getpid() or not _running(pid):
                path.unlink(missing_ok=True)
                removed += 1
    return removed
