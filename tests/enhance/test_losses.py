"""Losses: known values of every term, weights applied, gradients where (and only where) expected."""

from __future__ import annotations

import math

import pytest
import torch
from fixtures_weights import fake_torch_home  # noqa: F401  (pytest fixture)
from hypothesis import given, settings
from hypothesis import strategies as st

from wbslib.core.errors import MissingWeightsError, ParamsError
from wbslib.enhance import losses as L


def img(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, *torch.tensor(values).shape)


def test_l1_of_known_tensors_and_mask():
    out, tgt = img([[1.0, 2.0], [3.0, 4.0]]), img([[0.0, 2.0], [5.0, 4.5]])
    assert L.l1_loss(out, tgt).item() == pytest.approx((1 + 0 + 2 + 0.5) / 4)
    keep = img([[1.0, 1.0], [0.0, 1.0]]).bool()
    assert L.l1_loss(out, tgt, keep).item() == pytest.approx((1 + 0 + 0.5) / 3)
    assert L.l1_loss(out, tgt, torch.zeros_like(keep)).item() == 0.0


def test_bce_of_known_values():
    # p = 0.5 vs t = 1 → ln 2; p = 0.25 vs t = 0 → −ln 0.75; p = 0.5 vs t = 0.5 → ln 2 (entropy of t)
    assert L.bce_loss(img([[0.5]]), img([[1.0]])).item() == pytest.approx(math.log(2), rel=1e-6)
    assert L.bce_loss(img([[0.5]]), img([[0.0]]), ceiling=2.0).item() == pytest.approx(-math.log(0.75), rel=1e-6)
    assert L.bce_loss(img([[0.5]]), img([[0.5]])).item() == pytest.approx(math.log(2), rel=1e-6)
    mean = L.bce_loss(img([[0.5, 0.25]]), img([[1.0, 0.0]]))
    assert mean.item() == pytest.approx((math.log(2) - math.log(0.75)) / 2, rel=1e-6)


def test_bce_clamps_to_unit_range():
    # output above the ceiling is clamped to 1 − ε, target above it to 1: loss ≈ −ln(1 − ε) ≈ 0
    assert L.bce_loss(img([[7.0]]), img([[3.0]])).item() == pytest.approx(0.0, abs=1e-5)
    # negative output is clamped to ε against target 1: −ln ε
    assert L.bce_loss(img([[-2.0]]), img([[1.0]])).item() == pytest.approx(-math.log(L.BCE_EPS), rel=1e-4)


def test_bce_is_autocast_safe_and_float32():
    out = img([[0.3, 0.6]]).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = L.bce_loss(out, img([[0.3, 0.6]]))
    assert loss.dtype == torch.float32
    loss.backward()
    assert out.grad is not None


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.0, 1.0))
def test_bce_minimum_is_at_target(p, t):
    """Property: BCE(p, t) ≥ BCE(t, t) = entropy of t."""
    t_img = img([[t]])
    assert L.bce_loss(img([[p]]), t_img).item() >= L.bce_loss(t_img.clamp(1e-6, 1 - 1e-6), t_img).item() - 1e-5


def test_vanilla_gan_losses_and_gradients():
    z = torch.tensor([0.0, 2.0, -1.0], requires_grad=True)
    g = L.generator_adversarial_loss(z)
    expected = sum(math.log1p(math.exp(-v)) for v in (0.0, 2.0, -1.0)) / 3
    assert g.item() == pytest.approx(expected, rel=1e-6)
    g.backward()
    # d/dz mean softplus(−z) = (σ(z) − 1) / n
    assert torch.allclose(z.grad, (torch.sigmoid(z.detach()) - 1) / 3)

    real, fake = torch.zeros(4), torch.zeros(4)
    assert L.discriminator_adversarial_loss(real, fake).item() == pytest.approx(math.log(2), rel=1e-6)
    # a perfect discriminator: loss and gradients vanish
    real, fake = torch.full((4,), 30.0, requires_grad=True), torch.full((4,), -30.0, requires_grad=True)
    d = L.discriminator_adversarial_loss(real, fake)
    d.backward()
    assert d.item() == pytest.approx(0.0, abs=1e-12)
    assert real.grad.abs().max().item() < 1e-12 and fake.grad.abs().max().item() < 1e-12


def test_relativistic_gan_losses_and_detached_real_logits():
    real = torch.tensor([1.0, 3.0], requires_grad=True)
    fake = torch.tensor([0.0, -2.0], requires_grad=True)
    g = L.generator_adversarial_loss(fake, real, kind="relativistic")
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus: BCE(x, 0) = sp(x), BCE(x, 1) = sp(−x)
    mean_fake, mean_real = -1.0, 2.0
    expected_g = 0.5 * (
        (sp(1 - mean_fake) + sp(3 - mean_fake)) / 2 + (sp(-(0 - mean_real)) + sp(-(-2 - mean_real))) / 2
    )
    assert g.item() == pytest.approx(expected_g, rel=1e-6)
    g.backward()
    assert real.grad is None and fake.grad is not None  # real logits detached in the generator loss

    d = L.discriminator_adversarial_loss(real, fake.detach(), kind="relativistic")
    expected_d = 0.5 * (
        (sp(-(1 - mean_fake)) + sp(-(3 - mean_fake))) / 2 + (sp(0 - mean_real) + sp(-2 - mean_real)) / 2
    )
    assert d.item() == pytest.approx(expected_d, rel=1e-6)
    # equal logits everywhere: RaGAN reduces to ln 2 for both players
    same = torch.ones(3)
    assert L.generator_adversarial_loss(same, same, "relativistic").item() == pytest.approx(math.log(2))
    assert L.discriminator_adversarial_loss(same, same, "relativistic").item() == pytest.approx(math.log(2))
    with pytest.raises(ParamsError, match="real_logits"):
        L.generator_adversarial_loss(same, None, "relativistic")
    with pytest.raises(ParamsError, match="unknown"):
        L.discriminator_adversarial_loss(same, same, "wgan")


def test_generator_loss_applies_weights_exactly_without_perceptual():
    out, tgt = img([[0.5, 0.2], [0.9, 0.0]]), img([[1.0, 0.2], [0.4, 0.1]])
    logits = torch.tensor([[0.5, -0.5]])
    crit = L.GeneratorLoss(perceptual="none", weights={"l1": 0.3, "bce": 0.2, "gan": 0.1})
    total, terms = crit(out, tgt, logits)
    l1, bce, gan = L.l1_loss(out, tgt), L.bce_loss(out, tgt), L.generator_adversarial_loss(logits)
    assert set(terms) == {"l1", "bce", "gan", "total"}
    assert terms["l1"].item() == pytest.approx(0.275) and terms["bce"] == bce and terms["gan"] == gan
    assert total.item() == pytest.approx(0.3 * l1.item() + 0.2 * bce.item() + 0.1 * gan.item(), rel=1e-6)
    # without logits (validation) the GAN term is left out
    total_val, terms_val = crit(out, tgt)
    assert "gan" not in terms_val and total_val.item() == pytest.approx(0.3 * l1.item() + 0.2 * bce.item())


def test_paper_defaults_and_report_strings():
    crit = L.GeneratorLoss(perceptual="none")
    assert crit.weights == {"perceptual": 1.0, "l1": 0.005, "bce": 0.01, "gan": 0.001, "l2": 0.0}
    assert not crit.perceptual_enabled
    assert crit.term_weights() == {"perceptual": 0.0, "l1": 0.005, "bce": 0.01, "gan": 0.001, "l2": 0.0}
    assert crit.describe() == "perceptual term off (perceptual: none) + 0.005·L1 + 0.01·BCE + 0.001·GAN(vanilla)"
    assert L.DiscriminatorLoss("relativistic")(torch.ones(2), torch.ones(2)).item() == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(perceptual="vgg16"), "perceptual='vgg16'"),
        (dict(weights={"l3": 1.0}), "unknown"),
        (dict(weights={"l1": -1.0}), "l1=-1.0"),
        (dict(gan_loss="hinge"), "hinge"),
        (dict(ceiling=0), "ceiling"),
    ],
)
def test_bad_loss_parameters(kwargs, match):
    with pytest.raises(ParamsError, match=match):
        L.GeneratorLoss(**{"perceptual": "none", **kwargs})


def test_missing_vgg19_weights_raise_and_name_the_switch():
    with pytest.raises(MissingWeightsError, match=r"vgg19-dcbb9e9d\.pth.*perceptual: none"):
        L.GeneratorLoss(perceptual="vgg19")


def test_vgg19_layer_names():
    names = L.vgg19_layer_names()
    assert len(names) == 37 and names.index("conv5_4") == 34 and names[35] == "relu5_4" and names[-1] == "pool5"


def test_perceptual_loss_with_fake_weights(fake_torch_home):
    crit = L.GeneratorLoss(perceptual="vgg19", ceiling=2.0)
    assert crit.perceptual_enabled and crit.describe().startswith("1·Lp(VGG19 conv5_4) + 0.005·L1")
    p = crit.perceptual_loss
    assert len(p.features) == 35 and isinstance(p.features[-1], torch.nn.Conv2d)  # conv5_4, before ReLU
    # range mapping: x = ceiling · mean_c maps to 0 in channel c; x = ceiling · (mean + std) to 1
    x = torch.full((1, 1, 1, 1), 2.0 * L.IMAGENET_MEAN[1])
    assert p.to_imagenet(x)[0, 1].item() == pytest.approx(0.0, abs=1e-6)
    x = torch.full((1, 1, 1, 1), 2.0 * (L.IMAGENET_MEAN[2] + L.IMAGENET_STD[2]))
    assert p.to_imagenet(x)[0, 2].item() == pytest.approx(1.0, rel=1e-5)

    g = torch.Generator().manual_seed(0)
    tgt = torch.rand(1, 1, 32, 32, generator=g)
    assert p(tgt.clone(), tgt).item() == 0.0
    out = (tgt + 0.3 * torch.rand(1, 1, 32, 32, generator=g)).requires_grad_()
    total, terms = crit(out, tgt)
    assert terms["perceptual"].item() > 0
    assert total.item() == pytest.approx(
        terms["perceptual"].item() + 0.005 * terms["l1"].item() + 0.01 * terms["bce"].item(), rel=1e-5
    )
    total.backward()
    assert out.grad.abs().sum() > 0
    assert all(q.grad is None for q in p.features.parameters())  # VGG is frozen

    # pixels outside the mask do not count: a difference only there gives zero perceptual loss
    keep = torch.ones(1, 1, 32, 32, dtype=torch.bool)
    keep[..., 10:20, 10:20] = False
    changed = tgt.clone()
    changed[..., 10:20, 10:20] += 5.0
    assert p(changed, tgt, keep).item() == 0.0 and p(changed, tgt).item() > 0


def _gan_steps(device: torch.device, steps: int = 3) -> list[torch.Tensor]:
    """Paper-size G and a D trained a few GAN steps under bf16 autocast, channels_last; G's weights."""
    from wbslib.enhance.models import RRDBNet, UNetDiscriminatorSN

    torch.manual_seed(0)
    g = RRDBNet().to(device, memory_format=torch.channels_last)
    d = UNetDiscriminatorSN(nf=64).to(device, memory_format=torch.channels_last)
    g_loss, d_loss = L.GeneratorLoss("vgg19").to(device), L.DiscriminatorLoss()
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 2e-4), torch.optim.Adam(d.parameters(), 2e-4)
    gen = torch.Generator(device=device).manual_seed(1)
    for _ in range(steps):
        y = torch.rand(1, 1, 192, 192, device=device, generator=gen).contiguous(memory_format=torch.channels_last)
        x = y + 0.1 * torch.randn(y.shape, device=device, generator=gen)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            fake = g(x)
            total, _ = g_loss(fake.float(), y, d(fake).float())
        opt_g.zero_grad()
        total.backward()
        opt_g.step()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss_d = d_loss(d(y).float(), d(fake.detach()).float())
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    return [p.detach().clone() for p in g.parameters()]


@pytest.mark.gpu
def test_gan_steps_are_deterministic_on_cuda(fake_torch_home, monkeypatch):
    """With deterministic algorithms enforced (errors, not warnings), two runs give identical weights."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        a, b = _gan_steps(torch.device("cuda")), _gan_steps(torch.device("cuda"))
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
    assert all(torch.isfinite(p).all() for p in a)
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_l2_term_is_the_masked_mean_square_and_off_by_default():
    out, target = torch.tensor([[[[1.0, 2.0], [3.0, 0.0]]]]), torch.zeros(1, 1, 2, 2)
    assert float(L.l2_loss(out, target)) == pytest.approx((1 + 4 + 9 + 0) / 4)
    keep = torch.tensor([[[[True, True], [False, True]]]])
    assert float(L.l2_loss(out, target, keep)) == pytest.approx((1 + 4 + 0) / 3)
    plain = L.GeneratorLoss(perceptual="none")
    assert "L2" not in plain.describe() and "l2" not in plain(out, target)[1]
    with_l2 = L.GeneratorLoss(perceptual="none", weights={"l1": 0.0, "bce": 0.0, "l2": 1.0})
    total, terms = with_l2(out, target)
    assert "1·L2" in with_l2.describe() and float(total) == pytest.approx(3.5) and float(terms["l2"]) == 3.5
