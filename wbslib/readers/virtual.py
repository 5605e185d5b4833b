"""Virtual readers: model observers that fill the clinicians' score sheet from the pixels alone.

They are never presented as clinicians: every table and figure calls them "virtual reader".
A reader sees one coded image set — its 1x-equivalent counts, nothing else (not the truth table,
group, speed or patient) — through `wbslib.readers.candidates.image_features`, computed once per
image set; the reader-specific part is cheap and seeded by (seed, reader, case code).

**Lesion observer** (`train_observer`): a logistic regression (standardised inputs) on the
lesion candidates of the 1x images of the *training split* and their thinned and smoothed
variants (`training_variants`, so that it reads every image quality it will meet): each candidate's features and their
z-scores against a normal atlas of the same body position (`wbslib.readers.atlas`, fitted on the
training candidates that are not on a malignant lesion). A candidate is positive when it lies
within the lesion's radius (≥ 2 px) + 2 px of a malignant lesion of the phantom's truth table —
the only use of truth, and only for training. An image set's decision variable λ is the largest
candidate logit. The decision threshold is the one that maximises Youden's J (sensitivity +
specificity − 1) over the training images' λ against their patient labels.

**A reader** adds its internal noise N(0, `decision_sd`²) to λ and calls malignant when
λ + noise > threshold + `criterion_shift` (a liberal reader has a negative shift). Confidence
1–5 is the distance of λ + noise from its criterion in logit units, binned at
`CONFIDENCE_EDGES` (0.5, 1, 2, 3: a distance below 0.5 is a guess, above 3 is certain).

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

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from wbslib.core.counts import gaussian_counts, thin
from wbslib.core.errors import ReaderStudyError
from wbslib.core.fileio import write_text
from wbslib.core.repro import rng
from wbslib.core.scan import PIXEL_MM
from wbslib.readers.atlas import ATLAS_FEATURES, COL_BINS, ROW_BINS, atlas_z, fit_atlas
from wbslib.readers.candidates import FEATURES, ImageFeatures, image_features
from wbslib.readers.score_sheets import SHEET_COLUMNS

LABEL_MARGIN_PX = 2.0
CONFIDENCE_EDGES = (0.5, 1.0, 2.0, 3.0)
ROSE_K = 5.0
REFERENCE_DIAMETER_MM = 10.0
REFERENCE_EXCESS = 0.5
NATURAL_BLUR_PX, PLASTIC_BLUR_PX, SMOOTH_PENALTY = 0.75, 2.25, 2.0
NO_CANDIDATE = -20.0  # λ of an image set without any candidate (logit units)
VARIANT_SPEEDS = (2.0, 3.0)
VARIANT_SMOOTH_PX = 1.5


@dataclass(frozen=True)
class VirtualReader:
    """One model observer: internal noise on λ (logit units), criterion shift (logit units,
    negative = liberal) and noise on the continuous Likert score (Likert units)."""

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


def model_inputs(features: np.ndarray, views: np.ndarray, atlas: dict) -> np.ndarray:
    """The observer's inputs per candidate: its features (lateral position unsigned) and their
    z-scores against the normal atlas (`wbslib.readers.atlas`)."""
    base = features.copy()
    base[:, FEATURES.index("lateral_fraction")] = np.abs(base[:, FEATURES.index("lateral_fraction")])
    return np.hstack([base, atlas_z(atlas, features, views)])


@dataclass
class Observer:
    """A trained lesion observer: normal atlas, standardisation and logistic weights over
    `model_inputs`, decision threshold (logit units)."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    atlas_mean: list
    atlas_sd: list
    features: tuple[str, ...] = FEATURES
    n_training_images: int = 0
    n_training_lesions: int = 0

    @cached_property
    def _arrays(self) -> tuple:
        atlas = {"mean": np.asarray(self.atlas_mean, np.float64), "sd": np.asarray(self.atlas_sd, np.float64)}
        return atlas, np.asarray(self.mean), np.asarray(self.scale), np.asarray(self.coef)

    def scores(self, feats: ImageFeatures) -> np.ndarray:
        """Logit of every candidate of one image set."""
        atlas, mean, scale, coef = self._arrays
        return ((model_inputs(feats.features, feats.where[:, 0], atlas) - mean) / scale) @ coef + self.intercept

    def decision(self, feats: ImageFeatures) -> float:
        """λ: the largest candidate logit of one image set (`NO_CANDIDATE` without candidates)."""
        return float(np.max(self.scores(feats))) if len(feats.features) else NO_CANDIDATE

    def save(self, path: str | os.PathLike) -> Path:
        """Write the observer as JSON (atomically)."""
        return write_text(json.dumps({**asdict(self), "features": list(self.features)}), path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Observer:
        """Read an observer written by `save`; ReaderStudyError if missing or for other features."""
        try:
            data = json.loads(Path(path).read_text())
            observer = cls(**{**data, "features": tuple(data["features"])})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ReaderStudyError(
                f"Observer file {path} cannot be read ({exc.__class__.__name__}); "
                "train the virtual readers again (notebook 04)."
            ) from exc
        shape = (2, len(ATLAS_FEATURES), ROW_BINS, COL_BINS)
        if (
            observer.features != FEATURES
            or len(observer.coef) != len(FEATURES) + len(ATLAS_FEATURES)
            or np.shape(observer.atlas_mean) != shape
            or np.shape(observer.atlas_sd) != shape
        ):
            raise ReaderStudyError(
                f"Observer file {path} was trained on features {observer.features} with another "
                "atlas; train the virtual readers again (notebook 04)."
            )
        return observer


def candidate_labels(
    feats: ImageFeatures, lesions: pd.DataFrame, cols: int = 256, pixel_mm: float = PIXEL_MM
) -> np.ndarray:
    """1 for candidates within radius + LABEL_MARGIN_PX of a malignant lesion, else 0.

    `lesions`: rows of one study from the truth table (row, col in the 1x anterior frame,
    diameter_mm, malignant); on the posterior view the column is mirrored (cols − 1 − col).
    """
    labels = np.zeros(len(feats.where), np.int64)
    malignant = lesions[lesions["malignant"].astype(str).str.lower().isin(("true", "1", "1.0"))]
    for _, lesion in malignant.iterrows():
        reach = max(float(lesion["diameter_mm"]) / 2.0 / pixel_mm, 2.0) + LABEL_MARGIN_PX
        col = np.where(feats.where[:, 0] == 0, float(lesion["col"]), cols - 1 - float(lesion["col"]))
        near = np.hypot(feats.where[:, 1] - float(lesion["row"]), feats.where[:, 2] - col) <= reach
        labels[near] = 1
    return labels


def _youden_threshold(decisions: np.ndarray, labels: np.ndarray) -> float:
    """The midpoint between adjacent sorted λ that maximises Youden's J (first of ties)."""
    values = np.unique(decisions)
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2.0, [values[-1] + 1.0]])
    pos, neg = labels == 1, labels == 0
    j = [np.mean(decisions[pos] > t) + np.mean(decisions[neg] <= t) - 1.0 for t in cuts]
    return float(cuts[int(np.argmax(j))])


def train_observer(training: Iterable[tuple[np.ndarray, pd.DataFrame, int]], *, C: float = 1.0) -> Observer:
    """Train the lesion observer on 1x training images: (counts, lesions of that study, patient label).

    ReaderStudyError when the training images hold no malignant candidate or lack metastatic or
    non-metastatic patients.
    """
    feats, labels, patients = [], [], []
    for counts, lesions, label in training:
        f = image_features(counts)
        feats.append(f)
        labels.append(candidate_labels(f, lesions, cols=np.asarray(counts).shape[-1]))
        patients.append(int(label))
    patients = np.asarray(patients)
    if len(feats) == 0 or patients.min(initial=1) == 1 or patients.max(initial=0) == 0:
        raise ReaderStudyError(
            f"The training split holds {int(patients.sum())} metastatic and "
            f"{int((patients == 0).sum())} non-metastatic 1x scans; virtual readers need both "
            "— enlarge the training cohort (cohort.n_train)."
        )
    x, y = np.vstack([f.features for f in feats]), np.concatenate(labels)
    views = np.concatenate([f.where[:, 0] for f in feats])
    if y.sum() == 0:
        raise ReaderStudyError(
            "No lesion candidate of the 1x training images lies on a malignant lesion of the "
            "truth table; check truth/lesions.csv against the images."
        )
    atlas = fit_atlas(x[y == 0], views[y == 0])
    inputs = model_inputs(x, views, atlas)
    mean, scale = inputs.mean(axis=0), np.where(inputs.std(axis=0) > 0, inputs.std(axis=0), 1.0)
    model = LogisticRegression(C=C, max_iter=5000).fit((inputs - mean) / scale, y)
    observer = Observer(
        mean.tolist(),
        scale.tolist(),
        model.coef_[0].tolist(),
        float(model.intercept_[0]),
        0.0,
        np.round(atlas["mean"], 6).tolist(),
        np.round(atlas["sd"], 6).tolist(),
        n_training_images=len(feats),
        n_training_lesions=int(y.sum()),
    )
    observer.threshold = _youden_threshold(np.array([observer.decision(f) for f in feats]), patients)
    return observer


def training_variants(counts: np.ndarray, study_id: str) -> list[np.ndarray]:
    """The image qualities the observer learns from, all of one 1x scan (1x-equivalent counts):
    the scan itself, its binomial thinnings to `VARIANT_SPEEDS` (× s), and the first thinning
    smoothed with a Gaussian of `VARIANT_SMOOTH_PX` (a denoised look). Seeded by the study.

    An observer trained on 1x scans alone meets a smooth (filtered or GAN-enhanced) image with
    every candidate above its criterion: on the demo cohort it called all of them malignant
    (specificity 0 %); trained on these variants it kept specificity ≈ 40–60 % on them.
    """
    integer = np.rint(np.nan_to_num(counts)).astype(np.int32)
    gen = rng(0, "observer-variants", str(study_id))
    thinned = [(thin(integer, s, gen) * np.float32(s)).astype(np.float32) for s in VARIANT_SPEEDS]
    for t in thinned:
        t[~np.isfinite(counts)] = np.nan
    return [np.asarray(counts, np.float32), *thinned, gaussian_counts(thinned[0], VARIANT_SMOOTH_PX)]


def cohort_observer(data_root: str | os.PathLike, manifest: str | os.PathLike) -> Observer:
    """The lesion observer trained on the 1x (standard) scans of the cohort's training split and
    their `training_variants`, with the phantom's lesion table (`data_root/truth/lesions.csv`)
    for the candidate labels (a thinned or smoothed scan keeps its patient's lesions).

    A clinical cohort has no lesion table (PhantomTruthError from `wbslib.phantom.cohort.load_lesions`):
    give clinicians' score sheets, or an observer trained on a phantom run (`Observer.load`).
    """
    from wbslib.io.imagesets import acquisition_paths, read_counts
    from wbslib.io.manifest.schema import read_manifest
    from wbslib.io.truth import load_lesions

    table, lesions = read_manifest(manifest), load_lesions(data_root)
    labels = table.drop_duplicates("study_id").set_index("study_id")["label"]
    lesions = lesions.assign(study_id=lesions["study_id"].astype(str))
    return train_observer(
        (variant, lesions[lesions["study_id"] == str(study_id)], int(labels[study_id]))
        for study_id, files in acquisition_paths(table, "train", "standard").items()
        for variant in training_variants(read_counts(data_root, files), study_id)
    )


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
    """One reader's score-sheet row for one coded image set (its noise seeded by seed, reader, code)."""
    noise = rng(seed, "virtual-reader", reader.name, str(case_code)).standard_normal(2)
    distance = observer.decision(feats) + reader.decision_sd * noise[0] - (observer.threshold + reader.criterion_shift)
    quality = quality_score(feats.n_eff_bone, feats.noise_blur_px, pixel_mm)
    likert = int(np.clip(np.round(quality + reader.quality_sd * noise[1]), 1, 5))
    return {
        "reader": reader.name,
        "case_code": str(case_code),
        "likert": likert,
        "malignant": int(distance > 0),
        "confidence": int(1 + np.searchsorted(CONFIDENCE_EDGES, abs(distance))),
    }


def read_cases(
    observer: Observer,
    case_codes: Iterable[str],
    pixels: Callable[[str], np.ndarray],
    panel: list[VirtualReader],
    seed: int,
    *,
    pixel_mm: float = PIXEL_MM,
    progress: bool = False,
) -> pd.DataFrame:
    """Score sheet (reader, case_code, likert, malignant, confidence) of every reader of `panel`
    for every code; `pixels(code)` returns that image set's 1x-equivalent counts (2, rows, cols)."""
    from tqdm import tqdm

    codes = list(case_codes)
    rows = []
    for code in tqdm(codes, desc="virtual readers", unit="image set", disable=not progress):
        feats = image_features(pixels(code))
        rows += [read(observer, feats, reader, code, seed, pixel_mm) for reader in panel]
    sheet = pd.DataFrame(rows, columns=list(SHEET_COLUMNS))
    return sheet.sort_values(["reader"], kind="stable").reset_index(drop=True)
