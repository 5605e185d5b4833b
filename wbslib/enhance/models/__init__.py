"""Networks: the RRDB generator and the spectral-norm U-Net discriminator."""

from .discriminator import UNetDiscriminatorSN
from .rrdbnet import RRDBNet

__all__ = ["RRDBNet", "UNetDiscriminatorSN"]
