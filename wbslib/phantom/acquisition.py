"""Scan simulation: speed factor → expected counts, the real-like protocol, Poisson noise, thinning.

- Speed factor s ≥ 1: table speed / 20 cm/min; a view acquired at speed s holds 1/s of the 1x
  counts (the phantom's `count_scale` sets 1x ≈ 1.5–2 M counts per view).
- Real-like fast scans (`plan_protocol`): the paper's order, fastest first (3x → 2x → 1x), each its
  own acquisition; between scans the patient is repositioned (0.5–1.5 min), the tracer decays
  (99mTc half-life 6.01 h), the bladder fills, soft tissue clears a little, and the patient
  shifts by a few mm (whole body 3–8 mm plus independent limb shifts), so fast and standard scans
  are not pixel-aligned. Everything is relative to the standard (1x) scan's mid-time and pose.
- Simu fast scans: `thin(counts, s, rng)` — binomial thinning k ~ Binomial(N, 1/s) of integer
  counts (never Poisson(N/s), whose variance is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wbslib.core.counts import check_speed
from wbslib.core.errors import ParamsError
from wbslib.core.scan import HALF_LIFE_MIN
from wbslib.phantom.body import GROUPS, BodyState, Phantom, Rendered

STANDARD_VELOCITY_MM_MIN = 200.0  # 20 cm/min = 1x
REPOSITION_MIN = (0.5, 1.5)  # pause between consecutive scans
BODY_SHIFT_MM = (3.0, 8.0)  # magnitude of the whole-body shift of a fast scan vs 1x
LIMB_SHIFT_SD_MM = 2.5  # per axis, each limb independently, clipped at ±6 mm
MIN_BLADDER_FILL = 0.3


def acquire(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts (int32) of expected counts `expected` (any shape, ≥ 0; zeros stay 0)."""
    expected = np.asarray(expected)
    counts = np.zeros(expected.shape, np.int32)
    hot = expected > 0
    counts[hot] = rng.poisson(expected[hot].astype(np.float64))
    return counts


def scan_minutes(speed_factor: float, rows: int, pixel_mm: float) -> float:
    """Duration (min) of a whole-body pass over `rows` pixels at `speed_factor`."""
    return rows * pixel_mm / (speed_factor * STANDARD_VELOCITY_MM_MIN)


@dataclass(frozen=True)
class Acquisition:
    """One scan of the protocol. `minutes_before_1x`: mid-time of the standard scan minus this
    scan's (> 0 for scans before it); `decay`: activity relative to the standard scan's mid-time."""

    speed_factor: float
    order: int
    start_min: float
    duration_min: float
    minutes_before_1x: float
    decay: float
    state: BodyState

    def shift_px(self, pixel_mm: float) -> np.ndarray:
        """Whole-body (row, col) shift in pixels relative to the 1x scan (anterior frame)."""
        dx, dy = self.state.shifts_mm.get("body", (0.0, 0.0))
        return np.array([dy / pixel_mm, dx / pixel_mm])

    def limb_shift_px(self, pixel_mm: float) -> np.ndarray:
        """(4, 2) total (row, col) shift of arm_R, arm_L, leg_R, leg_L relative to the 1x scan."""
        return np.array([[self.state.shift(g)[1] / pixel_mm, self.state.shift(g)[0] / pixel_mm] for g in GROUPS[1:]])


def _shifts(rng: np.random.Generator) -> dict:
    magnitude, angle = rng.uniform(*BODY_SHIFT_MM), rng.uniform(0.0, 2.0 * np.pi)
    shifts = {"body": (magnitude * np.cos(angle), magnitude * np.sin(angle))}
    for group in GROUPS[1:]:
        shifts[group] = tuple(np.clip(rng.normal(0.0, LIMB_SHIFT_SD_MM, 2), -6.0, 6.0))
    return shifts


def plan_protocol(phantom: Phantom, speeds, rng: np.random.Generator) -> list[Acquisition]:
    """The patient's scans in acquisition order (fastest first, the standard scan last).

    The standard (1x) scan is the reference (no shift, reference bladder and soft tissue) and is
    always part of the timeline, even when `speeds` leaves it out (then it is not returned).
    """
    wanted = sorted({check_speed(s) for s in speeds}, reverse=True)
    if not wanted:
        raise ParamsError("The list of speed factors is empty; pass at least one, e.g. [1, 2, 3].")
    timeline = sorted(set(wanted) | {1.0}, reverse=True)
    rows, px = phantom.grid.rows, phantom.grid.pixel_mm
    t, starts = 0.0, {}
    for i, s in enumerate(timeline):
        if i:
            t += rng.uniform(*REPOSITION_MIN)
        starts[s] = t
        t += scan_minutes(s, rows, px)
    mid_1x = starts[1.0] + scan_minutes(1.0, rows, px) / 2
    out = []
    for order, s in enumerate(timeline):
        duration = scan_minutes(s, rows, px)
        before = mid_1x - (starts[s] + duration / 2)
        state = BodyState(
            shifts_mm=_shifts(rng) if s != 1.0 else {},
            bladder_fill=max(1.0 - phantom.bladder_fill_per_min * before, MIN_BLADDER_FILL),
            soft_factor=1.0 + phantom.soft_clearance_per_min * before,
        )
        if s in wanted:
            decay = float(2.0 ** (before / HALF_LIFE_MIN))
            out.append(Acquisition(s, order, starts[s], duration, before, decay, state))
    return out


def expected_counts(phantom: Phantom, acquisition: Acquisition) -> Rendered:
    """Noise-free expected counts of one acquisition (float32 (2, rows, cols), ANT/POST as acquired,
    at its own count level: × speed factor gives 1x-equivalent), with its masks and lesion pixels."""
    rendered = phantom.render(acquisition.state)
    rendered.image *= np.float32(acquisition.decay / acquisition.speed_factor)
    return rendered
