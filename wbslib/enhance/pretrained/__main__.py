"""`python -m wbslib.enhance.pretrained CHECKPOINT ...`: publish training checkpoints as the shipped models."""

import sys

from wbslib.core.fileio import sha256_file
from wbslib.enhance.pretrained import publish

for arg in sys.argv[1:]:
    out = publish(arg)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(out)}")
