"""Reproducibility: one seeding function and the metadata every run writes beside its outputs."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np

PACKAGES = (
    "wbslib",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pandas",
    "pydicom",
    "scikit-image",
    "torchmetrics",
    "lpips",
    "statsmodels",
    "scikit-learn",
    "papermill",
    "nbconvert",
)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; with `deterministic`, ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        import torch
    except ImportError:  # torch is a dependency, but seeding must not need it
        return
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A NumPy generator seeded by (seed, *keys), e.g. rng(seed, 'thin', epoch, index).

    Strings are hashed stably (sha256), so the same keys give the same stream on every machine.
    """
    words = [int(seed)]
    for key in keys:
        if isinstance(key, str):
            words.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little"))
        else:
            words.append(int(key))
    return np.random.default_rng(np.random.SeedSequence(words))


def git_sha(root: Path | None = None) -> str:
    """The project's git commit (with '-dirty' when the tree has changes), or 'unknown'."""
    cwd = str(root or Path(__file__).resolve().parents[2])
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide the results."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_description() -> str:
    """'cuda: <name>' when a GPU is visible, else 'cpu (<n> threads)'."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
        return f"cpu ({torch.get_num_threads()} threads)"
    except ImportError:
        return "cpu"


def run_metadata(params: dict | None = None) -> dict:
    """Git SHA, package versions, device and (resolved) params of a run, JSON-serialisable."""
    return {
        "git_sha": git_sha(),
        "versions": package_versions(),
        "device": device_description(),
        "platform": platform.platform(),
        "params": params or {},
    }


def write_run_metadata(path: Path, params: dict | None = None) -> Path:
    """Write `run_metadata(params)` as JSON atomically (temp name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(run_metadata(params), indent=2, default=str))
    os.replace(tmp, path)
    return path


def print_environment() -> None:
    """The line every notebook prints after its imports: git SHA, device, key versions."""
    v = package_versions()
    print(
        f"wbs-accel git {git_sha()} · {device_description()} · python {v['python']} · "
        f"torch {v['torch']} · numpy {v['numpy']} · pydicom {v['pydicom']}"
    )
