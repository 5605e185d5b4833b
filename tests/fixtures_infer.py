"""Tiny checkpoints and a tiny on-disk cohort for the inference, baseline and image-set tests.

Scans are 128 × 64 two-view NM files written by `wbslib.io.dicom.write_acquisition` (seeded Poisson
counts), so the whole path — manifest row → DICOM → model → derived DICOM — runs in well under a
second per study.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fixtures_dicom import make_counts, write_scan
from scipy import ndimage

from wbslib.core.fileio import sha256_file
from wbslib.enhance import checkpoint as ck
from wbslib.enhance.models import RRDBNet

TINY = dict(in_ch=1, out_ch=1, nf=8, nb=1, gc=8)
COUNT_SCALE = 20.0
WEIGHTS = {"l1": 0.005, "bce": 0.01, "gan": 0.001}


def tiny_model(seed: int = 0, **size) -> RRDBNet:
    """A seeded, randomly initialised tiny generator."""
    torch.manual_seed(seed)
    return RRDBNet(**{**TINY, **size}).eval()


def tiny_checkpoint(path: Path, *, mode: str = "simu", speed: float = 2.0, seed: int = 0, **size) -> Path:
    """Write a checkpoint of a tiny generator for `mode` and `speed` (count scale `COUNT_SCALE`)."""
    model = tiny_model(seed, **size)
    meta = ck.checkpoint_meta(
        model,
        mode=mode,
        speed_factor=speed,
        count_scale=COUNT_SCALE,
        patch_size=32,
        perceptual="none",
        loss_weights=WEIGHTS,
        step=seed,
    )
    return ck.save_checkpoint(path, {"meta": meta, "generator": model.state_dict()})


def tiny_cohort(
    data_root: Path, studies: tuple[tuple[str, str], ...] = (("S01", "test"), ("S02", "test"), ("V01", "val"))
) -> pd.DataFrame:
    """Write 1x and 2x (fast-real) scans per study under data_root/dicom/<study>/ and return the manifest."""
    rows = []
    for i, (study_id, split) in enumerate(studies):
        folder = data_root / "dicom" / study_id
        folder.mkdir(parents=True, exist_ok=True)
        for speed, kind in ((1.0, "standard"), (2.0, "fast-real")):
            counts = make_counts(seed=10 * i + int(speed), mean=20.0 / speed)
            path = write_scan(
                folder,
                f"{speed:g}x.dcm",
                counts,
                speed_factor=speed,
                patient_id=f"P{study_id}",
                study_uid=f"1.2.826.0.1.3680043.8.498.{100 + i}",
            )
            rows.append(
                {
                    "study_id": study_id,
                    "views": "ANT+POST",
                    "speed_factor": speed,
                    "kind": kind,
                    "path": path.relative_to(data_root).as_posix(),
                    "sha256": sha256_file(path),
                    "counts_accumulated": int(counts.sum()),
                    "split": split,
                    "label": i % 2,
                    "source": "phantom",
                }
            )
    df = pd.DataFrame(rows)
    df["label"] = df["label"].astype("Int64")
    return df


def poisson_image(expected: np.ndarray, seed: int) -> np.ndarray:
    """One seeded Poisson draw of `expected`, float32."""
    return np.random.default_rng(seed).poisson(expected).astype(np.float32)


@functools.cache
def trained_tiny_model(steps: int = 20, seed: int = 0) -> RRDBNet:
    """A tiny generator trained for a few seconds to denoise (L1 to the smoothed expectation), so its
    output carries the image, as a real model's does (a random one outputs a near-constant)."""
    torch.manual_seed(seed)
    model = RRDBNet(**TINY)
    rows = np.hanning(66)[1:-1, None] * np.hanning(66)[None, 1:-1]
    expected = 40.0 * np.stack([rows, np.roll(rows, 16, axis=1)])
    target = torch.from_numpy(ndimage.gaussian_filter(expected, (0, 1.5, 1.5)) * 2.0 / COUNT_SCALE).float()[:, None]
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for step in range(steps):
        noisy = poisson_image(expected / 2.0, seed=step) * 2.0 / COUNT_SCALE
        loss = (model(torch.from_numpy(noisy)[:, None]) - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()
