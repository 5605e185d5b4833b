"""Lesions inserted into scans: a location-known detection task for the observer's T1 check.

A normal patient's 1x counts get `N_SITES` reference lesions at bone sites of the thorax (rows
`THORAX` of the body's extent, where no bladder is), chosen from its noise-free truth: Gaussian
hot spots of σ `LESION_SIGMA_PX` (≈ 11 mm FWHM at 2.4 mm pixels) whose peak is `EXCESS` × the
local σ 3 px truth level, added as Poisson counts to the anterior view *before* any thinning, so
each speed class sees them through its own noise. The observer's response at a site is its
highest candidate score within `REACH_PX` (the image's lowest candidate score when no candidate
is there), and the location-known detectability is d′ = √2 Φ⁻¹(AUC) of the responses at the
sites with versus without the lesion (binormal, equal variances; AUC capped at 0.999).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from wbslib.readers.candidates import BODY_LEVEL, BONE_FACTOR, ImageFeatures
from wbslib.readers.observer import NO_CANDIDATE, Observer

N_SITES = 8
LESION_SIGMA_PX = 2.0
EXCESS = 0.5
REACH_PX = 3.0
THORAX = (0.15, 0.45)  # fraction of the body's extent, head → feet


def insertion_sites(truth: np.ndarray, gen: np.random.Generator, n: int = N_SITES) -> list[tuple[int, int]]:
    """(row, col) of `n` distinct bone pixels of the thorax in the anterior view of `truth`."""
    level = ndimage.gaussian_filter(np.nan_to_num(truth[0]).astype(np.float64), 3.0)
    body = level > BODY_LEVEL * np.percentile(level, 99)
    rows = np.flatnonzero(body.any(axis=1))
    top, bottom = rows.min(), rows.max()
    band = np.zeros_like(body)
    band[int(top + THORAX[0] * (bottom - top)) : int(top + THORAX[1] * (bottom - top))] = True
    r, c = np.nonzero(band & body & (level > BONE_FACTOR * np.median(level[body])))
    chosen = gen.choice(len(r), size=min(n, len(r)), replace=False)
    return [(int(r[i]), int(c[i])) for i in chosen]


def insert_lesions(
    counts: np.ndarray, truth: np.ndarray, sites: list[tuple[int, int]], gen: np.random.Generator
) -> np.ndarray:
    """The 1x counts (float64) with a reference lesion's Poisson counts added at every site (ANT)."""
    level = ndimage.gaussian_filter(np.nan_to_num(truth[0]).astype(np.float64), 3.0)
    rows, cols = np.mgrid[: counts.shape[1], : counts.shape[2]]
    excess = np.zeros(counts.shape[1:])
    for r, c in sites:
        excess += EXCESS * level[r, c] * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * LESION_SIGMA_PX**2))
    out = np.asarray(counts, np.float64).copy()
    out[0] += gen.poisson(excess)
    return out


def site_responses(observer: Observer, feats: ImageFeatures, sites: list[tuple[int, int]]) -> list[float]:
    """The observer's highest candidate score within REACH_PX of each site (ANT view)."""
    if not len(feats.features):
        return [NO_CANDIDATE] * len(sites)
    scores = observer.scores(feats)
    out = []
    for r, c in sites:
        near = (feats.where[:, 0] == 0) & (np.hypot(feats.where[:, 1] - r, feats.where[:, 2] - c) <= REACH_PX)
        out.append(float(scores[near].max() if near.any() else scores.min()))
    return out


def detectability(present: list[float], absent: list[float]) -> float:
    """d′ = √2 Φ⁻¹(AUC) of responses with versus without the lesion (AUC within [0.001, 0.999])."""
    auc = roc_auc_score([1] * len(present) + [0] * len(absent), [*present, *absent])
    return float(np.sqrt(2.0) * norm.ppf(np.clip(auc, 0.001, 0.999)))
