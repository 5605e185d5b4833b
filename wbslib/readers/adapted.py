"""Virtual readers adapted to each image class, trained on the observer cohort.

A model observer must know what normal anatomy and noise look like in the images it reads: a
denoised image has smoother backgrounds, a real-like fast scan another noise level. As in the
model-observer literature (the FDA's LCD-CT tool trains its channelized Hotelling observer
separately for each reconstruction and dose), the **adapted** reader of a class is trained on
images of that very class: the observer cohort (split `observer` — never a test patient, never a
GAN-training patient) passed through exactly the pipeline of that class (raw speed, model,
baseline, or the noise-free `truth`). The **unadapted** reader is the 1x class's observer applied
to every class (what a reader trained on standard scans sees). The observer itself is
`wbslib.readers.virtual.train_observer`; the truth table's lesions label its candidates, and only
during training.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ReaderStudyError
from wbslib.core.groups import STANDARD, TRUTH, ordered_groups
from wbslib.io.imagesets import load_counts
from wbslib.io.truth import load_lesions, load_truth, truth_path
from wbslib.metrics.lesion import acquisition_positions
from wbslib.readers.candidates import image_features
from wbslib.readers.observer import Observer, candidate_labels, train_observer
from wbslib.readers.quality import ImageQuality, TruthPair, fit_quality

OBSERVER_SPLIT = "observer"
EVALUATION_SPLIT = "test"
ANALYSES = ("adapted", "unadapted")


def truth_rows(image_sets: pd.DataFrame, data_root: str | os.PathLike) -> pd.DataFrame:
    """Image-set rows of the reference group `truth` (the phantom's noise-free 1x image) for every
    study of `image_sets` that has a 1x truth file; empty for a clinical cohort."""
    studies = image_sets.drop_duplicates("study_id")
    rows = [
        {
            "study_id": r["study_id"],
            "group": TRUTH,
            "speed_factor": 1.0,
            "method": TRUTH,
            "path": str(truth_path(data_root, r["study_id"], 1.0)),
            "to_1x": 1.0,
            "split": r["split"],
            "label": r["label"],
        }
        for _, r in studies.iterrows()
        if truth_path(data_root, r["study_id"], 1.0).is_file()
    ]
    return pd.DataFrame(rows, columns=list(image_sets.columns))


def lesions_in(row, study_lesions: pd.DataFrame, data_root: str | os.PathLike) -> pd.DataFrame:
    """The study's lesions where they lie in this image set: a fast acquisition (and every image
    made from it) has its own patient position, so its rows and columns come from that
    acquisition's truth file (`lesion_rc`, in lesions.csv order); 1x and truth keep the table's."""
    speed = float(row["speed_factor"])
    if speed == 1.0 or study_lesions.empty:
        return study_lesions
    rc = load_truth(data_root, str(row["study_id"]), speed)["lesion_rc"]
    return study_lesions.assign(row=rc[:, 0], col=rc[:, 1])


class _Lesions:
    """The phantom's lesion table of a data root, looked up by study (no lesion: an empty table)."""

    def __init__(self, data_root: str | os.PathLike):
        lesions = load_lesions(data_root)
        lesions = lesions.assign(study_id=lesions["study_id"].astype(str))
        self._none = lesions.iloc[:0]
        self._by_study = {sid: d for sid, d in lesions.groupby("study_id")}

    def of(self, study_id) -> pd.DataFrame:
        return self._by_study.get(str(study_id), self._none)


def class_observers(
    image_sets: pd.DataFrame, data_root: str | os.PathLike, *, progress: bool = False
) -> dict[str, Observer]:
    """{group: observer trained on that group's observer-cohort images} for every group the
    observer cohort holds with at least 2 metastatic and 2 non-metastatic studies and a lesion
    candidate on one of their metastases (a class without one — an enhancer that erased every
    metastasis of a small cohort — is left out and read by the 1x observer, as
    `observer_decisions` records).

    ReaderStudyError without an observer cohort or without its 1x images (the unadapted reader).
    """
    from tqdm import tqdm

    cohort = image_sets[image_sets["split"].astype(str) == OBSERVER_SPLIT]
    if cohort.empty or STANDARD not in set(cohort["group"]):
        raise ReaderStudyError(
            "The image-set index holds no 1x image of an observer cohort (split 'observer'); the "
            "virtual readers are trained on it — set cohort.n_observer (≥ 4) and run notebooks 00–03."
        )
    by_study = _Lesions(data_root)
    observers = {}
    for group in tqdm(ordered_groups(cohort["group"].unique()), desc="observers", disable=not progress):
        rows = cohort[cohort["group"] == group]
        if (rows["label"] == 1).sum() < 2 or (rows["label"] == 0).sum() < 2:
            continue
        images = (
            (load_counts(r), lesions_in(r, by_study.of(r["study_id"]), data_root), int(r["label"]))
            for _, r in rows.iterrows()
        )
        try:
            observers[group] = train_observer(images)
        except ReaderStudyError:  # e.g. no candidate on any metastasis: this class is read by the 1x observer
            if group == STANDARD:
                raise
    return observers


def _with_truth(row, study_lesions: pd.DataFrame, data_root: str | os.PathLike) -> TruthPair:
    """One image set's 1x-equivalent counts and the truth of the acquisition it was made from."""
    speed = float(row["speed_factor"])
    t = load_truth(data_root, str(row["study_id"]), speed)
    positions = acquisition_positions(study_lesions, t["shift_px"], t.get("lesion_rc"))
    expected = np.asarray(t["expected"], np.float64) * speed
    return TruthPair(load_counts(row), expected, t["skeleton"], t["bladder"], study_lesions, positions)


def class_quality(
    image_sets: pd.DataFrame, data_root: str | os.PathLike, *, progress: bool = False
) -> dict[str, ImageQuality]:
    """{group: NPWE quality model measured on that group's observer-cohort images} for every group
    of the observer cohort (`readers.quality`: the virtual readers' Likert rule). Every adapted and
    unadapted read of a class uses its model: quality is the class's, not the lesion decision's.

    ReaderStudyError without an observer cohort (its truth files measure each class's noise).
    """
    from tqdm import tqdm

    cohort = image_sets[image_sets["split"].astype(str) == OBSERVER_SPLIT]
    if cohort.empty:
        raise ReaderStudyError(
            "The image-set index holds no image of an observer cohort (split 'observer'); the virtual "
            "readers' Likert rule is measured on it — set cohort.n_observer (≥ 4) and run notebooks 00–03."
        )
    by_study = _Lesions(data_root)
    return {
        group: fit_quality(
            _with_truth(r, by_study.of(r["study_id"]), data_root)
            for _, r in cohort[cohort["group"] == group].iterrows()
        )
        for group in tqdm(ordered_groups(cohort["group"].unique()), desc="image quality", disable=not progress)
    }


def standard_observer(data_root: str | os.PathLike, manifest: str | os.PathLike) -> Observer:
    """The 1x class's observer straight from the manifest: trained on the observer cohort's
    standard (1x) scans — the unadapted reader, for image sets without an observer cohort of
    their own class (the speed sweep's). ReaderStudyError without an observer cohort."""
    from wbslib.io.imagesets import acquisition_paths, read_counts
    from wbslib.io.manifest.schema import read_manifest

    table, by_study = read_manifest(manifest), _Lesions(data_root)
    scans = acquisition_paths(table, OBSERVER_SPLIT, "standard")
    if not scans:
        raise ReaderStudyError(
            "The manifest holds no standard scan of an observer cohort (split 'observer'); the "
            "virtual readers are trained on it — set cohort.n_observer (≥ 4) and simulate again."
        )
    labels = table.drop_duplicates("study_id").set_index("study_id")["label"]
    return train_observer(
        (read_counts(data_root, files), by_study.of(sid), int(labels[sid])) for sid, files in scans.items()
    )


def observer_decisions(
    observers: dict[str, Observer],
    image_sets: pd.DataFrame,
    data_root: str | os.PathLike | None = None,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """λ of every evaluation image set under each analysis: columns study_id, group, label,
    analysis, observer (the class whose observer read it), decision, threshold, null_sd, call,
    view, row, col (where λ lies) and on_lesion (1 when that is on a malignant lesion of the
    phantom's truth, read after the decision and only with `data_root`; NaN otherwise).

    The adapted analysis reads a group with its own observer (the 1x one where the observer
    cohort lacks that group: `observer` says so); the unadapted one with the 1x observer.
    """
    from tqdm import tqdm

    sets = image_sets[image_sets["split"].astype(str) == EVALUATION_SPLIT]
    by_study = _Lesions(data_root) if data_root is not None else None
    rows = []
    for _, r in tqdm(list(sets.iterrows()), desc="observer decisions", disable=not progress):
        counts = load_counts(r)
        feats = image_features(counts)
        truth = (
            candidate_labels(feats, lesions_in(r, by_study.of(r["study_id"]), data_root), counts.shape[-1])
            if by_study is not None
            else None
        )
        for analysis in ANALYSES:
            name = r["group"] if analysis == "adapted" and r["group"] in observers else STANDARD
            o = observers[name]
            decision, peak = o.decision(feats), o.peak(feats)
            where = feats.where[peak] if peak is not None else (np.nan, np.nan, np.nan)
            rows.append(
                {
                    "study_id": r["study_id"],
                    "group": r["group"],
                    "label": r["label"],
                    "analysis": analysis,
                    "observer": name,
                    "decision": decision,
                    "threshold": o.threshold,
                    "null_sd": o.null_sd,
                    "call": int(decision > o.threshold),
                    "view": where[0],
                    "row": where[1],
                    "col": where[2],
                    "on_lesion": float(truth[peak]) if truth is not None and peak is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


def validation_cohorts(image_sets: pd.DataFrame, data_root: str | os.PathLike) -> tuple[list, list]:
    """(observer cohort, evaluation cohort) for `wbslib.readers.validation.validate_observer`:
    (study_id, 1x counts, truth image, lesions, label) of every 1x image set with a truth file."""
    truth = truth_rows(image_sets, data_root).set_index("study_id")
    out = {OBSERVER_SPLIT: [], EVALUATION_SPLIT: []}
    if truth.empty:  # a clinical cohort
        return [], []
    by_study = _Lesions(data_root)
    for _, r in image_sets[image_sets["group"] == STANDARD].iterrows():
        sid, split = str(r["study_id"]), str(r["split"])
        if split in out and sid in truth.index and r["label"] in (0, 1):
            t = load_counts(truth.loc[sid])
            out[split].append((sid, load_counts(r), t, by_study.of(sid), int(r["label"])))
    return out[OBSERVER_SPLIT], out[EVALUATION_SPLIT]


def save_observers(observers: dict[str, Observer], folder: str | os.PathLike) -> list[Path]:
    """Each class's observer as `folder/observer-<group>.json` (atomically)."""
    return [o.save(Path(folder) / f"observer-{group}.json") for group, o in observers.items()]


def summary(observers: dict[str, Observer]) -> pd.DataFrame:
    """One row per class observer: training images, lesion candidates, threshold, null SD."""
    return pd.DataFrame(
        [
            {
                "group": g,
                "training_images": o.n_training_images,
                "lesion_candidates": o.n_training_lesions,
                "threshold": round(o.threshold, 3),
                "null_sd": round(o.null_sd, 3),
            }
            for g, o in observers.items()
        ]
    )


def quality_summary(qualities: dict[str, ImageQuality]) -> pd.DataFrame:
    """One row per class quality model (`readers.quality.ImageQuality`'s fields)."""
    return pd.DataFrame([{"group": g, **q.to_dict()} for g, q in qualities.items()])
