"""Does the virtual reader judge image quality validly? Checks a broken observer fails.

From 1x scans and the noise-free truth of two disjoint phantom cohorts (observer cohort: trains;
evaluation cohort: is read), `validate_observer` makes image classes whose diagnostic content is
known by construction and trains an adapted observer per class (`wbslib.readers.virtual`):
- raw speeds `VALIDATION_SPEEDS` (1, 1.5, 2, 3, 4): binomial thinning of the same 1x scans, shown
  × s — information can only fall with s (T1: the location-known d′ of lesions inserted into the
  normal patients' 1x scans before thinning (`wbslib.readers.insertion`) keeps d′(s)/d′(1) within
  [1/√s − 0.1, 1], and AUC may not rise by more than `AUC_RISE` from one speed to the next);
- `truth`: the noise-free image, a perfect enhancer (T2: AUC ≥ 1x − 0.02, specificity ≥ 1x − 0.1);
- `2x-smoothed`: the 2x thinning smoothed by a Gaussian of σ `SMOOTH_PX` — invertible, so it holds
  the same information as 2x (T3: |ΔAUC| ≤ 0.03, Cohen's κ of the calls ≥ 0.7, |Δ specificity| ≤ 0.1);
- a gain: 1x counts × `GAIN` must leave λ unchanged (T4, relative 1e-6);
- null calibration: each class's z-map (`wbslib.readers.zmap`, fitted on the observer cohort with
  its metastases left out) over the bone of the evaluation cohort's normal patients has mean within ±0.1
  and SD within 0.9–1.1 (T5); the 1x null model applied to every class is reported beside it;
- every class: both calls present and under 20 % tied λ (T6);
- reported: the observer's own calibrated response (λ's z, per body region) over every candidate
  of the normal patients' reads, ≈ mean 0 and SD 1 when its calibration carries over.
Each evaluation scan is read at `VALIDATION_REPLICATES` independent thinnings per speed (the 1x
scan and the truth once): one thinning's noise moved a 40-patient cohort's AUC by an SD of
0.03–0.05 from one realisation to the next, which alone breaks T1's 0.03 and T3's bounds; the
pooled reads estimate each class's AUC over its noise. The observer cohort is thinned once, as
the pipeline's classes are acquired once.
The checks are statistics of a finite cohort: `checks` (`wbslib.readers.validity_checks`) reports
each value, its bound, whether it holds and, for the AUC, specificity and κ checks, a 95 % interval
over resampled evaluation patients and whether the bound is within it (a class whose observer
cannot be trained — no candidate on any metastasis — has NaN results, and the checks that need it
do not hold).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from wbslib.core.counts import gaussian_counts, thin
from wbslib.core.errors import ReaderStudyError
from wbslib.core.groups import TRUTH
from wbslib.core.repro import rng
from wbslib.readers.candidates import image_features
from wbslib.readers.insertion import detectability, insert_lesions, insertion_sites, site_responses
from wbslib.readers.observer import train_observer
from wbslib.readers.performance import tied_fraction
from wbslib.readers.validity_checks import ClassReads, validity_checks
from wbslib.readers.zmap import Z_MEAN_LIMIT, Z_SD_RANGE, bone_contrast, fit_null, null_calibration

VALIDATION_SPEEDS = (1.0, 1.5, 2.0, 3.0, 4.0)
SMOOTH_PX = 1.0
SMOOTHED = "2x-smoothed"
GAIN = 1.2
AUC_RISE = 0.03
VALIDATION_REPLICATES = 2  # independent thinnings of each evaluation scan per speed


def validation_classes(
    counts_1x: np.ndarray, truth: np.ndarray | None, study_id: str, seed: int, replicate: int = 0
) -> dict:
    """{class: 1x-equivalent counts} of one patient: thinnings to `VALIDATION_SPEEDS` (seeded by
    seed, study and `replicate`), the 2x thinning smoothed (`SMOOTHED`) and, when given, the truth.
    A replicate r > 0 is another independent thinning of the same scan: its thinned classes only
    (the 1x scan and the truth have one realisation)."""
    integer = _integer_counts(counts_1x)
    out = {"1x": integer.astype(np.float32)} if replicate == 0 else {}
    for s in VALIDATION_SPEEDS[1:]:
        gen = rng(seed, "validation", str(study_id), s, *([replicate] if replicate else []))
        out[f"{s:g}x"] = (thin(integer, s, gen) * np.float32(s)).astype(np.float32)
    out[SMOOTHED] = gaussian_counts(out["2x"], SMOOTH_PX)
    if truth is not None and replicate == 0:
        out[TRUTH] = np.asarray(truth, np.float32)
    return out


def _integer_counts(counts: np.ndarray) -> np.ndarray:
    return np.rint(np.nan_to_num(counts)).astype(np.int32)


class _Evaluation(NamedTuple):
    """What the validation reads of the evaluation cohort, per class: the features of every read
    (replicate-major: replicate 0 of every patient, then replicate 1, …), their patient labels,
    replicate 0's features by study and the bone contrast of its normal patients (T5)."""

    feats: dict[str, list]
    labels: dict[str, np.ndarray]
    first: dict[str, dict]
    normal_contrast: dict[str, list]


def _evaluation(cohort: list[tuple], seed: int, replicates: int) -> _Evaluation:
    feats, labels, first, contrast = {}, {}, {}, {}
    for replicate in range(replicates):
        for sid, counts, truth, _, label in cohort:
            for name, image in validation_classes(counts, truth, sid, seed, replicate).items():
                f = image_features(image)
                feats.setdefault(name, []).append(f)
                labels.setdefault(name, []).append(int(label))
                if replicate == 0:
                    first.setdefault(name, {})[sid] = f
                    if int(label) == 0:
                        contrast.setdefault(name, []).append(bone_contrast(image))
    return _Evaluation(feats, {k: np.asarray(v) for k, v in labels.items()}, first, contrast)


def validate_observer(
    observer_cohort: Iterable[tuple],
    evaluation_cohort: Iterable[tuple],
    seed: int,
    replicates: int = VALIDATION_REPLICATES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-class results, checks) from cohorts of (study_id, 1x counts, truth or None, lesions,
    label). Each evaluation scan is read at `replicates` independent thinnings per speed (its 1x
    and truth once): a class's AUC, sensitivity and specificity pool these reads, so a speed's
    result is not one noise realisation's luck. Results: class, auc, sensitivity, specificity,
    tied_fraction, n_cases (patients), n_reads, lke_dprime, candidate_z_mean and candidate_z_sd
    (the observer's calibrated response over every candidate of the normal patients' reads: its
    scanning statistic under the null, ≈ 0 and 1 when the class's region calibration carries
    over to held-out images), null_z_mean, null_z_sd (the class's own null model) and
    null_z_sd_1x (the 1x null model's)."""
    evaluation_cohort = list(evaluation_cohort)
    train = [(sid, validation_classes(c, t, sid, seed), les, int(y)) for sid, c, t, les, y in observer_cohort]
    evaluation = _evaluation(evaluation_cohort, seed, replicates)
    inserted = _inserted(evaluation_cohort, seed)
    names = [n for n in train[0][1] if all(n in x[1] for x in train) and n in evaluation.feats]
    rows, reads, gain_change, nulls = [], {}, float("nan"), {}
    for name in names:
        z_row = _null_row(name, train, evaluation.normal_contrast.get(name, []), nulls)
        try:
            observer = train_observer((images[name], les, y) for _, images, les, y in train)
        except ReaderStudyError:  # a tiny cohort (smoke run) without a candidate on a metastasis
            rows.append({"class": name, "n_cases": len(evaluation_cohort), **z_row})
            continue
        labels = evaluation.labels[name]
        lam = np.array([observer.decision(f) for f in evaluation.feats[name]])
        normal_z = np.concatenate(
            [observer.scores(f) for f, y in zip(evaluation.feats[name], labels) if y == 0] or [np.full(1, np.nan)]
        )
        calls = (lam > observer.threshold).astype(int)
        patients = len(evaluation_cohort)
        if lam.size % patients == 0:  # every patient read (a truth class lacking some patients' truth is not)
            reads[name] = ClassReads(lam.reshape(-1, patients), calls.reshape(-1, patients), labels[:patients])
        present = [
            x
            for sid, sites, images in inserted
            if name in images
            for x in site_responses(observer, image_features(images[name]), sites)
        ]
        absent = [
            x
            for sid, sites, images in inserted
            if name in images
            for x in site_responses(observer, evaluation.first[name][sid], sites)
        ]
        rows.append(
            {
                "class": name,
                "auc": roc_auc_score(labels, lam),
                "sensitivity": calls[labels == 1].mean(),
                "specificity": 1 - calls[labels == 0].mean(),
                "tied_fraction": tied_fraction(lam),
                "n_cases": len(evaluation_cohort),
                "n_reads": len(lam),
                "lke_dprime": detectability(present, absent) if present else np.nan,
                "candidate_z_mean": float(normal_z.mean()),
                "candidate_z_sd": float(normal_z.std()),
                **z_row,
            }
        )
        if name == "1x":
            gained = [
                observer.decision(image_features(_integer_counts(c).astype(np.float32) * np.float64(GAIN)))
                for _, c, *_ in evaluation_cohort
            ]
            gain_change = float(np.max(np.abs(np.array(gained) - lam) / np.maximum(np.abs(lam), 1e-12)))
    columns = ["class", "auc", "sensitivity", "specificity", "tied_fraction", "n_cases", "n_reads", "lke_dprime"]
    columns += ["candidate_z_mean", "candidate_z_sd"]
    columns += ["null_z_mean", "null_z_sd", "null_z_sd_1x"]
    results = pd.DataFrame(rows, columns=columns)
    checks = validity_checks(
        results.set_index("class"),
        reads,
        (GAIN, gain_change),
        speeds=[f"{s:g}x" for s in VALIDATION_SPEEDS],
        smoothed=SMOOTHED,
        limits={"auc_rise": AUC_RISE, "z_mean": Z_MEAN_LIMIT, "z_sd": Z_SD_RANGE},
        seed=seed,
    )
    return results, checks


def _null_row(name: str, train: list[tuple], held_out: list[tuple], nulls: dict) -> dict:
    """T5 for one class: its null model fitted on the observer cohort (metastases left out; kept in
    `nulls`), z over the evaluation cohort's normal bone (`held_out`, their `bone_contrast`)
    against it and against the 1x model."""
    try:
        nulls[name] = fit_null(bone_contrast(images[name], les) for _, images, les, _ in train)
    except ReaderStudyError:  # no observer patient with bone (a smoke-size cohort)
        return {"null_z_mean": np.nan, "null_z_sd": np.nan, "null_z_sd_1x": np.nan}
    z_mean, z_sd = null_calibration(nulls[name], held_out)
    z_sd_1x = null_calibration(nulls["1x"], held_out)[1] if "1x" in nulls else np.nan
    return {"null_z_mean": z_mean, "null_z_sd": z_sd, "null_z_sd_1x": z_sd_1x}


def _inserted(evaluation_cohort: list[tuple], seed: int) -> list[tuple]:
    """(study_id, sites, speed classes of the 1x counts with lesions inserted) of every normal
    evaluation patient with a truth image (`wbslib.readers.insertion`)."""
    out = []
    for sid, counts, truth, _, label in evaluation_cohort:
        if int(label) == 0 and truth is not None:
            gen = rng(seed, "inserted-lesions", str(sid))
            sites = insertion_sites(np.asarray(truth), gen)
            classes = validation_classes(insert_lesions(counts, np.asarray(truth), sites, gen), None, f"{sid}+", seed)
            out.append((sid, sites, {k: v for k, v in classes.items() if k != SMOOTHED}))
    return out
