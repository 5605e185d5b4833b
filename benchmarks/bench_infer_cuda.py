"""Whole-body inference on a CUDA GPU (called by bench_infer.py when CUDA is present): one phantom study
through the paper-size generator, trained briefly on the GPU first (counts comparisons need a
trained model), in milliseconds per study (median of `repeats` after warm-up).

Rows: eager fp32 (TF32 convolutions), channels-last fp32 with `cudnn.benchmark`, bf16 and fp16
autocast (each with the counts check of `wbslib.enhance.runtime.counts_agree`), `enhance_counts`
end to end, a batch of studies, torch.compile(mode="max-autotune") on the static study shape, and a
captured CUDA graph replayed on a static input.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from bench_infer import META, PAPER, SCALE, SPEED, phantom_study

from wbslib.core.masks import body_mask
from wbslib.enhance.infer import enhance_counts
from wbslib.enhance.models import RRDBNet
from wbslib.enhance.runtime import counts_agree, forward


def _time(fn, repeats: int) -> float:
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


def trained_on_gpu(steps: int) -> RRDBNet:
    """The paper-size generator after `steps` bf16 L1 steps on phantom 2x patches (128 px, batch 8)."""
    torch.manual_seed(0)
    net = RRDBNet(**PAPER).cuda()
    expected, _ = phantom_study(1)
    target = torch.from_numpy(expected / SCALE).float()[:, None].cuda()
    gen, optimiser = np.random.default_rng(1), torch.optim.Adam(net.parameters(), lr=2e-4)
    for _ in range(steps):
        noisy = torch.poisson(target * SCALE / SPEED) * SPEED / SCALE
        r, c = gen.integers(0, 1024 - 128, 4), gen.integers(0, 256 - 128, 4)
        xs = torch.cat([noisy[:, :, a : a + 128, b : b + 128] for a, b in zip(r, c)])
        ys = torch.cat([target[:, :, a : a + 128, b : b + 128] for a, b in zip(r, c)])
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = (net(xs).float() - ys).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def run_cuda(steps: int = 300, repeats: int = 20, batch: int = 16) -> pd.DataFrame:
    _, counts = phantom_study()
    body = np.stack([body_mask(v) for v in counts])
    net = trained_on_gpu(steps)
    x = torch.from_numpy(counts * np.float32(SPEED / SCALE))[:, None].cuda()
    rows = []

    def row(name: str, fn, out: np.ndarray | None, studies: int = 1) -> None:
        torch.cuda.reset_peak_memory_stats()
        seconds = _time(fn, repeats)
        entry = {"device": torch.cuda.get_device_name(0), "path": name, "ms/study": 1000 * seconds / studies}
        if out is not None:
            entry.update(
                {
                    "total Δ%": 100 * float(out.sum() / ref.sum() - 1),
                    "body Δ%": 100 * float(out[body].sum() / ref[body].sum() - 1),
                    "counts check": counts_agree(ref, out),
                }
            )
        entry["peak GiB"] = torch.cuda.max_memory_allocated() / 2**30
        rows.append(entry)
        print(entry, flush=True)

    def counts_of(y: torch.Tensor | np.ndarray) -> np.ndarray:
        y = y.float().cpu().numpy() if isinstance(y, torch.Tensor) else y
        return np.maximum(y[:, 0] * SCALE, 0.0)

    with torch.inference_mode():
        ref = counts_of(net(x))
        row("eager fp32 (TF32 convolutions)", lambda: net(x), ref)
    torch.backends.cudnn.benchmark = True
    net = net.to(memory_format=torch.channels_last)
    row("fp32 channels-last, cudnn.benchmark", lambda: forward(net, x, None), counts_of(forward(net, x, None)))
    for dtype in (torch.bfloat16, torch.float16):
        out = counts_of(forward(net, x, dtype))
        row(f"{str(dtype)[6:]} autocast, channels-last", lambda d=dtype: forward(net, x, d), out)
    auto = enhance_counts(counts, net, META, device="cuda")
    row("enhance_counts (auto, with copies)", lambda: enhance_counts(counts, net, META, device="cuda"), auto)
    xb = x.repeat(batch, 1, 1, 1).contiguous(memory_format=torch.channels_last)
    row(f"bf16 batch of {batch} studies", lambda: forward(net, xb, torch.bfloat16), None, batch)
    compiled = torch.compile(net, mode="max-autotune", dynamic=False)
    row("bf16 torch.compile max-autotune", lambda: forward(compiled, x, torch.bfloat16), None)
    static = x.clone().contiguous(memory_format=torch.channels_last)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):  # warm up on a side stream before capture, as torch.cuda.graphs asks
            net(static)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            captured = net(static)
    row("bf16 CUDA graph replay", graph.replay, counts_of(captured))
    return pd.DataFrame(rows)
