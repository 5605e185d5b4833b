"""Overlapping tiles of a view and their smooth (Hann-ramp) blending, for inference on big images.

A view (rows × cols) is cut into tiles of at most `tile` × `tile` pixels whose neighbours share
(at least) `overlap` pixels. Each tile's output is weighted by a window that, on every side with a
neighbour, is 0 over the outer quarter of the shared pixels and rises as sin² over their middle
half (and is 1 elsewhere, so image borders keep full weight); the weighted outputs are divided by
the summed weights. Facing ramps sum to exactly 1, so where tiles agree the blend reproduces them,
and the model's zero-padding artefacts at tile edges get no weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """One tile: rows r0:r1 and columns c0:c1 of the view, and its blending window (float32)."""

    r0: int
    r1: int
    c0: int
    c1: int
    window: np.ndarray


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length) with at least `overlap` shared px.

    The last tile is aligned with the end (it may share more than `overlap` pixels with the one
    before); a single tile when `tile >= length`.
    """
    if tile >= length:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, tile={tile})")
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp_1d(size: int, before: int, after: int) -> np.ndarray:
    """Window along one axis. On a side sharing n pixels with a neighbour: weight 0 over the outer
    n // 4 pixels (where zero padding distorts the output most), then a sin² ramp to 1 over the
    middle n − 2 (n // 4) pixels, mirrored by the neighbour's window so the two sum to 1."""
    w = np.ones(size, dtype=np.float64)
    for n, side in ((before, slice(None)), (after, slice(None, None, -1))):
        if n > 0:
            margin = n // 4
            width = n - 2 * margin
            ramp = np.zeros(n)
            ramp[margin : margin + width] = np.sin(0.5 * np.pi * (np.arange(width) + 0.5) / width) ** 2
            ramp[margin + width :] = 1.0
            w[side][:n] = np.minimum(w[side][:n], ramp)
    return w


def _axis_tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, np.ndarray]]:
    """(start, stop, window) along one axis; ramps span the pixels shared with each neighbour."""
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    out = []
    for i, s in enumerate(starts):
        before = (starts[i - 1] + size - s) if i > 0 else 0
        after = (s + size - starts[i + 1]) if i + 1 < len(starts) else 0
        out.append((s, s + size, _ramp_1d(size, before, after)))
    return out


def plan_tiles(shape: tuple[int, int], tile: int, overlap: int) -> list[Tile]:
    """Tiles covering a (rows, cols) view; windows are the outer product of the axis ramps."""
    rows, cols = shape
    out = []
    for r0, r1, wr in _axis_tiles(rows, tile, overlap):
        for c0, c1, wc in _axis_tiles(cols, tile, overlap):
            out.append(Tile(r0, r1, c0, c1, np.outer(wr, wc).astype(np.float32)))
    return out


class Blender:
    """Accumulates weighted tile outputs of a (batch, rows, cols) array and returns the blend."""

    def __init__(self, shape: tuple[int, ...]):
        self.acc = np.zeros(shape, dtype=np.float64)
        self.weight = np.zeros(shape[-2:], dtype=np.float64)

    def add(self, tile: Tile, values: np.ndarray) -> None:
        """Add one tile's output, shape (batch, r1-r0, c1-c0)."""
        self.acc[..., tile.r0 : tile.r1, tile.c0 : tile.c1] += values * tile.window
        self.weight[tile.r0 : tile.r1, tile.c0 : tile.c1] += tile.window

    def result(self) -> np.ndarray:
        """The blended array (float32); every pixel is covered by construction."""
        return (self.acc / self.weight).astype(np.float32)
