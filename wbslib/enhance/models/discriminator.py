"""The discriminator: a spectral-norm U-Net with per-pixel logits (Real-ESRGAN's UNetDiscriminatorSN).

Why this one rather than a VGG-style classifier with adaptive pooling: bone-scan lesions are a few
pixels wide and a 192² patch is mostly normal bone and soft tissue, so one realism score per patch
says little about the pixels that matter. A U-Net returns a logit for every pixel (global context
from its bottleneck, local detail from its skips), takes any patch size that is a multiple of 8
without resizing, and spectral normalisation keeps it Lipschitz-bounded so the small GAN weight
(γ = 0.001) trains stably at batch size 1 (no batch norm).

Layout (nf = width; 3×3 convs but the 4×4 stride-2 downs; LeakyReLU 0.2):

    conv0  in_ch → nf                          H
    conv1  nf → 2nf    (stride 2)              H/2
    conv2  2nf → 4nf   (stride 2)              H/4
    conv3  4nf → 8nf   (stride 2)              H/8
    up ×2, conv4 8nf → 4nf  (+ conv2's output) H/4
    up ×2, conv5 4nf → 2nf  (+ conv1's output) H/2
    up ×2, conv6 2nf → nf   (+ conv0's output) H
    conv7, conv8 nf → nf; conv9 nf → 1         logits (N, 1, H, W)

All but the first and last convs are spectrally normalised (bias-free, as in Real-ESRGAN).
`forward(x, features=True)` also returns the activations after conv0 … conv6 and conv8 (8 maps),
which the feature-matching loss compares (pix2pixHD; `wbslib.enhance.losses.feature_matching_loss`).
Upsampling is nearest-neighbour written as expand + reshape: its backward is a plain sum, hence
deterministic on CUDA, which bilinear `interpolate`'s atomic-add backward is not.
Input: the same model scale as the generator (counts · s / C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from wbslib.core.errors import ParamsError

LEAK = 0.2
SIZE_MULTIPLE = 8  # three stride-2 downsamplings
MAX_NF = 256  # the widest stage has 8·nf channels; bounded before any layer is allocated


def _sn_conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A bias-free spectrally normalised conv; kernel 4 with stride 2 halves H, W exactly."""
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride=stride, padding=1, bias=False))


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 upsampling (deterministic backward)."""
    n, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


class UNetDiscriminatorSN(nn.Module):
    """Per-pixel real/fake logits for (N, in_ch, H, W) patches, H and W multiples of 8."""

    def __init__(self, in_ch: int = 1, nf: int = 64, skip_connection: bool = True):
        super().__init__()
        for name, value, high in (("in_ch", in_ch, 1), ("nf", nf, MAX_NF)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
                raise ParamsError(
                    f"Discriminator size {name}={value!r} is not a whole number in 1–{high}; fix "
                    "the model size in the params file (train.d_nf)."
                )
        self.arch_kwargs = {"in_ch": in_ch, "nf": nf, "skip_connection": skip_connection}
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(in_ch, nf, 3, padding=1)
        self.conv1 = _sn_conv(nf, 2 * nf, kernel=4, stride=2)
        self.conv2 = _sn_conv(2 * nf, 4 * nf, kernel=4, stride=2)
        self.conv3 = _sn_conv(4 * nf, 8 * nf, kernel=4, stride=2)
        self.conv4 = _sn_conv(8 * nf, 4 * nf)
        self.conv5 = _sn_conv(4 * nf, 2 * nf)
        self.conv6 = _sn_conv(2 * nf, nf)
        self.conv7 = _sn_conv(nf, nf)
        self.conv8 = _sn_conv(nf, nf)
        self.conv9 = nn.Conv2d(nf, 1, 3, padding=1)

    def forward(
        self, x: torch.Tensor, features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, in_ch, H, W) → logits (N, 1, H, W), with `features` also the list of intermediate
        activations (after conv0 … conv6 and conv8); a ParamsError if H or W is not a multiple of 8."""
        h, w = x.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ParamsError(
                f"Discriminator input of {h}×{w} pixels is not a multiple of {SIZE_MULTIPLE} "
                "in both directions; choose a patch size such as 192."
            )

        def act(t: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(t, LEAK)

        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(_up2(x3)))
        x4 = x4 + x2 if self.skip_connection else x4
        x5 = act(self.conv5(_up2(x4)))
        x5 = x5 + x1 if self.skip_connection else x5
        x6 = act(self.conv6(_up2(x5)))
        x6 = x6 + x0 if self.skip_connection else x6
        out = act(self.conv8(act(self.conv7(x6))))
        logits = self.conv9(out)
        return (logits, [x0, x1, x2, x3, x4, x5, x6, out]) if features else logits
