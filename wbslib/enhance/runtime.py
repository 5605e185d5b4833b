"""How `wbslib.enhance.infer` runs the generator: memory budget, whole views or tiles, and precision.

Memory: both views go through the model at once when the estimated activation memory
(`activation_bytes`) fits `memory_budget_bytes` (CPU: at most 4 GiB and half the free RAM; CUDA:
80 % of free GPU memory); otherwise in overlapping tiles blended with sin² ramps (`wbslib.enhance.tiling`).

Precision ('auto'): fp32 is the reference. A reduced precision (bf16 autocast; fp16 on a GPU
without bf16) is a candidate only where it is faster — on CUDA (H200: 2.1 × faster than fp32/TF32
for the paper-size model) and on CPUs with AMX tiles. On CPUs with AVX-512-BF16 but no AMX (this
project's shared 2-core Xeon) bf16 ran at 0.4–1.0 × the fp32 speed in same-process comparisons
(1.7 × once, in a separate process under different load), so 'auto' stays in fp32 there; the
choice depends only on the hardware and the check below, never on timings, so a re-run gives the
same output. `precision='bf16'` forces it. Before using it, a check on the first input each model sees:
a 128-row probe around the brightest rows of a view runs in fp32 and in reduced precision, and
reduced precision is kept only if the probe's total counts and every 32 × 32-pixel block holding
≥ 1 % of them (a stand-in for organ counts: inference has no organ masks) agree within 1 %. The
decision is cached per model and device.

Memory format: channels-last on CUDA and, on CPU, for models at least `CHANNELS_LAST_MIN_NF` wide
(measured on 2 cores: 1.25 × faster at nf 64, even at nf 32, 1.5 × slower at nf 8, where the
dense blocks' concatenations dominate); it changes no precision.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping

import numpy as np
import psutil
import torch

from wbslib.core.errors import ParamsError
from wbslib.enhance.tiling import Blender, plan_tiles

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COUNTS_RTOL = 0.01  # reduced precision must keep total and block counts within 1 % of fp32
CPU_BUDGET_BYTES = 4 << 30  # whole-view inference on CPU uses at most this much activation memory
CHANNELS_LAST_MIN_NF = 32  # on CPU, channels-last only for models at least this wide
PROBE_ROWS = 128  # rows of the precision probe
BLOCK_PX = 32  # side of the blocks whose counts the precision check compares
BLOCK_SHARE = 0.01  # ... blocks holding at least this share of the probe's counts
_decided: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def receptive_radius(arch_kwargs: Mapping) -> int:
    """Pixels of context on each side that can reach one output pixel: 15 convs per RRDB plus 5."""
    return 15 * int(arch_kwargs.get("nb", 9)) + 5


def default_overlap(tile: int, arch_kwargs: Mapping) -> int:
    """Overlap of neighbouring tiles (px): a quarter of the tile, at least 16, at most twice the
    receptive radius and half the tile."""
    return int(min(tile // 2, max(16, min(tile // 4, 2 * receptive_radius(arch_kwargs)))))


def activation_bytes(n: int, rows: int, cols: int, arch_kwargs: Mapping, dtype_bytes: int = 4) -> int:
    """Estimated peak activation memory (bytes) of one forward pass of n single-channel images.

    A dense block holds ≈ 2 (nf + 4 gc) + 2 nf channels at once, the ESPCN tail ≈ 9 nf (the 4 nf up
    conv output, its pixel-shuffled copy, the trunk); × 1.5 for the backend's reordered copies.
    """
    nf, gc = int(arch_kwargs.get("nf", 64)), int(arch_kwargs.get("gc", 32))
    channels = max(2 * (nf + 4 * gc) + 2 * nf, 9 * nf)
    return int(1.5 * n * rows * cols * channels * dtype_bytes)


def memory_budget_bytes(device: str) -> int:
    """Activation memory inference may use on `device` (bytes)."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(0.8 * free)
    return int(min(CPU_BUDGET_BYTES, 0.5 * psutil.virtual_memory().available))


def largest_tile(rows: int, cols: int, arch_kwargs: Mapping, budget: int) -> int:
    """Largest tile side (64 · 2^k) whose one-tile forward pass fits `budget` bytes."""
    side = 64
    while (
        side < max(rows, cols) and activation_bytes(1, min(rows, 2 * side), min(cols, 2 * side), arch_kwargs) <= budget
    ):
        side *= 2
    return side


def memory_format(device: str, arch_kwargs: Mapping) -> torch.memory_format:
    """Channels-last on CUDA and for wide models on CPU, else contiguous (see the module docstring)."""
    wide = int(arch_kwargs.get("nf", 64)) >= CHANNELS_LAST_MIN_NF
    return torch.channels_last if device.startswith("cuda") or wide else torch.contiguous_format


def forward(
    model: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype | None, fmt: torch.memory_format = torch.channels_last
) -> np.ndarray:
    """Model output (float32 numpy) of a (n, 1, rows, cols) input in memory format `fmt`, under
    autocast to `dtype` if given."""
    x = x.contiguous(memory_format=fmt)
    with (
        torch.inference_mode(),
        torch.autocast(x.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None),
    ):
        y = model(x)
    return y.float().cpu().numpy()


def tiled_forward(run: Callable[[torch.Tensor], np.ndarray], x: torch.Tensor, tile: int, overlap: int) -> np.ndarray:
    """Output (n, rows, cols) of `run` (a model behind one call: (n, 1, h, w) tensor → numpy
    (n, 1, h, w), see `wbslib.enhance.engines`) on (n, 1, rows, cols) `x`, tile by tile, blended
    (`wbslib.enhance.tiling`)."""
    if tile < 8 or not 0 <= overlap < tile:
        raise ParamsError(f"tile={tile} px with overlap={overlap} px is invalid; use tile ≥ 8 and 0 ≤ overlap < tile.")
    blend = Blender((x.shape[0], *x.shape[2:]))
    for t in plan_tiles(tuple(x.shape[2:]), tile, overlap):
        blend.add(t, run(x[:, :, t.r0 : t.r1, t.c0 : t.c1])[:, 0])
    return blend.result()


def counts_agree(
    reference: np.ndarray,
    other: np.ndarray,
    rtol: float = COUNTS_RTOL,
    block: int = BLOCK_PX,
    share: float = BLOCK_SHARE,
) -> bool:
    """True if the totals, and the sums of every block × block region holding ≥ `share` of the
    reference total, agree within `rtol` of the reference's (negative values count as 0)."""
    ref = np.clip(reference, 0, None).astype(np.float64)
    oth = np.clip(other, 0, None).astype(np.float64)
    total = ref.sum()
    if abs(oth.sum() - total) > rtol * total:
        return False
    rows, cols = (ref.shape[-2] // block) * block, (ref.shape[-1] // block) * block

    def block_sums(a: np.ndarray) -> np.ndarray:
        return a[..., :rows, :cols].reshape(-1, rows // block, block, cols // block, block).sum(axis=(2, 4))

    rb, ob = block_sums(ref), block_sums(oth)
    big = rb >= share * total
    return bool(np.all(np.abs(ob[big] - rb[big]) <= rtol * rb[big]))


def cpu_has_amx() -> bool:
    """True on CPUs with AMX tiles, where oneDNN's bf16 convolutions beat fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe()) if probe is not None else False


def reduced_dtype(device: str) -> torch.dtype | None:
    """The faster reduced precision on `device`, or None where fp32 is as fast."""
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_amx() else None


def probe_rows(x: torch.Tensor, rows: int = PROBE_ROWS) -> torch.Tensor:
    """The `rows` consecutive rows of the first image of x (n, 1, R, C) holding the most counts."""
    view = x[:1]
    if view.shape[2] <= rows:
        return view
    cum = torch.cat([torch.zeros(1, device=x.device), view.sum(dim=(0, 1, 3)).cumsum(0)])
    start = int(torch.argmax(cum[rows:] - cum[:-rows]))
    return view[:, :, start : start + rows]


def choose_precision(
    model: torch.nn.Module, x: torch.Tensor, precision: str = "auto", fmt: torch.memory_format = torch.channels_last
) -> torch.dtype | None:
    """Autocast dtype for `model` on x's device (None = fp32); 'auto' decides as the module says."""
    if precision not in PRECISIONS:
        raise ParamsError(f"precision {precision!r} is not one of {PRECISIONS}; use 'auto' or 'fp32'.")
    if precision != "auto":
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    dtype = reduced_dtype(str(x.device))
    if dtype is None:
        return None
    key = (str(x.device), dtype)
    decided = _decided.setdefault(model, {})
    if key not in decided:
        probe = probe_rows(x)
        decided[key] = counts_agree(forward(model, probe, None, fmt), forward(model, probe, dtype, fmt))
    return dtype if decided[key] else None
