"""Self-supervised evaluation on standard scans alone: an unbiased estimate of a method's NRMSE
against the unknown noise-free 1x image, from binomial splits of the scan (no truth, no fast scan).

A standard scan holds Poisson counts N ~ Poisson(μ) per pixel (μ the noise-free 1x image). For a
speed s > 1, k ~ Binomial(N, 1/s) is an exact s-times-faster scan (Poisson(μ/s)) and the remainder
N − k ~ Poisson(μ(1 − 1/s)) is independent of k. A method enhances k into y (1x-equivalent counts,
a function of k only); r = (N − k)·s/(s − 1) is an independent 1x-equivalent reference with E r = μ
and Var r = μ·s/(s − 1) per pixel. By independence, E‖y − r‖² = ‖y − μ‖² + Σ Var r, and
F = Σ (N − k)·(s/(s − 1))² is an unbiased estimate of Σ Var r (the Poisson floor). Per view

    NRMSE_est = √( max(‖y − r‖² − F, 0) / (‖r‖² − F) ),

‖r‖² − F being the unbiased estimate of ‖μ‖²; the study's value is the mean over the views present
(the per-view definition of `wbslib.metrics.pixel.nrmse`, whose value ‖μ − y‖ / ‖μ‖ it estimates;
a view that is NaN, or whose reference holds no counts, is skipped). Valid for raw counts as
acquired (integers; not for images already filtered, resampled or corrected). Methods are callables
`(fast counts (views, rows, cols), s) → 1x-equivalent counts`: models, filters, the identity
(`raw_input`); this module never imports a model. Confidence intervals: percentile bootstrap over
studies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from wbslib.core.counts import check_speed, thin
from wbslib.core.errors import InvalidCountsError, ParamsError
from wbslib.core.repro import rng
from wbslib.core.scan import speed_label
from wbslib.io.imagesets import acquisition_paths, read_counts
from wbslib.io.truth import load_truth, truth_path
from wbslib.metrics.pixel import check_pair, nrmse

Enhancer = Callable[[np.ndarray, float], np.ndarray]
ERROR_COLUMNS = ("study_id", "speed", "method", "nrmse_est", "nrmse_truth")


def binomial_split(counts: np.ndarray, speed: float, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(fast, remainder) float32 (views, rows, cols): fast = Binomial(counts, 1/s), remainder =
    counts − fast; NaN where a view is missing. Non-integer counts → InvalidCountsError."""
    s = check_speed(speed)
    if not s > 1:
        raise ParamsError(f"A binomial split needs a speed factor > 1 (got {speed!r}); use e.g. 2 or 3.")
    counts = np.asarray(counts, np.float32)
    missing = ~np.isfinite(counts)
    whole = np.nan_to_num(counts, nan=0.0)
    if np.abs(whole - np.rint(whole)).max(initial=0.0) > 1e-3:
        raise InvalidCountsError(
            "The standard scan to split holds non-integer counts; the self-supervised estimate needs raw "
            "photon counts as acquired (not a filtered, resampled or corrected image)."
        )
    integer = np.rint(whole).astype(np.int64)
    fast = thin(integer, s, gen)
    out = fast.astype(np.float32), (integer - fast).astype(np.float32)
    for a in out:
        a[missing] = np.nan
    return out


def estimated_nrmse(image: np.ndarray, remainder: np.ndarray, speed: float) -> float:
    """The unbiased estimate of `image`'s NRMSE against the noise-free 1x image from the split's
    remainder counts (formula in the module docstring); mean over the views present, NaN if none."""
    image, remainder = np.asarray(image, np.float64), np.asarray(remainder, np.float64)
    check_pair(image, remainder, "self-supervised NRMSE")
    c = float(speed) / (float(speed) - 1.0)
    values = []
    for y, rest in zip(image, remainder):
        if not (np.isfinite(y).all() and np.isfinite(rest).all()):
            continue
        r = rest * c
        floor = float(rest.sum()) * c * c
        norm = float(np.square(r).sum()) - floor
        if norm > 0:
            values.append(np.sqrt(max(float(np.square(y - r).sum()) - floor, 0.0) / norm))
    return float(np.mean(values)) if values else float("nan")


def raw_input(fast: np.ndarray, speed: float) -> np.ndarray:
    """The identity 'method': the fast counts in 1x-equivalent counts (× s)."""
    return np.asarray(fast, np.float32) * np.float32(speed)


def standard_scans(
    manifest: pd.DataFrame, data_root: str | Path, split: str | None = "test", max_studies: int | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """(study_id, standard counts) of the manifest's standard scans in `split` (None: every split),
    by study id, read one at a time."""
    splits = sorted(manifest["split"].dropna().unique()) if split is None else [split]
    paths = {sid: p for name in splits for sid, p in acquisition_paths(manifest, name, "standard").items()}
    for sid in sorted(paths)[:max_studies]:
        yield sid, read_counts(data_root, paths[sid])


def truth_loader(data_root: str | Path) -> Callable[[str], np.ndarray | None]:
    """study_id → its standard scan's noise-free expected counts (phantom truth), None without truth."""
    root = Path(data_root)

    def truth(study_id: str) -> np.ndarray | None:
        if not truth_path(root, study_id, 1.0).is_file():
            return None
        return np.asarray(load_truth(root, study_id, 1.0)["expected"], np.float32)

    return truth


def selfsupervised_errors(
    scans: Iterable[tuple[str, np.ndarray]],
    methods: Mapping[str, Enhancer],
    speed: float,
    seed: int,
    *,
    max_studies: Mapping[str, int] | None = None,
    truth: Callable[[str], np.ndarray | None] | None = None,
) -> pd.DataFrame:
    """One row per study × method (`ERROR_COLUMNS`): each standard scan split at `speed` with
    rng(seed, 'selfsupervised', study, speed label) — the same split for every method — the fast part
    enhanced by each method, `nrmse_est` against the remainder; `nrmse_truth` against `truth(study)`
    (NaN without it). `max_studies` limits a method (e.g. BM3D) to the first n studies."""
    rows = []
    for i, (study_id, counts) in enumerate(scans):
        fast, remainder = binomial_split(counts, speed, rng(seed, "selfsupervised", study_id, speed_label(speed)))
        reference = truth(study_id) if truth is not None else None
        for name, method in methods.items():
            limit = (max_studies or {}).get(name)
            if limit is not None and i >= limit:
                continue
            image = np.asarray(method(fast, float(speed)), np.float32)
            rows.append(
                {
                    "study_id": study_id,
                    "speed": speed_label(speed),
                    "method": name,
                    "nrmse_est": estimated_nrmse(image, remainder, speed),
                    "nrmse_truth": nrmse(image, reference) if reference is not None else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(ERROR_COLUMNS))


def _bootstrap_means(values: np.ndarray, gen: np.random.Generator, n_boot: int) -> np.ndarray:
    """Means of `n_boot` resamples (with replacement) of the rows of `values` (studies × columns)."""
    idx = gen.integers(0, len(values), size=(n_boot, len(values)))
    return values[idx].mean(axis=1)


def bootstrap_summary(
    errors: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per speed and method: studies, mean estimated NRMSE with its percentile-bootstrap CI over
    studies, mean true NRMSE (NaN without truth) and, where `reference` maps the speed label to a
    method (e.g. {'2x': '2x-gauss'}), the method's mean relative to the reference's
    (`vs_reference_pct`, %; negative = lower error) with a paired bootstrap CI (`vs_ci_low`,
    `vs_ci_high`) over the studies both hold."""
    if not 0 < level < 1 or n_boot < 1:
        raise ParamsError(f"Bootstrap level {level!r} must lie in (0, 1) and n_boot {n_boot!r} be ≥ 1.")
    tails = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    rows = []
    for speed, at_speed in errors.groupby("speed", sort=False):
        table = at_speed.pivot(index="study_id", columns="method", values="nrmse_est")
        ref = (reference or {}).get(speed)
        for method, group in at_speed.groupby("method", sort=False):
            values = group["nrmse_est"].to_numpy(float)
            boot = _bootstrap_means(values[:, None], rng(seed, "bootstrap", speed, method), n_boot)[:, 0]
            row = {
                "speed": speed,
                "method": method,
                "studies": len(values),
                "nrmse_est": values.mean(),
                "ci_low": np.percentile(boot, tails[0]),
                "ci_high": np.percentile(boot, tails[1]),
                "nrmse_truth": group["nrmse_truth"].mean(),
            }
            if ref in table.columns and method != ref:
                pair = table[[method, ref]].dropna().to_numpy(float)
                boot = _bootstrap_means(pair, rng(seed, "paired", speed, method), n_boot)
                change = 100 * (boot[:, 0] / boot[:, 1] - 1)
                row.update(
                    {
                        "reference": ref,
                        "vs_reference_pct": 100 * (pair[:, 0].mean() / pair[:, 1].mean() - 1),
                        "vs_ci_low": np.percentile(change, tails[0]),
                        "vs_ci_high": np.percentile(change, tails[1]),
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows)
