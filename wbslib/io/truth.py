"""The phantom's truth on disk: per-acquisition npz files and the patient and lesion tables.

`data_root/truth/<study_id>/<speed_label>.npz` holds, for that very acquisition:
- `expected`: float32 (2, rows, cols) noise-free expected counts (ANT, POST as acquired) at its
  own count level (× speed factor = 1x-equivalent);
- `shift_px`: float64 (2,) whole-body (row, col) shift vs the 1x scan, anterior frame (on the
  posterior view the column shift changes sign); `limb_shift_px`: (4, 2) total shift of arm_R,
  arm_L, leg_R, leg_L; `lesion_rc`: (n, 2) lesion centres (anterior frame) in this acquisition,
  in the order of lesions.csv;
- masks `skeleton`, `bladder`, `kidneys`, `body`: bool (2, rows, cols);
- scalars `speed_factor`, `order` (0 = first scan), `start_min`, `minutes_before_1x`, `decay`,
  `bladder_fill`, `soft_factor`, `pixel_mm`.
Masks and small arrays are zip-deflated (level 1), `expected` is stored; timestamps are fixed, so
the same content gives the same bytes.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import PhantomTruthError
from wbslib.core.fileio import atomic_path
from wbslib.core.masks import TRUTH_MASKS as MASKS
from wbslib.core.scan import speed_label

REQUIRED = ("expected", "shift_px", *MASKS)
LESION_COLUMNS = (
    "study_id",
    "lesion_id",
    "type",
    "malignant",
    "site",
    "bone",
    "row",
    "col",
    "col_post",
    "diameter_mm",
    "contrast",
    "depth_ant_mm",
    "depth_post_mm",
    "snr_ant",
    "peak_ratio_ant",
    "visible_ant",
    "snr_post",
    "peak_ratio_post",
    "visible_post",
)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
STORE_ABOVE_BYTES = 1 << 16  # large float arrays are stored: deflating noise-like floats costs 80 ms per image


def truth_dir(data_root: str | os.PathLike) -> Path:
    """data_root/truth/."""
    return Path(data_root) / "truth"


def truth_path(data_root: str | os.PathLike, study_id: str, speed_factor: float) -> Path:
    """data_root/truth/<study_id>/<speed_label>.npz."""
    return truth_dir(data_root) / str(study_id) / f"{speed_label(speed_factor)}.npz"


def save_npz(path: str | os.PathLike, arrays: dict) -> Path:
    """Write arrays as a deterministic, fast-compressed .npz (readable by numpy.load), atomically."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name, value in arrays.items():
                value = np.asanyarray(value)
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, value, allow_pickle=False)
                deflate = value.dtype == bool or value.nbytes < STORE_ABOVE_BYTES
                archive.writestr(
                    zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME),
                    buffer.getvalue(),
                    compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
                    compresslevel=1 if deflate else None,
                )
    return Path(path)


def write_truth(data_root, study_id: str, acquisition, rendered, pixel_mm: float) -> Path:
    """Write the truth npz of one acquisition (`wbslib.phantom.acquisition.Acquisition`, its `Rendered`)."""
    state = acquisition.state
    arrays = {
        "expected": rendered.image.astype(np.float32),
        "shift_px": acquisition.shift_px(pixel_mm),
        "limb_shift_px": acquisition.limb_shift_px(pixel_mm),
        "lesion_rc": rendered.lesion_rc,
        **{k: rendered.masks[k] for k in MASKS},
        "speed_factor": np.float64(acquisition.speed_factor),
        "order": np.int64(acquisition.order),
        "start_min": np.float64(acquisition.start_min),
        "minutes_before_1x": np.float64(acquisition.minutes_before_1x),
        "decay": np.float64(acquisition.decay),
        "bladder_fill": np.float64(state.bladder_fill),
        "soft_factor": np.float64(state.soft_factor),
        "pixel_mm": np.float64(pixel_mm),
    }
    return save_npz(truth_path(data_root, study_id, acquisition.speed_factor), arrays)


def load_truth(data_root: str | os.PathLike, study_id: str, speed: float) -> dict:
    """The truth of one acquisition as a dict of arrays (keys in the module docstring)."""
    path = truth_path(data_root, study_id, speed)
    if not path.is_file():
        raise PhantomTruthError(
            f"Truth file {path} does not exist; simulate the cohort first (notebook 00) or "
            f"check the study {study_id} and speed {speed_label(speed)}."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PhantomTruthError(
            f"Truth file {path} is unreadable ({exc.__class__.__name__}); re-run the simulation into a fresh data_root."
        ) from exc
    missing = [k for k in REQUIRED if k not in out]
    if missing:
        raise PhantomTruthError(
            f"Truth file {path} lacks {', '.join(missing)}; re-run the simulation into a fresh data_root."
        )
    return out


def truth_counts(path: str | os.PathLike) -> np.ndarray:
    """The noise-free `expected` counts (2, rows, cols) of one truth file, in 1x-equivalent counts
    (× its speed factor): the image of the ideal-enhancer reference group `truth`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return (data["expected"] * np.float32(data["speed_factor"])).astype(np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise PhantomTruthError(
            f"Truth file {path} cannot be read ({exc.__class__.__name__}); simulate the cohort again (notebook 00)."
        ) from exc


def _table(data_root, name: str) -> pd.DataFrame:
    path = truth_dir(data_root) / name
    if not path.is_file():
        raise PhantomTruthError(f"Truth table {path} does not exist; simulate the cohort first (notebook 00).")
    return pd.read_csv(path, dtype={"study_id": str})


def load_lesions(data_root: str | os.PathLike) -> pd.DataFrame:
    """truth/lesions.csv: one row per lesion (columns `LESION_COLUMNS`; row, col in the 1x grid)."""
    df = _table(data_root, "lesions.csv")
    missing = [c for c in LESION_COLUMNS if c not in df.columns]
    if missing:
        raise PhantomTruthError(
            f"Truth table {truth_dir(data_root) / 'lesions.csv'} lacks {', '.join(missing)}; "
            "re-run the simulation into a fresh data_root."
        )
    return df


def load_patients(data_root: str | os.PathLike) -> pd.DataFrame:
    """truth/patients.csv: one row per patient (study_id, split, label, sex, age, height_cm, ...)."""
    return _table(data_root, "patients.csv")
