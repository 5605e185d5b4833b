"""Virtual readers: model observers that fill the clinicians' score sheet from the pixels alone.

They are never presented as clinicians: every table and figure calls them "virtual reader".
A reader sees one coded image set — its 1x-equivalent counts, nothing else (not the truth table,
group, speed or patient) — through `wbslib.readers.candidates.image_features`, computed once per
image set; the reader-specific part is cheap and seeded by (seed, reader, case code).

The lesion observer they read with is `wbslib.readers.observer` (one per image class:
`wbslib.readers.adapted`).

**A reader** has a continuous score (λ − threshold) / null_sd + N(0, `decision_sd`²) (its
internal noise, in null SDs) and calls malignant when the score exceeds its `criterion_shift`
(a liberal reader has a negative shift). Confidence 1–5 is the distance of the score from its
criterion, binned at `CONFIDENCE_EDGES` (0.5, 1, 2, 3 null SDs: below 0.5 is a guess, above 3 is
certain). ROC analyses use the continuous score; the confidence serves the paper-style table.

**Likert quality** (objective rule): the Rose SNR of a reference metastasis (10 mm, 1.5 × the
bone, the faintest the phantom makes) at the image's noise level, SNR = 0.5 · √(A · n_eff) with A
its area in pixels and n_eff the Poisson-equivalent counts per bone pixel. SNR 5 (Rose's
detectability limit) is Likert 1, twice that is 5, linear between: L = 1 + 4 (SNR − 5) / 5. Pixel
noise alone would rate any smoothing filter "excellent", while readers mark down the waxy,
over-smoothed look of filtered or denoised images (in the paper, enhanced images scored below
1x). So L loses up to `SMOOTH_PENALTY` (2) points as the image's noise texture
(`lesion_candidates` `noise_blur_px`: raw scans ≈ 0.4–0.5 px, a σ 1.5 px Gaussian filter ≈ 1.9 px)
goes from `NATURAL_BLUR_PX` (0.75) to `PLASTIC_BLUR_PX` (2.25), linearly. These anchors are a
modelling choice, stated in every report that shows virtual-reader Likert scores. The reader adds
N(0, `quality_sd`²) and rounds into 1–5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbslib.core.errors import ReaderStudyError
from wbslib.core.repro import rng
from wbslib.core.scan import PIXEL_MM
from wbslib.readers.candidates import ImageFeatures, image_features
from wbslib.readers.observer import Observer
from wbslib.readers.score_sheets import SHEET_COLUMNS

CONFIDENCE_EDGES = (0.5, 1.0, 2.0, 3.0)
ROSE_K = 5.0
REFERENCE_DIAMETER_MM = 10.0
REFERENCE_EXCESS = 0.5
NATURAL_BLUR_PX, PLASTIC_BLUR_PX, SMOOTH_PENALTY = 0.75, 2.25, 2.0


@dataclass(frozen=True)
class VirtualReader:
    """One model observer: internal noise on its score and criterion shift (both in the class's
    null SDs, negative shift = liberal) and noise on the continuous Likert score (Likert units)."""

    name: str
    decision_sd: float
    criterion_shift: float
    quality_sd: float


def virtual_panel(n_readers: int = 2) -> list[VirtualReader]:
    """`n_readers` primary virtual readers plus one adjudicator (the last, least noisy, neutral).

    Primary reader i (1-based) has decision noise 0.5, 0.8, 1.1, … (cycling), criterion shift
    −0.25 / +0.25 alternating and quality noise 0.35 / 0.5 alternating.
    """
    if n_readers < 2:
        raise ReaderStudyError(
            f"readers.n_virtual is {n_readers}; adjudication needs at least 2 primary "
            "virtual readers — set it to 2 or more in the params file."
        )
    panel = [
        VirtualReader(
            f"virtual-{i + 1}", 0.5 + 0.3 * (i % 3), -0.25 if i % 2 == 0 else 0.25, 0.35 if i % 2 == 0 else 0.5
        )
        for i in range(n_readers)
    ]
    return panel + [VirtualReader(f"virtual-{n_readers + 1}", 0.3, 0.0, 0.25)]


def quality_score(n_eff_bone: float, noise_blur_px: float = float("nan"), pixel_mm: float = PIXEL_MM) -> float:
    """Continuous Likert quality (1–5, before reader noise) from the bone noise level, less the
    smoothness penalty for a noise texture smoother than a scan's (module doc; NaN blur: none)."""
    if not np.isfinite(n_eff_bone) or n_eff_bone <= 0:
        return 1.0
    area = np.pi * (REFERENCE_DIAMETER_MM / 2.0 / pixel_mm) ** 2
    snr = REFERENCE_EXCESS * np.sqrt(area * n_eff_bone)
    smooth = np.clip((noise_blur_px - NATURAL_BLUR_PX) / (PLASTIC_BLUR_PX - NATURAL_BLUR_PX), 0.0, 1.0)
    penalty = SMOOTH_PENALTY * float(smooth) if np.isfinite(noise_blur_px) else 0.0
    return float(np.clip(np.clip(1.0 + 4.0 * (snr - ROSE_K) / ROSE_K, 1.0, 5.0) - penalty, 1.0, 5.0))


def read(
    observer: Observer,
    feats: ImageFeatures,
    reader: VirtualReader,
    case_code: str,
    seed: int,
    pixel_mm: float = PIXEL_MM,
) -> dict:
    """One reader's score-sheet row for one coded image set (its noise seeded by seed, reader, code).

    `score` = (λ − threshold) / null_sd + internal noise: the reader's continuous decision variable
    in units of the class's null SD; the call is malignant when it exceeds the criterion shift.
    """
    noise = rng(seed, "virtual-reader", reader.name, str(case_code)).standard_normal(2)
    score = (observer.decision(feats) - observer.threshold) / observer.null_sd + reader.decision_sd * noise[0]
    distance = score - reader.criterion_shift
    quality = quality_score(feats.n_eff_bone, feats.noise_blur_px, pixel_mm)
    likert = int(np.clip(np.round(quality + reader.quality_sd * noise[1]), 1, 5))
    return {
        "reader": reader.name,
        "case_code": str(case_code),
        "likert": likert,
        "malignant": int(distance > 0),
        "confidence": int(1 + np.searchsorted(CONFIDENCE_EDGES, abs(distance))),
        "score": round(float(score), 6),
    }


def read_cases(
    observer: Observer | Callable[[str], Observer],
    case_codes: Iterable[str],
    pixels: Callable[[str], np.ndarray],
    panel: list[VirtualReader],
    seed: int,
    *,
    pixel_mm: float = PIXEL_MM,
    progress: bool = False,
) -> pd.DataFrame:
    """Score sheet (reader, case_code, likert, malignant, confidence, score) of every reader of
    `panel` for every code; `pixels(code)` returns that image set's 1x-equivalent counts
    (2, rows, cols). `observer`: one observer for every code, or code → the observer of that
    image set's class (the adapted readers of `wbslib.readers.adapted`)."""
    from tqdm import tqdm

    codes = list(case_codes)
    rows = []
    for code in tqdm(codes, desc="virtual readers", unit="image set", disable=not progress):
        feats = image_features(pixels(code))
        chosen = observer if isinstance(observer, Observer) else observer(code)
        rows += [read(chosen, feats, reader, code, seed, pixel_mm) for reader in panel]
    sheet = pd.DataFrame(rows, columns=[*SHEET_COLUMNS, "score"])
    return sheet.sort_values(["reader"], kind="stable").reset_index(drop=True)
