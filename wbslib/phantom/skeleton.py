"""The adult whole-body anatomy of the phantom: skeleton, joints, kidneys, bladder, body outline.

Landmarks are fractions of body height H from the vertex (standard adult proportions: chin
0.13 H, sternal notch 0.18 H, T12/L1 0.36 H, L5/S1 0.445 H, hip 0.485 H, knee 0.72 H,
ankle 0.955 H); widths and body thickness scale with sex, height and BMI. Depths follow from the
local anterior–posterior body thickness: spine and kidneys lie nearer the back, sternum, anterior
ribs, pubis and bladder nearer the front. Concentrations (`Part.density`) are relative to normal
bone: joints and trabecular bone hotter, cortical shafts cooler. Arms hang beside the body with
a small abduction; legs may be a little apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wbslib.phantom.axial import pelvis, ribs_and_sternum, skull, spine
from wbslib.phantom.limbs import arm, leg
from wbslib.phantom.parts import Part, ellipsoid, polyline, rod


@dataclass
class Anatomy:
    """One patient's parts. bones: skeleton and joints; body: soft-tissue segments (thickness only);
    bladder: at the filling of the standard (1x) scan, volume `bladder_ml`; fat_mm: subcutaneous fat."""

    bones: list[Part]
    kidneys: list[Part]
    bladder: Part
    body: list[Part]
    fat_mm: float
    bladder_ml: float


def build_anatomy(
    sex: str,
    height_cm: float,
    bmi: float,
    rng: np.random.Generator,
    *,
    bladder_ml: float = 300.0,
    kidney_density: float = 0.25,
) -> Anatomy:
    """Sample one patient's anatomy (pose and small shape variations drawn from `rng`)."""
    H = 10.0 * height_cm
    s = H / 1750.0
    bf = bmi / 23.0
    male = sex == "M"
    fat = float(np.clip(3.5 * (bmi - 17.0), 3.0, 70.0))
    shw = (195.0 if male else 178.0) * s * bf**0.15 * rng.uniform(0.96, 1.04)
    hip_x = (88.0 if male else 95.0) * s * rng.uniform(0.96, 1.04)
    torso_y = np.array([0.160, 0.178, 0.215, 0.30, 0.37, 0.44, 0.49, 0.525]) * H
    waist = (0.72 if male else 0.70) * shw * bf**0.6
    hipw = (165.0 if male else 178.0) * s * bf**0.5
    torso_w = np.array(
        [70 * s * bf**0.4, shw - 5, 0.84 * shw * bf**0.4, 0.82 * shw * bf**0.4, waist, hipw, hipw, 0.8 * hipw]
    )
    chest_d = (225.0 if male else 205.0) * s**0.5 * bf**0.6
    abd_d = (210.0 if male else 195.0) * s**0.5 * bf**1.0
    pelvis_d = 210.0 * s**0.5 * bf**0.7
    torso_d = np.array(
        [120 * s * bf**0.4, 150 * s * bf**0.5, chest_d, chest_d, abd_d, pelvis_d, 0.95 * pelvis_d, 0.8 * pelvis_d]
    )

    def thick(y):
        return float(np.interp(y, torso_y, torso_d))

    def from_back(y, mm):  # depth below the anterior skin of a point `mm` in front of the back skin
        return thick(y) - mm

    bones: list[Part] = []
    bones += skull(H, s)
    bones += spine(H, s, fat, thick, from_back)
    bones += ribs_and_sternum(H, s, shw, fat, thick, from_back, torso_y, torso_w)
    bones += pelvis(H, s, hip_x, fat, thick, from_back)
    body = [
        Part("torso", "body", "torso", (torso_y, torso_w, torso_d), 0.0),
        ellipsoid("head", "body", (0, 0.062 * H), 78 * s, 0.064 * H, 95 * s, density=0.0),
        rod("neck", "body", (0, 0.11 * H), (0, 0.17 * H), 55 * s * bf**0.3, 55 * s * bf**0.3, k=1.1, density=0.0),
    ]
    abduction = rng.uniform(0.0, 40.0) * s
    spread = rng.uniform(-10.0, 30.0) * s
    kidneys: list[Part] = []
    for side, tag in ((-1.0, "R"), (1.0, "L")):
        arm_bones, arm_body = arm(H, s, bf, shw, side, tag, abduction + rng.uniform(-8, 8), rng)
        leg_bones, leg_body = leg(H, s, bf, hip_x, side, tag, spread + rng.uniform(-6, 6), rng)
        bones += arm_bones + leg_bones
        body += arm_body + leg_body
        bones += [
            ellipsoid(
                f"scapula_{tag}",
                "scapula",
                (side * 0.62 * shw, 0.215 * H),
                42 * s,
                70 * s,
                5,
                angle=side * 0.17,
                density=0.75,
                depth=from_back(0.215 * H, 30 + 0.5 * fat),
                thick=thick(0.215 * H),
            ),
            ellipsoid(
                f"glenoid_{tag}",
                "scapula",
                (side * (shw - 35 * s), 0.186 * H),
                14 * s,
                18 * s,
                15,
                density=0.8,
                depth=thick(0.186 * H) / 2,
                thick=thick(0.186 * H),
            ),
            ellipsoid(
                f"ac_joint_{tag}",
                "joint",
                (side * (shw - 12 * s), 0.176 * H),
                8,
                8,
                8,
                density=1.05,
                depth=20 + 0.5 * fat,
                thick=thick(0.176 * H),
            ),
        ]
        bones += polyline(
            f"clavicle_{tag}",
            "clavicle",
            [(side * 20 * s, 0.179 * H), (side * 0.45 * shw, 0.171 * H), (side * (shw - 15 * s), 0.175 * H)],
            7.0,
            [15 + fat, 20 + fat, 25 + 0.5 * fat],
            density=0.85,
            thick=thick(0.176 * H),
        )
        kidney_y = 0.375 * H - (10 * s if side > 0 else 0.0)
        kidneys.append(
            ellipsoid(
                f"kidney_{tag}",
                "kidney",
                (side * 55 * s, kidney_y),
                28 * s,
                55 * s,
                25 * s,
                angle=-side * 0.2,
                density=kidney_density,
                depth=from_back(kidney_y, 70 + 0.6 * fat),
                thick=thick(kidney_y),
            )
        )
    bladder = bladder_part(H, s, fat, thick, bladder_ml, 1.0)
    return Anatomy(bones, kidneys, bladder, body, fat, bladder_ml)


def bladder_part(H: float, s: float, fat: float, thick, volume_ml: float, density: float) -> Part:
    """The bladder as an ellipsoid of `volume_ml` (shape 1.25 : 1 : 1.05) resting on the pelvic floor."""
    b = (volume_ml * 1000.0 / (4.0 / 3.0 * np.pi * 1.25 * 1.05)) ** (1.0 / 3.0)
    a, c = 1.25 * b, 1.05 * b
    yc = 0.497 * H - b
    return ellipsoid("bladder", "bladder", (0, yc), a, b, c, density=density, depth=25 + fat + c, thick=thick(yc))
