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

**Likert quality** (a stated rule, `wbslib.readers.quality`): the eye-filtered non-prewhitening
observer's detectability d′ of a reference metastasis (10 mm, 1.5 × the bone) in the image's class
(its error power and lesion transfer, measured on the observer cohort) at the image's own bone
level, mapped onto 1–5; the reader adds N(0, `quality_sd`²) and rounds into 1–5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbslib.core.errors import ReaderStudyError
from wbslib.core.repro import rng
from wbslib.readers.candidates import ImageFeatures, image_features
from wbslib.readers.observer import Observer
from wbslib.readers.quality import ImageQuality
from wbslib.readers.score_sheets import SHEET_COLUMNS

CONFIDENCE_EDGES = (0.5, 1.0, 2.0, 3.0)


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


def read(
    observer: Observer,
    feats: ImageFeatures,
    reader: VirtualReader,
    case_code: str,
    seed: int,
    quality: ImageQuality,
) -> dict:
    """One reader's score-sheet row for one coded image set (its noise seeded by seed, reader, code);
    `observer` and `quality` are its class's lesion observer and quality model.

    `score` = (λ − threshold) / null_sd + internal noise: the reader's continuous decision variable
    in units of the class's null SD; the call is malignant when it exceeds the criterion shift.
    """
    noise = rng(seed, "virtual-reader", reader.name, str(case_code)).standard_normal(2)
    score = (observer.decision(feats) - observer.threshold) / observer.null_sd + reader.decision_sd * noise[0]
    distance = score - reader.criterion_shift
    likert = int(np.clip(np.round(quality.likert(feats.bone_level) + reader.quality_sd * noise[1]), 1, 5))
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
    quality: Callable[[str], ImageQuality],
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Score sheet (reader, case_code, likert, malignant, confidence, score) of every reader of
    `panel` for every code; `pixels(code)` returns that image set's 1x-equivalent counts
    (2, rows, cols). `observer`: one observer for every code, or code → the observer of that
    image set's class (the adapted readers of `wbslib.readers.adapted`); `quality(code)`: the
    quality model of that image set's class (`wbslib.readers.quality`)."""
    from tqdm import tqdm

    codes = list(case_codes)
    rows = []
    for code in tqdm(codes, desc="virtual readers", unit="image set", disable=not progress):
        feats = image_features(pixels(code))
        chosen = observer if isinstance(observer, Observer) else observer(code)
        rows += [read(chosen, feats, reader, code, seed, quality(code)) for reader in panel]
    sheet = pd.DataFrame(rows, columns=[*SHEET_COLUMNS, "score"])
    return sheet.sort_values(["reader"], kind="stable").reset_index(drop=True)
