"""Generator and discriminator: parameter count, shapes, count-space behaviour, bad sizes."""

from __future__ import annotations

import pytest
import torch

from wbslib.core.errors import ParamsError
from wbslib.enhance.models import RRDBNet, UNetDiscriminatorSN


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rdb_params(nf: int, gc: int) -> int:
    """Parameters of one residual dense block: 4 growth convs + 1 fusion conv, 3×3 with bias."""
    growth = sum(9 * (nf + i * gc) * gc + gc for i in range(4))
    return growth + 9 * (nf + 4 * gc) * nf + nf


def generator_params(in_ch: int, out_ch: int, nf: int, nb: int, gc: int) -> int:
    """Closed form of RRDBNet's parameter count (3×3 kernels and biases everywhere)."""
    conv = lambda cin, cout: 9 * cin * cout + cout  # noqa: E731
    return (
        conv(in_ch, nf)
        + nb * 3 * rdb_params(nf, gc)
        + conv(nf, nf)
        + conv(nf, 4 * nf)
        + conv(nf, nf)
        + conv(nf, nf)
        + conv(nf, out_ch)
    )


def test_paper_generator_has_6734529_parameters_and_keeps_size():
    torch.manual_seed(0)
    model = RRDBNet(in_ch=1, out_ch=1, nf=64, nb=9, gc=32)
    assert n_params(model) == 6_734_529 == generator_params(1, 1, 64, 9, 32)
    assert model.arch_kwargs == {"in_ch": 1, "out_ch": 1, "nf": 64, "nb": 9, "gc": 32}
    assert len(model.body) == 9
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 9 * 3 * 5 + 5
    assert all(c.kernel_size == (3, 3) and c.bias is not None for c in convs)
    assert model.conv_up.out_channels == 256 and model.conv_down.stride == (2, 2)
    with torch.no_grad():
        out = model(torch.rand(1, 1, 24, 40))
    assert out.shape == (1, 1, 24, 40)


@pytest.mark.parametrize("kw", [dict(nf=8, nb=1, gc=4), dict(nf=16, nb=2, gc=8)])
def test_parameter_count_matches_closed_form(kw):
    full = dict(in_ch=1, out_ch=1) | kw
    assert n_params(RRDBNet(**full)) == generator_params(**full)


@pytest.mark.parametrize("h,w", [(8, 8), (17, 9), (1, 1), (192, 64)])
def test_output_size_equals_input_size(h, w):
    torch.manual_seed(1)
    model = RRDBNet(nf=8, nb=1, gc=4)
    with torch.no_grad():
        assert model(torch.rand(2, 1, h, w)).shape == (2, 1, h, w)


def test_last_layer_is_linear_so_outputs_are_not_clipped():
    """The output is an affine function of conv_last's bias: no final activation clamps it."""
    torch.manual_seed(2)
    model = RRDBNet(nf=8, nb=1, gc=4).eval()
    x = torch.rand(1, 1, 16, 16) * 5
    with torch.no_grad():
        base = model(x)
        model.conv_last.bias.fill_(model.conv_last.bias.item() - 1000.0)
        shifted = model(x)
        assert torch.allclose(shifted, base - 1000.0, atol=1e-3)
        model.conv_last.bias.fill_(model.conv_last.bias.item() + 2000.0)
        assert torch.allclose(model(x), base + 1000.0, atol=1e-3)


def test_generator_is_deterministic_given_seed_and_trains():
    torch.manual_seed(3)
    a = RRDBNet(nf=8, nb=1, gc=4)
    torch.manual_seed(3)
    b = RRDBNet(nf=8, nb=1, gc=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    x = torch.rand(1, 1, 16, 16)
    a(x).abs().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in a.parameters())


@pytest.mark.parametrize("bad", [dict(nf=0), dict(nb=-1), dict(gc=2.5), dict(in_ch=True)])
def test_bad_generator_size_raises_params_error(bad):
    with pytest.raises(ParamsError, match="RRDBNet size"):
        RRDBNet(**bad)


def test_discriminator_gives_per_pixel_logits_for_192_patches():
    torch.manual_seed(4)
    d = UNetDiscriminatorSN(in_ch=1, nf=4)
    out = d(torch.rand(2, 1, 192, 192))
    assert out.shape == (2, 1, 192, 192)
    assert d(torch.rand(1, 1, 32, 48)).shape == (1, 1, 32, 48)
    out.mean().backward()
    assert all(p.grad is not None for p in d.parameters())


def test_discriminator_convs_are_spectrally_normalised():
    d = UNetDiscriminatorSN(nf=4)
    sn = [
        name
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8")
        if torch.nn.utils.parametrize.is_parametrized(getattr(d, name), "weight")
    ]
    assert len(sn) == 8
    assert not torch.nn.utils.parametrize.is_parametrized(d.conv0)
    # after power iterations in training mode the largest singular value of each weight is ~1
    d.train()
    for _ in range(30):
        d(torch.rand(1, 1, 16, 16))
    w = d.conv4.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=0.05)


def test_discriminator_width_parameter_and_param_count():
    small, paper = UNetDiscriminatorSN(nf=4), UNetDiscriminatorSN(nf=64)
    assert n_params(paper) == 4_375_745
    assert n_params(small) < 20_000


@pytest.mark.parametrize("h,w", [(190, 192), (192, 20), (4, 4)])
def test_discriminator_rejects_sizes_not_multiple_of_8(h, w):
    d = UNetDiscriminatorSN(nf=4)
    with pytest.raises(ParamsError, match="multiple of 8"):
        d(torch.rand(1, 1, h, w))
