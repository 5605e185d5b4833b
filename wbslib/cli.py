"""The `wbs` command: manifest build/verify, run the notebook pipeline, simulate, enhance.

Every `WbsError` is printed as its one sentence on stderr with exit status 2 (never a traceback);
`wbs manifest verify` exits 1 when files are missing or changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wbslib.core.errors import OutputConflictError, ParamsError, WbsError
from wbslib.core.scan import STANDARD_VELOCITY_MM_S


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
    )
    write_manifest(manifest, out)
    for row in quarantine.itertuples(index=False):
        print(f"quarantined {row.path}: {row.error}: {row.sentence}", file=sys.stderr)
    print(f"{out}: {len(manifest)} files of {manifest['study_id'].nunique()} studies; {len(quarantine)} quarantined")
    return 0


def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from wbslib.io.manifest.build import verify_manifest

    result = verify_manifest(args.manifest, args.data_root)
    problems = result[result["status"] != "ok"]
    for row in problems.itertuples(index=False):
        print(f"{row.status}: {row.path} (study {row.study_id})", file=sys.stderr)
    print(f"{args.manifest}: {len(result) - len(problems)} of {len(result)} files ok")
    if problems.shape[0] == len(result) and len(result) and args.data_root is None:
        print(
            "every file is missing or changed: pass --data-root with the folder the paths are relative to",
            file=sys.stderr,
        )
    return 1 if len(problems) else 0


def cmd_run(args: argparse.Namespace) -> int:
    from wbslib.report.pipeline import run_pipeline

    only = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
    run_pipeline(args.params, only, code=args.with_code)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from wbslib.core.params import load_params, resolve_path

    params = load_params(args.params)
    from wbslib.phantom.cohort import simulate_from_params

    manifest = simulate_from_params(params)
    print(f"{resolve_path(params['manifest'])}: {len(manifest)} files of {manifest['study_id'].nunique()} studies")
    return 0


def cmd_enhance(args: argparse.Namespace) -> int:
    study = _existing(args.study, "Study file")
    model = _existing(args.model, "Checkpoint")
    from wbslib.enhance.infer import enhance_file

    print(enhance_file(study, model, Path(args.out), speed_factor=args.speed_factor, device=args.device))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wbs", description="wbs-accel: fast whole-body bone scan enhancement (RESEARCH USE – NOT FOR DIAGNOSIS)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    manifest = sub.add_parser("manifest", help="build or verify a cohort manifest").add_subparsers(
        dest="action", required=True
    )
    build = manifest.add_parser("build", help="walk a DICOM folder and write a manifest CSV")
    build.add_argument("dicom_dir")
    build.add_argument("--out", required=True, help="manifest CSV, e.g. data_manifest/NAME.csv")
    build.add_argument("--labels", help="CSV with columns patient_id,label (1/0/empty)")
    build.add_argument("--data-root", help="folder manifest paths are relative to (default: DICOM_DIR)")
    build.add_argument("--copy-to", help="copy files under pseudonymous names into this folder (new data root)")
    build.add_argument("--split", type=_fractions, default=(0.7, 0.1, 0.2), help="train,val,test shares")
    build.add_argument("--split-seed", type=int, default=0)
    build.add_argument("--source", choices=("clinical", "phantom"), default="clinical")
    build.add_argument(
        "--standard-velocity",
        type=float,
        default=STANDARD_VELOCITY_MM_S * 6,
        help="1x table speed in cm/min (default 20)",
    )
    build.add_argument("--allow-single-view", action="store_true", help="accept files holding one view")
    build.add_argument("--assume-view", choices=("ANT", "POST"), help="view of one-view files without view code")
    build.add_argument("--speed-factor", type=float, help="speed factor for files without Scan Velocity")
    build.add_argument("--force", action="store_true", help="replace an existing manifest")
    build.set_defaults(func=cmd_manifest_build)
    verify = manifest.add_parser("verify", help="check every file's sha256; exit 1 on missing/changed files")
    verify.add_argument("manifest")
    verify.add_argument("--data-root", help="folder the paths are relative to (default: the manifest's folder)")
    verify.set_defaults(func=cmd_manifest_verify)

    run = sub.add_parser("run", help="execute the notebooks a params file lists and render the reports")
    run.add_argument("--params", required=True)
    run.add_argument("--only", help="comma-separated notebook number prefixes, e.g. 01,03")
    run.add_argument("--with-code", action="store_true", help="also render <notebook>-code.html")
    run.set_defaults(func=cmd_run)

    simulate = sub.add_parser("simulate", help="simulate the phantom cohort of a params file")
    simulate.add_argument("--params", required=True)
    simulate.set_defaults(func=cmd_simulate)

    enhance = sub.add_parser("enhance", help="enhance one fast whole-body scan with a trained generator")
    enhance.add_argument("study", help="DICOM file of the fast scan")
    enhance.add_argument("--model", required=True, help="generator checkpoint (.pt)")
    enhance.add_argument("--out", required=True, help="output folder for the enhanced DICOM")
    enhance.add_argument("--speed-factor", type=float, help="override when the header lacks Scan Velocity")
    enhance.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    enhance.set_defaults(func=cmd_enhance)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wbs` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WbsError as exc:
        print(f"wbs: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
