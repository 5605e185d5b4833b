"""The generator: an RRDBNet (ESRGAN's trunk) with an ESPCN up / stride-2 down tail, output size = input size.

Layout, top to bottom (paper configuration: in_ch=1, out_ch=1, nf=64, nb=9, gc=32 → 6,734,529
parameters, 3×3 kernels and biases everywhere):

    conv_first   in_ch → nf
    body         nb × RRDB; each RRDB = 3 residual dense blocks of 5 convs (growth gc,
                 LeakyReLU 0.2), every block's residual scaled by 0.2
    conv_body    nf → nf, added to conv_first's output (global skip)
    conv_up      nf → 4·nf, PixelShuffle(2)                 (ESPCN up: H, W → 2H, 2W)
    conv_down    nf → nf, stride 2, padding 1               (2H, 2W → H, W)
    conv_hr      nf → nf
    conv_last    nf → out_ch                                (linear: no activation)

Bounds (`ARCH_BOUNDS`, checked before any layer is allocated): one channel in and out (one view of
counts), nf ≤ 256, nb ≤ 32, gc ≤ 128 — 4× the paper's width and growth, ESRGAN's depth of 23 fits;
the largest model allowed has ≈ 370 M parameters (1.5 GB in float32).

Sizes: a 3×3 stride-2 conv with padding 1 maps 2H to exactly H, so the output has the input's
H × W for *any* H, W ≥ 1 (tested with odd sizes). Training patches and the discriminator need
multiples of 8 (192 in the paper); whole-body tiles of 1024 × 256 fit as they are.

Count space: the model sees `counts · s / C` (s the acquisition's speed factor, C the count scale
stored in the checkpoint) and returns the same scale; `output · C` is in 1x-equivalent counts.
The last layer is linear (no sigmoid/ReLU/clamp), so nothing clips hot spots such as the bladder
and the output's count total is a measurement, not a by-product.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from wbslib.core.errors import ParamsError

LEAK = 0.2  # LeakyReLU negative slope
RESIDUAL_SCALE = 0.2  # scale of each dense block's and each RRDB's residual
INIT_SCALE = 0.1  # ESRGAN's down-scaled Kaiming init of the dense-block convs (stable start)
ARCH_BOUNDS = {"in_ch": (1, 1), "out_ch": (1, 1), "nf": (1, 256), "nb": (1, 32), "gc": (1, 128)}


def arch_problems(arch_kwargs: Mapping) -> list[str]:
    """What is wrong with RRDBNet sizes `arch_kwargs` (absent keys take the defaults): each value must
    be a whole number within `ARCH_BOUNDS`; an empty list when all are fine."""
    problems = []
    for name, (low, high) in ARCH_BOUNDS.items():
        if name not in arch_kwargs:
            continue
        value = arch_kwargs[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            bound = f"{low} (one view of counts)" if low == high else f"a whole number in {low}–{high}"
            problems.append(f"{name}={value!r} is not {bound}")
    return problems


def check_arch(arch_kwargs: Mapping, where: str) -> None:
    """ParamsError unless `arch_problems(arch_kwargs)` is empty; `where` names the source of the sizes."""
    problems = arch_problems(arch_kwargs)
    if problems:
        raise ParamsError(f"RRDBNet size {'; '.join(problems)} in {where}; fix the model size (nf, nb, gc).")


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """A 3×3 convolution with bias and 'same' padding (halves H, W when stride=2)."""
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=True)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs (each sees the block input and all earlier outputs)."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.convs = nn.ModuleList([conv3x3(nf + i * gc, gc) for i in range(4)])
        self.conv_out = conv3x3(nf + 4 * gc, nf)
        self.act = nn.LeakyReLU(LEAK, inplace=True)
        for conv in (*self.convs, self.conv_out):
            nn.init.kaiming_normal_(conv.weight, a=0.0, mode="fan_in")
            conv.weight.data.mul_(INIT_SCALE)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs:
            features.append(self.act(conv(torch.cat(features, dim=1))))
        return x + RESIDUAL_SCALE * self.conv_out(torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, then a scaled residual around them."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualDenseBlock(nf, gc) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.blocks(x)


class RRDBNet(nn.Module):
    """RRDB generator for count images; `arch_kwargs` holds what a checkpoint needs to rebuild it."""

    def __init__(self, in_ch: int = 1, out_ch: int = 1, nf: int = 64, nb: int = 9, gc: int = 32):
        super().__init__()
        self.arch_kwargs = {"in_ch": in_ch, "out_ch": out_ch, "nf": nf, "nb": nb, "gc": gc}
        check_arch(self.arch_kwargs, "the RRDBNet arguments")
        self.conv_first = conv3x3(in_ch, nf)
        self.body = nn.Sequential(*(RRDB(nf, gc) for _ in range(nb)))
        self.conv_body = conv3x3(nf, nf)
        self.conv_up = conv3x3(nf, 4 * nf)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.conv_down = conv3x3(nf, nf, stride=2)
        self.conv_hr = conv3x3(nf, nf)
        self.conv_last = conv3x3(nf, out_ch)
        self.act = nn.LeakyReLU(LEAK, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_ch, H, W) in model scale (counts · s / C) → (N, out_ch, H, W) in the same scale."""
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.act(self.pixel_shuffle(self.conv_up(feat)))
        feat = self.act(self.conv_down(feat))
        feat = self.act(self.conv_hr(feat))
        return self.conv_last(feat)
