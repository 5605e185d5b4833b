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

from wbslib.phantom.parts import Part, ellipsoid, polyline, rod

RIB_HALF_WIDTH_MM = (60, 88, 108, 122, 131, 136, 139, 139, 136, 130, 118, 100)  # ribs 1–12, 1.75 m male


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
    bones += _skull(H, s)
    bones += _spine(H, s, fat, thick, from_back)
    bones += _ribs_and_sternum(H, s, shw, fat, thick, from_back, torso_y, torso_w)
    bones += _pelvis(H, s, hip_x, fat, thick, from_back)
    body = [
        Part("torso", "body", "torso", (torso_y, torso_w, torso_d), 0.0),
        ellipsoid("head", "body", (0, 0.062 * H), 78 * s, 0.064 * H, 95 * s, density=0.0),
        rod("neck", "body", (0, 0.11 * H), (0, 0.17 * H), 55 * s * bf**0.3, 55 * s * bf**0.3, k=1.1, density=0.0),
    ]
    abduction = rng.uniform(0.0, 40.0) * s
    spread = rng.uniform(-10.0, 30.0) * s
    kidneys: list[Part] = []
    for side, tag in ((-1.0, "R"), (1.0, "L")):
        arm_bones, arm_body = _arm(H, s, bf, shw, side, tag, abduction + rng.uniform(-8, 8), rng)
        leg_bones, leg_body = _leg(H, s, bf, hip_x, side, tag, spread + rng.uniform(-6, 6), rng)
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
                density=1.4,
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


def _skull(H, s) -> list[Part]:
    head_d = 190 * s
    shell = (0.0, 0.060 * H, 74 * s, 0.055 * H, 92 * s, 7.0)  # front and back walls: half the chord each
    return [
        Part("calvarium_front", "skull", "shell", shell, 0.15, 15.0, head_d),
        Part("calvarium_back", "skull", "shell", shell, 0.15, head_d - 15.0, head_d),
        ellipsoid("maxilla", "skull", (0, 0.098 * H), 40 * s, 0.017 * H, 15, density=0.45, depth=30, thick=head_d),
        ellipsoid(
            "skull_base", "skull", (0, 0.085 * H), 55 * s, 12 * s, 30, density=0.35, depth=head_d / 2, thick=head_d
        ),
    ] + polyline(
        "mandible",
        "skull",
        [(-48 * s, 0.088 * H), (-40 * s, 0.117 * H), (0, 0.128 * H), (40 * s, 0.117 * H), (48 * s, 0.088 * H)],
        6.0,
        [80, 45, 15, 45, 80],
        density=0.55,
        thick=head_d,
    )


def _spine(H, s, fat, thick, from_back) -> list[Part]:
    parts = []
    levels = (
        [(f"C{i + 1}", y) for i, y in enumerate(np.linspace(0.118, 0.152, 7))]
        + [(f"T{i + 1}", y) for i, y in enumerate(np.linspace(0.160, 0.352, 12))]
        + [(f"L{i + 1}", y) for i, y in enumerate(np.linspace(0.368, 0.442, 5))]
    )
    for i, (name, fy) in enumerate(levels):
        y = fy * H
        pitch = (0.0055 if name[0] == "C" else 0.0175 if name[0] == "T" else 0.0185) * H
        half_w = float(np.interp(i, [0, 6, 7, 18, 19, 23], [11, 14, 14, 21, 22, 26])) * s
        c = float(np.interp(i, [0, 6, 7, 18, 19, 23], [8, 9, 10, 15, 15, 17])) * s
        behind = (45.0 if name[0] == "C" else 55.0 if name[0] == "T" else 70.0) * s + 0.6 * fat
        region = "cervical" if name[0] == "C" else "spine"
        parts.append(
            ellipsoid(
                name, region, (0, y), half_w, 0.4 * pitch, c, density=0.95, depth=from_back(y, behind), thick=thick(y)
            )
        )
        parts.append(
            ellipsoid(
                f"{name}_arch",
                region,
                (0, y + 0.1 * pitch),
                1.5 * half_w,
                0.33 * pitch,
                6,
                density=0.65,
                depth=from_back(y, 0.45 * behind),
                thick=thick(y),
            )
        )
    sacrum_y = 0.452 * H
    parts.append(
        rod(
            "sacrum",
            "pelvis",
            (0, sacrum_y + 27 * s),
            (0, 0.515 * H),
            45 * s,
            12 * s,
            k=0.35,
            density=0.8,
            depth=from_back(0.48 * H, 45 + 0.6 * fat),
            thick=thick(0.48 * H),
        )
    )
    for side in (-1.0, 1.0):
        parts.append(
            ellipsoid(
                f"si_joint_{'R' if side < 0 else 'L'}",
                "joint",
                (side * 38 * s, 0.462 * H),
                8,
                22 * s,
                10,
                angle=side * 0.26,
                density=1.2,
                depth=from_back(0.462 * H, 55 + 0.6 * fat),
                thick=thick(0.462 * H),
            )
        )
    return parts


def _ribs_and_sternum(H, s, shw, fat, thick, from_back, torso_y, torso_w) -> list[Part]:
    parts = []
    pitch = 0.0175 * H
    scale = shw / 195.0  # rib cage width follows the shoulders
    for k in range(12):
        yk = (0.160 + k * 0.192 / 11) * H
        w = min(RIB_HALF_WIDTH_MM[k] * scale, float(np.interp(yk + 35 * s, torso_y, torso_w)) - 12 - 0.5 * fat)
        d = thick(yk + 40 * s)
        back, front, mid = d - 30 - 0.6 * fat, 20 + fat, d / 2
        for side, tag in ((-1.0, "R"), (1.0, "L")):
            if k == 0:
                pts = [
                    (18 * s, yk),
                    (45 * s, yk - 3 * s),
                    (55 * s, yk + 15 * s),
                    (40 * s, yk + 35 * s),
                    (25 * s, yk + 40 * s),
                ]
                dep = [d - 45 - fat, back, mid, front + 10, front]
            else:
                pts = [(18 * s, yk), (0.45 * w, yk - 4 * s), (0.8 * w, yk + 8 * s), (w, yk + 35 * s)]
                dep = [d - 45 - 0.6 * fat, back, back, mid]
                if k < 10:
                    end = 0.25 * w + (0.35 * w * max(k - 5, 0) / 4)
                    drop = min(3.5 * pitch, 95 * s + 4 * k * s)
                    pts += [(0.85 * w, yk + 0.75 * drop), (0.55 * w, yk + 0.95 * drop), (end, yk + drop)]
                    dep += [front + 15, front, front]
                else:
                    pts += [(0.9 * w, yk + (55 if k == 10 else 45) * s)]
                    dep += [mid]
            pts = [(side * px, py) for px, py in pts]
            parts += polyline(f"rib{k + 1}_{tag}", "rib", pts, 5.5, dep, k=0.9, density=1.1, thick=d)
    sternum_depth = 12 + fat
    parts.append(
        rod(
            "manubrium",
            "sternum",
            (0, 0.178 * H),
            (0, 0.205 * H),
            26 * s,
            16 * s,
            k=0.3,
            density=1.15,
            depth=sternum_depth,
            thick=thick(0.19 * H),
        )
    )
    parts.append(
        rod(
            "sternum_body",
            "sternum",
            (0, 0.209 * H),
            (0, 0.28 * H),
            14 * s,
            15 * s,
            k=0.4,
            density=1.4,
            depth=sternum_depth,
            thick=thick(0.25 * H),
        )
    )
    for side, tag in ((-1.0, "R"), (1.0, "L")):
        parts.append(
            ellipsoid(
                f"sc_joint_{tag}",
                "joint",
                (side * 20 * s, 0.180 * H),
                9,
                8,
                8,
                density=0.9,
                depth=sternum_depth + 3,
                thick=thick(0.18 * H),
            )
        )
    return parts


def _pelvis(H, s, hip_x, fat, thick, from_back) -> list[Part]:
    parts = []
    pel = hip_x / 88.0
    for side, tag in ((-1.0, "R"), (1.0, "L")):
        y_il, y_ac = 0.432 * H, 0.482 * H
        parts += [
            ellipsoid(
                f"ilium_{tag}",
                "pelvis",
                (side * 95 * pel, y_il),
                55 * pel,
                42 * s,
                9,
                angle=side * 0.44,
                density=0.85,
                depth=thick(y_il) * 0.55,
                thick=thick(y_il),
            ),
            ellipsoid(
                f"acetabulum_{tag}",
                "pelvis",
                (side * 90 * pel, y_ac),
                24 * s,
                24 * s,
                14,
                density=0.7,
                depth=thick(y_ac) * 0.5,
                thick=thick(y_ac),
            ),
            rod(
                f"pubis_{tag}",
                "pelvis",
                (side * 80 * pel, 0.492 * H),
                (side * 8, 0.505 * H),
                9,
                9,
                k=1.2,
                density=0.9,
                depth=35 + fat,
                thick=thick(0.5 * H),
            ),
            rod(
                f"ischium_{tag}",
                "pelvis",
                (side * 85 * pel, 0.495 * H),
                (side * 55 * pel, 0.525 * H),
                11,
                11,
                density=0.85,
                depth=from_back(0.51 * H, 55 + 0.6 * fat),
                thick=thick(0.51 * H),
            ),
        ]
    return parts


def _arm(H, s, bf, shw, side, tag, abduction, rng) -> tuple[list[Part], list[Part]]:
    g = f"arm_{tag}"
    sh = np.array([side * (shw - 18 * s), 0.19 * H])
    elbow = np.array([side * (shw - 8 * s + abduction), 0.375 * H])
    wrist = elbow + np.array([side * rng.uniform(-10, 40) * s, 0.155 * H])
    r_arm, r_fore = 45 * s * bf**0.5, 37 * s * bf**0.45
    dep_u, dep_f = r_arm, r_fore
    bones = [
        ellipsoid(
            f"humeral_head_{tag}", "humerus", sh, 24 * s, 24 * s, 16, density=0.8, depth=dep_u, thick=2 * r_arm, group=g
        ),
        rod(
            f"humerus_{tag}",
            "humerus",
            sh + [0, 20 * s],
            elbow,
            12 * s,
            13 * s,
            density=0.35,
            depth=dep_u,
            thick=2 * r_arm,
            group=g,
        ),
        ellipsoid(
            f"elbow_{tag}", "joint", elbow, 28 * s, 18 * s, 12, density=1.0, depth=dep_f, thick=2 * r_fore, group=g
        ),
        rod(
            f"radius_{tag}",
            "forearm",
            elbow + [side * 10 * s, 15 * s],
            wrist + [side * 10 * s, 0],
            7 * s,
            8 * s,
            density=0.35,
            depth=dep_f,
            thick=2 * r_fore,
            group=g,
        ),
        rod(
            f"ulna_{tag}",
            "forearm",
            elbow + [-side * 8 * s, 12 * s],
            wrist + [-side * 8 * s, 0],
            7 * s,
            6 * s,
            density=0.35,
            depth=dep_f,
            thick=2 * r_fore,
            group=g,
        ),
        ellipsoid(
            f"wrist_{tag}",
            "joint",
            wrist + [0, 0.012 * H],
            20 * s,
            15 * s,
            10,
            density=1.1,
            depth=25,
            thick=50,
            group=g,
        ),
        ellipsoid(
            f"hand_{tag}", "hand", wrist + [0, 0.055 * H], 16 * s, 45 * s, 40, density=0.2, depth=25, thick=50, group=g
        ),
    ]
    body = [
        rod(f"upper_arm_{tag}", "body", sh, elbow, r_arm, r_fore * 1.05, density=0.0, group=g),
        rod(f"forearm_{tag}", "body", elbow, wrist, r_fore, 27 * s * bf**0.3, density=0.0, group=g),
        ellipsoid(f"hand_body_{tag}", "body", wrist + [0, 0.05 * H], 22 * s, 55 * s, 25, density=0.0, group=g),
    ]
    return bones, body


def _leg(H, s, bf, hip_x, side, tag, spread, rng) -> tuple[list[Part], list[Part]]:
    g = f"leg_{tag}"
    hip = np.array([side * hip_x, 0.485 * H])
    knee = np.array([side * (55 * s + spread), 0.712 * H])
    ankle = np.array([side * (55 * s + 1.3 * spread + rng.uniform(-5, 5)), 0.955 * H])
    r_thigh, r_calf = 80 * s * bf**0.5, 52 * s * bf**0.4
    out = side * 25 * s
    bones = [
        ellipsoid(
            f"femoral_head_{tag}",
            "femur",
            hip,
            24 * s,
            24 * s,
            16,
            density=0.8,
            depth=r_thigh * 1.3,
            thick=2.6 * r_thigh,
            group=g,
        ),
        rod(
            f"femoral_neck_{tag}",
            "femur",
            hip,
            hip + [side * 32 * s, 12 * s],
            15 * s,
            16 * s,
            density=0.6,
            depth=r_thigh * 1.3,
            thick=2.6 * r_thigh,
            group=g,
        ),
        ellipsoid(
            f"trochanter_{tag}",
            "femur",
            hip + [side * 40 * s, 12 * s],
            18 * s,
            22 * s,
            20,
            density=0.7,
            depth=r_thigh * 1.3,
            thick=2.6 * r_thigh,
            group=g,
        ),
        rod(
            f"femur_{tag}",
            "femur",
            hip + [side * 30 * s, 0.015 * H],
            knee - [0, 0.01 * H],
            14 * s,
            15 * s,
            density=0.35,
            depth=r_thigh,
            thick=2 * r_thigh,
            group=g,
        ),
        ellipsoid(
            f"knee_{tag}", "joint", knee, 38 * s, 20 * s, 18, density=0.55, depth=60, thick=2 * r_calf + 20, group=g
        ),
        ellipsoid(
            f"tibial_plateau_{tag}",
            "joint",
            knee + [0, 0.02 * H],
            36 * s,
            15 * s,
            15,
            density=0.55,
            depth=60,
            thick=2 * r_calf + 20,
            group=g,
        ),
        ellipsoid(
            f"patella_{tag}",
            "joint",
            knee - [0, 0.006 * H],
            20 * s,
            22 * s,
            10,
            density=0.45,
            depth=18,
            thick=2 * r_calf + 20,
            group=g,
        ),
        rod(
            f"tibia_{tag}",
            "tibia",
            knee + [0, 0.03 * H],
            ankle,
            15 * s,
            11 * s,
            density=0.4,
            depth=30,
            thick=2 * r_calf,
            group=g,
        ),
        rod(
            f"fibula_{tag}",
            "tibia",
            knee + [out, 0.035 * H],
            ankle + [out, -0.005 * H],
            6 * s,
            6 * s,
            density=0.3,
            depth=2 * r_calf - 35,
            thick=2 * r_calf,
            group=g,
        ),
        ellipsoid(
            f"ankle_{tag}",
            "joint",
            ankle + [0, 0.004 * H],
            30 * s,
            14 * s,
            15,
            density=1.0,
            depth=45,
            thick=90,
            group=g,
        ),
        ellipsoid(
            f"foot_{tag}",
            "foot",
            ankle + [side * 5 * s, 0.03 * H],
            32 * s,
            30 * s,
            60,
            density=0.25,
            depth=90,
            thick=200,
            group=g,
        ),
        ellipsoid(
            f"calcaneus_{tag}",
            "foot",
            ankle + [0, 0.035 * H],
            20 * s,
            22 * s,
            25,
            density=0.4,
            depth=170,
            thick=200,
            group=g,
        ),
    ]
    body = [
        rod(f"thigh_{tag}", "body", hip + [side * 10 * s, 0], knee, r_thigh, r_calf * 1.05, density=0.0, group=g),
        rod(f"calf_{tag}", "body", knee, ankle, r_calf, 36 * s, density=0.0, group=g),
        ellipsoid(
            f"foot_body_{tag}", "body", ankle + [side * 5 * s, 0.028 * H], 42 * s, 42 * s, 100, density=0.0, group=g
        ),
    ]
    return bones, body
