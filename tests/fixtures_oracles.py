"""The R reference data for the statistics oracle tests, kept in tests/data/oracles/ (see its README)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ORACLE_DIR = Path(__file__).resolve().parent / "data" / "oracles"


def oracle_csv(name: str) -> pd.DataFrame:
    """A data file of tests/data/oracles/; fails (not skips) when absent."""
    path = ORACLE_DIR / name
    if not path.is_file():
        pytest.fail(
            f"Oracle data {path} is missing; restore tests/data/oracles/{name} from git "
            "(its source and checksum are in tests/data/oracles/README.md)."
        )
    return pd.read_csv(path)
