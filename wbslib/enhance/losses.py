"""Training losses: L = Lp + λ·L1 + η·L_BCE + γ·L_GAN (paper: λ = 0.005, η = 0.01, γ = 0.001).

`GeneratorLoss` combines the terms (each weight a parameter; Lp's weight w_p = 1 by default),
`DiscriminatorLoss` is the discriminator's side; the functions below compute one term each.

All terms take images in the model's scale, `counts · s / C` (C = count scale of the checkpoint),
shape (N, 1, H, W). `ceiling` (model units, default 1.0 = C counts) is the value mapped to 1.0
wherever a term needs a [0, 1] image. An optional `mask` (broadcastable to the images; True/1 =
pixel counts, e.g. everything but the bladder) leaves pixels out of a term.

- Lp: L1 distance between VGG19 features (default conv5_4 before its ReLU, as in ESRGAN) of output
  and target. Range mapping: u = x / ceiling (not clamped, so hot spots keep their gradient),
  copied to 3 channels, then ImageNet normalisation (u − mean) / std per channel. Masked pixels are
  replaced by the target's in the output before VGG, so they add nothing. Weights come from
  `wbslib.metrics.weights` (never downloaded; MissingWeightsError if absent); `perceptual='none'` turns
  the term off and `GeneratorLoss.perceptual_enabled` / `describe()` say so for reports.
  `perceptual='feature_matching'` is the offline Lp (pix2pixHD): the mean over the discriminator's
  8 intermediate activations of the L1 distance between those of the output and of the target
  (target features detached; the caller computes them on the `fill_masked` output), weighted by
  w_p like the VGG19 term. `perceptual='auto'` (`resolve_perceptual`) is vgg19 when its verified
  weights are in the torch cache, else feature_matching.
- L1: mean |output − target| over unmasked pixels, in model units.
- L_BCE: pixel-wise binary cross-entropy between p = clamp(output / ceiling, ε, 1 − ε) and
  t = clamp(target / ceiling, 0, 1) (ε = 1e-6), mean over unmasked pixels, computed in float32.
  Its minimum over p is the entropy of t (0 only where t is 0 or 1); pixels outside [ε, 1 − ε]
  get no BCE gradient (L1 still pulls them).
- L_GAN: 'vanilla' (BCE with logits: the generator wants D(fake) = real) or 'relativistic'
  (ESRGAN's relativistic average: real/fake logits compared with the other side's mean; the real
  logits are detached in the generator loss). Generator and discriminator losses are separate
  functions; discriminator losses average their real and fake halves (× 0.5). Logits are per
  pixel (U-Net discriminator) or per patch; means run over all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from wbslib.core.errors import MissingWeightsError, ParamsError

# w_p, λ, η, γ of the paper; L2 (not in the paper) off
DEFAULT_WEIGHTS = {"perceptual": 1.0, "l1": 0.005, "bce": 0.01, "gan": 0.001, "l2": 0.0}
PERCEPTUAL_CHOICES = ("vgg19", "feature_matching", "none")
PERCEPTUAL_REQUESTS = (*PERCEPTUAL_CHOICES, "auto")
GAN_KINDS = ("vanilla", "relativistic")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BCE_EPS = 1e-6
VGG19_CONVS_PER_BLOCK = (2, 2, 4, 4, 4)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values` over pixels where `mask` is true (all pixels without a mask; 0 if none)."""
    if mask is None:
        return values.mean()
    weight = mask.to(values.dtype).expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def fill_masked(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """`output` with masked-out pixels (mask False/0) replaced by the target's: they then match."""
    return output if mask is None else torch.where(mask.bool(), output, target)


def l1_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference over unmasked pixels, in model units."""
    return _masked_mean((output.float() - target.float()).abs(), mask)


def l2_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared difference over unmasked pixels, in model units² (its optimum is the target's
    conditional mean: unbiased on split-mode targets, with no ceiling — BCE clips at its ceiling, so a
    bladder above the count scale cannot be learned with BCE alone)."""
    return _masked_mean((output.float() - target.float()) ** 2, mask)


def bce_loss(
    output: torch.Tensor, target: torch.Tensor, ceiling: float = 1.0, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Pixel-wise binary cross-entropy of output and target, both divided by `ceiling` into [0, 1]."""
    p = (output.float() / ceiling).clamp(BCE_EPS, 1.0 - BCE_EPS)
    t = (target.float() / ceiling).clamp(0.0, 1.0)
    return _masked_mean(-(t * torch.log(p) + (1.0 - t) * torch.log1p(-p)), mask)


def _bce_logits(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def _check_gan_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise ParamsError(f"GAN loss {kind!r} is unknown; set it to one of {GAN_KINDS} in the params.")


def generator_adversarial_loss(
    fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None, kind: str = "vanilla"
) -> torch.Tensor:
    """The generator's GAN loss from the discriminator's logits on its output (and, for RaGAN, on targets)."""
    _check_gan_kind(kind)
    if kind == "vanilla":
        return _bce_logits(fake_logits, real=True)
    if real_logits is None:
        raise ParamsError(
            "The relativistic GAN loss needs the discriminator's logits on the targets; pass real_logits."
        )
    real = real_logits.detach()
    return 0.5 * (
        _bce_logits(real - fake_logits.mean(), real=False) + _bce_logits(fake_logits - real.mean(), real=True)
    )


def discriminator_adversarial_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "vanilla"
) -> torch.Tensor:
    """The discriminator's GAN loss (compute `fake_logits` on the detached generator output)."""
    _check_gan_kind(kind)
    if kind == "vanilla":
        return 0.5 * (_bce_logits(real_logits, real=True) + _bce_logits(fake_logits, real=False))
    return 0.5 * (
        _bce_logits(real_logits - fake_logits.mean(), real=True)
        + _bce_logits(fake_logits - real_logits.mean(), real=False)
    )


def vgg19_layer_names() -> list[str]:
    """Names of VGG19's 37 `features` layers: conv1_1, relu1_1, ..., conv5_4 (index 34), relu5_4, pool5."""
    names = []
    for block, n_convs in enumerate(VGG19_CONVS_PER_BLOCK, start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def resolve_perceptual(choice: str) -> tuple[str, str]:
    """(perceptual term to train with, one sentence saying why): 'auto' → 'vgg19' when the verified
    VGG19 weights are in the torch cache, else 'feature_matching'; other choices are kept."""
    if choice not in PERCEPTUAL_REQUESTS:
        raise ParamsError(f"perceptual={choice!r} is unknown; set it to one of {PERCEPTUAL_REQUESTS}.")
    if choice != "auto":
        return choice, f"perceptual: {choice} (as set in the params)."
    from wbslib.metrics.weights import WEIGHTS, available, checkpoints_dir

    where = f"{WEIGHTS['vgg19'].filename} in {checkpoints_dir()}"
    if available("vgg19"):
        return "vgg19", f"perceptual: auto → vgg19 (the paper's Lp; verified weights {where})."
    return "feature_matching", (
        f"perceptual: auto → feature_matching (no verified {where}): Lp compares the discriminator's "
        "features of output and target (pix2pixHD) instead of VGG19's."
    )


def feature_matching_loss(fake_features: list[torch.Tensor], real_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean |D_i(output) − D_i(target)| (float32; the target's features detached)."""
    if not fake_features or len(fake_features) != len(real_features):
        raise ParamsError(
            f"Feature matching needs the discriminator's features of output and target layer by layer "
            f"(got {len(fake_features)} and {len(real_features)}); pass D(x, features=True)'s lists."
        )
    per_layer = [F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake_features, real_features)]
    return torch.stack(per_layer).mean()


class PerceptualLoss(nn.Module):
    """L1 between VGG19 features of output and target (frozen ImageNet weights from the torch cache)."""

    def __init__(self, layer: str = "conv5_4", ceiling: float = 1.0):
        super().__init__()
        names = vgg19_layer_names()
        if layer not in names:
            raise ParamsError(f"VGG19 layer {layer!r} is unknown; use one of conv1_1 … conv5_4 / relu… / pool….")
        from wbslib.metrics.weights import load_vgg19_features

        self.layer, self.ceiling = layer, float(ceiling)
        self.features = load_vgg19_features()[: names.index(layer) + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def to_imagenet(self, x: torch.Tensor) -> torch.Tensor:
        """Model-scale (N, 1, H, W) → ImageNet-normalised (N, 3, H, W): (x / ceiling − mean) / std."""
        if x.shape[1] != 1:
            raise ParamsError(f"The perceptual loss takes 1-channel count images, got {x.shape[1]} channels.")
        return (x.expand(-1, 3, -1, -1) / self.ceiling - self.mean) / self.std

    def forward(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        both = self.features(self.to_imagenet(torch.cat([fill_masked(output, target, mask), target.detach()])))
        fake, real = both.chunk(2)
        return F.l1_loss(fake.float(), real.float())


class GeneratorLoss(nn.Module):
    """L = w_p·Lp + λ·L1 + η·L_BCE + γ·L_GAN; `forward` returns (total, detached terms for logging).

    `weights` maps 'l1' (λ), 'bce' (η), 'gan' (γ) and optionally 'perceptual' (w_p) and 'l2' to
    numbers; missing keys take the paper's values (λ 0.005, η 0.01, γ 0.001, w_p 1; L2 0, not in the
    paper). `perceptual` is one of
    `PERCEPTUAL_REQUESTS` ('auto' resolved here, see `resolve_perceptual`; `self.perceptual` is the
    term used).
    """

    def __init__(
        self,
        perceptual: str = "vgg19",
        weights: Mapping[str, float] | None = None,
        gan_loss: str = "vanilla",
        ceiling: float = 1.0,
        perceptual_layer: str = "conv5_4",
    ):
        super().__init__()
        self.perceptual = resolve_perceptual(perceptual)[0]
        weights = dict(weights or {})
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ParamsError(f"Loss weights {sorted(unknown)} are unknown; use keys among {sorted(DEFAULT_WEIGHTS)}.")
        self.weights = {**DEFAULT_WEIGHTS, **weights}
        for name, value in self.weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ParamsError(f"Loss weight {name}={value!r} must be a number ≥ 0; fix the params.")
        if isinstance(ceiling, bool) or not isinstance(ceiling, (int, float)) or not ceiling > 0:
            raise ParamsError(f"Loss ceiling {ceiling!r} must be a number > 0 (model units mapped to 1).")
        _check_gan_kind(gan_loss)
        self.gan_loss, self.ceiling = gan_loss, float(ceiling)
        self.perceptual_loss = None
        if self.perceptual == "vgg19":
            try:
                self.perceptual_loss = PerceptualLoss(perceptual_layer, ceiling)
            except MissingWeightsError as exc:
                raise MissingWeightsError(
                    f"{str(exc).rstrip('.')}; or set perceptual: auto (discriminator feature matching when "
                    "VGG19 is missing) or perceptual: none to train without the perceptual term."
                ) from exc

    @property
    def perceptual_enabled(self) -> bool:
        return self.perceptual != "none"

    @property
    def feature_matching(self) -> bool:
        """True when Lp needs the discriminator's features (`forward(..., features=...)`)."""
        return self.perceptual == "feature_matching"

    def term_weights(self) -> dict[str, float]:
        """The weights as applied (perceptual 0.0 when the term is off), e.g. for a checkpoint's meta."""
        return {k: float(v) if (k != "perceptual" or self.perceptual_enabled) else 0.0 for k, v in self.weights.items()}

    def describe(self) -> str:
        """One line for reports, e.g. '1·Lp(VGG19 conv5_4) + 0.005·L1 + 0.01·BCE + 0.001·GAN(vanilla)'."""
        w = self.weights
        lp = {
            "vgg19": f"{w['perceptual']:g}·Lp(VGG19 {getattr(self.perceptual_loss, 'layer', '')})",
            "feature_matching": f"{w['perceptual']:g}·Lp(discriminator feature matching)",
            "none": "perceptual term off (perceptual: none)",
        }[self.perceptual]
        l2 = f" + {w['l2']:g}·L2" if w["l2"] else ""
        return f"{lp} + {w['l1']:g}·L1{l2} + {w['bce']:g}·BCE + {w['gan']:g}·GAN({self.gan_loss})"

    def forward(
        self,
        output: torch.Tensor,
        target: torch.Tensor,
        fake_logits: torch.Tensor | None = None,
        real_logits: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        features: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total generator loss; without `fake_logits` (e.g. validation) the GAN term is left out, and
        the feature-matching Lp without `features` = (D's features of the output, of the target)."""
        w = self.weights
        terms = {"l1": l1_loss(output, target, mask), "bce": bce_loss(output, target, self.ceiling, mask)}
        total = w["l1"] * terms["l1"] + w["bce"] * terms["bce"]
        if w["l2"]:
            terms["l2"] = l2_loss(output, target, mask)
            total = total + w["l2"] * terms["l2"]
        if self.perceptual_loss is not None:
            terms["perceptual"] = self.perceptual_loss(output, target, mask)
        elif self.feature_matching and features is not None:
            terms["perceptual"] = feature_matching_loss(*features)
        if "perceptual" in terms:
            total = total + w["perceptual"] * terms["perceptual"]
        if fake_logits is not None:
            terms["gan"] = generator_adversarial_loss(fake_logits, real_logits, self.gan_loss)
            total = total + w["gan"] * terms["gan"]
        terms["total"] = total
        return total, {k: v.detach() for k, v in terms.items()}


class DiscriminatorLoss(nn.Module):
    """The discriminator's GAN loss as a module: forward(real_logits, fake_logits) → scalar."""

    def __init__(self, gan_loss: str = "vanilla"):
        super().__init__()
        _check_gan_kind(gan_loss)
        self.gan_loss = gan_loss

    def forward(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return discriminator_adversarial_loss(real_logits, fake_logits, self.gan_loss)
