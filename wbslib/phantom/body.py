"""The digital whole-body bone phantom of one patient: anatomy, uptake, lesions, and its projection.

`make_phantom(patient, rng)` samples a patient's anatomy (`phantom_skeleton`), 99mTc-MDP uptake
(soft tissue, kidneys, bladder relative to bone; optional injection-site spot in an arm) and
lesions (`phantom_lesions`), and fixes the count scale so that a standard (1x, 20 cm/min) view
holds `counts_1x` expected counts on average. `Phantom.render(state)` projects the patient in a
given body state (rigid shifts of trunk and limbs, bladder filling, soft-tissue activity) onto
both detectors (`phantom_render`): float32 (2, rows, cols) = (ANT, POST as acquired) in counts of
a 1x acquisition at the reference time, plus the truth masks and the lesion positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from wbslib.core.masks import TRUTH_MASKS
from wbslib.phantom import render as pr
from wbslib.phantom.lesions import Lesion, sample_benign, sample_metastases
from wbslib.phantom.parts import Part, ellipsoid
from wbslib.phantom.skeleton import Anatomy, build_anatomy

GROUPS = ("trunk", "arm_R", "arm_L", "leg_R", "leg_L")
BODY_MIN_THICKNESS_MM = 5.0
MIN_EXPECTED = 1e-3  # expected counts below this (far outside the body) are set to 0
VISIBLE_SNR = 5.0  # Rose criterion on a lesion's ideal-observer SNR in a 1x view
BLADDER_ML = (60.0, 250.0)  # at the standard scan: the patient voids before the study, the bladder refills


@dataclass(frozen=True)
class BodyState:
    """The patient during one acquisition, relative to the standard scan: rigid shifts (dx, dy) mm
    per group, bladder volume factor and soft-tissue activity factor."""

    shifts_mm: dict = field(default_factory=dict)
    bladder_fill: float = 1.0
    soft_factor: float = 1.0

    def shift(self, group: str) -> tuple[float, float]:
        """(dx, dy) mm of a group: the whole-body shift plus the group's own."""
        wx, wy = self.shifts_mm.get("body", (0.0, 0.0))
        gx, gy = self.shifts_mm.get(group, (0.0, 0.0)) if group != "trunk" else (0.0, 0.0)
        return wx + gx, wy + gy


@dataclass
class Rendered:
    """Projection of one body state: `image` float32 (2, rows, cols) counts of a 1x scan at the
    reference time; `masks` bool (2, rows, cols) each; `lesion_rc` (n, 2) anterior-frame pixels."""

    image: np.ndarray
    masks: dict
    lesion_rc: np.ndarray


@dataclass
class Phantom:
    """One synthetic patient. Concentrations are relative to normal bone; `count_scale` turns the
    projection into expected counts of a 1x view (set by `make_phantom`)."""

    study_id: str
    anatomy: Anatomy
    lesions: list[Lesion]
    grid: pr.Grid
    soft_density: float
    bladder_density: float
    injection: Part | None = None
    bladder_fill_per_min: float = 0.02
    soft_clearance_per_min: float = 0.004
    count_scale: float = 1.0
    _reference: Rendered | None = field(default=None, repr=False)

    @property
    def label(self) -> int:
        """1 if any lesion is malignant (metastatic patient), else 0."""
        return int(any(l.malignant for l in self.lesions))

    def bladder(self, fill: float) -> Part:
        """The bladder at volume factor `fill`: semi-axes × fill^(1/3), its floor and front wall fixed."""
        xc, yc, a, b, angle, c = self.anatomy.bladder.geom
        f = fill ** (1.0 / 3.0)
        base = self.anatomy.bladder
        return replace(
            base,
            geom=(xc, yc + b - f * b, f * a, f * b, angle, f * c),
            density=self.bladder_density,
            depth_mm=base.depth_mm - c + f * c,
        )

    def render(self, state: BodyState = BodyState()) -> Rendered:
        """Expected 1x counts (at the reference time), masks and lesion pixels in body state `state`."""
        if self._reference is not None and state == BodyState():
            return Rendered(self._reference.image.copy(), self._reference.masks, self._reference.lesion_rc)
        return self._to_counts(self.project(state))

    def _to_counts(self, projection: Rendered) -> Rendered:
        projection.image *= np.float32(self.count_scale)
        projection.image[projection.image < MIN_EXPECTED] = 0.0
        return projection

    def project(self, state: BodyState) -> Rendered:
        """Projection in relative units (concentration × mm), before the count scale."""
        g = self.grid
        proj = pr.Projector(g)
        bone = np.zeros((g.rows, g.cols), np.float32)
        organ = {"bladder": np.zeros((g.rows, g.cols), bool), "kidneys": np.zeros((g.rows, g.cols), bool)}
        for part in self.anatomy.bones:
            hit = proj.add(part.moved(*state.shift(part.group)))
            if hit is not None:
                bone[hit[0], hit[1]] += hit[2]
        for lesion in self.lesions:
            proj.add(lesion.part().moved(*state.shift(lesion.group)))
        for name, parts in (("kidneys", self.anatomy.kidneys), ("bladder", [self.bladder(state.bladder_fill)])):
            for part in parts:
                hit = proj.add(part.moved(*state.shift(part.group)))
                if hit is not None:
                    organ[name][hit[0], hit[1]] |= hit[2] > 0
        if self.injection is not None:
            proj.add(self.injection.moved(*state.shift(self.injection.group)))
        thickness = pr.body_thickness([p.moved(*state.shift(p.group)) for p in self.anatomy.body], g)
        soft = pr.soft_tissue(thickness, self.soft_density * state.soft_factor)
        soft = ndimage.gaussian_filter(soft, pr.sigma_px(pr.SOFT_DISTANCE_MM, g.pixel_mm), mode="constant")
        primary = np.stack([proj.blurred(0) + soft, proj.blurred(1) + soft])
        image = pr.finish(primary, g.pixel_mm)
        planes = {"skeleton": bone >= pr.SKELETON_MIN_CHORD_MM, "body": thickness >= BODY_MIN_THICKNESS_MM, **organ}
        masks = {k: np.stack([planes[k], planes[k][:, ::-1]]) for k in TRUTH_MASKS}
        rc = [g.to_pixel(l.x_mm + state.shift(l.group)[0], l.y_mm + state.shift(l.group)[1]) for l in self.lesions]
        return Rendered(image, masks, np.array(rc, np.float64).reshape(-1, 2))

    def lesion_table(self) -> list[dict]:
        """One dict per lesion: position in the 1x grid (anterior frame; `col_post` on the posterior
        view), size, contrast, depths, and per view its ideal-observer SNR at 1x
        (sqrt Σ excess² / background, Poisson), peak ratio (lesion+background / background at its
        hottest pixel) and visibility (SNR ≥ VISIBLE_SNR)."""
        reference = self.render()
        views = (reference.image[0], reference.image[1][:, ::-1])
        rows = []
        for lesion, (r, c) in zip(self.lesions, reference.lesion_rc):
            row = {
                "lesion_id": lesion.lesion_id,
                "type": lesion.kind,
                "malignant": int(lesion.malignant),
                "site": lesion.site,
                "bone": lesion.bone,
                "row": round(float(r), 2),
                "col": round(float(c), 2),
                "col_post": round(float(self.grid.cols - 1 - c), 2),
                "diameter_mm": round(lesion.diameter_mm, 2),
                "contrast": round(lesion.contrast, 3),
                "depth_ant_mm": round(lesion.depth_mm, 1),
                "depth_post_mm": round(lesion.thick_mm - lesion.depth_mm, 1),
            }
            for view, tag in ((0, "ant"), (1, "post")):
                rs, cs, excess = pr.part_projection(lesion.part(), self.grid, view)
                excess = excess * np.float32(self.count_scale)
                total = views[view][rs, cs]
                background = np.maximum(total - excess, MIN_EXPECTED)
                snr = float(np.sqrt(np.sum(excess.astype(np.float64) ** 2 / background)))
                hottest = np.unravel_index(np.argmax(excess), excess.shape)
                row[f"snr_{tag}"] = round(snr, 2)
                row[f"peak_ratio_{tag}"] = round(float(total[hottest] / background[hottest]), 3)
                row[f"visible_{tag}"] = int(snr >= VISIBLE_SNR)
            rows.append(row)
        return rows


def _injection_site(anatomy: Anatomy, rng: np.random.Generator) -> Part:
    """A small hot spot in the antecubital vein of one arm (superficial, anterior)."""
    tag = "R" if rng.uniform() < 0.5 else "L"
    elbow = next(p for p in anatomy.bones if p.name == f"elbow_{tag}")
    r = rng.uniform(3.0, 6.0)
    return ellipsoid(
        "injection",
        "injection",
        (elbow.geom[0], elbow.geom[1] - rng.uniform(0, 25)),
        r,
        r,
        r,
        density=float(np.exp(rng.uniform(np.log(0.5), np.log(6.0)))),
        depth=8.0,
        thick=elbow.thick_mm,
        group=f"arm_{tag}",
    )


def make_phantom(
    study_id: str,
    patient: dict,
    rng: np.random.Generator,
    *,
    counts_1x: float = 1.75e6,
    pixel_mm: float = pr.PIXEL_MM,
    shape: tuple[int, int] = pr.SHAPE,
) -> Phantom:
    """Sample one patient's phantom. `patient`: sex ('F'|'M'), age (y), height_cm, bmi, metastatic
    (bool). The mean expected counts of its two 1x views is `counts_1x` × U(0.88, 1.12)."""
    anatomy = build_anatomy(
        patient["sex"],
        patient["height_cm"],
        patient["bmi"],
        rng,
        bladder_ml=rng.uniform(*BLADDER_ML),
        kidney_density=rng.uniform(0.12, 0.3),
    )
    lesions = sample_metastases(anatomy.bones, rng) if patient["metastatic"] else []
    lesions += sample_benign(anatomy.bones, patient["age"], rng, lesions)
    height_px = 10.0 * patient["height_cm"] / pixel_mm
    top = rng.uniform(15.0, max(16.0, min(45.0, shape[0] - height_px - 20.0)))
    grid = pr.Grid(shape[0], shape[1], pixel_mm, row0=top, col0=(shape[1] - 1) / 2 + rng.uniform(-4, 4))
    ph = Phantom(
        study_id,
        anatomy,
        lesions,
        grid,
        soft_density=float(np.exp(rng.normal(np.log(1 / 40), 0.22))),
        bladder_density=float(np.exp(rng.normal(np.log(0.85), 0.2))),
        injection=_injection_site(anatomy, rng) if rng.uniform() < 0.15 else None,
        bladder_fill_per_min=rng.uniform(0.01, 0.03),
        soft_clearance_per_min=rng.uniform(0.002, 0.006),
    )
    target = counts_1x * rng.uniform(0.88, 1.12)
    projection = ph.project(BodyState())
    ph.count_scale = float(target / projection.image.sum(axis=(1, 2)).mean())
    ph._reference = ph._to_counts(projection)
    return ph
