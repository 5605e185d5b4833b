"""Who is in the synthetic cohort: demographics, diagnosis, label and split of every patient.

Spread like the paper's Table 1 (83 patients with suspected bone metastasis): age 61 ± 13 y
(25–81), 43 F / 40 M, primaries lung, breast (F), prostate (M), gastric, colorectal,
nasopharyngeal, liver, bone pain of unknown origin; height by sex, BMI 23 ± 3.2. The evaluation
cohort (split `test`) has exactly `n_metastatic` metastatic patients; the separate training
cohort (`train`, `val`) is labelled about half metastatic (scheme `separate`) or with the
evaluation cohort's metastatic fraction (scheme `stratified`). The observer cohort (`observer`,
`n_observer` patients, none by default) trains the virtual readers per image class; it is never
evaluated and never trains a model, and it has the evaluation cohort's metastatic fraction
(rounded half up) whatever the scheme, so that it resembles the patients the readers will read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbslib.core.repro import rng as keyed_rng

SPLIT_SCHEMES = ("separate", "stratified")
FEMALE_SHARE = 43 / 83
# Diagnosis weights given sex (paper: lung 22, breast 16, prostate 15, gastric 9, colon 8, NPC 5, liver 1, pain 7)
DIAGNOSES = ("lung", "breast", "prostate", "gastric", "colorectal", "nasopharyngeal", "liver", "bone pain")
DIAGNOSIS_WEIGHTS = {"F": (11, 16, 0, 4.5, 4, 2.5, 0.5, 3.5), "M": (11, 0, 15, 4.5, 4, 2.5, 0.5, 3.5)}
# Relative chance of being one of the metastatic patients, by diagnosis
METASTATIC_PROPENSITY = {"prostate": 1.5, "breast": 1.3, "lung": 1.2, "bone pain": 0.5}
HEIGHT_CM = {"F": (160.0, 6.0), "M": (171.0, 6.0)}
HEIGHT_RANGE_CM = (148.0, 192.0)


def _half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _metastatic(diagnoses: list[str], n_metastatic: int, rng: np.random.Generator) -> np.ndarray:
    weights = np.array([METASTATIC_PROPENSITY.get(d, 0.8) for d in diagnoses])
    chosen = rng.choice(len(diagnoses), size=n_metastatic, replace=False, p=weights / weights.sum())
    out = np.zeros(len(diagnoses), bool)
    out[chosen] = True
    return out


def _people(n: int, rng: np.random.Generator) -> dict:
    sex = np.where(rng.uniform(size=n) < FEMALE_SHARE, "F", "M")
    diagnosis = [
        DIAGNOSES[int(rng.choice(len(DIAGNOSES), p=np.array(w) / np.sum(w)))]
        for w in (DIAGNOSIS_WEIGHTS[s] for s in sex)
    ]
    age = np.clip(np.rint(rng.normal(61.0, 13.0, n)), 25, 81).astype(int)
    height = np.array([rng.normal(*HEIGHT_CM[s]) for s in sex]).clip(*HEIGHT_RANGE_CM).round(1)
    bmi = np.clip(rng.normal(23.0, 3.2, n), 16.5, 35.0).round(1)
    return {
        "sex": sex,
        "age": age,
        "height_cm": height,
        "bmi": bmi,
        "weight_kg": (bmi * (height / 100) ** 2).round(1),
        "diagnosis": diagnosis,
    }


def sample_patients(cfg: dict, seed: int) -> pd.DataFrame:
    """One row per patient: study_id (PH0001…), split, label, sex, age, height_cm, weight_kg, bmi,
    diagnosis. Test patients first, then train, then val, then observer (last, so that adding
    observer patients changes no other patient); each split draws from its own keyed stream, and
    the same seed gives the same table."""
    n_test, n_met = cfg["n_patients"], cfg["n_metastatic"]
    share = 0.5 if cfg["split_scheme"] == "separate" else n_met / n_test
    n_observer = cfg.get("n_observer", 0)
    frames = []
    for split, n, n_pos in (
        ("test", n_test, n_met),
        ("train", cfg["n_train"], _half_up(share * cfg["n_train"])),
        ("val", cfg["n_val"], _half_up(share * cfg["n_val"])),
        ("observer", n_observer, _half_up(n_met / n_test * n_observer)),
    ):
        if n == 0:
            continue
        rng = keyed_rng(seed, "patients", split)
        people = _people(n, rng)
        frame = pd.DataFrame({"split": split, **people})
        frame.insert(1, "label", _metastatic(people["diagnosis"], int(n_pos), rng).astype(int))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "study_id", [f"PH{i + 1:04d}" for i in range(len(table))])
    return table
