"""Test-wide settings: no test reads the user's home, torch cache or a GPU by accident."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:  # no per-example deadlines: speed is measured in benchmarks, and a loaded CI machine is slow
    from hypothesis import settings

    settings.register_profile("wbs", deadline=None)
    settings.load_profile("wbs")
except ImportError:
    pass

try:  # one intra-op thread in the test process: OpenMP spin-waits collapse when cores are shared
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch):
    """Each test gets its own pseudonym key file and an empty torch cache (no real weights)."""
    home = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("WBS_PSEUDONYM_KEY_FILE", str(home / "pseudonym.key"))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.delenv("WBS_SKIP_WEIGHT_CHECKSUM", raising=False)
    yield


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `gpu` when CUDA is not available."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
