"""Phantom patients for the virtual-reader tests (`from fixtures_observer import patient, scan`):
expected counts, lesion table and phantom of one made-up patient, and its Poisson scans."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.repro import rng
from wbslib.phantom.acquisition import acquire
from wbslib.phantom.body import make_phantom

SEED = 6


def patient(study_id: str, metastatic: bool) -> tuple[np.ndarray, pd.DataFrame, object]:
    """Expected 1x counts, lesion table rows (1x anterior grid) and the phantom of one patient."""
    gen = rng(SEED, "patient", study_id)
    ph = make_phantom(
        study_id,
        {
            "sex": "F" if gen.uniform() < 0.5 else "M",
            "age": float(gen.uniform(40, 80)),
            "height_cm": float(gen.uniform(155, 185)),
            "bmi": float(gen.uniform(19, 30)),
            "metastatic": metastatic,
        },
        gen,
    )
    rendered = ph.render()
    lesions = pd.DataFrame(
        [
            {"study_id": study_id, "row": r, "col": c, "diameter_mm": l.diameter_mm, "malignant": int(l.malignant)}
            for l, (r, c) in zip(ph.lesions, rendered.lesion_rc)
        ],
        columns=["study_id", "row", "col", "diameter_mm", "malignant"],
    )
    return rendered.image, lesions, ph


def scan(expected: np.ndarray, speed: float, key: str) -> np.ndarray:
    """A raw scan at `speed` in 1x-equivalent counts (Poisson of expected / s, × s)."""
    return acquire(expected / speed, rng(SEED, "scan", key, speed)).astype(np.float32) * np.float32(speed)
