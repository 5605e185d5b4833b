"""Analytic building blocks of the phantom: one `Part` per bone, joint, organ or body segment.

Coordinates in the patient's coronal plane, in mm: x lateral from the midline (+x = patient's
left = right side of the anterior image), y downwards from the vertex. Each part has a projected
*chord* (its extent along the anterior–posterior axis, mm) at every (x, y); uptake per pixel is
concentration × chord. Shapes:
- 'rod': a tapered capsule from (x0, y0) to (x1, y1) with radii r0 → r1 and AP/lateral ratio k,
  geom = (x0, y0, x1, y1, r0, r1, k);
- 'ellipsoid': centre (xc, yc), in-plane semi-axes a, b rotated by angle (rad), AP semi-axis c,
  geom = (xc, yc, a, b, angle, c);
- 'shell': an ellipsoidal shell of wall t (calvarium), geom = (xc, yc, a, b, c, t);
- 'torso': AP thickness D(y)·(1 − |x / w(y)|^2.5)^(1/2.5) between landmarks, geom = (ys, ws, ds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

TORSO_POWER = 2.5  # superellipse exponent of the torso cross-section (between an ellipse and a box)


@dataclass(frozen=True)
class Part:
    """One analytic structure.

    density: uptake concentration relative to normal bone (soft-tissue segments: 0, they only
        give body thickness); depth_mm: centre depth below the anterior skin; thick_mm: local
        anterior–posterior body thickness (posterior depth = thick_mm − depth_mm); group: which
        rigid body it moves with ('trunk', 'arm_R', 'arm_L', 'leg_R', 'leg_L'); site: anatomical
        class used for lesion sites and reports ('spine', 'rib', 'pelvis', ...).
    """

    name: str
    site: str
    shape: str
    geom: tuple
    density: float = 1.0
    depth_mm: float = 0.0
    thick_mm: float = 0.0
    group: str = "trunk"

    def moved(self, dx: float, dy: float) -> Part:
        """The same part translated by (dx, dy) mm."""
        g = self.geom
        if self.shape == "rod":
            return replace(self, geom=(g[0] + dx, g[1] + dy, g[2] + dx, g[3] + dy, *g[4:]))
        if self.shape in ("ellipsoid", "shell"):
            return replace(self, geom=(g[0] + dx, g[1] + dy, *g[2:]))
        ys, ws, ds = g
        return replace(self, geom=(ys + dy, ws, ds))

    def extent(self) -> tuple[float, float, float, float]:
        """Bounding box (x_min, x_max, y_min, y_max) in mm."""
        g = self.geom
        if self.shape == "rod":
            r = max(g[4], g[5])
            return min(g[0], g[2]) - r, max(g[0], g[2]) + r, min(g[1], g[3]) - r, max(g[1], g[3]) + r
        if self.shape in ("ellipsoid", "shell"):
            r = max(g[2], g[3])
            return g[0] - r, g[0] + r, g[1] - r, g[1] + r
        ys, ws, _ = g
        return -float(np.max(ws)), float(np.max(ws)), float(ys[0]), float(ys[-1])

    def centre(self) -> tuple[float, float]:
        """A point inside the part (mm): the rod's midpoint or the ellipsoid's centre."""
        g = self.geom
        if self.shape == "rod":
            return (g[0] + g[2]) / 2, (g[1] + g[3]) / 2
        if self.shape == "torso":
            return 0.0, float(np.mean(g[0]))
        return g[0], g[1]


def chord(part: Part, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Projected AP chord (mm) of `part` at points (x, y) mm; 0 outside."""
    g = part.geom
    if part.shape == "rod":
        x0, y0, x1, y1, r0, r1, k = g
        ux, uy = x1 - x0, y1 - y0
        length2 = ux * ux + uy * uy
        t = np.clip(((x - x0) * ux + (y - y0) * uy) / max(length2, 1e-9), 0.0, 1.0)
        r = r0 + (r1 - r0) * t
        d2 = (x - x0 - t * ux) ** 2 + (y - y0 - t * uy) ** 2
        return 2.0 * k * np.sqrt(np.maximum(r * r - d2, 0.0))
    if part.shape == "ellipsoid":
        xc, yc, a, b, angle, c = g
        cs, sn = np.cos(angle), np.sin(angle)
        u, v = (x - xc) * cs + (y - yc) * sn, -(x - xc) * sn + (y - yc) * cs
        return 2.0 * c * np.sqrt(np.maximum(1.0 - (u / a) ** 2 - (v / b) ** 2, 0.0))
    if part.shape == "shell":
        xc, yc, a, b, c, t = g
        q_out = ((x - xc) / a) ** 2 + ((y - yc) / b) ** 2
        q_in = ((x - xc) / (a - t)) ** 2 + ((y - yc) / (b - t)) ** 2
        return 2.0 * (c * np.sqrt(np.maximum(1.0 - q_out, 0.0)) - (c - t) * np.sqrt(np.maximum(1.0 - q_in, 0.0)))
    if part.shape == "torso":
        ys, ws, ds = g
        inside = (y >= ys[0]) & (y <= ys[-1])
        w = np.interp(y, ys, ws)
        d = np.interp(y, ys, ds)
        q = np.clip(1.0 - np.abs(x / w) ** TORSO_POWER, 0.0, None)
        return np.where(inside, d * q ** (1.0 / TORSO_POWER), 0.0)
    raise ValueError(f"unknown part shape {part.shape!r}")


def rod(name, site, p0, p1, r0, r1, *, k=1.0, density=1.0, depth=0.0, thick=0.0, group="trunk") -> Part:
    """A tapered capsule part from p0 to p1 (mm)."""
    return Part(
        name,
        site,
        "rod",
        (float(p0[0]), float(p0[1]), float(p1[0]), float(p1[1]), float(r0), float(r1), float(k)),
        float(density),
        float(depth),
        float(thick),
        group,
    )


def ellipsoid(name, site, centre, a, b, c, *, angle=0.0, density=1.0, depth=0.0, thick=0.0, group="trunk") -> Part:
    """An ellipsoid part centred at `centre` (mm) with semi-axes a (x), b (y), c (AP)."""
    return Part(
        name,
        site,
        "ellipsoid",
        (float(centre[0]), float(centre[1]), float(a), float(b), float(angle), float(c)),
        float(density),
        float(depth),
        float(thick),
        group,
    )


def polyline(name, site, points, radius, depths, *, k=1.0, density=1.0, thick=0.0, group="trunk") -> list[Part]:
    """A chain of capsules through `points`; segment i has the mean depth of its two end points."""
    return [
        rod(
            f"{name}.{i}",
            site,
            points[i],
            points[i + 1],
            radius,
            radius,
            k=k,
            density=density,
            depth=(depths[i] + depths[i + 1]) / 2,
            thick=thick,
            group=group,
        )
        for i in range(len(points) - 1)
    ]
