"""Networks: the RRDB generator and the spectral-norm U-Net discriminator."""

from .discriminator import UNetDiscriminatorSN
from .rrdbnet import ARCH_BOUNDS, RRDBNet, arch_problems, check_arch

__all__ = ["ARCH_BOUNDS", "RRDBNet", "UNetDiscriminatorSN", "arch_problems", "check_arch"]
