"""Skipping the background: the generator runs only on the body's bounding box plus a margin.

A whole-body frame is ≈ 20–30 % empty (below the feet, above the head); a convolutional network's
output there is its response to (near-)zero input. `support_box` finds the box of every pixel
inside the body of either view (`core.masks.body_mask` at `SUPPORT_LEVEL` = 0.5 % of the view's
99th percentile, far below the body's edge), widened by `margin` px; the network runs on that crop,
and every pixel outside it gets `zero_response`, the network's output on an all-zero input away from
any border (one number per model, cached), clamped at 0 like any output.

The margin is what keeps the body's pixels exact: an output pixel depends on the input within the
network's receptive radius (`runtime.receptive_radius`: 15 convolutions per RRDB + 5), but the
influence of far pixels decays fast — the measured effective radius (99.9 % of the gradient's mass)
of trained generators is recorded in benchmarks/README.md. The margin is the receptive radius
capped at `MARGIN_PX` (32 px ≈ 77 mm); with it, body counts stay within 0.1 % of whole-frame
inference and no body pixel moves by more than 1 % of the view's maximum (tested on trained models).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from wbslib.core.masks import body_mask
from wbslib.enhance.runtime import receptive_radius

SUPPORT_LEVEL = 0.005  # body_mask level: 0.5 % of the view's 99th percentile
MARGIN_PX = 32  # cap of the margin around the body's box (px)
MIN_SAVING = 0.05  # crop only when it skips at least this share of the frame


def margin_px(arch_kwargs: Mapping) -> int:
    """The margin around the body's box: the receptive radius, at most MARGIN_PX."""
    return int(min(receptive_radius(arch_kwargs), MARGIN_PX))


def support_box(views: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1): the box holding the body of every view (n, rows, cols) widened by `margin`
    px and clipped to the frame; None if no view shows a body."""
    inside = np.zeros(views.shape[1:], bool)
    for view in views:
        inside |= body_mask(view, level=SUPPORT_LEVEL)
    if not inside.any():
        return None
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    r0, r1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, views.shape[1])
    c0, c1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, views.shape[2])
    return r0, r1, c0, c1


def zero_response(run: Callable[[torch.Tensor], np.ndarray], margin: int, cache: dict | None = None) -> float:
    """The network's output at the centre of an all-zero input of side 2 · margin + 17 (one number)."""
    if cache is not None and "zero" in cache:
        return cache["zero"]
    side = 2 * margin + 17
    value = float(run(torch.zeros(1, 1, side, side))[0, 0, side // 2, side // 2])
    if cache is not None:
        cache["zero"] = value
    return value


def skipping_forward(
    run: Callable[[torch.Tensor], np.ndarray],
    x: torch.Tensor,
    margin: int,
    cache: dict | None = None,
) -> tuple[np.ndarray, float]:
    """(model output (n, rows, cols), share of the frame skipped) of x (n, 1, rows, cols): `run` on
    the body's box, the zero-input response elsewhere (module doc). `run` may tile (any callable
    (n, 1, h, w) tensor → numpy (n, 1, h, w) or (n, h, w))."""
    n, _, rows, cols = x.shape
    box = support_box(x[:, 0].detach().cpu().numpy(), margin)
    if box is None:
        return np.full((n, rows, cols), zero_response(run, margin, cache), np.float32), 1.0
    r0, r1, c0, c1 = box
    skipped = 1.0 - (r1 - r0) * (c1 - c0) / (rows * cols)
    if skipped < MIN_SAVING:
        return as_views(run(x)), 0.0
    out = np.full((n, rows, cols), zero_response(run, margin, cache), np.float32)
    out[:, r0:r1, c0:c1] = as_views(run(x[:, :, r0:r1, c0:c1]))
    return out, skipped


def as_views(y: np.ndarray) -> np.ndarray:
    """(n, rows, cols) from a model output (n, 1, rows, cols) or an already blended (n, rows, cols)."""
    return y[:, 0] if y.ndim == 4 else y
