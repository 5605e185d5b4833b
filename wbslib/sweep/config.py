"""The speed sweep's parameters (`sweep:` section of a params file), checked before any work starts.

Keys (defaults in `DEFAULTS`):
- `speeds`: speed factors to sweep, each > the reference (default 1.5 … 4 in steps of 0.5);
- `reference`: the standard scan the sweep compares against; only 1 (the cohort's 1x scans);
- `margin_auc` (AUC units, default 0.05), `margin_sensitivity`, `margin_specificity` (proportions,
  default 0.10): non-inferiority margins; `alpha`: one-sided level (default 0.025, i.e. the lower
  end of the two-sided 95 % CI must lie above −margin);
- `model_strategy`: 'per-speed' (one model per speed and mode, `wbslib.enhance.training.loop.train_model`) or
  'mixed' (one model per mode trained on all swept speeds, the speed folded into the input
  normalisation counts · s / C, `wbslib.sweep.models`);
- `modes`: which models to train and evaluate ('real', 'simu');
- `train`: overrides of the `train` section for the sweep's models (e.g. fewer steps);
- `compare_strategies`: speeds (from `speeds`) at which both strategies are trained and compared
  on the validation patients (empty: no comparison);
- `strip_study`: study shown across speeds in the image strip (None: the first metastatic test
  patient);
- `max_studies`: evaluate at most this many test patients, half metastatic (None: all);
- `enhance_thinned`: also enhance the thinned (simu) fast scans with the simu model.
"""

from __future__ import annotations

import math

from wbslib.core.counts import check_speed
from wbslib.core.errors import ParamsError
from wbslib.core.groups import MODES
from wbslib.core.params import section
from wbslib.core.scan import speed_label

DEFAULTS = {
    "speeds": [1.5, 2, 2.5, 3, 3.5, 4],
    "reference": 1,
    "margin_auc": 0.05,
    "margin_sensitivity": 0.10,
    "margin_specificity": 0.10,
    "alpha": 0.025,
    "model_strategy": "per-speed",
    "modes": ["real", "simu"],
    "train": {},
    "compare_strategies": [2, 3],
    "strip_study": None,
    "max_studies": None,
    "enhance_thinned": True,
}
STRATEGIES = ("per-speed", "mixed")
MARGIN_MAX = {"margin_auc": 0.5, "margin_sensitivity": 1.0, "margin_specificity": 1.0}


def _number(value, key: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out):
        raise ParamsError(f"sweep.{key} = {value!r} is not a number; fix it in the params file's sweep section.")
    return out


def _speeds(values, key: str, reference: float) -> list[float]:
    if not isinstance(values, (list, tuple)):
        raise ParamsError(f"sweep.{key} = {values!r} is not a list of speed factors such as [1.5, 2, 2.5].")
    speeds = sorted({check_speed(s, f"sweep.{key} speed factor") for s in values})
    if len({speed_label(s) for s in speeds}) != len(speeds):
        raise ParamsError(f"sweep.{key} {values!r} holds speed factors with the same label; keep them distinct.")
    if speeds and speeds[0] <= reference:
        raise ParamsError(
            f"sweep.{key} holds {speed_label(speeds[0])}, not faster than the reference "
            f"{speed_label(reference)}; list only speed factors above it."
        )
    return speeds


def _margins(cfg: dict) -> None:
    for key, high in MARGIN_MAX.items():
        cfg[key] = _number(cfg[key], key)
        if not 0 < cfg[key] < high:
            raise ParamsError(
                f"sweep.{key} = {cfg[key]!r} must lie in (0, {high}); a non-inferiority margin "
                "is a positive difference, e.g. 0.05 for AUC or 0.10 for sensitivity."
            )
    cfg["alpha"] = _number(cfg["alpha"], "alpha")
    if not 0 < cfg["alpha"] < 0.5:
        raise ParamsError(f"sweep.alpha = {cfg['alpha']!r} must lie in (0, 0.5); use 0.025 (one-sided).")


def sweep_config(params: dict) -> dict:
    """The `sweep` section with defaults filled in and every value checked (`ParamsError` otherwise).

    Speed lists come back sorted as floats; margins and alpha as floats.
    """
    cfg = section(params, "sweep", DEFAULTS)
    reference = check_speed(cfg["reference"], "sweep.reference speed factor")
    if reference != 1.0:
        raise ParamsError(
            f"sweep.reference = {cfg['reference']!r}; the reference must be the standard 1x scan "
            "of the cohort, set reference: 1."
        )
    cfg["reference"] = reference
    cfg["speeds"] = _speeds(cfg["speeds"], "speeds", reference)
    if not cfg["speeds"]:
        raise ParamsError("sweep.speeds is empty; list the speed factors to test, e.g. [1.5, 2, 2.5, 3].")
    cfg["compare_strategies"] = _speeds(cfg["compare_strategies"] or [], "compare_strategies", reference)
    missing = [speed_label(s) for s in cfg["compare_strategies"] if s not in cfg["speeds"]]
    if missing:
        raise ParamsError(
            f"sweep.compare_strategies names {', '.join(missing)}, which sweep.speeds lacks; "
            "compare the strategies only at swept speeds."
        )
    _margins(cfg)
    if cfg["model_strategy"] not in STRATEGIES:
        raise ParamsError(f"sweep.model_strategy = {cfg['model_strategy']!r} is not one of {', '.join(STRATEGIES)}.")
    modes = cfg["modes"]
    if not isinstance(modes, (list, tuple)) or not modes or set(modes) - set(MODES) or len(set(modes)) != len(modes):
        raise ParamsError(f"sweep.modes = {modes!r} must be a non-empty list drawn from {', '.join(MODES)}.")
    cfg["modes"] = [m for m in MODES if m in modes]
    if not isinstance(cfg["train"], dict):
        raise ParamsError(f"sweep.train = {cfg['train']!r} must be a mapping of train settings (e.g. steps: 200).")
    max_studies = cfg["max_studies"]
    if max_studies is not None and (
        isinstance(max_studies, bool) or not isinstance(max_studies, int) or max_studies < 4
    ):
        raise ParamsError(
            f"sweep.max_studies = {max_studies!r} must be null (all test patients) or a whole number "
            "≥ 4 (an AUC needs at least 2 metastatic and 2 other patients)."
        )
    if not isinstance(cfg["enhance_thinned"], bool):
        raise ParamsError(f"sweep.enhance_thinned = {cfg['enhance_thinned']!r} must be true or false.")
    if cfg["strip_study"] is not None and not isinstance(cfg["strip_study"], str):
        raise ParamsError(f"sweep.strip_study = {cfg['strip_study']!r} must be a study id such as PH0002, or null.")
    return cfg


def training_params(params: dict, cfg: dict, data_root: str, manifest: str) -> dict:
    """A params dict for `wbslib.enhance.training.loop` on a sweep data root: the `train` section with the sweep's
    overrides, `data_root` and `manifest` replaced (models are given one by one, not listed)."""
    train = {k: v for k, v in (params.get("train") or {}).items() if k != "models"}
    return {**params, "data_root": str(data_root), "manifest": str(manifest), "train": {**train, **cfg["train"]}}
