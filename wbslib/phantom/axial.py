"""The axial skeleton of the phantom: skull, spine, ribs and sternum, pelvis (parts in mm, densities
relative to normal bone; landmarks as fractions of body height H, see `skeleton`)."""

from __future__ import annotations

import numpy as np

from wbslib.phantom.parts import Part, ellipsoid, polyline, rod

RIB_HALF_WIDTH_MM = (60, 88, 108, 122, 131, 136, 139, 139, 136, 130, 118, 100)  # ribs 1–12, 1.75 m male


def skull(H, s) -> list[Part]:
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


def spine(H, s, fat, thick, from_back) -> list[Part]:
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
                name, region, (0, y), half_w, 0.4 * pitch, c, density=1.05, depth=from_back(y, behind), thick=thick(y)
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
                density=0.9,
                depth=from_back(0.462 * H, 55 + 0.6 * fat),
                thick=thick(0.462 * H),
            )
        )
    return parts


def ribs_and_sternum(H, s, shw, fat, thick, from_back, torso_y, torso_w) -> list[Part]:
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
            parts += polyline(f"rib{k + 1}_{tag}", "rib", pts, 5.5, dep, k=0.9, density=1.25, thick=d)
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
            density=1.0,
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
            density=1.2,
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
                density=0.7,
                depth=sternum_depth + 3,
                thick=thick(0.18 * H),
            )
        )
    return parts


def pelvis(H, s, hip_x, fat, thick, from_back) -> list[Part]:
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
