"""The one home of image-set group names: their grammar, the training modes and one display order.

A group names how an image set was made, in 1x-equivalent counts:
- raw acquisitions: `1x`, `2x`, `2.5x`, … (`<speed>x`);
- enhanced by a model: `<speed>x-<mode>` with mode `real` | `simu` | `split`;
- classical baselines: `<speed>x-gauss`, `<speed>x-bm3d`;
- `truth`: the phantom's noise-free image at the 1x count level (an ideal-enhancer reference,
  never a method).
Order: by speed, then raw, models (real, simu, split), baselines; `truth` last. For the paper's
seven groups this is the paper's order (1x, 2x, 2x-real, 2x-simu, 3x, 3x-real, 3x-simu).
"""

from __future__ import annotations

import re

STANDARD = "1x"
TRUTH = "truth"
MODES = ("real", "simu", "split")  # training modes (docs/DESIGN.md, "The model"; wbslib.enhance.datasets)
BASELINES = {"gaussian": "gauss", "bm3d": "bm3d"}  # baseline method → group suffix
PAPER_GROUPS = ("1x", "2x", "2x-real", "2x-simu", "3x", "3x-real", "3x-simu")
SPEED_RTOL = 0.02  # two speed factors this close name the same speed

GROUP = re.compile(r"^(?P<speed>\d+(?:\.\d+)?)x(?:-(?P<method>[a-z0-9]+))?$")
_METHOD_RANK = {
    None: 0,
    **{m: 1 + i for i, m in enumerate(MODES)},
    **{s: 1 + len(MODES) + i for i, s in enumerate(BASELINES.values())},
}


def parse_group(group: str) -> tuple[float, str | None]:
    """'2x-simu' → (2.0, 'simu'); '3x' → (3.0, None); `ValueError` for a name outside the grammar."""
    match = GROUP.match(str(group))
    if not match:
        raise ValueError(f"{group!r} is not a group name (<speed>x, <speed>x-<mode> or <speed>x-<baseline>)")
    return float(match["speed"]), match["method"]


def is_raw(group: str) -> bool:
    """True for a raw acquisition group such as '2x' or '2.5x'."""
    match = GROUP.match(str(group))
    return bool(match) and match["method"] is None


def is_model(group: str) -> bool:
    """True for a model group such as '2x-real'."""
    match = GROUP.match(str(group))
    return bool(match) and match["method"] in MODES


def group_key(group: str) -> tuple:
    """Sort key: speed, then raw < models < baselines < other methods; `truth` and unknown names last."""
    match = GROUP.match(str(group))
    if not match:
        return (1, float("inf"), 0, str(group))
    return (0, float(match["speed"]), _METHOD_RANK.get(match["method"], 99), str(group))


def ordered_groups(groups) -> list[str]:
    """The distinct `groups` in the one display order (`group_key`)."""
    return sorted(set(map(str, groups)), key=group_key)
