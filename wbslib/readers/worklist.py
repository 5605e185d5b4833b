"""The blinded reader study: worklist and key, image lookup by code, the paper's adjudication.

- **Worklist** (`make_worklist`): every (patient × group) image set of the evaluation cohort under
  a random case code, in a shuffled order where no patient's sets are adjacent; reproducible from
  the seed. The **key** (code → study_id, group) is a separate file that no reader-facing file
  contains. A worklist has an id (hash of its ordered codes) printed on its sheets and templates.
- **Score sheets**: schema and validated ingestion in `wbslib.readers.score_sheets` (`read_score_sheets`
  is re-exported here); HTML reading sheets in `wbslib.readers.reading_sheet`.
- **Adjudication** (`adjudicate`), as the paper: a Likert of 1 makes the call negative; where the
  two primary readers' calls differ, the third reader's call stands. For ROC each reading gets a
  `rating`: a virtual reader's continuous `score` (its decision variable, untied), else — for
  clinicians, whose sheets have no score — the paper's 10-point malignancy rating: 5 + confidence
  for a malignant call, 6 − confidence for a benign one (a non-diagnostic image is a benign guess: 5).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.errors import ParamsError, ReaderStudyError
from wbslib.core.fileio import write_csv
from wbslib.core.params import section
from wbslib.core.repro import rng
from wbslib.readers.score_sheets import read_score_sheets  # noqa: F401  (public API of the reader study)

CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY34679"
CODE_LENGTH = 6
READER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # never formula-like (= + - @) in a CSV cell
READ_COLUMNS = ["reader", "reader_kind", "study_id", "group", "likert", "malignant", "confidence", "score"]
ADJUDICATED_COLUMNS = [
    "study_id",
    "group",
    "likert_mean",
    "malignant",
    "confidence",
    "rating",
    "adjudicated",
    "label",
]


# --- worklist ---------------------------------------------------------------------------------------
def _case_codes(n: int, seed: int) -> list[str]:
    """n distinct random codes of CODE_LENGTH characters from an unambiguous alphabet."""
    gen = rng(seed, "case-codes")
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < n:
        code = "".join(gen.choice(list(CODE_ALPHABET), CODE_LENGTH))
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes


def _feasible(left: dict, n_left: int, last) -> bool:
    """Can the remaining sets be ordered with no patient twice in a row, not starting with `last`?"""
    return all(k <= (n_left + (0 if p == last else 1)) // 2 for p, k in left.items())


def interleaved_order(patients: list, seed: int) -> list[int]:
    """Indices into `patients` (one entry per image set) in a random order where no two adjacent
    entries share a patient: each step draws a patient ≠ the last, weighted by the sets it has
    left, and keeps the draw only if the rest can still be ordered (else the patient with most
    sets left). ReaderStudyError when no such order exists (one patient holds over half the sets)."""
    gen = rng(seed, "worklist-order")
    pending: dict = {}
    for i, p in enumerate(patients):
        pending.setdefault(p, []).append(i)
    for p in pending:
        pending[p] = list(gen.permutation(pending[p]))
    if not _feasible({p: len(v) for p, v in pending.items()}, len(patients), None):
        raise ReaderStudyError(
            "One patient holds more than half of the image sets, so no order keeps their sets "
            "apart; add patients to the evaluation cohort."
        )
    order, last = [], None
    while len(order) < len(patients):
        names = [p for p in pending if pending[p] and p != last]
        counts = np.array([len(pending[p]) for p in names], float)
        pick = names[int(gen.choice(len(names), p=counts / counts.sum()))]
        left = {p: len(v) - (p == pick) for p, v in pending.items()}
        if not _feasible(left, len(patients) - len(order) - 1, pick):
            pick = names[int(np.argmax(counts))]
        order.append(pending[pick].pop())
        last = pick
    return order


def make_worklist(image_sets: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(worklist, key) for every test-split (study_id, group) image set.

    worklist: position (1…N), case_code, worklist_id — what readers see. key: case_code,
    study_id, group, worklist_id — kept apart. Same table and seed ⇒ same worklist.
    """
    missing = [c for c in ("study_id", "group") if c not in image_sets.columns]
    if missing:
        raise ReaderStudyError(
            f"The image-set table lacks column(s) {missing}; pass the table of wbslib.io.imagesets.read_image_sets."
        )
    sets = image_sets
    if "split" in sets.columns:
        sets = sets[sets["split"].astype(str) == "test"]
    sets = sets[["study_id", "group"]].astype(str).drop_duplicates().sort_values(["study_id", "group"])
    if sets.empty:
        raise ReaderStudyError(
            "The image-set table holds no image set of the evaluation cohort (split 'test'); "
            "run notebook 03 first or check the manifest's splits."
        )
    sets = sets.reset_index(drop=True).iloc[interleaved_order(sets["study_id"].tolist(), seed)].reset_index(drop=True)
    sets["case_code"] = _case_codes(len(sets), seed)
    worklist_id = "WL-" + hashlib.sha256("|".join(sets["case_code"]).encode()).hexdigest()[:10]
    worklist = pd.DataFrame(
        {"position": np.arange(1, len(sets) + 1), "case_code": sets["case_code"], "worklist_id": worklist_id}
    )
    key = sets.assign(worklist_id=worklist_id)[["case_code", "study_id", "group", "worklist_id"]]
    return worklist, key


READER_DEFAULTS = {
    "n_virtual": 2,
    "score_sheets": None,
    "clinicians": ["reader-1", "reader-2", "reader-3"],
    "session_size": 100,
    "primary": None,
    "adjudicator": None,
    "observer": None,
}


def reader_config(readers: dict | None) -> dict:
    """params['readers'] with defaults (READER_DEFAULTS) filled in; ParamsError for unknown keys
    or bad values. score_sheets: list of CSV paths (clinicians) or null (virtual readers);
    clinicians: names that get reading sheets and templates; primary/adjudicator: reader names
    (default: name order); observer: a trained observer JSON to use instead of training one."""
    cfg = section({"readers": readers}, "readers", READER_DEFAULTS)
    if isinstance(cfg["score_sheets"], str):
        cfg["score_sheets"] = [cfg["score_sheets"]]
    n = cfg["n_virtual"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ParamsError(
            f"readers.n_virtual = {n!r} must be a whole number ≥ 2 (primary virtual readers; an adjudicator is added)."
        )
    if isinstance(cfg["session_size"], bool) or not isinstance(cfg["session_size"], int) or cfg["session_size"] < 1:
        raise ParamsError(f"readers.session_size = {cfg['session_size']!r} must be a positive number of cases.")
    cfg["clinicians"] = check_reader_names(cfg["clinicians"] or [])
    return cfg


def check_reader_names(readers) -> list[str]:
    """Reader names as given; ParamsError for a name that cannot be part of a file name."""
    readers = [str(r) for r in readers]
    bad = [r for r in readers if not READER_NAME.fullmatch(r)]
    if bad:
        raise ParamsError(
            f"Reader name(s) {bad} must start with a letter or digit and hold only letters, digits, '.', '_' "
            "and '-'; rename them in the params (readers.clinicians)."
        )
    return readers


def write_worklist(
    worklist: pd.DataFrame, key: pd.DataFrame, folder: str | os.PathLike, readers: list[str]
) -> dict[str, Path]:
    """worklist.csv, key.csv and one score-sheet template per reader (sheet_<reader>.csv, blank scores)."""
    folder = Path(folder)
    readers = check_reader_names(readers)
    out = {"worklist": write_csv(worklist, folder / "worklist.csv"), "key": write_csv(key, folder / "key.csv")}
    for reader in readers:
        template = pd.DataFrame(
            {
                "worklist_id": worklist["worklist_id"],
                "reader": reader,
                "case_code": worklist["case_code"],
                "likert": "",
                "malignant": "",
                "confidence": "",
            }
        )
        out[f"template {reader}"] = write_csv(template, folder / f"sheet_{reader}.csv")
    return out


def image_lookup(key: pd.DataFrame, image_sets: pd.DataFrame, load_counts=None):
    """A function code → 1x-equivalent counts of that image set (what a reader is shown); the
    group and patient stay inside it. `load_counts(row)` defaults to `wbslib.io.imagesets.load_counts`."""
    if load_counts is None:
        from wbslib.io.imagesets import load_counts
    rows = image_sets.assign(study_id=image_sets["study_id"].astype(str), group=image_sets["group"].astype(str))
    rows = rows.set_index(["study_id", "group"])
    where = {
        code: (str(sid), str(group))
        for code, sid, group in key[["case_code", "study_id", "group"]].itertuples(index=False)
    }
    missing = [w for w in where.values() if w not in rows.index]
    if missing:
        raise ReaderStudyError(
            f"{len(missing)} image sets of the key are not in the image-set index (e.g. {missing[0]}); "
            "build the worklist from the same runs/<run>/image_sets.csv."
        )

    def pixels(code: str) -> np.ndarray:
        return np.asarray(load_counts(rows.loc[where[code]]))

    return pixels


def reads_table(scores: pd.DataFrame, key: pd.DataFrame, reader_kind: str) -> pd.DataFrame:
    """Tidy reads (reader, reader_kind, study_id, group, likert, malignant, confidence, score) via the
    key; `score` (a virtual reader's continuous decision variable) is NaN for sheets without one."""
    if reader_kind not in ("virtual", "clinician"):
        raise ReaderStudyError(f"reader_kind must be 'virtual' or 'clinician', got {reader_kind!r}.")
    if "score" not in scores.columns:
        scores = scores.assign(score=np.nan)
    merged = scores.merge(key[["case_code", "study_id", "group"]], on="case_code", how="left", validate="many_to_one")
    if merged["study_id"].isna().any():
        raise ReaderStudyError(
            f"{int(merged['study_id'].isna().sum())} scores carry codes missing from the key; "
            "ingest the sheets against the worklist of this key."
        )
    return (
        merged.assign(reader_kind=reader_kind)[READ_COLUMNS]
        .sort_values(["reader", "study_id", "group"])
        .reset_index(drop=True)
    )


# --- adjudication ----------------------------------------------------------------------------------
def effective_reads(reads: pd.DataFrame) -> pd.DataFrame:
    """Reads with the paper's rule applied: Likert 1 ⇒ call 0, confidence 1; plus `rating`: the
    continuous `score` where a read has one (virtual readers), else the 10-point rating (1–10)."""
    out = reads.copy()
    non_diagnostic = out["likert"].astype(int) == 1
    out["malignant"] = np.where(non_diagnostic, 0, out["malignant"].astype(int))
    out["confidence"] = np.where(non_diagnostic, 1, out["confidence"].astype(int))
    ten_point = np.where(out["malignant"] == 1, 5 + out["confidence"], 6 - out["confidence"])
    score = pd.to_numeric(out["score"], errors="coerce") if "score" in out else pd.Series(np.nan, out.index)
    out["rating"] = np.where(np.isfinite(score), score, ten_point)
    return out


def panel_roles(reads: pd.DataFrame, primary=None, adjudicator=None) -> tuple[list[str], str | None]:
    """(two primary readers, adjudicator or None): given, else the readers in name order."""
    names = sorted(reads["reader"].astype(str).unique())
    primary = list(primary) if primary else names[:2]
    if adjudicator is None:
        adjudicator = next((n for n in names if n not in primary), None)
    if len(primary) != 2 or not set(primary) <= set(names):
        raise ReaderStudyError(
            f"Adjudication needs two primary readers, the reads hold {names} (primary {primary}); "
            "ingest a second reader's score sheet."
        )
    return primary, adjudicator


def adjudicate(reads: pd.DataFrame, labels=None, *, primary=None, adjudicator=None) -> pd.DataFrame:
    """One adjudicated reading per (study_id, group): columns ADJUDICATED_COLUMNS.

    likert_mean: the primaries' mean Likert; malignant: their common (effective) call, else the
    adjudicator's; confidence and rating: the mean of those whose call stands; adjudicated: the
    third reader decided; label: the reference standard per study (`labels` {study_id: 0/1/NaN}).
    """
    primary, adjudicator = panel_roles(reads, primary, adjudicator)
    eff = effective_reads(reads)
    wide = eff.pivot_table(
        index=["study_id", "group"],
        columns="reader",
        values=["likert", "malignant", "confidence", "rating"],
        aggfunc="first",
    )
    a, b = primary
    both = wide["malignant"][[a, b]].notna().all(axis=1)
    if not both.all():
        first = wide.index[~both][0]
        raise ReaderStudyError(
            f"{int((~both).sum())} image sets lack a read by {a} or {b} (e.g. {first}); "
            "both primary readers must read every image set."
        )
    agree = wide["malignant"][a] == wide["malignant"][b]
    out = pd.DataFrame(index=wide.index)
    out["likert_mean"] = wide["likert"][[a, b]].mean(axis=1)
    out["malignant"] = wide["malignant"][a].astype(int)
    out["confidence"] = wide["confidence"][[a, b]].mean(axis=1)
    out["rating"] = wide["rating"][[a, b]].mean(axis=1)
    out["adjudicated"] = ~agree
    if (~agree).any():
        third = wide["malignant"][adjudicator] if adjudicator in wide["malignant"] else None
        lacking = (~agree) if third is None else (~agree & third.isna())
        if lacking.any():
            raise ReaderStudyError(
                f"The primary readers disagree on {int((~agree).sum())} image sets and "
                f"{int(lacking.sum())} lack a third reader's call (e.g. {wide.index[lacking][0]}); "
                "ingest the adjudicator's score sheet."
            )
        for col in ("malignant", "confidence", "rating"):
            out.loc[~agree, col] = wide[col][adjudicator][~agree]
    out["malignant"] = out["malignant"].astype(int)
    labels = {} if labels is None else dict(labels)
    out = out.reset_index()
    out["label"] = [labels.get(s, np.nan) for s in out["study_id"]]
    return out[ADJUDICATED_COLUMNS]
