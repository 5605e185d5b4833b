"""The `wbs` command: manifest build/verify, run the notebook pipeline, simulate, enhance.

Every `WbsError` is printed as its one sentence on stderr with exit status 2 (never a traceback);
`wbs manifest verify` exits 1 when files are missing or changed. Options are checked as they are
parsed (speed factors finite and ≥ 1, velocities > 0, seeds ≥ 0, paths of the right kind): a bad
one is printed as one line `wbs: argument …` with exit status 2 as well.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

from wbslib.core.errors import OutputConflictError, ParamsError, WbsError
from wbslib.core.scan import STANDARD_VELOCITY_MM_S


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors and bad option values are one line `wbs: …` with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"wbs: {message.rstrip('.')}; see `{self.prog} --help`.\n")


def _speed_factor(text: str) -> float:
    """A speed factor: a finite number ≥ 1 (table speed ÷ the standard speed)."""
    from wbslib.core.counts import check_speed

    try:
        return check_speed(text, "speed factor")
    except ParamsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _velocity(text: str) -> float:
    """A table speed in cm/min: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"the table speed {text!r} is not a number > 0 in cm/min; pass the 1x speed, e.g. 20"
        )
    return value


def _seed(text: str) -> int:
    """A seed: a whole number ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"the seed {text!r} is not a whole number ≥ 0; pass e.g. 0 or 7")
    return value


def _prefixes(text: str) -> list[str]:
    """Notebook number prefixes from 'PREFIX,PREFIX'; at least one."""
    prefixes = [p.strip() for p in text.split(",") if p.strip()]
    if not prefixes:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no notebook; pass number prefixes such as 01,03, or leave --only out to run all"
        )
    return prefixes


def _file(text: str) -> Path:
    """An existing file (not a folder)."""
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{p} {'is a folder' if p.is_dir() else 'does not exist'}; pass a file")
    return p


def _folder(text: str) -> Path:
    """An existing folder."""
    p = Path(text)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{p} {'is a file' if p.exists() else 'does not exist'}; pass a folder")
    return p


def _new_folder(text: str) -> Path:
    """A folder to write into: existing or to be made, but not a file."""
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{p} is a file, not a folder; pass a folder to write into")
    return p


def _new_file(text: str) -> Path:
    """A file to write: not a folder."""
    p = Path(text)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{p} is a folder; pass a file name such as {p / 'cohort.csv'}")
    return p


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not three comma-separated numbers such as 0.7,0.1,0.2") from None


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise ParamsError(f"{what} {p} does not exist; check the path.")
    return p


def cmd_manifest_build(args: argparse.Namespace) -> int:
    from wbslib.io.manifest.build import build_manifest
    from wbslib.io.manifest.schema import write_manifest

    out = Path(args.out)
    if out.exists() and not args.force:
        raise OutputConflictError(f"{out} already exists; pass --force to replace it or choose another --out.")
    manifest, quarantine = build_manifest(
        args.dicom_dir,
        labels_csv=args.labels,
        split_seed=args.split_seed,
        fractions=args.split,
        data_root=args.data_root,
        copy_to=args.copy_to,
        source=args.source,
        standard_velocity_mm_s=args.standard_velocity * 10 / 60,
        allow_single_view=args.allow_single_view,
        assume_view=args.assume_view,
        speed_factor=args.speed_factor,
        destination=out,
    )
    write_manifest(manifest, out)
    _print_quarantine(quarantine, args.show_paths)
    print(f"{out}: {len(manifest)} files of {manifest['study_id'].nunique()} studies; {len(quarantine)} quarantined")
    return 0


def _print_quarantine(quarantine, show_paths: bool) -> None:
    """Quarantined files on stderr by keyed file id, or (--show-paths, this terminal only) by their path."""
    paths = quarantine.attrs.get("paths", {}) if show_paths else {}
    for row in quarantine.itertuples(index=False):
        sentence = row.sentence
        for file, path in paths.items():
            sentence = sentence.replace(file, path)
        name = f"{paths[row.file]} ({row.file})" if row.file in paths else row.file
        print(f"quarantined {name}: {row.error}: {sentence}", file=sys.stderr)


def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from wbslib.io.manifest.verify import verify_manifest

    result = verify_manifest(args.manifest, args.data_root)
    problems = result[result["status"] != "ok"]
    paths = result.attrs["paths"]
    for row in (result if args.show_paths else problems).itertuples(index=False):
        name = f"{paths[row.file]} ({row.file})" if args.show_paths else row.file
        print(f"{row.status}: {name} (study {row.study_id})", file=sys.stderr)
    print(f"{args.manifest}: {len(result) - len(problems)} of {len(result)} files ok")
    if problems.shape[0] == len(result) and len(result) and args.data_root is None:
        print(
            "every file is missing or changed: pass --data-root with the folder the paths are relative to",
            file=sys.stderr,
        )
    return 1 if len(problems) else 0


def check_sections(params: dict) -> None:
    """Every section of a params file, checked by its notebook's config function before any notebook
    runs (unknown keys with the closest key suggested, bad values): `ParamsError` otherwise."""
    from wbslib.core.params import section
    from wbslib.enhance.config import enhance_config
    from wbslib.enhance.training.loop import DEFAULTS, training_config
    from wbslib.io.audit import audit_config
    from wbslib.paper.config import statistics_config
    from wbslib.phantom.cohort import cohort_config
    from wbslib.readers.worklist import reader_config
    from wbslib.sweep.config import sweep_config, training_params

    cohort_config(params)
    audit_config(params.get("audit"))
    section(params, "train", {**DEFAULTS, "models": None})
    for spec in (params.get("train") or {}).get("models") or []:
        training_config(params, spec)
    enhance_config(params.get("enhance"))
    reader_config(params.get("readers"))
    statistics_config(params.get("statistics"))
    if params.get("sweep") is not None:
        cfg = sweep_config(params)
        train = training_params(params, cfg, params.get("data_root", ""), params.get("manifest", ""))
        for mode in cfg["modes"]:
            training_config(train, {"mode": mode, "speed": cfg["speeds"][0]})


def cmd_run(args: argparse.Namespace) -> int:
    from wbslib.core.params import load_params
    from wbslib.report.pipeline import run_pipeline

    params = load_params(args.params)
    try:
        check_sections(params)
    except ParamsError as exc:
        raise ParamsError(f"Params file {args.params}: {exc}") from exc
    run_pipeline(args.params, args.only, code=args.with_code)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from wbslib.core.params import load_params, resolve_path

    params = load_params(args.params)
    from wbslib.phantom.cohort import simulate_from_params

    manifest = simulate_from_params(params)
    print(f"{resolve_path(params['manifest'])}: {len(manifest)} files of {manifest['study_id'].nunique()} studies")
    return 0


def cmd_enhance(args: argparse.Namespace) -> int:
    study = _existing(args.study, "Study file or folder")
    model = _existing(args.model, "Checkpoint") if args.model else None
    from wbslib.enhance.studies import enhance_file, enhance_folder

    options = dict(
        speed_factor=args.speed_factor, device=args.device, assume_view=args.assume_view, runtime=args.runtime
    )
    if not study.is_dir():
        print(enhance_file(study, model, Path(args.out), **options))
        return 0
    rows, quarantine = enhance_folder(study, model, Path(args.out), **options)
    _print_quarantine(quarantine, args.show_paths)
    done = rows["status"].value_counts()
    print(
        f"{args.out}: {done.get('enhanced', 0)} enhanced, {done.get('skipped', 0)} already done, "
        f"{len(quarantine)} quarantined; listed in {Path(args.out) / 'manifest.csv'}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wbs", description="wbs-accel: fast whole-body bone scan enhancement (RESEARCH USE – NOT FOR DIAGNOSIS)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    manifest = sub.add_parser("manifest", help="build or verify a cohort manifest").add_subparsers(
        dest="action", required=True
    )
    build = manifest.add_parser("build", help="walk a DICOM folder and write a manifest CSV")
    build.add_argument("dicom_dir")
    build.add_argument("--out", required=True, type=_new_file, help="manifest CSV, e.g. data_manifest/NAME.csv")
    build.add_argument("--labels", type=_file, help="CSV with columns patient_id,label (1/0/empty)")
    build.add_argument("--data-root", type=_folder, help="folder manifest paths are relative to (default: DICOM_DIR)")
    build.add_argument(
        "--copy-to", type=_new_folder, help="copy files under pseudonymous names into this folder (new data root)"
    )
    build.add_argument("--split", type=_fractions, default=(0.7, 0.1, 0.2), help="train,val,test shares")
    build.add_argument("--split-seed", type=_seed, default=0, help="seed of the split draw (≥ 0)")
    build.add_argument("--source", choices=("clinical", "phantom"), default="clinical")
    build.add_argument(
        "--standard-velocity",
        type=_velocity,
        default=STANDARD_VELOCITY_MM_S * 6,
        help="1x table speed in cm/min (default 20)",
    )
    build.add_argument("--allow-single-view", action="store_true", help="accept files holding one view")
    build.add_argument("--assume-view", choices=("ANT", "POST"), help="view of one-view files without view code")
    build.add_argument("--speed-factor", type=_speed_factor, help="speed factor (≥ 1) for files without Scan Velocity")
    build.add_argument("--force", action="store_true", help="replace an existing manifest")
    build.add_argument("--show-paths", action="store_true", help="print quarantined files' real paths (terminal only)")
    build.set_defaults(func=cmd_manifest_build)
    verify = manifest.add_parser("verify", help="check every file's sha256; exit 1 on missing/changed files")
    verify.add_argument("manifest")
    verify.add_argument(
        "--data-root", type=_folder, help="folder the paths are relative to (default: the manifest's folder)"
    )
    verify.add_argument("--show-paths", action="store_true", help="list every file with its real path (terminal only)")
    verify.set_defaults(func=cmd_manifest_verify)

    run = sub.add_parser("run", help="execute the notebooks a params file lists and render the reports")
    run.add_argument("--params", required=True)
    run.add_argument("--only", type=_prefixes, help="comma-separated notebook number prefixes, e.g. 01,03")
    run.add_argument("--with-code", action="store_true", help="also render <notebook>-code.html")
    run.set_defaults(func=cmd_run)

    simulate = sub.add_parser("simulate", help="simulate the phantom cohort of a params file")
    simulate.add_argument("--params", required=True)
    simulate.set_defaults(func=cmd_simulate)

    enhance = sub.add_parser("enhance", help="enhance a fast whole-body scan, or a folder of them, with a generator")
    enhance.add_argument("study", help="DICOM file of the fast scan, or a folder of such files")
    enhance.add_argument(
        "--model", help="generator checkpoint (.pt); default: the shipped pretrained model for the scan's speed"
    )
    enhance.add_argument("--out", required=True, type=_new_folder, help="output folder for the enhanced DICOM")
    enhance.add_argument(
        "--speed-factor",
        "--speed",
        dest="speed_factor",
        type=_speed_factor,
        help="speed factor (≥ 1) when the header lacks Scan Velocity",
    )
    enhance.add_argument("--assume-view", choices=("ANT", "POST"), help="view of one-view files without view code")
    enhance.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    enhance.add_argument(
        "--runtime",
        default="auto",
        help="how the generator runs: auto (the fastest exact runtime on this host, benchmarks/README.md), eager, "
        "channels_last, compile, onnxruntime or openvino",
    )
    enhance.add_argument("--show-paths", action="store_true", help="print quarantined files' real paths (local only)")
    enhance.set_defaults(func=cmd_enhance)
    return parser


CHARSET_WARNINGS = r"(Unknown encoding|Incorrect value for Specific Character Set)"  # pydicom, on odd headers


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wbs` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", message=CHARSET_WARNINGS, module="pydicom")
    try:
        return args.func(args)
    except WbsError as exc:
        print(f"wbs: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
