"""Small synthetic whole-body scans for the preprocessing, dataset and training tests.

A smooth 'body' (soft tissue 8 counts/pixel at 1x), spine, ribs, a pelvic ring and a bladder,
blurred a little; the posterior view is 0.8 × the anterior. Sizes scale with (rows, cols), so the
training tests can use 128 × 64 images and stay fast.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

TINY_GAN = {  # a CPU-size generator and discriminator for one-step tests (`training.step.build_parts`)
    "nf": 8,
    "nb": 1,
    "gc": 8,
    "d_nf": 4,
    "lr": 1e-3,
    "perceptual": "none",
    "loss_weights": {"l1": 0.005, "bce": 0.01, "gan": 0.001},
    "gan_loss": "vanilla",
}


def synthetic_expected(
    rows: int = 1024, cols: int = 256, level: float = 1.0, bladder: float = 3.0, shift: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """(noise-free expected counts float32 (2, rows, cols), bladder truth mask bool (2, rows, cols)).

    `level` multiplies every count (1/s for an s-times-faster scan); `bladder` is the bladder's
    activity relative to 60 counts/pixel; `shift` moves the whole patient by (row, col) pixels.
    """
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    cy, cx = rows / 2, cols / 2
    body = ((r - cy) / (0.45 * rows)) ** 2 + ((c - cx) / (0.3 * cols)) ** 2 < 1
    img = np.where(body, 8.0, 0.0)
    img += np.where((np.abs(c - cx) < cols * 0.03) & (r > 0.12 * rows) & (r < 0.5 * rows), 60.0, 0)
    for k in range(8):
        rib = np.abs(r - (0.18 + 0.03 * k) * rows - 0.08 * (c - cx) ** 2 / cols) < max(1.0, rows / 700)
        img += np.where(rib & body & (np.abs(c - cx) < 0.25 * cols), 40.0, 0)
    ring = np.abs(np.hypot((r - 0.52 * rows) / 1.5, c - cx) - 0.16 * cols) < max(1.0, cols / 128)
    img += np.where(ring & body, 50.0, 0)
    bl = ((r - 0.54 * rows) / (0.025 * rows)) ** 2 + ((c - cx) / (0.07 * cols)) ** 2 < 1
    img += np.where(bl, bladder * 60.0, 0)
    img = ndimage.shift(ndimage.gaussian_filter(img, 1.5) * level, shift, order=1)
    bl = ndimage.shift(bl.astype(float), shift, order=1) > 0.5
    return np.stack([img, 0.8 * img]).astype(np.float32), np.stack([bl, bl])


def poisson(expected: np.ndarray, seed: int) -> np.ndarray:
    """One Poisson draw of `expected` as float32 integer counts."""
    return np.random.default_rng(seed).poisson(expected).astype(np.float32)


def write_cohort(
    root,
    *,
    rows: int = 128,
    cols: int = 64,
    n_train: int = 2,
    n_val: int = 1,
    speeds: tuple[float, ...] = (2.0,),
    seed: int = 0,
    with_standard: bool = True,
    with_truth: bool = True,
) -> dict:
    """A tiny phantom-like cohort on disk: DICOM per acquisition, truth npz files and a manifest.

    Each patient has a 1x scan and a fast-real scan per speed (acquired earlier: the bladder is
    emptier, the patient shifted by up to a pixel), Poisson noise on every one. Returns the
    params dict (run, seed, device, data_root, manifest, train) for a tiny model.
    """
    from datetime import datetime
    from pathlib import Path

    import pandas as pd

    from wbslib.core.fileio import sha256_file
    from wbslib.core.scan import speed_label
    from wbslib.io.dicom import write_acquisition
    from wbslib.io.manifest.schema import write_manifest

    root = Path(root)
    gen = np.random.default_rng(seed)
    rows_out = []
    studies = [(f"P{i:03d}", "train") for i in range(n_train)] + [(f"V{i:03d}", "val") for i in range(n_val)]
    for k, (sid, split) in enumerate(studies):
        uptake = 1.0 + 0.15 * k
        for speed in ((1.0,) if with_standard else ()) + tuple(speeds):
            shift = (0.0, 0.0) if speed == 1 else tuple(gen.uniform(-1, 1, 2))
            expected, bladder = synthetic_expected(
                rows, cols, level=uptake / speed, bladder=3.0 if speed == 1 else 2.0, shift=shift
            )
            label = speed_label(speed)
            path = Path("dicom") / sid / f"{label}.dcm"
            write_acquisition(
                root / path,
                poisson(expected, int(gen.integers(2**31))),
                speed_factor=speed,
                patient_id=sid,
                patient_name=f"Phantom^{sid}",
                study_uid=f"1.2.826.0.1.3680043.10.1.{k + 1}",
                acquisition_datetime=datetime(2024, 1, 1, 9, 0),
                series_description=f"WB {label}",
            )
            if with_truth:
                truth = root / "truth" / sid / f"{label}.npz"
                truth.parent.mkdir(parents=True, exist_ok=True)
                body = expected > 1.0
                np.savez(
                    truth,
                    expected=expected,
                    shift_px=np.asarray(shift),
                    skeleton=expected > 30,
                    bladder=bladder,
                    kidneys=np.zeros_like(bladder),
                    body=body,
                )
            rows_out.append(
                {
                    "study_id": sid,
                    "views": "ANT+POST",
                    "speed_factor": speed,
                    "kind": "standard" if speed == 1 else "fast-real",
                    "path": path.as_posix(),
                    "sha256": sha256_file(root / path),
                    "counts_accumulated": "",
                    "split": split,
                    "label": "",
                    "source": "phantom",
                }
            )
    write_manifest(pd.DataFrame(rows_out), root / "manifest.csv")
    return {
        "run": "test",
        "seed": 3,
        "device": "cpu",
        "data_root": str(root),
        "manifest": str(root / "manifest.csv"),
        "train": {
            "models": [{"mode": "simu", "speed": speeds[0]}],
            "nf": 8,
            "nb": 1,
            "gc": 8,
            "patch_size": 32,
            "batch_size": 2,
            "steps": 4,
            "val_every": 2,
            "checkpoint_every": 2,
            "lr": 2e-4,
            "loss_weights": {"l1": 0.005, "bce": 0.01, "gan": 0.001},
            "perceptual": "none",
            "gan_loss": "vanilla",
            "workers": 0,
        },
    }
