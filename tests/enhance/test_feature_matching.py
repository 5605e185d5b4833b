"""The offline perceptual term: discriminator feature matching (pix2pixHD), `perceptual: auto` choosing
VGG19 or feature matching from the torch cache, printed and recorded in the checkpoint meta."""

from __future__ import annotations

import pytest
import torch
from fixtures_weights import fake_torch_home  # noqa: F401  (pytest fixture)
from train_fixtures import TINY_GAN, write_cohort

from wbslib.core.errors import ParamsError
from wbslib.enhance import losses as L
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.models import UNetDiscriminatorSN
from wbslib.enhance.training.loop import train_model, training_config
from wbslib.enhance.training.report import perceptual_banner
from wbslib.enhance.training.step import build_parts, gan_step

CFG = {**TINY_GAN, "perceptual": "feature_matching"}


def test_discriminator_exposes_eight_feature_maps_without_changing_its_logits():
    torch.manual_seed(0)
    d = UNetDiscriminatorSN(nf=4).eval()
    x = torch.rand(2, 1, 32, 32)
    logits, feats = d(x, features=True)
    assert torch.equal(logits, d(x))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (4, 32, 32),
        (8, 16, 16),
        (16, 8, 8),
        (32, 4, 4),
        (16, 8, 8),
        (8, 16, 16),
        (4, 32, 32),
        (4, 32, 32),
    ]


def test_feature_matching_loss_is_the_mean_layer_l1_with_the_target_detached():
    fake = [torch.zeros(1, 2, 2, 2, requires_grad=True), torch.ones(1, 1, 4, 4, requires_grad=True)]
    real = [torch.full((1, 2, 2, 2), 3.0, requires_grad=True), torch.ones(1, 1, 4, 4, requires_grad=True)]
    loss = L.feature_matching_loss(fake, real)
    assert loss.item() == pytest.approx((3.0 + 0.0) / 2)
    loss.backward()
    assert fake[0].grad.abs().sum() > 0 and real[0].grad is None and real[1].grad is None
    assert L.feature_matching_loss(real, real).item() == 0.0
    with pytest.raises(ParamsError, match="layer by layer"):
        L.feature_matching_loss(fake, real[:1])


def test_generator_loss_with_feature_matching_weights_it_as_the_perceptual_term():
    crit = L.GeneratorLoss(perceptual="feature_matching")
    assert crit.perceptual == "feature_matching" and crit.perceptual_enabled and crit.feature_matching
    assert crit.term_weights()["perceptual"] == 1.0
    assert crit.describe().startswith("1·Lp(discriminator feature matching) + 0.005·L1")
    out, tgt = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.25)
    features = ([torch.full((1, 1, 2, 2), 2.0)], [torch.zeros(1, 1, 2, 2)])
    total, terms = crit(out, tgt, None, None, None, features)
    assert terms["perceptual"].item() == 2.0
    assert total.item() == pytest.approx(2.0 + 0.005 * terms["l1"].item() + 0.01 * terms["bce"].item())
    _, no_features = crit(out, tgt)  # validation: no discriminator, no Lp
    assert "perceptual" not in no_features


def test_auto_picks_vgg19_when_its_weights_are_cached(fake_torch_home):
    choice, why = L.resolve_perceptual("auto")
    assert choice == "vgg19" and "vgg19-dcbb9e9d.pth" in why
    crit = L.GeneratorLoss(perceptual="auto")
    assert crit.perceptual == "vgg19" and crit.perceptual_loss is not None


def test_auto_picks_feature_matching_without_imagenet_weights():
    choice, why = L.resolve_perceptual("auto")
    assert choice == "feature_matching" and "no verified vgg19-dcbb9e9d.pth" in why
    assert L.GeneratorLoss(perceptual="auto").perceptual == "feature_matching"
    assert L.resolve_perceptual("none") == ("none", "perceptual: none (as set in the params).")
    with pytest.raises(ParamsError, match="perceptual='lpips' is unknown"):
        L.resolve_perceptual("lpips")
    assert "DISCRIMINATOR FEATURE MATCHING" in perceptual_banner({"perceptual": "auto"})
    assert perceptual_banner({"perceptual": "auto"}).startswith("perceptual: auto → feature_matching")


def test_gan_step_with_feature_matching_gives_a_finite_loss_and_trains_the_generator():
    torch.manual_seed(0)
    parts = build_parts(CFG, torch.device("cpu"))
    g_before = [p.detach().clone() for p in parts.generator.parameters()]
    y = torch.rand(2, 1, 32, 32)
    batch = (y + 0.1 * torch.randn(2, 1, 32, 32), y, torch.ones(2, 1, 32, 32))
    terms = gan_step(parts, batch)
    assert {"perceptual", "l1", "bce", "gan", "g_total", "d_total"} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values()) and terms["perceptual"] > 0
    expected = terms["perceptual"] + 0.005 * terms["l1"] + 0.01 * terms["bce"] + 0.001 * terms["gan"]
    assert terms["g_total"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, parts.generator.parameters()))
    # the generator's step alone: Lp's gradient reaches G through D, never D's own weights
    parts.opt_g.zero_grad(set_to_none=True)
    parts.opt_d.zero_grad(set_to_none=True)
    parts.d_in_g_step.requires_grad_(False)
    logits, feats = parts.d_in_g_step(torch.cat([y, parts.generator(batch[0])]), features=True)
    L.feature_matching_loss([f[2:] for f in feats], [f[:2] for f in feats]).backward()
    assert all(p.grad is None for p in parts.d_in_g_step.parameters())
    assert sum(p.grad.abs().sum() for p in parts.generator.parameters() if p.grad is not None) > 0


def test_auto_is_printed_and_recorded_in_the_checkpoint_meta(tmp_path, capsys):
    params = write_cohort(tmp_path / "data", rows=64, cols=32, n_train=2, n_val=1, speeds=(2.0,))
    params["train"].update(steps=1, val_every=0, checkpoint_every=1, perceptual="auto")
    cfg = training_config(params, {"mode": "simu", "speed": 2})
    assert cfg["perceptual"] == "feature_matching" and cfg["perceptual_requested"] == "auto"
    final = train_model(params, {"mode": "simu", "speed": 2}, tmp_path / "run", progress=False)
    assert "simu-2x: perceptual: auto → feature_matching" in capsys.readouterr().out
    _, meta = load_generator(final)
    assert meta["perceptual"] == "feature_matching" and meta["perceptual_requested"] == "auto"
    assert meta["loss_weights"]["perceptual"] == 1.0
