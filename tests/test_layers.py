"""Architecture checks: the stage layers hold, the check bites, and light paths stay light.

Layers (lower never imports higher; siblings in braces are independent of each other):
core -> {io, stats} -> {phantom, metrics} -> {enhance, readers} -> {paper, sweep};
`report` imports only `core`; only `wbslib.cli` may import `sweep` or `paper`.
The contracts live in pyproject.toml under [tool.importlinter]; import-linter counts imports
inside functions (lazy imports) as well as module-level ones.

The import probes run in a fresh interpreter (this test process has torch loaded by conftest).
When a forbidden module is loaded, the probe names the wbslib import chain that pulled it in,
as `module:line` frames, outermost first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wbslib

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = Path(wbslib.__file__).resolve().parent
LINT_IMPORTS = Path(sys.executable).parent / ("lint-imports.exe" if os.name == "nt" else "lint-imports")

# --------------------------------------------------------------------------- import-linter


def _lint_imports(cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the venv's `lint-imports` on the pyproject.toml in `cwd`, without a cache directory."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} not found: install the dev extras (pip install -e '.[dev]')")
    env = dict(os.environ)
    env.update(extra_env or {})
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_are_kept():
    result = _lint_imports(REPO_ROOT)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"import-linter contracts broken:\n{report}"
    assert "0 broken" in report, report


def _copy_package(tmp_path: Path) -> Path:
    """A copy of wbslib plus pyproject.toml (the contracts) in tmp_path; returns the copy's wbslib dir."""
    shutil.copytree(
        PACKAGE_DIR, tmp_path / "wbslib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "templates")
    )
    shutil.copy2(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "wbslib"


# (file in the copy, code appended to it, chain the report must name)
_VIOLATIONS = {
    "core-imports-sweep": (
        "core/errors.py",
        "from wbslib.sweep import run  # noqa\n",
        "wbslib.core.errors -> wbslib.sweep",
    ),
    "core-imports-sweep-lazily": (
        "core/errors.py",
        "def _upward():\n    from wbslib.sweep import run  # noqa\n    return run\n",
        "wbslib.core.errors -> wbslib.sweep",
    ),
    "io-imports-enhance-lazily": (
        "io/truth.py",
        "def _upward():\n    import wbslib.enhance.infer  # noqa\n",
        "wbslib.io.truth -> wbslib.enhance",
    ),
    "sibling-stats-imports-io": (
        "stats/roc.py",
        "def _sideways():\n    import wbslib.io.truth  # noqa\n",
        "wbslib.stats.roc -> wbslib.io",
    ),
    "sibling-sweep-imports-paper": (
        "sweep/run.py",
        "def _sideways():\n    import wbslib.paper.tables  # noqa\n",
        "wbslib.sweep.run -> wbslib.paper",
    ),
    "report-imports-io-lazily": (
        "report/html.py",
        "def _outside_core():\n    import wbslib.io.truth  # noqa\n",
        "wbslib.report.html -> wbslib.io",
    ),
    "root-init-imports-sweep": (
        "__init__.py",
        "def _sweep():\n    import wbslib.sweep.run  # noqa\n",
        "wbslib -> wbslib.sweep",
    ),
}


@pytest.mark.parametrize("case", sorted(_VIOLATIONS))
def test_contracts_catch_an_injected_violation(tmp_path, case):
    """The same contracts, run on a copy of the package with one forbidden import added, fail."""
    rel, code, chain = _VIOLATIONS[case]
    copy = _copy_package(tmp_path)
    target = copy / rel
    target.write_text(target.read_text() + "\n\n" + code)

    result = _lint_imports(tmp_path, {"PYTHONPATH": str(tmp_path)})
    report = result.stdout + result.stderr
    assert result.returncode != 0, f"import-linter passed a copy with {case!r} injected:\n{report}"
    assert "BROKEN" in report, report
    # The injected import is named, so the copy (not the installed package) was analysed.
    assert chain in report, f"expected the chain {chain!r} in the report:\n{report}"


# --------------------------------------------------------------------------- import probes

_PROBE = r'''
import importlib, json, pkgutil, sys

spec = json.loads(sys.argv[1])
forbidden = tuple(spec["forbidden"])
first_chain = {}   # forbidden prefix -> wbslib frames (module:line), outermost first
current = [None]   # the module the probe itself is importing


def _matches(name):
    return [p for p in forbidden if name == p or name.startswith(p + ".")]


class _Spy:
    """Records the wbslib frames on the stack when a forbidden module is first looked up."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        for prefix in _matches(name):
            if prefix in first_chain:
                continue
            frames, f = [], sys._getframe(1)
            nearest = None
            while f is not None:
                mod = f.f_globals.get("__name__", "")
                if nearest is None and not mod.startswith(("importlib", "_frozen_importlib")):
                    nearest = f"{mod}:{f.f_lineno}"
                if mod == "wbslib" or mod.startswith("wbslib."):
                    frames.append(f"{mod}:{f.f_lineno}")
                f = f.f_back
            frames.reverse()
            if nearest and (not frames or frames[-1] != nearest):
                frames.append(nearest)
            first_chain[prefix] = {"probe_import": current[0], "chain": frames + [name]}
        return None


sys.meta_path.insert(0, _Spy)

names = list(spec["modules"])
if spec["walk"]:
    for pkg_name in spec["modules"]:
        current[0] = pkg_name
        pkg = importlib.import_module(pkg_name)
        def _onerror(name):
            raise
        for info in pkgutil.walk_packages(pkg.__path__, pkg_name + ".", onerror=_onerror):
            names.append(info.name)
for name in names:
    current[0] = name
    importlib.import_module(name)

loaded = sorted(m for m in sys.modules if _matches(m))
print(json.dumps({"imported": names, "loaded": loaded, "chains": first_chain}))
'''


def _probe(modules: list[str], forbidden: list[str], *, walk: bool) -> dict:
    """Import `modules` (and with walk=True every submodule) in a fresh interpreter."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    spec = json.dumps({"modules": modules, "forbidden": forbidden, "walk": walk})
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, spec], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"importing {modules} failed:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _explain(found: dict) -> str:
    lines = [f"loaded: {', '.join(found['loaded'][:10])}{' ...' if len(found['loaded']) > 10 else ''}"]
    for prefix, info in found["chains"].items():
        lines.append(f"first import of {prefix} while importing {info['probe_import']}:")
        lines.extend(f"    {frame}" for frame in info["chain"])
    return "\n".join(lines)


def test_io_stats_readers_do_not_import_torch():
    """Reading DICOM, manifests and reader data and running the statistics never loads torch."""
    found = _probe(["wbslib.io", "wbslib.stats", "wbslib.readers"], ["torch"], walk=True)
    assert len(found["imported"]) > 3, found["imported"]  # the walk found the submodules
    assert not found["loaded"], "torch was imported:\n" + _explain(found)


CLINICAL_PATH = [
    "wbslib.cli",
    "wbslib.io.manifest",
    "wbslib.io.audit",
    "wbslib.enhance.infer",
    "wbslib.enhance.batch",
    "wbslib.enhance.baselines",
    "wbslib.metrics.measure",
    "wbslib.metrics.counts_check",
    "wbslib.io.imagesets",
]


def test_clinical_path_does_not_import_the_phantom():
    """Enhancing and measuring real scans never loads the simulation code."""
    found = _probe(CLINICAL_PATH, ["wbslib.phantom"], walk=False)
    assert not found["loaded"], "wbslib.phantom was imported:\n" + _explain(found)
