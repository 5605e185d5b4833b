"""With the GAN weight at 0 (and no feature matching) the discriminator cannot steer the generator,
so `gan_step` neither runs nor trains it: the generator's step is unchanged, D's columns are NaN."""

from __future__ import annotations

import math

import pytest
import torch
from train_fixtures import TINY_GAN

from wbslib.enhance.training.step import build_parts, gan_step, steers_generator

CFG = {**TINY_GAN, "loss_weights": {"l1": 0.005, "bce": 0.01, "gan": 0.0}}


def _batch() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    y = torch.rand(2, 1, 32, 32, generator=g)
    return y + 0.1 * torch.randn(2, 1, 32, 32, generator=g), y, torch.ones(2, 1, 32, 32)


def _parts(cfg: dict, d_seed: int):
    torch.manual_seed(0)
    parts = build_parts(cfg, torch.device("cpu"))
    torch.manual_seed(d_seed)
    for p in parts.discriminator.parameters():  # a different discriminator, same generator
        p.data.normal_(0.0, 0.1)
    return parts


def test_generator_step_does_not_depend_on_the_discriminator_when_gan_weight_is_zero():
    a, b = _parts(CFG, 1), _parts(CFG, 2)
    d_before = [p.detach().clone() for p in a.discriminator.parameters()]
    for _ in range(3):
        terms_a, terms_b = gan_step(a, _batch()), gan_step(b, _batch())
    assert not steers_generator(a)
    assert all(torch.equal(p, q) for p, q in zip(a.generator.parameters(), b.generator.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(d_before, a.discriminator.parameters()))  # never stepped
    assert [k for k in terms_a] == ["l1", "bce", "gan", "g_total", "d_total", "d_real_prob", "d_fake_prob"]
    assert all(math.isnan(terms_a[k].item()) for k in ("gan", "d_total", "d_real_prob", "d_fake_prob"))
    assert terms_a["g_total"].item() == pytest.approx(0.005 * terms_a["l1"].item() + 0.01 * terms_a["bce"].item())
    assert terms_a["g_total"].item() == terms_b["g_total"].item()


def test_a_nonzero_gan_weight_still_trains_the_discriminator_and_lets_it_steer_the_generator():
    cfg = TINY_GAN  # GAN weight 0.001
    a, b = _parts(cfg, 1), _parts(cfg, 2)
    d_before = [p.detach().clone() for p in a.discriminator.parameters()]
    terms = gan_step(a, _batch())
    gan_step(b, _batch())
    assert steers_generator(a) and all(torch.isfinite(v) for v in terms.values())
    assert any(not torch.equal(p, q) for p, q in zip(d_before, a.discriminator.parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(a.generator.parameters(), b.generator.parameters()))
