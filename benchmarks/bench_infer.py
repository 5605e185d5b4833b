"""Whole-body inference benchmark: one study (ANT + POST, 1024 × 256) through the paper-size generator.

    .venv/bin/python benchmarks/bench_infer.py                 # CPU (≈ 3 min on 2 cores), and CUDA if present
    .venv/bin/python benchmarks/bench_infer.py --skip-cpu      # CUDA only

CPU: eager fp32 (plain NCHW `model(x)`) against the optimised path (`wbslib.enhance.infer.enhance_counts`,
precision 'auto': channels-last, bf16 only where the CPU has AMX and the counts check passes) and,
for the record, forced bf16 autocast — each in its own process, so peak RSS is per path. Goals:
≥ 3 × faster than eager, counts within 1 %, peak RSS ≤ 4 GiB. CUDA: ms per study (goal ≤ 30 ms on an
H100) for fp32 and bf16 autocast (channels-last), studies/s with a batch of studies, tiled vs
whole-view agreement of the paper-size model, and optionally bf16 + torch.compile.
Peak memory: the process's peak RSS on CPU, peak allocated GPU memory on CUDA.
Counts: total and per-region (body, spine, bladder, soft tissue) sums of the enhanced 1x-equivalent
counts against eager fp32, in %. No trained weights ship with the project: on CPU the generator
keeps seeded random weights (speed does not depend on them; a random network's near-cancelling
output makes its count agreement a pessimistic bound), on CUDA it is first trained for
`--train-steps` steps to denoise the test body, so its output carries the image as a trained
model's does. Input: a seeded Poisson draw of a simple body (2x scan, ≈ 0.75 M counts in the anterior view).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
import torch
from scipy import ndimage

from wbslib.enhance.infer import enhance_counts
from wbslib.enhance.models import RRDBNet
from wbslib.enhance.runtime import forward

PAPER = dict(in_ch=1, out_ch=1, nf=64, nb=9, gc=32)
SPEED, SCALE = 2.0, 50.0


def body(rows: int = 1024, cols: int = 256) -> tuple[np.ndarray, dict]:
    """(expected 2x counts (2, rows, cols), region masks) of a simple body: soft tissue, spine, bladder."""
    r, c = np.mgrid[0:rows, 0:cols] / np.array([rows, cols])[:, None, None]
    body = ((r - 0.5) / 0.45) ** 2 + ((c - 0.5) / 0.3) ** 2 < 1
    spine = body & (np.abs(c - 0.5) < 0.03) & (r > 0.12) & (r < 0.5)
    bladder = ((r - 0.56) / 0.025) ** 2 + ((c - 0.5) / 0.07) ** 2 < 1
    expected = np.where(body, 4.0, 0.0) + np.where(spine, 30.0, 0.0) + np.where(bladder, 90.0, 0.0)
    masks = {"body": body, "spine": spine, "bladder": bladder, "soft tissue": body & ~spine & ~bladder}
    return ndimage.gaussian_filter(np.stack([expected, 0.8 * expected]), (0, 1.5, 1.5)), masks


def study(seed: int = 0) -> tuple[np.ndarray, dict]:
    """(raw 2x counts: a seeded Poisson draw of `body()`, region masks)."""
    expected, masks = body()
    return np.random.default_rng(seed).poisson(expected).astype(np.float32), masks


def briefly_trained(net: RRDBNet, steps: int, device: str, patch: int = 128, batch: int = 8) -> RRDBNet:
    """Train `net` for `steps` Adam steps (L1) from seeded Poisson draws of `body()` to its expectation,
    so its output carries the image as a trained model's does (for meaningful count comparisons)."""
    expected, _ = body()
    target = torch.from_numpy(expected * SPEED / SCALE).float()[:, None].to(device)
    gen = np.random.default_rng(1)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-4)
    net.train()
    for _ in range(steps):
        noisy = torch.from_numpy(gen.poisson(expected).astype(np.float32) * SPEED / SCALE)[:, None].to(device)
        r = gen.integers(0, expected.shape[1] - patch, batch // 2)
        c = gen.integers(0, expected.shape[2] - patch, batch // 2)
        xs = torch.cat([noisy[:, :, a : a + patch, b : b + patch] for a, b in zip(r, c)])
        ys = torch.cat([target[:, :, a : a + patch, b : b + patch] for a, b in zip(r, c)])
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            loss = (net(xs).float() - ys).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def model(seed: int = 0) -> RRDBNet:
    torch.manual_seed(seed)
    return RRDBNet(**PAPER).eval()


def _cpu_path(name: str, threads: int, queue: mp.Queue) -> None:
    """Run one CPU path in this (child) process; put (name, seconds, output, peak RSS bytes)."""
    torch.set_num_threads(threads)
    counts, _ = study()
    net = model()
    meta = {"speed_factor": SPEED, "count_scale": SCALE, "arch_kwargs": PAPER}
    start = time.perf_counter()
    if name == "eager fp32":
        with torch.inference_mode():
            y = net(torch.from_numpy(counts * np.float32(SPEED / SCALE))[:, None]).numpy()[:, 0]
        out = np.maximum(y * SCALE, 0.0)
    else:
        out = enhance_counts(
            counts, net, meta, device="cpu", precision="auto" if name == "optimised (auto)" else "bf16"
        )
    seconds = time.perf_counter() - start
    queue.put((name, seconds, out, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def counts_vs(reference: np.ndarray, other: np.ndarray, masks: dict) -> tuple[float, float]:
    """(total counts difference %, largest region difference %) of `other` against `reference`."""
    total = 100 * (other.sum() / reference.sum() - 1)
    regions = [100 * abs(other[:, m].sum() / reference[:, m].sum() - 1) for m in masks.values()]
    return float(total), float(max(regions))


def run_cpu(threads: int, paths: list[str]) -> list[dict]:
    ctx = mp.get_context("spawn")
    results, rows = {}, []
    for name in paths:
        queue = ctx.Queue()
        proc = ctx.Process(target=_cpu_path, args=(name, threads, queue))
        proc.start()
        got = queue.get()
        proc.join()
        results[name] = got
    _, masks = study()
    ref_name = paths[0]
    ref_s, ref_out = results[ref_name][1], results[ref_name][2]
    for name in paths:
        _, seconds, out, rss = results[name]
        total, region = counts_vs(ref_out, out, masks)
        rows.append(
            {
                "device": f"cpu ({threads} threads)",
                "path": name,
                "ms/study": 1000 * seconds,
                "speed-up": ref_s / seconds,
                "total Δ%": total,
                "max region Δ%": region,
                "peak mem GiB": rss / 2**30,
            }
        )
    return rows


def _time_cuda(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _cuda_row(
    name: str,
    seconds: float,
    eager: float,
    ref: np.ndarray | None,
    out: np.ndarray | None,
    masks: dict,
    studies: int = 1,
) -> dict:
    total, region = counts_vs(ref, out, masks) if out is not None else (np.nan, np.nan)
    row = {
        "device": torch.cuda.get_device_name(0),
        "path": name,
        "ms/study": 1000 * seconds / studies,
        "speed-up": eager * studies / seconds,
        "total Δ%": total,
        "max region Δ%": region,
        "peak mem GiB": torch.cuda.max_memory_allocated() / 2**30,
        "studies/s": studies / seconds,
    }
    print(row, flush=True)
    torch.cuda.reset_peak_memory_stats()
    return row


def run_cuda(batch: int, repeats: int, compile_model: bool, train_steps: int) -> list[dict]:
    """Eager fp32, bf16 autocast (channels-last), enhance_counts end to end, a batch, tiles, torch.compile."""
    counts, masks = study()
    start = time.perf_counter()
    net = briefly_trained(model().cuda(), train_steps, "cuda")
    print({"trained steps": train_steps, "seconds": time.perf_counter() - start}, flush=True)
    x = torch.from_numpy(counts * np.float32(SPEED / SCALE))[:, None].cuda()
    meta = {"speed_factor": SPEED, "count_scale": SCALE, "arch_kwargs": PAPER}

    def eager_fp32():
        with torch.inference_mode():
            return net(x)

    ref = np.maximum(eager_fp32().float().cpu().numpy()[:, 0] * SCALE, 0.0)
    torch.cuda.reset_peak_memory_stats()
    eager = _time_cuda(eager_fp32, repeats)
    rows = [_cuda_row("eager fp32 (TF32 convs)", eager, eager, ref, ref, masks)]
    net = net.to(memory_format=torch.channels_last)
    bf16 = np.maximum(forward(net, x, torch.bfloat16)[:, 0] * SCALE, 0.0)
    rows.append(
        _cuda_row(
            "bf16 autocast, channels-last",
            _time_cuda(lambda: forward(net, x, torch.bfloat16), repeats),
            eager,
            ref,
            bf16,
            masks,
        )
    )
    auto = enhance_counts(counts, net, meta, device="cuda")
    rows.append(
        _cuda_row(
            "enhance_counts (auto, with copies)",
            _time_cuda(lambda: enhance_counts(counts, net, meta, device="cuda"), repeats),
            eager,
            ref,
            auto,
            masks,
        )
    )
    xb = x.repeat(batch, 1, 1, 1)
    rows.append(
        _cuda_row(
            f"bf16 batch of {batch} studies",
            _time_cuda(lambda: forward(net, xb, torch.bfloat16), max(3, repeats // 4)),
            eager,
            None,
            None,
            masks,
            batch,
        )
    )
    for tile in (256, 512):
        tiled = enhance_counts(counts, net, meta, device="cuda", tile=tile)
        print(
            {"tile": tile, "max|tiled-whole|/max(whole) %": 100 * float(np.abs(tiled - auto).max() / auto.max())},
            flush=True,
        )
    if compile_model:
        start = time.perf_counter()
        compiled = torch.compile(net)
        out = np.maximum(forward(compiled, x, torch.bfloat16)[:, 0] * SCALE, 0.0)
        print({"torch.compile seconds": time.perf_counter() - start}, flush=True)
        rows.append(
            _cuda_row(
                "bf16 + torch.compile",
                _time_cuda(lambda: forward(compiled, x, torch.bfloat16), repeats),
                eager,
                ref,
                out,
                masks,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--no-bf16-cpu", action="store_true", help="skip the forced-bf16 CPU line (saves ≈ 1 min)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="add a bf16 + torch.compile line on CUDA")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=300,
        help="on CUDA, train the generator this many steps first (0: random weights)",
    )
    args = parser.parse_args()
    rows = []
    if not args.skip_cpu:
        paths = ["eager fp32", "optimised (auto)"] + ([] if args.no_bf16_cpu else ["bf16 autocast (forced)"])
        rows += run_cpu(args.threads, paths)
    if torch.cuda.is_available():
        rows += run_cuda(args.batch, args.repeats, args.compile, args.train_steps)
    import pandas as pd

    table = pd.DataFrame(rows)
    print(f"paper-size RRDBNet {PAPER}, one study = 2 views × 1024 × 256, {SPEED:g}x input")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
