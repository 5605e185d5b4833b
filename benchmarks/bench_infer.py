"""Whole-body inference on CPU: one phantom study (ANT + POST, 1024 × 256, 2x) through the paper-size
generator, every runtime side by side, and the shipped pretrained model.

    .venv/bin/python benchmarks/bench_infer.py                    # ≈ 15 min on 2 cores (+ CUDA rows on a GPU)
    .venv/bin/python benchmarks/bench_infer.py --only auto        # a subset of the CPU rows

Weights: a paper-size generator (nf 64, nb 9, gc 32) trained `--train-steps` Adam steps (L1, 48-px
patches) to denoise phantom 2x scans, cached under runs/bench/ — random weights output a
near-constant, which makes every counts comparison meaningless. Each row runs in its own spawned
process (peak RSS per row) and reports seconds per study (best of `--repeats` after one warm-up
call; the warm-up's seconds are `setup s`: graph export and compilation), the speed-up against
whole-frame eager fp32 measured in the same run, the largest pixel difference relative to the
reference's maximum, and the total and body counts against it. `auto + skip` is what
`wbs enhance` does (`wbslib.enhance.engines`, `wbslib.enhance.background`). The host's facts head
the table (`wbslib.enhance.hostinfo`). CUDA rows: benchmarks/bench_infer_cuda.py.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from wbslib.core.masks import body_mask
from wbslib.core.repro import rng
from wbslib.enhance.background import support_box
from wbslib.enhance.engines import installed
from wbslib.enhance.hostinfo import host_line
from wbslib.enhance.infer import enhance_counts
from wbslib.enhance.models import RRDBNet
from wbslib.phantom.acquisition import acquire
from wbslib.phantom.body import make_phantom

PAPER = dict(in_ch=1, out_ch=1, nf=64, nb=9, gc=32)
SPEED, SCALE = 2.0, 50.0
META = {"speed_factor": SPEED, "count_scale": SCALE, "arch_kwargs": PAPER}
CACHE = Path("runs/bench")
ROWS = {  # row name: (runtime, skip the background)
    "eager fp32": ("eager", False),
    "channels_last": ("channels_last", False),
    "torch.compile": ("compile", False),
    "onnxruntime": ("onnxruntime", False),
    "openvino": ("openvino", False),
    "openvino + skip": ("openvino", True),
    "auto + skip": ("auto", True),
}


def phantom_study(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(expected 1x counts, raw 2x counts) of one phantom patient, 2 × 1024 × 256."""
    person = {"sex": "F", "age": 62.0, "height_cm": 168.0, "bmi": 24.0, "metastatic": True}
    expected = make_phantom(f"BENCH{seed}", person, rng(seed, "bench")).render().image
    return expected, acquire(expected / SPEED, rng(seed, "bench-scan")).astype(np.float32)


def trained_paper_model(steps: int) -> RRDBNet:
    """The paper-size generator after `steps` L1 steps on phantom 2x patches (cached)."""
    path = CACHE / f"paper-size-{steps}.pt"
    torch.manual_seed(0)
    net = RRDBNet(**PAPER)
    if path.is_file():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    gen, optimiser = np.random.default_rng(1), torch.optim.Adam(net.parameters(), lr=2e-4)
    studies = [phantom_study(seed) for seed in range(4)]
    for step in range(steps):
        expected, _ = studies[step % len(studies)]
        noisy = acquire(expected / SPEED, np.random.default_rng(step)) * SPEED / SCALE
        r, c = gen.integers(80, 800, 4), gen.integers(16, 256 - 64, 4)
        xs = np.stack([noisy[0, a : a + 48, b : b + 48] for a, b in zip(r, c)])[:, None]
        ys = np.stack([expected[0, a : a + 48, b : b + 48] / SCALE for a, b in zip(r, c)])[:, None]
        loss = (net(torch.from_numpy(xs).float()) - torch.from_numpy(ys).float()).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval()


def effective_radius(net: RRDBNet, counts: np.ndarray, side: int = 161, share: float = 0.999) -> int:
    """Smallest r (px) such that `share` of |∂ output(centre) / ∂ input| lies within r of the centre,
    on a side × side patch of the study's anterior view around its brightest row (model scale)."""
    row = int(np.clip(np.argmax(counts[0].sum(axis=1)), side // 2, counts.shape[1] - side // 2 - 1))
    col = counts.shape[2] // 2
    patch = counts[0, row - side // 2 : row + side // 2 + 1, col - side // 2 : col + side // 2 + 1]
    x = torch.from_numpy(patch * np.float32(SPEED / SCALE))[None, None].requires_grad_(True)
    net(x)[0, 0, side // 2, side // 2].backward()
    g = x.grad[0, 0].abs().numpy()
    yy, xx = np.mgrid[:side, :side] - side // 2
    distance = np.maximum(np.abs(yy), np.abs(xx))
    cumulative = np.cumsum(np.bincount(distance.ravel(), g.ravel()))
    return int(np.searchsorted(cumulative, share * cumulative[-1]))


def _row(name: str, steps: int, repeats: int, threads: int, queue: mp.Queue) -> None:
    """Run one row in this (child) process; put (name, setup s, best s, output, peak RSS bytes, skipped)."""
    torch.set_num_threads(threads)
    _, counts = phantom_study()
    runtime, skip = ROWS[name]
    net, info = trained_paper_model(steps), {}

    def once() -> np.ndarray:
        if name == "eager fp32":  # the plain reference: one NCHW forward, no engine
            with torch.inference_mode():
                y = net(torch.from_numpy(counts * np.float32(SPEED / SCALE))[:, None]).numpy()[:, 0]
            return np.maximum(y * SCALE, 0.0)
        return enhance_counts(counts, net, META, device="cpu", runtime=runtime, skip_background=skip, info=info)

    start = time.perf_counter()
    out = once()
    setup = time.perf_counter() - start
    best = setup if repeats == 0 else np.inf  # repeats 0: the first call is the timing (setup included)
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put((name, setup, best, out, rss, info.get("skipped", 0.0), info.get("runtime", "eager")))


def run_rows(names: list[str], steps: int, repeats: int, threads: int) -> pd.DataFrame:
    ctx, results = mp.get_context("spawn"), {}
    trained_paper_model(steps)  # train (or load) once, before the rows
    for name in names:
        queue = ctx.Queue()
        proc = ctx.Process(target=_row, args=(name, steps, repeats, threads, queue))
        proc.start()
        results[name] = queue.get()
        proc.join()
        print(f"{name}: {results[name][2]:.1f} s/study", flush=True)
    expected, counts = phantom_study()
    body = np.stack([body_mask(v) for v in counts])
    ref = results.get("eager fp32", next(iter(results.values())))
    rows = []
    for name, setup, best, out, rss, skipped, used in results.values():
        rows.append(
            {
                "path": name,
                "runtime": used,
                "setup s": setup - best,
                "s/study": best,
                "speed-up": ref[2] / best,
                "max |Δpixel| / max": float(np.abs(out - ref[3]).max() / ref[3].max()),
                "total Δ%": 100 * float(out.sum() / ref[3].sum() - 1),
                "body Δ%": 100 * float(out[body].sum() / ref[3][body].sum() - 1),
                "skipped %": 100 * skipped,
                "peak GiB": rss / 2**30,
            }
        )
    return pd.DataFrame(rows)


def shipped_model_row(repeats: int) -> dict:
    """Seconds per study (auto + skip) and multiply-adds per pixel of the shipped 2x model."""
    from wbslib.enhance.checkpoint import load_generator
    from wbslib.enhance.pretrained import pretrained_checkpoint

    net, meta = load_generator(pretrained_checkpoint(SPEED))
    _, counts = phantom_study()
    info, times = {}, []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        enhance_counts(counts, net, meta, device="cpu", info=info)
        times.append(time.perf_counter() - start)
    return {"model": "shipped split-2x", **meta["arch_kwargs"], "MAC/pixel": macs_per_pixel(net), "s/study": min(times),
            "runtime": info["runtime"], "skipped %": 100 * info["skipped"]}  # fmt: skip


def macs_per_pixel(net: RRDBNet, side: int = 64) -> float:
    """Multiply-adds per output pixel of the generator's convolutions (counted with forward hooks)."""
    total = []

    def hook(module, _, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        total.append(output.numel() * module.in_channels // module.groups * k)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        net(torch.zeros(1, 1, side, side))
    for h in handles:
        h.remove()
    return sum(total) / side**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=1, help="timed calls after the first (0: time the first)")
    parser.add_argument("--only", nargs="*", choices=list(ROWS), help="rows to run (default: all installed)")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()
    print(host_line())
    if not args.skip_cpu:
        names = [n for n in (args.only or ROWS) if installed(ROWS[n][0])]
        names = ["eager fp32", *[n for n in names if n != "eager fp32"]]
        table = run_rows(names, args.train_steps, args.repeats, args.threads)
        net, (_, counts) = trained_paper_model(args.train_steps), phantom_study()
        box = support_box(counts, 32)
        print(f"paper-size RRDBNet {PAPER} ({macs_per_pixel(net) / 1e6:.2f} M MAC/pixel), trained "
              f"{args.train_steps} steps; one phantom study 2 × 1024 × 256 at {SPEED:g}x; body box {box}")  # fmt: skip
        print(f"effective receptive radius (99.9 % of the gradient): {effective_radius(net, counts)} px")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        try:
            print(pd.DataFrame([shipped_model_row(3)]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        except Exception as exc:  # no shipped model in this checkout: say so, keep the table
            print(f"shipped model: not measured ({type(exc).__name__}: {exc})")
    if torch.cuda.is_available():
        from bench_infer_cuda import run_cuda

        print(run_cuda().to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
