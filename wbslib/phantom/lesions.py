"""Lesions of the phantom: bone metastases and benign mimics, each a hot sphere inside a bone.

Metastases: diameter 5–30 mm (log-uniform) and concentration 1.5–5 × the host bone (log-uniform
skewed towards faint, median ≈ 2.2), mostly in the axial skeleton (spine, ribs, pelvis, skull,
sternum) and the proximal femurs and humeri; 1 (40 %) to 20 per metastatic patient, so some
patients are detectable only at 1x and a few not even there. Benign mimics: degenerative joints
(more with age), 2–4 vertically aligned rib fractures, and solitary focal spots. A lesion's centre always lies where
its host bone's chord is ≥ 2 mm, i.e. inside the skeleton mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wbslib.phantom.parts import Part, chord, ellipsoid
from wbslib.phantom.render import SKELETON_MIN_CHORD_MM

# Sites of metastases and their weights; largest diameter (mm) where a bone is thin; long bones: proximal part
METASTASIS_SITES = {
    "spine": 0.34,
    "cervical": 0.03,
    "rib": 0.20,
    "pelvis": 0.17,
    "femur": 0.07,
    "humerus": 0.04,
    "skull": 0.06,
    "sternum": 0.04,
    "scapula": 0.03,
    "clavicle": 0.02,
}
MAX_DIAMETER_MM = {"rib": 20.0, "cervical": 15.0, "clavicle": 15.0}
PROXIMAL_T = (0.0, 0.35)
N_METASTASES = ((0.40, 1, 1), (0.30, 2, 3), (0.20, 4, 8), (0.10, 9, 20))  # (probability, min, max)
DEGENERATIVE_JOINTS = (
    "tibial_plateau",
    "knee",
    "ac_joint",
    "humeral_head",
    "L4_arch",
    "L5_arch",
    "wrist",
    "ankle",
    "si_joint",
    "sc_joint",
)
MALIGNANT_KIND = "metastasis"
CONTRAST_SKEW = 1.6  # contrast log-uniform in [1.5, 5] skewed towards faint lesions (median ≈ 2.2)


@dataclass(frozen=True)
class Lesion:
    """One lesion: centre (x_mm, y_mm) in the standard-scan pose, `contrast` = its concentration /
    the host bone's; depth and thickness as its host (`Part`)."""

    lesion_id: int
    kind: str
    malignant: bool
    site: str
    bone: str
    x_mm: float
    y_mm: float
    diameter_mm: float
    contrast: float
    host_density: float
    depth_mm: float
    thick_mm: float
    group: str

    def part(self) -> Part:
        """The lesion's excess activity: a sphere of concentration (contrast − 1) × host density."""
        r = self.diameter_mm / 2.0
        return ellipsoid(
            f"lesion{self.lesion_id}",
            self.site,
            (self.x_mm, self.y_mm),
            r,
            r,
            r,
            density=(self.contrast - 1.0) * self.host_density,
            depth=self.depth_mm,
            thick=self.thick_mm,
            group=self.group,
        )


def _log_uniform(rng, lo, hi, power: float = 1.0) -> float:
    """exp of a uniform draw between log(lo) and log(hi); power > 1 skews it towards lo."""
    return float(np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * rng.uniform() ** power))


def _size(part: Part) -> float:
    g = part.geom
    if part.shape == "rod":
        return float(np.hypot(g[2] - g[0], g[3] - g[1]) * (g[4] + g[5]) + np.pi * g[4] ** 2)
    return float(np.pi * g[2] * g[3])


def _point_in(part: Part, rng, t_range=(0.0, 1.0)) -> tuple[float, float]:
    """A random point well inside `part` (≥ 2 mm of bone chord there)."""
    g = part.geom
    for _ in range(50):
        if part.shape == "rod":
            t = rng.uniform(*t_range)
            x0, y0, x1, y1, r0, r1, _k = g
            r = r0 + (r1 - r0) * t
            length = max(np.hypot(x1 - x0, y1 - y0), 1e-9)
            nx, ny = -(y1 - y0) / length, (x1 - x0) / length
            u = rng.uniform(-0.4, 0.4) * r
            x, y = x0 + t * (x1 - x0) + u * nx, y0 + t * (y1 - y0) + u * ny
        else:
            xc, yc, a, b = g[0], g[1], g[2], g[3]
            angle = g[4] if part.shape == "ellipsoid" else 0.0
            rho, phi = 0.6 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            u, v = rho * a * np.cos(phi), rho * b * np.sin(phi)
            x, y = xc + u * np.cos(angle) - v * np.sin(angle), yc + u * np.sin(angle) + v * np.cos(angle)
        if chord(part, np.array(x), np.array(y)) >= SKELETON_MIN_CHORD_MM:
            return float(x), float(y)
    return part.centre()


def _make(lesion_id, kind, malignant, host: Part, xy, diameter, contrast) -> Lesion:
    return Lesion(
        lesion_id,
        kind,
        malignant,
        host.site,
        host.name,
        xy[0],
        xy[1],
        float(diameter),
        float(contrast),
        host.density,
        host.depth_mm,
        host.thick_mm,
        host.group,
    )


def _far_enough(xy, diameter, lesions) -> bool:
    return all(np.hypot(xy[0] - l.x_mm, xy[1] - l.y_mm) >= (diameter + l.diameter_mm) / 2 for l in lesions)


def sample_metastases(bones: list[Part], rng: np.random.Generator, start_id: int = 1) -> list[Lesion]:
    """1 to 20 metastases placed in bones by site weight, then by bone size; no two overlap."""
    probs, lows, highs = zip(*N_METASTASES)
    k = int(rng.choice(len(probs), p=probs))
    n = int(rng.integers(lows[k], highs[k] + 1))
    sites = list(METASTASIS_SITES)
    weights = np.array([METASTASIS_SITES[s] for s in sites])
    out: list[Lesion] = []
    for _ in range(n * 4):
        if len(out) == n:
            break
        site = sites[int(rng.choice(len(sites), p=weights / weights.sum()))]
        hosts = [b for b in bones if b.site == site]
        sizes = np.array([_size(b) for b in hosts])
        host = hosts[int(rng.choice(len(hosts), p=sizes / sizes.sum()))]
        t_range = PROXIMAL_T if site in ("femur", "humerus") else (0.0, 1.0)
        diameter = min(_log_uniform(rng, 5.0, 30.0), MAX_DIAMETER_MM.get(site, 30.0))
        xy = _point_in(host, rng, t_range)
        if _far_enough(xy, diameter, out):
            out.append(
                _make(
                    start_id + len(out),
                    MALIGNANT_KIND,
                    True,
                    host,
                    xy,
                    diameter,
                    _log_uniform(rng, 1.5, 5.0, CONTRAST_SKEW),
                )
            )
    return out


def sample_benign(bones: list[Part], age: float, rng: np.random.Generator, existing: list[Lesion]) -> list[Lesion]:
    """Benign mimics: degenerative joints (probability rising with age), aligned rib fractures (12 %),
    a solitary focal spot (20 %). None overlaps an existing lesion."""
    out: list[Lesion] = []
    next_id = len(existing) + 1

    def add(kind, host, xy, diameter, contrast):
        nonlocal next_id
        if _far_enough(xy, diameter, existing + out):
            out.append(_make(next_id, kind, False, host, xy, diameter, contrast))
            next_id += 1

    if rng.uniform() < float(np.clip(0.1 + 0.012 * (age - 30.0), 0.1, 0.75)):
        joints = [b for b in bones if b.name.rsplit("_", 1)[0] in DEGENERATIVE_JOINTS or b.name in DEGENERATIVE_JOINTS]
        for idx in rng.choice(len(joints), size=int(rng.integers(1, 4)), replace=False):
            host = joints[int(idx)]
            add("degenerative", host, _point_in(host, rng), rng.uniform(10.0, 25.0), rng.uniform(1.3, 2.2))
    if rng.uniform() < 0.12:
        side = "R" if rng.uniform() < 0.5 else "L"
        first, n = int(rng.integers(3, 9)), int(rng.integers(2, 5))
        segment, t = int(rng.integers(1, 3)), rng.uniform(0.3, 0.7)
        for k in range(first, first + n):
            host = next(b for b in bones if b.name == f"rib{k}_{side}.{segment}")
            g = host.geom
            add(
                "rib_fracture",
                host,
                (g[0] + t * (g[2] - g[0]), g[1] + t * (g[3] - g[1])),
                rng.uniform(5.0, 10.0),
                rng.uniform(2.0, 4.0),
            )
    if rng.uniform() < 0.20:
        candidates = [b for b in bones if b.site in ("spine", "rib", "pelvis", "femur", "tibia", "humerus", "skull")]
        host = candidates[int(rng.integers(len(candidates)))]
        add("focal_benign", host, _point_in(host, rng), rng.uniform(5.0, 12.0), rng.uniform(1.5, 3.0))
    return out
