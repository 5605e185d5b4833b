"""`wbs enhance PATH [--model CKPT] --out DIR`: one study file, or every study file under a folder, through one
trained generator that is loaded once (without --model: the shipped pretrained generator for each study's
speed, `wbslib.enhance.pretrained`).

Each file is one acquisition (two views, or one view). Outputs go through `enhance.batch.run_batch` to
`<out>/<speed>-<mode>/<study_id>-<file_id>.dcm`: the keyed pseudonym of the header's Patient ID and the
keyed id of the file's path, never the source file's name (which may carry a name or a date). The output
folder's manifest.csv is the journal: a killed run resumes where it stopped and skips finished, intact
outputs, and a second run into the same folder waits for the first. In a folder, a file that cannot be
used (not DICOM, unknown speed, another speed than the checkpoint's, unreadable, a symlink loop or a
dangling link) is quarantined and the rest go on; for one file its named error is raised.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from wbslib.core.counts import check_speed
from wbslib.core.errors import AlreadyEnhancedError, SpeedUnknownError, WbsError
from wbslib.core.fileio import sha256_file, unreadable_input
from wbslib.core.scan import speed_label
from wbslib.enhance.batch import QUARANTINE_COLUMNS, Job, run_batch
from wbslib.enhance.engines import check_runtime
from wbslib.enhance.infer import check_checkpoint_speed, describe_model, enhance_scan, load_model
from wbslib.enhance.pretrained import pretrained_checkpoint
from wbslib.io.dicom import read_wholebody
from wbslib.io.manifest.privacy import FileNames
from wbslib.io.manifest.pseudonym import load_key, pseudonym
from wbslib.io.manifest.walk import walk_folder

UNKNOWN_STUDY = "unknown"  # study id of a file without Patient ID


class _Model:
    """The generator loaded once, with what every job needs from it."""

    def __init__(self, checkpoint: str | os.PathLike, device: str, runtime: str):
        self.model, self.meta = load_model(checkpoint, device)
        self.sha256 = sha256_file(checkpoint)
        self.method, self.description = describe_model(self.meta, self.sha256)
        self.group = f"{speed_label(self.meta['speed_factor'])}-{self.meta['mode']}"
        self.device, self.runtime = device, runtime

    def enhance(self, scan):
        out = enhance_scan(scan, (self.model, self.meta), device=self.device, runtime=self.runtime)
        return out.counts, self.method, self.description


class _Models:
    """The generator each study gets: the checkpoint given (checked against the study's speed), or
    without one the shipped pretrained generator for the study's speed (`wbslib.enhance.pretrained`),
    each loaded once."""

    def __init__(self, checkpoint: str | os.PathLike | None, device: str, runtime: str = "auto"):
        self.device, self.runtime = device, check_runtime(runtime)
        self.fixed = _Model(checkpoint, device, runtime) if checkpoint is not None else None
        self.loaded: dict[Path, _Model] = {}
        self.group = self.fixed.group if self.fixed else "pretrained"

    def for_speed(self, speed: float, where: str) -> _Model:
        if self.fixed is not None:
            check_checkpoint_speed(self.fixed.meta, speed, where)
            return self.fixed
        path = pretrained_checkpoint(speed)
        if path not in self.loaded:
            self.loaded[path] = _Model(path, self.device, self.runtime)
        return self.loaded[path]


def _job(root: Path, rel: str, models: _Models, names: FileNames, key: bytes, options: dict) -> Job:
    """The job of one study file (read once here for its patient, speed and checksum)."""
    path = root / rel
    try:
        sha = sha256_file(path)
    except OSError as exc:
        raise unreadable_input(str(path), exc) from None
    scan = read_wholebody(path, allow_single_view=True, **options)
    if scan.derived_1x_equivalent:
        raise AlreadyEnhancedError(
            f"{path} is already enhanced (a derived series whose counts are 1x-equivalent); enhance the original "
            "fast scan instead."
        )
    speed = scan.count_equivalent_speed
    if speed is None:
        raise SpeedUnknownError(
            f"{path} has no Scan Velocity in its header; pass --speed-factor (e.g. 2 for a scan at twice the "
            "standard speed)."
        )
    model = models.for_speed(speed, str(path))
    study = pseudonym(scan.patient_id, key) if scan.patient_id else UNKNOWN_STUDY
    return Job(
        study_id=study,
        group=model.group,
        method=f"rrdb-{model.meta['mode']}",
        speed_factor=float(speed),
        split="",
        label=None,
        source_path=rel,
        source_sha256=sha,
        provenance=model.sha256,
        enhance=model.enhance,
        name=f"{study}-{names.id(rel)}",
        read_options=options,
    )


def _jobs(
    root: Path,
    files: list[str],
    problems: list,
    models: _Models,
    key: bytes,
    options: dict,
    *,
    strict: bool,
    progress: bool,
) -> tuple[list[Job], list[dict], FileNames]:
    """(jobs, quarantine rows, the file names used) for the study files `files` under `root`; `problems`:
    (relative path, error) of entries that could not be walked."""
    names = FileNames(root, key)
    for rel in [*files, *(rel for rel, _ in problems)]:
        names.id(rel)
    jobs, bad = [], list(problems)
    for rel in tqdm(files, desc="read", unit="file", disable=not progress):
        try:
            jobs.append(_job(root, rel, models, names, key, options))
        except WbsError as exc:
            if strict:
                raise
            bad.append((rel, exc))
    rows = [
        {
            "study_id": "",
            "group": models.group,
            "file": names.id(rel),
            "error": type(exc).__name__,
            "sentence": names.redact(str(exc)),
        }
        for rel, exc in bad
    ]
    return jobs, rows, names


def enhance_folder(
    folder: str | os.PathLike,
    checkpoint: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    speed_factor: float | None = None,
    assume_view: str | None = None,
    device: str = "auto",
    runtime: str = "auto",
    progress: bool = True,
    wait: float | None = None,
    key_file: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Enhance every study file under `folder` (walked as `io.manifest.walk.walk_folder` does); returns
    (this run's output rows, quarantine rows) as `run_batch` does, the walk's and reading problems included.
    `checkpoint` None: each study gets the shipped pretrained generator for its speed.

    `quarantine.attrs["paths"]` maps the quarantined file ids to their paths, for the local terminal only.
    """
    root = Path(folder)
    if speed_factor is not None:
        check_speed(speed_factor, "--speed-factor")
    key = load_key(key_file)
    models = _Models(checkpoint, device, runtime)
    files, problems = walk_folder(root)
    ours = Path(out_dir).resolve()  # an output folder inside the input folder is not input
    files = [f for f in files if not (root / f).resolve().is_relative_to(ours)]
    problems = [(f, e) for f, e in problems if not (root / f).absolute().is_relative_to(ours)]
    options = dict(speed_factor=speed_factor, assume_view=assume_view)
    jobs, rejected, names = _jobs(root, files, problems, models, key, options, strict=False, progress=progress)
    rows, bad = run_batch(jobs, root, out_dir, progress=progress, wait=wait, key_file=key_file, rejected=rejected)
    bad = bad.reindex(columns=list(QUARANTINE_COLUMNS))
    bad.attrs["paths"] = {f: names.paths[f] for f in bad["file"] if f in names.paths}
    return rows, bad


def enhance_file(
    path: str | os.PathLike,
    checkpoint: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    speed_factor: float | None = None,
    device: str = "auto",
    assume_view: str | None = None,
    *,
    runtime: str = "auto",
    key_file: str | os.PathLike | None = None,
) -> Path:
    """Enhance one study file into `<out_dir>/<speed>-<mode>/<study_id>-<file_id>.dcm` (derived NM) and list
    it in `<out_dir>/manifest.csv`; returns the output path.

    `assume_view` ('ANT' or 'POST') names the view of a one-view file without view code. Re-running gives
    the same file (skipped); a different file already at that path → OutputConflictError and nothing is
    overwritten; any other problem of the file raises its named error. `checkpoint` None: the shipped
    pretrained generator for the study's speed.
    """
    path = Path(path)
    if speed_factor is not None:
        check_speed(speed_factor, "--speed-factor")
    models = _Models(checkpoint, device, runtime)
    options = dict(speed_factor=speed_factor, assume_view=assume_view)
    key = load_key(key_file)
    jobs, _, _ = _jobs(path.parent, [path.name], [], models, key, options, strict=True, progress=False)
    run_batch(jobs, path.parent, out_dir, progress=False, strict=True, key_file=key_file)
    return Path(out_dir) / jobs[0].group / f"{jobs[0].output_name}.dcm"
