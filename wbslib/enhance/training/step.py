"""One GAN training step (generator, then discriminator) and the pieces it needs, shared by
`wbslib.enhance.training.loop` and `benchmarks/bench_train.py`.

Loss: L_G = Lp + λ·L1 + η·L_BCE + γ·L_GAN (`wbslib.enhance.losses`); D learns real (standard) from fake
(generator output). Pixels outside the keep-mask (the bladder in real pairs) are left out of every
term: the output there is replaced by the target before any loss or D sees it, so they add no
difference and no gradient. With `perceptual: feature_matching` the generator's step runs D once on
target and output together and Lp compares its intermediate features (the target's detached).
Tensors are channels_last on CUDA, contiguous on CPU; precision is fp32 on CPU and bf16 autocast
on CUDA (fp16 with a GradScaler on GPUs without bf16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from wbslib.enhance.losses import DiscriminatorLoss, GeneratorLoss, fill_masked
from wbslib.enhance.models import RRDBNet, UNetDiscriminatorSN

BETAS = (0.9, 0.999)
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class GanParts:
    """Models, optimisers, losses and precision settings of one training run."""

    generator: nn.Module  # as trained: possibly DDP-wrapped or compiled
    discriminator: nn.Module  # as trained in its own step
    d_in_g_step: nn.Module  # D as the generator's step calls it (frozen there; no DDP wrapper)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    g_loss: GeneratorLoss
    d_loss: DiscriminatorLoss
    device: torch.device
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP and torch.compile wrappers."""
    while isinstance(model, nn.parallel.DistributedDataParallel) or hasattr(model, "_orig_mod"):
        model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model._orig_mod
    return model


def amp_dtype_for(device: torch.device, amp: bool | None = None) -> torch.dtype | None:
    """Autocast dtype: with `amp` None (default) bf16 on CUDA (fp16 where bf16 is unsupported) and
    none (fp32) on CPU; `amp` True asks for bf16 on CPU too, False for fp32 everywhere."""
    if amp is False or (amp is None and device.type != "cuda"):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def build_parts(
    cfg: dict,
    device: torch.device,
    *,
    amp: bool | None = None,
    channels_last: bool | None = None,
    compile_mode: str | None = None,
    ddp: bool = False,
) -> GanParts:
    """Fresh generator and discriminator (initialised from torch's global RNG: seed it first), Adam
    optimisers (lr, β 0.9/0.999), the GradScaler and the losses, all per `cfg` (train config).

    `channels_last` None means on CUDA only (on this project's CPUs it made a training step 20–50 %
    slower: benchmarks/bench_train.py). `compile_mode` ('default', 'reduce-overhead', ...) wraps
    G and D in `torch.compile` with that mode (not with `ddp`).
    """
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    g = RRDBNet(in_ch=1, out_ch=1, nf=cfg["nf"], nb=cfg["nb"], gc=cfg["gc"]).to(device, memory_format=fmt)
    d = UNetDiscriminatorSN(in_ch=1, nf=cfg["d_nf"]).to(device, memory_format=fmt)
    fused = device.type == "cuda"  # one kernel per optimiser step on the GPU
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg["lr"], betas=BETAS, fused=fused)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg["lr"], betas=BETAS, fused=fused)
    dtype = amp_dtype_for(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    d_in_g_step = d
    if compile_mode:
        g, d = torch.compile(g, mode=compile_mode), torch.compile(d, mode=compile_mode)
        d_in_g_step = d
    elif ddp:
        ids = [device.index] if device.type == "cuda" else None
        g = nn.parallel.DistributedDataParallel(g, device_ids=ids)
        d = nn.parallel.DistributedDataParallel(d, device_ids=ids)
    g_loss = GeneratorLoss(perceptual=cfg["perceptual"], weights=cfg["loss_weights"], gan_loss=cfg["gan_loss"]).to(
        device
    )
    return GanParts(
        g, d, d_in_g_step, opt_g, opt_d, scaler, g_loss, DiscriminatorLoss(gan_loss=cfg["gan_loss"]), device, dtype, fmt
    )


def learning_rate(cfg: dict, step: int, steps: int) -> float:
    """Learning rate of step `step` (0-based) of `steps`: `lr` throughout ('constant', the paper's),
    or cosine-annealed from `lr` to 0 ('cosine': short runs end on small, settling steps)."""
    if cfg.get("lr_schedule", "constant") == "constant":
        return float(cfg["lr"])
    return float(cfg["lr"]) * 0.5 * (1.0 + math.cos(math.pi * step / steps))


def set_learning_rate(parts: GanParts, lr: float) -> float:
    """Use `lr` in both optimisers from the next step on; returns it."""
    for opt in (parts.opt_g, parts.opt_d):
        for group in opt.param_groups:
            group["lr"] = lr
    return lr


def steers_generator(parts: GanParts) -> bool:
    """True when the discriminator enters the generator's loss (GAN weight > 0 or feature matching)."""
    return float(parts.g_loss.weights["gan"]) > 0.0 or parts.g_loss.feature_matching


def _on_device(p: GanParts, batch: tuple[torch.Tensor, ...]) -> tuple:
    """(input, target, keep) on the run's device and memory format, and the step's autocast context."""
    x, y, keep = (t.to(p.device, non_blocking=True).contiguous(memory_format=p.memory_format) for t in batch)
    autocast = torch.autocast(
        device_type=p.device.type, dtype=p.amp_dtype or torch.float32, enabled=p.amp_dtype is not None
    )
    return x, y, keep, autocast


def _generator_only_step(p: GanParts, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """`gan_step` without the discriminator (it would add 0 · L_GAN to G's loss)."""
    x, y, keep, autocast = _on_device(p, batch)
    p.opt_g.zero_grad(set_to_none=True)
    with autocast:
        fake = fill_masked(p.generator(x), y, keep)
        g_total, terms = p.g_loss(fake.float(), y, None, None, keep)
    p.scaler.scale(g_total).backward()
    p.scaler.step(p.opt_g)
    p.scaler.update()
    nan = torch.full((), float("nan"), device=g_total.device)
    total = terms.pop("total")
    return {**terms, "gan": nan, "g_total": total, "d_total": nan, "d_real_prob": nan, "d_fake_prob": nan}


def gan_step(parts: GanParts, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """One optimiser step of G, then of D, on (input, target, keep) batches (N, 1, P, P) in model scale.

    Returns detached 0-d tensors (no device sync here): the generator's total ('g_total') and terms,
    the discriminator's loss ('d_total') and its mean probability of 'real' on real and fake patches.
    Under DDP the wrappers average the gradients across ranks; in the generator's step D is called
    without its DDP wrapper (its weights are frozen there: nothing to average). When D cannot steer
    G (GAN weight 0 and no feature matching) D is neither run nor stepped: G's step is the same, the
    'gan' and D columns are NaN, and the step costs only G's forward and backward pass.
    """
    p = parts
    if not steers_generator(p):
        return _generator_only_step(p, batch)
    x, y, keep, autocast = _on_device(p, batch)
    relativistic = p.d_loss.gan_loss == "relativistic"

    p.d_in_g_step.requires_grad_(False)
    p.opt_g.zero_grad(set_to_none=True)
    with autocast:
        fake = fill_masked(p.generator(x), y, keep)
        if p.g_loss.feature_matching:
            logits, feats = p.d_in_g_step(torch.cat([y, fake]), features=True)
            n = len(y)
            real_logits, fake_logits = (logits[:n].float() if relativistic else None), logits[n:].float()
            features = ([f[n:] for f in feats], [f[:n].detach() for f in feats])
        else:
            real_logits = p.d_in_g_step(y).float() if relativistic else None
            fake_logits, features = p.d_in_g_step(fake).float(), None
        g_total, terms = p.g_loss(fake.float(), y, fake_logits, real_logits, keep, features)
    p.scaler.scale(g_total).backward()
    p.scaler.step(p.opt_g)

    p.d_in_g_step.requires_grad_(True)
    p.opt_d.zero_grad(set_to_none=True)
    with autocast:
        logits = p.discriminator(torch.cat([y, fake.detach()])).float()
        d_real, d_fake = logits[: len(y)], logits[len(y) :]
        d_total = p.d_loss(d_real, d_fake)
    p.scaler.scale(d_total).backward()
    p.scaler.step(p.opt_d)
    p.scaler.update()
    terms = {("g_total" if k == "total" else k): v for k, v in terms.items()}
    return {
        **terms,
        "d_total": d_total.detach(),
        "d_real_prob": torch.sigmoid(d_real.detach()).mean(),
        "d_fake_prob": torch.sigmoid(d_fake.detach()).mean(),
    }
