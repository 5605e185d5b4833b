"""The speed sweep (notebook 06): the fastest whole-body scan that stays diagnostic after enhancement.

`run_sweep(params)` checks every parameter first (`check_params`), then under `runs/<run>/sweep/`:
1. per speed, a data root of real-like fast scans of every cohort patient (`sweep_scans`);
2. the models: per speed and mode (`wbslib.enhance.training.loop`), or one mixed-speed model per mode
   (`sweep_models.train_mixed`), as `sweep.model_strategy` says;
3. the reference `1x/` and each speed `<label>/`: image sets of the evaluation patients
   (`sweep_images`), their quality against the truth (`metrics.csv`), virtual-reader reads
   (`reads.csv` by each group's own observer and quality model, trained and measured on the
   observer cohort's image sets of that group; `reads_unadapted.csv` by the 1x observer:
   `sweep.reads`) and the strip patient's images (`strip.npz`); `1x/` also reads the phantom's
   noise-free image at the 1x count level (group `truth`: the ideal-enhancer reference, never a
   method; no image metrics, it is what they compare against);
4. with `compare_strategies`, both strategies' validation errors (`strategies/compare.csv`);
5. the tidy `results.csv`, `noninferiority.csv` and `summary.json` (`sweep_results`).
Steps 3–4 are cached: a folder whose `done.json` holds the fingerprint of its inputs (params,
cohort, checkpoint hashes, the Likert rule) is not recomputed; anything else is (re)computed and overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from wbslib.core.errors import ParamsError
from wbslib.core.fileio import atomic_path, sha256_file, write_csv, write_text
from wbslib.core.groups import TRUTH
from wbslib.core.params import resolve_device, resolve_path, run_dir
from wbslib.core.scan import speed_label
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.datasets import acquisition_paths
from wbslib.enhance.training.loop import training_config
from wbslib.io.manifest.schema import read_manifest
from wbslib.io.truth import load_lesions, load_patients
from wbslib.readers.adapted import OBSERVER_SPLIT
from wbslib.readers.quality import RULE as LIKERT_RULE
from wbslib.readers.quality import TruthPair, measure_image
from wbslib.sweep.config import sweep_config, training_params
from wbslib.sweep.images import image_metrics, study_sets
from wbslib.sweep.models import compare_strategies, train_mixed, train_per_speed
from wbslib.sweep.reads import SweepReaders, class_readers, read_sweep_images, readers_config, sweep_observer
from wbslib.sweep.results import collect_results
from wbslib.sweep.scans import build_speed_data, cohort_record

METRIC_COLUMNS = ("study_id", "group", "metric", "value")


def check_params(params: dict) -> dict:
    """The checked sweep config; `ParamsError` (or `PhantomTruthError`) for any bad value, before any work."""
    cfg = sweep_config(params)
    seed = params.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"params 'seed' = {seed!r} is not a whole number ≥ 0; set seed: 7 (for example).")
    for key in ("run", "data_root", "manifest"):
        if not isinstance(params.get(key), str) or not params[key]:
            raise ParamsError(f"params '{key}' is missing; the sweep needs run, data_root and manifest.")
    _check_cohort(resolve_path(params["data_root"]), cfg)
    train = training_params(params, cfg, params["data_root"], params["manifest"])
    for mode in cfg["modes"]:
        training_config(train, {"mode": mode, "speed": cfg["speeds"][0]})
    readers_config(params)
    resolve_device(params.get("device", "auto"))
    return cfg


def _check_cohort(data_root: Path, cfg: dict) -> None:
    """The phantom cohort can carry the sweep: ≥ 2 metastatic and ≥ 2 other test patients (AUC), both
    labels in the training split (models, virtual readers), validation patients when comparing strategies."""
    cohort_record(data_root)
    patients = load_patients(data_root)
    counts = patients.groupby(["split", "label"]).size()
    need = {("test", 1): 2, ("test", 0): 2, ("train", 1): 1, ("train", 0): 1}
    short = [
        f"{n} {'metastatic' if label else 'other'} {split}"
        for (split, label), n in need.items()
        if counts.get((split, label), 0) < n
    ]
    if cfg["compare_strategies"] and counts.get("val", pd.Series(dtype=int)).sum() == 0:
        short.append("1 val")
    if short:
        raise ParamsError(
            f"The cohort in {data_root} is too small for the sweep: it needs at least "
            f"{', '.join(short)} patient(s); enlarge the cohort section (n_patients, n_train, n_val)."
        )


def fingerprint(value) -> str:
    """sha256 (16 hex) of a JSON-serialisable description of a step's inputs."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_done(folder: Path, key: str) -> bool:
    """True when `folder/done.json` records the fingerprint `key`."""
    path = Path(folder) / "done.json"
    return path.is_file() and json.loads(path.read_text()).get("fingerprint") == key


def mark_done(folder: Path, key: str, inputs) -> None:
    write_text(
        json.dumps({"fingerprint": key, "inputs": inputs}, indent=2, sort_keys=True, default=str),
        Path(folder) / "done.json",
    )


def evaluation_studies(patients: pd.DataFrame, max_studies: int | None) -> pd.Series:
    """label (0/1) by study_id of the test patients evaluated: all, or `max_studies` of them, half
    metastatic (the first ones of each label in study order)."""
    test = patients[patients["split"] == "test"].sort_values("study_id")
    if max_studies is not None and max_studies < len(test):
        pos, neg = test[test["label"] == 1], test[test["label"] == 0]
        n_pos = min(len(pos), max(max_studies // 2, max_studies - len(neg)))
        test = pd.concat([pos.head(n_pos), neg.head(max_studies - n_pos)]).sort_values("study_id")
    return pd.Series(test["label"].astype(int).to_numpy(), index=test["study_id"].astype(str).to_numpy(), name="label")


class Sweep:
    """One sweep run: params, config, folders, evaluation patients and the cohort's identity."""

    def __init__(self, params: dict, progress: bool = True):
        self.params, self.cfg, self.progress = params, check_params(params), progress
        self.seed, self.device = int(params["seed"]), resolve_device(params.get("device", "auto"))
        self.data_root, self.manifest = resolve_path(params["data_root"]), resolve_path(params["manifest"])
        self.root = run_dir(params["run"]) / "sweep"
        patients = load_patients(self.data_root)
        self.truth = evaluation_studies(patients, self.cfg["max_studies"])
        observers = patients[patients["split"] == OBSERVER_SPLIT].sort_values("study_id")
        self.observer_cohort = pd.Series(
            observers["label"].astype(int).to_numpy(), index=observers["study_id"].astype(str).to_numpy()
        )
        first_metastatic = self.truth.index[self.truth == 1]
        self.strip_study = self.cfg["strip_study"] or (
            first_metastatic[0] if len(first_metastatic) else self.truth.index[0]
        )
        if self.strip_study not in self.truth.index:
            raise ParamsError(
                f"sweep.strip_study {self.strip_study!r} is not among the evaluated test patients "
                f"({', '.join(self.truth.index[:5])}, …); pick one of them or set it to null."
            )
        self.identity = {
            "cohort": cohort_record(self.data_root),
            "manifest_sha256": sha256_file(self.manifest),
            "seed": self.seed,
            "studies": list(self.truth.index),
            "observer_cohort": list(self.observer_cohort.index),
            "readers": readers_config(params),
            "strip_study": self.strip_study,
        }
        self.image_options = {"enhance_thinned": self.cfg["enhance_thinned"], "device": self.device}

    @cached_property
    def observer(self):
        """The virtual readers' 1x lesion observer (trained once per sweep run, for all its speeds)
        and its file's sha256."""
        path = self.root / "observer.json"
        observer = sweep_observer(self.data_root, self.manifest, path)
        return observer, sha256_file(path)

    def folder(self, speed: float) -> Path:
        return self.root / speed_label(speed)

    def data(self, speed: float) -> Path:
        """The speed's data root (built on first use)."""
        root = self.folder(speed) / "data"
        workers = (self.params.get("cohort") or {}).get("workers") or min(os.cpu_count() or 1, 4)
        build_speed_data(self.data_root, self.manifest, root, speed, self.seed, workers=workers)
        return root

    def train_params(self, speed: float) -> dict:
        root = self.data(speed)
        return training_params(self.params, self.cfg, str(root), str(root / "manifest.csv"))

    def checkpoints(self, speed: float, strategy: str | None = None) -> dict[str, Path]:
        """{mode: final checkpoint} for `speed` under `strategy` (default the configured one)."""
        if (strategy or self.cfg["model_strategy"]) == "per-speed":
            return {
                m: train_per_speed(self.train_params(speed), m, speed, self.folder(speed), self.progress)
                for m in self.cfg["modes"]
            }
        roots = {s: self.data(s) for s in self.cfg["speeds"]}
        train = self.train_params(self.cfg["speeds"][0])
        return {m: train_mixed(train, m, roots, self.root / "mixed", self.progress) for m in self.cfg["modes"]}


def _scan_paths(root: Path, speeds, split: str) -> dict[tuple[str, float], list[str]]:
    """(study_id, speed) → file paths of the `split` patients' acquisitions in a speed's data root."""
    manifest = read_manifest(root / "manifest.csv")
    return {
        (sid, s): paths
        for s in speeds
        for sid, paths in acquisition_paths(manifest, split, "standard" if s == 1.0 else "fast-real", s).items()
    }


def _readers(sweep: Sweep, root: Path, speed: float, lesions, models, unadapted) -> SweepReaders:
    """Per-group observers and quality models from the observer cohort's image sets at `speed`."""
    paths = _scan_paths(root, sorted({1.0, speed}), OBSERVER_SPLIT)
    training, measured = {}, {}
    for study_id, label in tqdm(sweep.observer_cohort.items(), desc="observer cohort", disable=not sweep.progress):
        truth, sets = study_sets(root, study_id, speed, paths, lesions, models, sweep.seed, **sweep.image_options)
        for group, (image, source_speed) in sets.items():
            t = truth.by_speed[float(source_speed)]
            where = truth.lesions.assign(row=t["positions"][:, 0], col=t["positions"][:, 1])
            training.setdefault(group, []).append((image, where, int(label)))
            measured.setdefault(group, []).append(
                measure_image(
                    TruthPair(image, t["expected_1x"], t["skeleton"], t["bladder"], truth.lesions, t["positions"])
                )
            )
    return class_readers(training, measured, unadapted)


def _evaluate(sweep: Sweep, folder: Path, speed: float, checkpoints: dict[str, Path], observer) -> None:
    """Image sets, metrics, reads and strip of one speed (1.0: the reference 1x scans) into `folder`."""
    root = sweep.data(speed) if speed != 1.0 else sweep.data(sweep.cfg["speeds"][0])
    lesions, rows, images, strip = load_lesions(root), [], {}, {}
    paths = _scan_paths(root, sorted({1.0, speed}), "test")
    models = {m: load_generator(p, sweep.device) for m, p in checkpoints.items()}
    readers = _readers(sweep, root, speed, lesions, models, observer)
    for study_id in tqdm(sweep.truth.index, desc=speed_label(speed), disable=not sweep.progress):
        truth, sets = study_sets(root, study_id, speed, paths, lesions, models, sweep.seed, **sweep.image_options)
        for group, (image, source_speed) in sets.items():
            images[(study_id, group)] = image
            if group == TRUTH:
                continue
            rows += [(study_id, group, k, v) for k, v in image_metrics(image, truth, source_speed).items()]
            if study_id == sweep.strip_study:
                strip[group] = image.astype(np.float32)
    write_csv(pd.DataFrame(rows, columns=list(METRIC_COLUMNS)), folder / "metrics.csv")
    reads = read_sweep_images(
        images, readers, sweep.identity["readers"]["n_virtual"], sweep.seed, speed_label(speed), folder
    )
    write_csv(reads["adapted"], folder / "reads.csv")
    write_csv(reads["unadapted"], folder / "reads_unadapted.csv")
    with atomic_path(folder / "strip.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **strip)


def run_speed(sweep: Sweep, speed: float) -> bool:
    """Evaluate one speed (1.0 = the reference) unless done; True when it was computed now."""
    checkpoints = sweep.checkpoints(speed) if speed != 1.0 else {}
    observer, observer_sha = sweep.observer
    inputs = {
        **sweep.identity,
        "speed": speed,
        "modes": sweep.cfg["modes"],
        "enhance_thinned": sweep.cfg["enhance_thinned"],
        "checkpoints": {m: sha256_file(p) for m, p in checkpoints.items()},
        "observer": observer_sha,
        "reference_groups": ["1x", TRUTH] if speed == 1.0 else [],
        "likert_rule": LIKERT_RULE,
    }
    folder, key = sweep.folder(speed), fingerprint(inputs)
    if is_done(folder, key):
        return False
    _evaluate(sweep, folder, speed, checkpoints, observer)
    mark_done(folder, key, inputs)
    return True


def run_comparison(sweep: Sweep) -> pd.DataFrame | None:
    """Validation errors of both model strategies at `compare_strategies` (cached); None if not asked."""
    speeds = sweep.cfg["compare_strategies"]
    if not speeds:
        return None
    checkpoints = {
        (strategy, mode, s): path
        for strategy in ("per-speed", "mixed")
        for s in speeds
        for mode, path in sweep.checkpoints(s, strategy).items()
    }
    folder = sweep.root / "strategies"
    inputs = {
        "seed": sweep.seed,
        "checkpoints": {"/".join(map(str, k)): sha256_file(p) for k, p in checkpoints.items()},
    }
    key = fingerprint(inputs)
    if not is_done(folder, key):
        rows = compare_strategies(checkpoints, {s: sweep.data(s) for s in speeds}, sweep.seed, sweep.device)
        write_csv(rows, folder / "compare.csv")
        mark_done(folder, key, inputs)
    return pd.read_csv(folder / "compare.csv", dtype={"study_id": str})


def run_sweep(params: dict, *, progress: bool = True) -> dict:
    """Run (or resume) the whole sweep; returns `sweep_results.collect_results`'s dict of tables."""
    sweep = Sweep(params, progress)
    for speed in sweep.cfg["speeds"]:
        sweep.data(speed)
    computed = [speed_label(s) for s in [1.0, *sweep.cfg["speeds"]] if run_speed(sweep, s)]
    comparison = run_comparison(sweep)
    results = collect_results(sweep.root, sweep.cfg, sweep.truth)
    results["computed"], results["comparison"] = computed, comparison
    return results
