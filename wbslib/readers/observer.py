"""The lesion observer that a virtual reader reads with, and its training on one image class.

A two-stage search observer (Gifford's visual-search observers for planar nuclear medicine):
**search** finds candidate locations, every local maximum of the lesion-scale contrast in the body
outside the bladder (`wbslib.readers.candidates`); **analysis** applies one linear template to
each candidate's features and calibrates its response against the same body region of normal
images. λ is the largest calibrated response over the image set, and its location is kept (`peak`).

- **Template** (trained per image class by `wbslib.readers.adapted`): a logistic regression
  (standardised inputs) on the candidates of one class's images
  of the observer cohort: each candidate's features and their z-scores against a normal atlas of
  the same body position (`wbslib.readers.atlas`, fitted on the candidates that are not on a
  malignant lesion). The features are ratios of linear filters of the image, with no per-image
  noise estimate, so a gain leaves λ unchanged and a denoised image is not judged by a noise
  floor: what changes with the class (noise spread, texture, blur) is learnt from that class's
  own images. A candidate is positive when it lies within the lesion's radius (≥ 2 px) + 2 px of
  a malignant lesion of the phantom's truth table — the only use of truth, and only for training.
- **Calibration**: per body region (`atlas.REGIONS`: head and neck, chest, abdomen and pelvis,
  legs), the template's mean and SD over the training images' candidates that are not on a
  metastasis; a candidate's response is z = (template − region mean) / region SD, ≈ mean 0 and
  SD 1 over normal candidates of every region, so no region's anatomy dominates λ by its spread.
- **Threshold**: a Neyman–Pearson operating point, the λ that non-metastatic images exceed with
  probability 1 − `TARGET_SPECIFICITY` (0.8, the paper's readers' specificity at 1x), from a
  normal fit to their out-of-fold λ (`FOLDS` folds: each training image is read by an observer
  fitted without it); so noise and enhancement show in a class's sensitivity and AUC.
- **Null SD** (`null_sd`), the class's unit of reader noise: a robust SD of the non-metastatic
  images' out-of-fold λ (1.4826 × their median absolute deviation). Their λ is skewed where a
  normal patient's benign spot or joint stands out (the noise-free truth: SD 2.38 but robust SD
  0.58 over the demo's 10 normal observer images, against 0.50 and 0.34 at 1x); an SD unit let one
  such image shrink the class's score separation fourfold, so its readers read the truth ≈ 0.05
  AUC below 1x through internal noise alone. The threshold keeps the normal fit (its tail is what
  sets specificity).

A Hotelling template (the background covariance, Ledoit–Wolf shrunk, inverted against the mean
lesion signal; per region or pooled) on the same inputs read the demo's and the test fixture's
images with 0.01–0.10 lower AUC than this template, so the logistic template stays.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation, norm
from sklearn.linear_model import LogisticRegression

from wbslib.core.errors import ReaderStudyError
from wbslib.core.fileio import write_text
from wbslib.core.scan import PIXEL_MM
from wbslib.metrics.lesion import lesion_radius_px
from wbslib.readers.atlas import ATLAS_FEATURES, COL_BINS, REGIONS, ROW_BINS, atlas_z, fit_atlas, regions
from wbslib.readers.candidates import FEATURES, ImageFeatures, image_features

LABEL_MARGIN_PX = 2.0
NO_CANDIDATE = -20.0  # λ of an image set without any candidate (region SDs)
FOLDS = 5
TARGET_SPECIFICITY = 0.8  # the paper's readers: 81.8 % at 1x
MIN_NULL_SD = 0.1  # region SDs
MIN_REGION_CANDIDATES = 30  # fewer normal candidates in a region: it is calibrated with all of them


def model_inputs(features: np.ndarray, views: np.ndarray, atlas: dict) -> np.ndarray:
    """The observer's inputs per candidate: its features (lateral position unsigned) and their
    z-scores against the normal atlas (`wbslib.readers.atlas`)."""
    base = features.copy()
    base[:, FEATURES.index("lateral_fraction")] = np.abs(base[:, FEATURES.index("lateral_fraction")])
    return np.hstack([base, atlas_z(atlas, features, views)])


@dataclass
class Observer:
    """A trained lesion observer: normal atlas, standardisation and logistic weights over
    `model_inputs`, the template's mean and SD per body region over normal candidates (logit
    units), decision threshold (`_criterion`) and `null_sd` (robust SD of the non-metastatic
    training images' out-of-fold λ); λ, threshold and null SD are in region SDs."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    atlas_mean: list
    atlas_sd: list
    region_mean: list[float]
    region_sd: list[float]
    threshold: float
    null_sd: float = 1.0
    features: tuple[str, ...] = FEATURES
    n_training_images: int = 0
    n_training_lesions: int = 0

    @cached_property
    def _arrays(self) -> tuple:
        atlas = {"mean": np.asarray(self.atlas_mean, np.float64), "sd": np.asarray(self.atlas_sd, np.float64)}
        return atlas, np.asarray(self.mean), np.asarray(self.scale), np.asarray(self.coef)

    def scores(self, feats: ImageFeatures) -> np.ndarray:
        """Calibrated response z of every candidate of one image set (region SDs)."""
        atlas, mean, scale, coef = self._arrays
        logit = ((model_inputs(feats.features, feats.where[:, 0], atlas) - mean) / scale) @ coef + self.intercept
        region = regions(feats.features)
        return (logit - np.asarray(self.region_mean)[region]) / np.asarray(self.region_sd)[region]

    def decision(self, feats: ImageFeatures) -> float:
        """λ: the largest calibrated candidate response of one image set (`NO_CANDIDATE` without candidates)."""
        return float(np.max(self.scores(feats))) if len(feats.features) else NO_CANDIDATE

    def peak(self, feats: ImageFeatures) -> int | None:
        """Index of the candidate that gives λ (its location: `feats.where`); None without candidates."""
        return int(np.argmax(self.scores(feats))) if len(feats.features) else None

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
            or len(observer.region_mean) != len(REGIONS)
            or len(observer.region_sd) != len(REGIONS)
        ):
            raise ReaderStudyError(
                f"Observer file {path} was trained on features {observer.features} with another "
                "atlas; train the virtual readers again (notebook 04)."
            )
        return observer


def malignant_lesions(lesions: pd.DataFrame) -> pd.DataFrame:
    """The rows of a truth lesion table that are metastases (`malignant` true, as written or read)."""
    return lesions[lesions["malignant"].astype(str).str.lower().isin(("true", "1", "1.0"))]


def spot_radius_px(lesion, pixel_mm: float = PIXEL_MM) -> float:
    """A truth-table lesion's radius in pixels as the observer sees it: at least 2 px, the smallest
    spot the phantom draws spans that (`metrics.lesion.lesion_radius_px`, floored at 2)."""
    return max(lesion_radius_px(float(lesion["diameter_mm"]), pixel_mm), 2.0)


def lesion_column(lesion, view, cols: int):
    """A lesion's column in `view` (0 ANT, 1 POST; scalar or array): the truth table's column is in
    the anterior frame, the posterior view is mirrored (cols − 1 − col)."""
    return np.where(np.asarray(view) == 0, float(lesion["col"]), cols - 1 - float(lesion["col"]))


def candidate_labels(
    feats: ImageFeatures, lesions: pd.DataFrame, cols: int = 256, pixel_mm: float = PIXEL_MM
) -> np.ndarray:
    """1 for candidates within radius + LABEL_MARGIN_PX of a malignant lesion, else 0.

    `lesions`: rows of one study from the truth table (row, col in the 1x anterior frame,
    diameter_mm, malignant); on the posterior view the column is mirrored (cols − 1 − col).
    """
    labels = np.zeros(len(feats.where), np.int64)
    for _, lesion in malignant_lesions(lesions).iterrows():
        reach = spot_radius_px(lesion, pixel_mm) + LABEL_MARGIN_PX
        col = lesion_column(lesion, feats.where[:, 0], cols)
        near = np.hypot(feats.where[:, 1] - float(lesion["row"]), feats.where[:, 2] - col) <= reach
        labels[near] = 1
    return labels


def _criterion(null_decisions: np.ndarray) -> float:
    """The λ that a normal fit to non-metastatic images' λ exceeds with probability
    1 − `TARGET_SPECIFICITY` (a Neyman–Pearson operating point; the fit keeps it stable)."""
    return float(np.mean(null_decisions) + norm.ppf(TARGET_SPECIFICITY) * np.std(null_decisions))


def _calibration(logit: np.ndarray, region: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and SD of the template (logit) of normal candidates per body region (all of them where
    a region holds fewer than `MIN_REGION_CANDIDATES`)."""
    means, sds = [], []
    for k in range(len(REGIONS)):
        part = logit[region == k] if (region == k).sum() >= MIN_REGION_CANDIDATES else logit
        means.append(float(part.mean()))
        sds.append(max(float(part.std()), 1e-6))
    return means, sds


def _fit(feats: list[ImageFeatures], labels: list[np.ndarray], C: float) -> dict:
    """Atlas, standardisation, logistic weights and per-region calibration fitted on the candidates of `feats`."""
    x, y = np.vstack([f.features for f in feats]), np.concatenate(labels)
    views = np.concatenate([f.where[:, 0] for f in feats])
    atlas = fit_atlas(x[y == 0], views[y == 0])
    inputs = model_inputs(x, views, atlas)
    mean, scale = inputs.mean(axis=0), np.where(inputs.std(axis=0) > 0, inputs.std(axis=0), 1.0)
    model = LogisticRegression(C=C, max_iter=5000).fit((inputs - mean) / scale, y)
    normal = y == 0
    region_mean, region_sd = _calibration(model.decision_function((inputs[normal] - mean) / scale), regions(x[normal]))
    return {
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
        "atlas_mean": np.round(atlas["mean"], 6).tolist(),
        "atlas_sd": np.round(atlas["sd"], 6).tolist(),
        "region_mean": region_mean,
        "region_sd": region_sd,
    }


def _out_of_fold(feats: list[ImageFeatures], labels: list[np.ndarray], patients: np.ndarray, C: float) -> np.ndarray:
    """λ of every training image from an observer fitted without its fold (`FOLDS` folds, images
    assigned in turn within each patient label, so every fold holds both labels)."""
    fold = np.zeros(len(feats), np.int64)
    for label in (0, 1):
        idx = np.flatnonzero(patients == label)
        fold[idx] = np.arange(len(idx)) % FOLDS
    out = np.zeros(len(feats))
    everything = None
    for k in range(FOLDS):
        held = fold == k
        if not held.any():
            continue
        kept = np.flatnonzero(~held)
        if sum(labels[i].sum() for i in kept) > 0:
            part = Observer(**_fit([feats[i] for i in kept], [labels[i] for i in kept], C), threshold=0.0)
        else:  # a tiny cohort (a smoke run): the rest holds no lesion candidate; read the fold in-sample
            everything = everything or Observer(**_fit(feats, labels, C), threshold=0.0)
            part = everything
        out[held] = [part.decision(feats[i]) for i in np.flatnonzero(held)]
    return out


def train_observer(training: Iterable[tuple[np.ndarray, pd.DataFrame, int]], *, C: float = 1.0) -> Observer:
    """Train the lesion observer on the images of one image class: (counts, lesions of that study,
    patient label) per image set.

    The decision threshold is `_criterion` of the non-metastatic images' *out-of-fold* λ (each
    image read by an observer fitted without it), and `null_sd` is the robust SD (1.4826 × median
    absolute deviation) of the non-metastatic images' out-of-fold λ: the class's unit for reader
    noise and criterion shifts. ReaderStudyError when the images
    hold no malignant candidate or lack metastatic or non-metastatic patients.
    """
    feats, labels, patients = [], [], []
    for counts, lesions, label in training:
        f = image_features(counts)
        feats.append(f)
        labels.append(candidate_labels(f, lesions, cols=np.asarray(counts).shape[-1]))
        patients.append(int(label))
    patients = np.asarray(patients)
    if len(feats) == 0 or (patients == 1).sum() < 2 or (patients == 0).sum() < 2:
        raise ReaderStudyError(
            f"The observer cohort holds {int(patients.sum())} metastatic and "
            f"{int((patients == 0).sum())} non-metastatic image sets of this class; virtual readers "
            "need at least 2 of each — enlarge the observer cohort (cohort.n_observer)."
        )
    if sum(int(y.sum()) for y in labels) == 0:
        raise ReaderStudyError(
            "No lesion candidate of the observer cohort's images lies on a malignant lesion of the "
            "truth table; check truth/lesions.csv against the images."
        )
    oof = _out_of_fold(feats, labels, patients, C)
    return Observer(
        **_fit(feats, labels, C),
        threshold=_criterion(oof[patients == 0]),
        null_sd=max(float(median_abs_deviation(oof[patients == 0], scale="normal")), MIN_NULL_SD),
        n_training_images=len(feats),
        n_training_lesions=int(sum(int(y.sum()) for y in labels)),
    )
