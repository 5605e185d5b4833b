"""The in-memory whole-body scan: counts of both views plus the acquisition facts that matter.

Conventions (docs/DESIGN.md, "Counts are sacred"): `counts` is float32 photon counts of shape
(2, rows, cols) = (view, row, column), views in the order (ANT, POST), the posterior view *not*
mirrored; a missing view is all-NaN and absent from `views_present`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

VIEWS = ("ANT", "POST")
STANDARD_VELOCITY_MM_S = 200.0 / 60.0  # 20 cm/min, the paper's 1x speed
SHAPE = (2, 1024, 256)
PIXEL_MM = 2.4  # the phantom's pixel size; a DICOM scan carries its own
HALF_LIFE_MIN = 6.01 * 60.0  # 99mTc physical half-life


def speed_label(speed_factor: float) -> str:
    """'2x', '2.5x', '1x' — how a speed factor is written in group names and file names."""
    return f"{float(speed_factor):g}x"


@dataclass
class WholeBodyScan:
    """One whole-body acquisition (or a derived image of one), both views.

    counts: float32 (2, rows, cols) photon counts, (ANT, POST); NaN for a missing view.
    pixel_spacing_mm: (row spacing, column spacing) in mm.
    scan_velocity_mm_s: table speed of the acquisition in mm/s (None when the header lacks it).
    frame_duration_s: Actual Frame Duration in s (None when absent).
    counts_accumulated: Counts Accumulated (0018,0070) per view present, as stated in the header.
    count_equivalent_speed: speed factor the *counts* correspond to — equals `speed_factor` for an
        acquisition, 1.0 for an enhanced image whose counts are 1x-equivalent.
    flags: integrity notes for reports, e.g. 'lossy', 'counts-mismatch', 'negative-values'.
    """

    counts: np.ndarray
    views_present: tuple[str, ...] = VIEWS
    pixel_spacing_mm: tuple[float, float] = (2.4, 2.4)
    scan_velocity_mm_s: float | None = None
    frame_duration_s: float | None = None
    counts_accumulated: tuple[int | None, ...] = ()
    acquisition_datetime: datetime | None = None
    standard_velocity_mm_s: float = STANDARD_VELOCITY_MM_S
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    patient_id: str | None = None
    lossy: bool = False
    view_assumed: bool = False
    derived_1x_equivalent: bool = False
    source_paths: tuple[str, ...] = ()
    flags: list[str] = field(default_factory=list)

    @property
    def speed_factor(self) -> float | None:
        """Acquisition speed relative to the standard velocity (2.0 = twice as fast); None if unknown."""
        if self.scan_velocity_mm_s is None or self.scan_velocity_mm_s <= 0:
            return None
        return float(self.scan_velocity_mm_s / self.standard_velocity_mm_s)

    @property
    def count_equivalent_speed(self) -> float | None:
        """Speed factor the counts correspond to: 1.0 for 1x-equivalent (enhanced) images."""
        return 1.0 if self.derived_1x_equivalent else self.speed_factor

    def view(self, name: str) -> np.ndarray:
        """Counts of one view ('ANT' or 'POST'), shape (rows, cols)."""
        return self.counts[VIEWS.index(name)]
