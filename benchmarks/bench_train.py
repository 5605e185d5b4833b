"""GAN training throughput: G+D optimiser steps per second on 192² patches, batch 1.

Sizes: 'paper' (nf 64, nb 9, gc 32; D nf 64) and 'demo' (the train section of
notebooks/params/demo.yaml, or of --demo-params). Paths, each timed in the same run so the ratios are fair:
  eager-fp32   NCHW tensors, fp32, no compilation (the baseline; what wbslib.enhance.training.loop uses on CPU)
  cl-fp32      channels_last, fp32 (slower than eager on this project's CPUs)
  cl-bf16      channels_last + bf16 autocast (what wbslib.enhance.training.loop uses on CUDA)
  compiled     cl-bf16 + torch.compile of G and D (default on CUDA; on CPU only with --compile on)
  compiled-ro  the same with mode 'reduce-overhead' (CUDA graphs; with --cudagraphs on CUDA)
Data are random patches already on the device (the loader is not timed); the perceptual term is
off (no VGG19 weights here), every other loss term is on, as in `wbslib.enhance.training.step.gan_step`.

    PYTHONPATH=. python benchmarks/bench_train.py [--device auto|cpu|cuda] [--steps N] [--seconds S]
                                     [--sizes paper demo] [--patch 192] [--batch 1] [--compile auto|on|off]
                                     [--cudagraphs] [--demo-params FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from wbslib.core.params import resolve_device
from wbslib.core.repro import print_environment
from wbslib.enhance.training.step import build_parts, gan_step

ROOT = Path(__file__).resolve().parent.parent
PAPER = {"nf": 64, "nb": 9, "gc": 32, "d_nf": 64}
LOSS = {
    "lr": 2e-4,
    "loss_weights": {"l1": 0.005, "bce": 0.01, "gan": 0.001},
    "perceptual": "none",
    "gan_loss": "vanilla",
}


def demo_size(params_file: Path) -> dict:
    """nf, nb, gc (and D width) of a params file's train section (default notebooks/params/demo.yaml)."""
    train = yaml.safe_load(Path(params_file).read_text())["train"]
    return {"nf": train["nf"], "nb": train["nb"], "gc": train["gc"], "d_nf": train.get("d_nf", train["nf"])}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(size: dict, path: str, device: torch.device, args) -> dict:
    """Steps/s of one (size, path): warm-up steps, then up to --steps timed steps or --seconds."""
    torch.manual_seed(0)
    fast = path != "eager-fp32"
    mode = {"compiled": "default", "compiled-ro": "reduce-overhead"}.get(path)
    parts = build_parts({**size, **LOSS}, device, amp=fast, channels_last=fast, compile_mode=mode)
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(args.batch, 1, args.patch, args.patch, generator=gen).to(device)
    batch = (x, (x + 0.05 * torch.rand(x.shape, generator=gen).to(device)).clamp(0, 1), torch.ones_like(x))
    t0 = time.perf_counter()
    for _ in range(args.warmup + (3 if mode else 0)):
        gan_step(parts, batch)
    sync(device)
    warm_s = time.perf_counter() - t0
    done, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while done < args.steps and (done == 0 or time.perf_counter() - t0 < args.seconds):
        gan_step(parts, batch)
        done += 1
        if device.type == "cuda" and done % 10 == 0:
            sync(device)
    sync(device)
    wall = time.perf_counter() - t0
    n_params = sum(p.numel() for p in parts.generator.parameters())
    return {
        "size": args.size_name,
        "G params": n_params,
        "path": path,
        "steps": done,
        "steps/s": done / wall,
        "ms/step": 1000 * wall / done,
        "cpu s/step": (time.process_time() - cpu0) / done,
        "warm-up s": warm_s,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 50 CUDA, 20 CPU)")
    ap.add_argument("--seconds", type=float, default=None, help="time cap per measurement (default 10 CUDA, 12 CPU)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--sizes", nargs="+", default=["paper", "demo"], choices=["paper", "demo"])
    ap.add_argument("--patch", type=int, default=192)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    ap.add_argument(
        "--demo-params",
        type=Path,
        default=ROOT / "notebooks" / "params" / "demo.yaml",
        help="params file whose train section gives the demo size",
    )
    ap.add_argument("--cudagraphs", action="store_true", help="also time torch.compile mode 'reduce-overhead'")
    args = ap.parse_args(argv)
    device = torch.device(resolve_device(args.device))
    cuda = device.type == "cuda"
    args.steps = args.steps or (50 if cuda else 20)
    args.seconds = args.seconds or (10.0 if cuda else 12.0)
    paths = ["eager-fp32", "cl-fp32", "cl-bf16"]
    if args.compile == "on" or (args.compile == "auto" and cuda):
        paths.append("compiled")
    if args.cudagraphs and cuda:
        paths.append("compiled-ro")
    print_environment()
    print(
        f"device {device}, patch {args.patch}², batch {args.batch}, perceptual term off, torch threads "
        f"{torch.get_num_threads()}"
    )
    rows = []
    for name in args.sizes:
        args.size_name = name
        size = PAPER if name == "paper" else demo_size(args.demo_params)
        base = None
        for path in paths:
            try:
                row = measure(size, path, device, args)
            except Exception as exc:  # a path that fails here (e.g. compile without a toolchain) is reported
                print(f"{name} {path}: failed ({type(exc).__name__}: {str(exc)[:200]})")
                continue
            base = base or row["steps/s"]
            row["vs eager"] = row["steps/s"] / base
            rows.append(row)
            print(
                f"{name:6s} {path:11s} {row['steps/s']:8.2f} steps/s  ({row['vs eager']:.2f}× eager, "
                f"{row['steps']} steps, warm-up {row['warm-up s']:.1f} s)",
                flush=True,
            )
    print()
    header = ["size", "G params", "path", "steps/s", "ms/step", "cpu s/step", "vs eager"]
    print(" | ".join(header))
    for r in rows:
        print(
            " | ".join(
                [
                    r["size"],
                    f"{r['G params']:,}",
                    r["path"],
                    f"{r['steps/s']:.2f}",
                    f"{r['ms/step']:.1f}",
                    f"{r['cpu s/step']:.2f}",
                    f"{r['vs eager']:.2f}",
                ]
            )
        )


if __name__ == "__main__":
    main()
