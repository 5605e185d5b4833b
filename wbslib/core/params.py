"""Run parameters: one YAML file per run (papermill `-f`), paths relative to the project root.

Top-level keys shared by all notebooks: `run` (name → runs/<run>/, reports/<run>/), `seed`,
`device` ('auto' = CUDA if present), `data_root`, `manifest`, `notebooks` (what `wbs run`
executes, in order). Each notebook reads its own section (`SECTIONS`: `cohort`, `train`, `enhance`,
...) through its config function, which rejects unknown keys via `section`; `load_params` rejects
unknown top-level keys. Either way the closest valid key is suggested.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import yaml

from wbslib.core.errors import ParamsError


def project_root() -> Path:
    """The repository root: $WBS_ROOT, else the nearest folder above cwd holding pyproject.toml.

    Notebooks run from notebooks/ in JupyterLab and from the root under papermill; resolving
    paths against this root makes both give the same result.
    """
    if os.environ.get("WBS_ROOT"):
        return Path(os.environ["WBS_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "wbslib").is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def resolve_path(path: str | os.PathLike) -> Path:
    """An absolute path: absolute paths and ~ as given, relative ones against `project_root()`.

    `$WBS_DATA` in a path is replaced by that environment variable (default 'data').
    """
    text = str(path).replace("$WBS_DATA", os.environ.get("WBS_DATA", "data"))
    p = Path(text).expanduser()
    return p if p.is_absolute() else project_root() / p


TOP_LEVEL_KEYS = ("run", "seed", "device", "data_root", "manifest", "notebooks")
SECTIONS = ("cohort", "audit", "train", "enhance", "readers", "statistics", "sweep")


def unknown_keys(given, allowed, where: str) -> None:
    """ParamsError naming every key of `given` that `allowed` lacks, each with the closest allowed key."""
    unknown = sorted(set(given) - set(allowed), key=str)
    if unknown:
        hints = [
            f"{k!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(str(k), [str(a) for a in allowed], 1))
            else repr(k)
            for k in unknown
        ]
        raise ParamsError(f"Unknown key(s) {', '.join(hints)} in {where}; allowed: {', '.join(sorted(allowed))}.")


def load_params(path: str | os.PathLike) -> dict:
    """Read a params YAML file into a dict; a named error if it is missing, a folder, unreadable, not a
    mapping, has no 'run', holds a top-level key beyond `TOP_LEVEL_KEYS` and `SECTIONS`, or a seed
    that is not a whole number ≥ 0."""
    p = resolve_path(path)
    if not p.exists():
        raise ParamsError(f"Params file {p} does not exist; pass a file from notebooks/params/.")
    if p.is_dir():
        raise ParamsError(f"Params file {p} is a folder; pass a YAML file such as notebooks/params/demo.yaml.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"Params file {p} is not valid YAML ({exc.__class__.__name__}); fix its syntax.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(
            f"Params file {p} cannot be read ({exc.__class__.__name__}); pass a readable UTF-8 YAML file."
        ) from exc
    if not isinstance(data, dict) or "run" not in data:
        raise ParamsError(f"Params file {p} must be a YAML mapping with at least a 'run' name.")
    unknown_keys(data, (*TOP_LEVEL_KEYS, *SECTIONS), f"params file {p} (top level)")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"Params file {p}: seed {seed!r} is not a whole number ≥ 0; set e.g. seed: 7.")
    return data


def run_dir(run: str) -> Path:
    """runs/<run>/ under the project root (created)."""
    d = resolve_path(Path("runs") / run)
    d.mkdir(parents=True, exist_ok=True)
    return d


def report_dir(run: str) -> Path:
    """reports/<run>/ under the project root (created)."""
    d = resolve_path(Path("reports") / run)
    d.mkdir(parents=True, exist_ok=True)
    return d


def resolve_device(device: str = "auto") -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is a named error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"device '{device}' was requested but no CUDA GPU is visible; use 'auto' or 'cpu'.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ParamsError(f"device '{device}' is not one of auto, cpu, cuda, cuda:N.")
    return device


def section(params: dict, name: str, defaults: dict) -> dict:
    """params[name] with `defaults` filled in; ParamsError when it is not a mapping or holds a key
    that `defaults` does not name (the closest valid key is suggested)."""
    given = params.get(name)
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ParamsError(f"params '{name}' must be a mapping of settings, not {type(given).__name__}.")
    unknown_keys(given, defaults, f"params '{name}'")
    return {**defaults, **given}


DEMO_PARAMS = Path(__file__).resolve().parents[2] / "notebooks" / "params" / "demo.yaml"


def notebook_default(name: str, params_file: str | os.PathLike = DEMO_PARAMS):
    """The value of top-level key `name` in `params_file` (default demo.yaml).

    The default file is the one beside the notebooks of this repository, whatever `$WBS_ROOT` says.
    A notebook's `parameters` cell takes each default from here (`run = notebook_default("run")`, one
    line per key, so papermill still sees the names), so they cannot drift from the params file;
    papermill's injected cell then overrides them. ParamsError for a missing key.
    """
    params = load_params(params_file)
    if name not in params:
        raise ParamsError(
            f"Params file {resolve_path(params_file)} has no top-level key {name!r}; "
            "add it there or drop it from the notebook's parameters cell."
        )
    return params[name]
