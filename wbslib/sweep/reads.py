"""Virtual-reader reads of the sweep's image sets, exactly as notebook 04 reads the study's.

The lesion observer (`readers.adapted.standard_observer`) is trained on the 1x scans of the
cohort's observer split (their lesion table is the only truth it ever sees) — the *unadapted*
reader of notebook 04: the sweep has no observer-cohort images of its own classes — and cached as
`runs/<run>/sweep/observer.json`. Each batch of image sets (the 1x reference, or one speed) gets
its own blinded worklist (`readers.make_worklist`, seed keyed by the batch), so readers see
codes and pixels only; the panel (`virtual_readers.virtual_panel`: `readers.n_virtual` primary
readers plus an adjudicator) scores every code, and the key turns the sheets back into tidy reads
(reader, reader_kind 'virtual', study_id, group, likert, malignant, confidence).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.fileio import write_csv
from wbslib.core.repro import rng
from wbslib.readers.adapted import standard_observer
from wbslib.readers.observer import Observer
from wbslib.readers.quality import ImageQuality
from wbslib.readers.virtual import read_cases, virtual_panel
from wbslib.readers.worklist import make_worklist, reader_config, reads_table


def readers_config(params: dict) -> dict:
    """The reader settings the sweep uses: {'n_virtual': int ≥ 2}, validated as notebook 04 does
    (`readers.worklist.reader_config`)."""
    return {"n_virtual": reader_config(params.get("readers"))["n_virtual"]}


def cached_observer(data_root: str | os.PathLike, manifest: str | os.PathLike, path: str | os.PathLike) -> Observer:
    """The lesion observer trained on the observer split's 1x scans (loaded from `path` when cached there)."""
    path = Path(path)
    if path.is_file():
        return Observer.load(path)
    observer = standard_observer(data_root, manifest)
    observer.save(path)
    return observer


def read_sweep_images(
    images: dict[tuple[str, str], np.ndarray],
    observer: Observer,
    qualities: dict[tuple[str, str], ImageQuality],
    n_virtual: int,
    seed: int,
    batch: str,
    folder: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Tidy virtual reads of `images` {(study_id, group): 1x-equivalent counts} under one blinded
    worklist (seeded by `seed` and the `batch` name), each rated with `qualities[(study_id, group)]`
    (`readers.quality.cross_fitted`); worklist and key are written to `folder`."""
    sets = pd.DataFrame(sorted(images), columns=["study_id", "group"])
    worklist, key = make_worklist(sets, int(rng(seed, "sweep-worklist", batch).integers(2**31)))
    by_code = {
        code: (sid, group) for code, sid, group in key[["case_code", "study_id", "group"]].itertuples(index=False)
    }
    sheet = read_cases(
        observer,
        worklist["case_code"],
        lambda code: images[by_code[code]],
        virtual_panel(n_virtual),
        seed,
        lambda code: qualities[by_code[code]],
    )
    if folder is not None:
        write_csv(worklist, Path(folder) / "worklist.csv")
        write_csv(key, Path(folder) / "key.csv")
    return reads_table(sheet, key, "virtual")
