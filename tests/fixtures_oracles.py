"""The R reference data in ../shared/oracles/ beside the project root (statistics oracle tests)."""
from __future__ import annotations

import pandas as pd
import pytest

from wbslib.params import project_root


def oracle_csv(name: str) -> pd.DataFrame:
    """A data file of ../shared/oracles/ beside the project root; fails (not skips) when absent."""
    path = project_root().parent / "shared" / "oracles" / name
    if not path.is_file():
        pytest.fail(f"Oracle data {path} is missing; the oracle tests need ../shared/oracles/{name} "
                    "beside the project root.")
    return pd.read_csv(path)
