"""The phantom's arms and legs: long bones, joints, hands and feet, and the limbs' soft-tissue
segments (parts in mm, densities relative to normal bone)."""

from __future__ import annotations

import numpy as np

from wbslib.phantom.parts import Part, ellipsoid, rod


def arm(H, s, bf, shw, side, tag, abduction, rng) -> tuple[list[Part], list[Part]]:
    g = f"arm_{tag}"
    sh = np.array([side * (shw - 18 * s), 0.19 * H])
    elbow = np.array([side * (shw - 8 * s + abduction), 0.375 * H])
    wrist = elbow + np.array([side * rng.uniform(-10, 40) * s, 0.155 * H])
    r_arm, r_fore = 45 * s * bf**0.5, 37 * s * bf**0.45
    dep_u, dep_f = r_arm, r_fore
    bones = [
        ellipsoid(
            f"humeral_head_{tag}",
            "humerus",
            sh,
            24 * s,
            24 * s,
            16,
            density=0.65,
            depth=dep_u,
            thick=2 * r_arm,
            group=g,
        ),
        rod(
            f"humerus_{tag}",
            "humerus",
            sh + [0, 20 * s],
            elbow,
            12 * s,
            13 * s,
            density=0.5,
            depth=dep_u,
            thick=2 * r_arm,
            group=g,
        ),
        ellipsoid(
            f"elbow_{tag}", "joint", elbow, 28 * s, 18 * s, 12, density=0.75, depth=dep_f, thick=2 * r_fore, group=g
        ),
        rod(
            f"radius_{tag}",
            "forearm",
            elbow + [side * 10 * s, 15 * s],
            wrist + [side * 10 * s, 0],
            7 * s,
            8 * s,
            density=0.45,
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
            density=0.45,
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
            density=0.85,
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


def leg(H, s, bf, hip_x, side, tag, spread, rng) -> tuple[list[Part], list[Part]]:
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
            density=0.65,
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
            density=0.5,
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
            density=0.5,
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
            density=0.75,
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
