"""Virtual-reader reads of the sweep's image sets, exactly as notebook 04 reads the study's.

Two analyses, as in notebook 04:
- **adapted** (the main one, `reads.csv`): each group is read by the lesion observer trained on
  the observer cohort's images of that very group at that speed (`class_readers`: the cohort's
  observer split scanned, thinned and enhanced like the evaluation patients; their lesion tables
  are the only truth it sees), and rated by that group's NPWE quality model measured on the same
  images (`readers.quality`);
- **unadapted** (`reads_unadapted.csv`): every group read by the 1x observer
  (`readers.adapted.standard_observer`, trained on the observer split's 1x scans in every sweep
  run — a few seconds — and written to `runs/<run>/sweep/observer.json`, whose sha256 keys the
  speeds' caches: an observer changed by new code recomputes the reads), with the same quality models.
A class whose observer cannot be trained (no candidate on any metastasis) is read by the 1x one.
Each batch of image sets (the 1x reference, or one speed) gets its own blinded worklist
(`readers.make_worklist`, seed keyed by the batch), so readers see codes and pixels only; the
panel (`virtual_readers.virtual_panel`: `readers.n_virtual` primary readers plus an adjudicator)
scores every code, and the key turns the sheets back into tidy reads (reader, reader_kind
'virtual', study_id, group, likert, malignant, confidence).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from wbslib.core.errors import ReaderStudyError
from wbslib.core.fileio import write_csv
from wbslib.core.repro import rng
from wbslib.readers.adapted import standard_observer
from wbslib.readers.observer import Observer, train_observer
from wbslib.readers.quality import ImageMeasurement, ImageQuality, combine
from wbslib.readers.virtual import read_cases, virtual_panel
from wbslib.readers.worklist import make_worklist, reader_config, reads_table


def readers_config(params: dict) -> dict:
    """The reader settings the sweep uses: {'n_virtual': int ≥ 2}, validated as notebook 04 does
    (`readers.worklist.reader_config`)."""
    return {"n_virtual": reader_config(params.get("readers"))["n_virtual"]}


def sweep_observer(data_root: str | os.PathLike, manifest: str | os.PathLike, path: str | os.PathLike) -> Observer:
    """The lesion observer trained on the observer split's 1x scans, written to `path` (training is
    deterministic, so the file and its sha256 change only when the observer does)."""
    observer = standard_observer(data_root, manifest)
    observer.save(path)
    return observer


class SweepReaders(NamedTuple):
    """The readers of one batch: {group: its class's observer} (adapted), the 1x observer
    (unadapted) and {group: its class's quality model}."""

    observers: dict[str, Observer]
    unadapted: Observer
    qualities: dict[str, ImageQuality]


def class_readers(
    training: dict[str, list[tuple[np.ndarray, pd.DataFrame, int]]],
    measured: dict[str, list[ImageMeasurement]],
    unadapted: Observer,
) -> SweepReaders:
    """Observers and quality models per group from the observer cohort's images of each group:
    `training` {group: [(1x-equivalent counts, lesions where they lie in that image, label)]} and
    `measured` {group: [`readers.quality.measure_image` of the same images]}."""
    observers = {}
    for group, images in training.items():
        try:
            observers[group] = train_observer(images)
        except ReaderStudyError:  # e.g. no candidate on any metastasis: read by the 1x observer
            continue
    return SweepReaders(observers, unadapted, {group: combine(m) for group, m in measured.items()})


def read_sweep_images(
    images: dict[tuple[str, str], np.ndarray],
    readers: SweepReaders,
    n_virtual: int,
    seed: int,
    batch: str,
    folder: str | os.PathLike | None = None,
) -> dict[str, pd.DataFrame]:
    """Tidy virtual reads of `images` {(study_id, group): 1x-equivalent counts} under one blinded
    worklist (seeded by `seed` and the `batch` name), as {'adapted': …, 'unadapted': …}: each set
    read by its group's observer or by the 1x one, and rated by its group's quality model; worklist
    and key are written to `folder`."""
    sets = pd.DataFrame(sorted(images), columns=["study_id", "group"])
    worklist, key = make_worklist(sets, int(rng(seed, "sweep-worklist", batch).integers(2**31)))
    by_code = {
        code: (sid, group) for code, sid, group in key[["case_code", "study_id", "group"]].itertuples(index=False)
    }
    observer_of = {
        "adapted": lambda code: readers.observers.get(by_code[code][1], readers.unadapted),
        "unadapted": lambda code: readers.unadapted,
    }
    reads = {}
    for analysis, observer in observer_of.items():
        sheet = read_cases(
            observer,
            worklist["case_code"],
            lambda code: images[by_code[code]],
            virtual_panel(n_virtual),
            seed,
            lambda code: readers.qualities[by_code[code][1]],
        )
        reads[analysis] = reads_table(sheet, key, "virtual")
    if folder is not None:
        write_csv(worklist, Path(folder) / "worklist.csv")
        write_csv(key, Path(folder) / "key.csv")
    return reads
