"""Reference-standard labels (CSV keyed by patient ID) and the patient-level, label-stratified split."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ManifestError, ParamsError
from wbslib.core.repro import rng

# The splits a clinical cohort is drawn into (no observer split: that is a phantom cohort's only)
CLINICAL_SPLITS = ("train", "val", "test")


def read_labels(path: str | os.PathLike) -> dict[str, int | None]:
    """patient ID → 1 (metastatic), 0 (not) or None (unknown) from a CSV with columns patient_id, label."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"Labels file {path} does not exist; pass a CSV with columns patient_id,label.")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ManifestError(
            f"Labels file {path} is empty; write a header line patient_id,label and one line per patient."
        ) from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"Labels file {path} is not a readable CSV ({exc.__class__.__name__}); save it as UTF-8 CSV "
            "with columns patient_id,label."
        ) from exc
    if not {"patient_id", "label"} <= set(df.columns):
        raise ManifestError(
            f"Labels file {path} has columns {list(df.columns)}; it needs patient_id and label "
            "(1 metastatic, 0 not, empty unknown)."
        )
    labels: dict[str, int | None] = {}
    bad = []
    for line, (pid, raw) in enumerate(df[["patient_id", "label"]].itertuples(index=False), start=2):
        pid, raw = pid.strip(), raw.strip()
        value = {"1": 1, "0": 0, "": None}.get(raw, "bad")
        if not pid or value == "bad" or (pid in labels and labels[pid] != value):
            bad.append(f"line {line}")
            continue
        labels[pid] = value
    if bad:
        raise ManifestError(
            f"Labels file {path} has an empty patient_id, a label other than 1/0/empty, or a "
            f"patient labelled twice differently at {', '.join(bad[:8])}; fix those lines."
        )
    return labels


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, float, float]:
    """(train, val, test) shares: three numbers ≥ 0 summing to 1, else `ParamsError`."""
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(not math.isfinite(f) or f < 0 for f in values) or abs(sum(values) - 1) > 1e-6:
        raise ParamsError(
            f"Split fractions {fractions} must be three numbers ≥ 0 (train, val, test) summing to 1, e.g. 0.7,0.1,0.2."
        )
    return values


def apportion(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split n patients into counts by largest remainder (ties to the earlier split); sums to n."""
    quotas = [n * f for f in fractions]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(3), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def assign_splits(labels: pd.Series, fractions: tuple[float, ...], seed: int) -> pd.Series:
    """study_id → 'train'|'val'|'test', drawn per label stratum (1, 0, unknown) with `rng(seed, ...)`.

    labels: nullable Int64 indexed by study_id. Each stratum is split by `apportion`, so every split
    holds its share of metastatic, non-metastatic and unlabelled patients to within one patient.
    """
    shares = check_fractions(fractions)
    out = {}
    strata = labels.astype("object").where(labels.notna(), "unknown")
    for stratum in sorted(strata.unique(), key=str):
        ids = sorted(strata.index[strata == stratum])
        order = rng(seed, "split", str(stratum)).permutation(len(ids))
        names = np.repeat(CLINICAL_SPLITS, apportion(len(ids), shares))
        out.update({ids[j]: str(name) for j, name in zip(order, names)})
    return pd.Series(out, dtype=object).reindex(labels.index)
