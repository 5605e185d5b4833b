"""Training data: fast → standard patch pairs for the 'real', 'simu' and 'split' models.

`load_training_pairs` reads the manifest's scans of one split into memory; `PatchPairDataset` turns
them into random patches; `StepSampler` hands out global sample indices from a given step on.
Every random draw of sample g (patch position, flips, thinning or splitting) comes from
`wbslib.core.repro.rng(seed, mode, 'sample', epoch, k)` with (epoch, k) = divmod(g, items per epoch), so a
sample is a pure function of its index: resumed runs, DataLoader workers and DDP ranks all see
exactly the data an uninterrupted single-process run sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from wbslib.core.counts import thin
from wbslib.core.errors import ParamsError, TrainingDataError
from wbslib.core.groups import MODES
from wbslib.core.masks import bladder_mask
from wbslib.core.repro import rng
from wbslib.core.scan import speed_label
from wbslib.enhance import preprocess
from wbslib.io.imagesets import acquisition_paths, read_counts

STANDARD_ONLY = ("simu", "split")  # modes trained on standard scans alone (no fast scan, no registration)


@dataclass
class TrainingPair:
    """One patient's standard (1x) scan and, for mode real, its fast scan at `speed_factor`.

    Counts float32 (2, rows, cols) (ANT, POST), NaN for a missing view.
    """

    study_id: str
    standard: np.ndarray
    speed_factor: float
    fast: np.ndarray | None = None
    source_paths: tuple[str, ...] = field(default_factory=tuple)


def select_pairs(
    manifest: pd.DataFrame, mode: str, speed: float, split: str = "train", manifest_path: str = "the manifest"
) -> list[tuple[str, list[str], list[str] | None]]:
    """(study_id, standard paths, fast paths or None) per study of `split` usable for `mode`.

    Mode 'real' needs a standard scan and a fast-real scan at `speed` of the same study; modes
    'simu' and 'split' need standard scans only. No usable study → TrainingDataError.
    """
    if mode not in MODES:
        raise TrainingDataError(f"Training mode '{mode}' in the params is not one of {MODES}; fix train.models.")
    standard = acquisition_paths(manifest, split, "standard")
    if not standard:
        raise TrainingDataError(
            f"{manifest_path} lists no standard (1x) scans in split '{split}', so no "
            f"{mode}-mode pairs can be formed; add standard scans or fix the split column."
        )
    if mode in STANDARD_ONLY:
        return [(sid, paths, None) for sid, paths in standard.items()]
    fast = acquisition_paths(manifest, split, "fast-real", speed)
    pairs = [(sid, standard[sid], paths) for sid, paths in fast.items() if sid in standard]
    if not pairs:
        raise TrainingDataError(
            f"{manifest_path} has no study in split '{split}' with both a standard scan and a "
            f"fast-real {speed_label(speed)} scan; mode real needs such pairs (or train mode split or simu)."
        )
    return pairs


def load_training_pairs(
    manifest: pd.DataFrame,
    data_root: str | Path,
    mode: str,
    speed: float,
    split: str = "train",
    manifest_path: str = "the manifest",
) -> list[TrainingPair]:
    """Read the scans of `select_pairs` (paths relative to `data_root`) with `wbslib.io.dicom`."""
    out = []
    for sid, std_paths, fast_paths in select_pairs(manifest, mode, speed, split, manifest_path):
        fast = read_counts(data_root, fast_paths) if fast_paths else None
        out.append(
            TrainingPair(
                sid, read_counts(data_root, std_paths), float(speed), fast, tuple(std_paths + (fast_paths or []))
            )
        )
    return out


@dataclass
class _Item:
    """One (pair, view) the dataset draws patches from, with what is precomputed for it."""

    standard: np.ndarray  # (rows, cols) counts
    fast: np.ndarray | None  # (rows, cols) counts (mode real)
    keep: np.ndarray  # (rows, cols) bool: False where the loss ignores pixels (bladder)
    cdf: np.ndarray  # cumulative patch-centre weights, flattened
    ratio: float  # count-level factor fast → standard (mode real)


class PatchPairDataset(Dataset):
    """Random (input, target, keep-mask) patches, each (1, P, P) float32, in model scale.

    mode 'simu': input = thin(standard, s) · s / C, freshly thinned for every sample; target = standard / C
    (it contains the input's counts, so the L1/L2 optimum keeps part of the input's noise).
    mode 'split': the same fresh binomial split k = thin(standard, s); input = k · s / C, target =
    (standard − k) · s/(s − 1) / C — the remainder, 1x-equivalent, whose Poisson noise is independent
    of the input's and whose expectation is the noise-free image (needs s > 1).
    mode 'real': input = registered fast patch · r / C (r = robust count ratio, bladder excluded),
    target = standard / C (`preprocess.registered_pair`: whole-pixel shift of the fast counts, the
    sub-pixel rest on the standard), keep-mask False on the bladder of either scan.
    Index g is a global sample number (see module docstring); `len()` is one epoch's items.
    """

    def __init__(
        self,
        pairs: list[TrainingPair],
        *,
        mode: str,
        speed_factor: float,
        patch_size: int,
        seed: int,
        count_scale: float,
    ):
        if mode not in MODES:
            raise TrainingDataError(f"Training mode '{mode}' is not one of {MODES}; fix train.models.")
        if not pairs:
            raise TrainingDataError(f"No training pairs for mode {mode}; check the manifest's train split.")
        self.mode, self.s, self.seed, self.scale = mode, float(speed_factor), int(seed), float(count_scale)
        if mode == "split" and not self.s > 1:
            raise ParamsError(f"Mode split needs a speed factor > 1 (got {speed_factor!r}); fix train.models.")
        self.patch_size = preprocess.check_patch_size(patch_size, pairs[0].standard.shape[-2:])
        self.items = [item for pair in pairs for item in self._items(pair)]
        if not self.items:
            raise TrainingDataError(f"No view with finite counts in the {mode} training pairs; check the scans.")

    def _items(self, pair: TrainingPair) -> list[_Item]:
        if self.mode == "real" and pair.fast is None:
            raise TrainingDataError(f"Study {pair.study_id} has no fast scan; mode real needs fast/standard pairs.")
        ok = [
            v
            for v in range(pair.standard.shape[0])
            if np.isfinite(pair.standard[v]).all() and (pair.fast is None or np.isfinite(pair.fast[v]).all())
        ]
        if not ok:
            return []
        if self.mode in STANDARD_ONLY:
            keep = np.ones(pair.standard.shape[-2:], bool)
            return [
                _Item(pair.standard[v], None, keep, np.cumsum(preprocess.patch_weights(pair.standard[v])), 1.0)
                for v in ok
            ]
        excluded = bladder_mask(pair.standard) | bladder_mask(pair.fast)
        ratio = preprocess.count_ratio(pair.fast[ok], pair.standard[ok], excluded[ok])
        return [
            _Item(
                pair.standard[v],
                pair.fast[v],
                ~excluded[v],
                np.cumsum(preprocess.patch_weights(pair.standard[v])),
                ratio,
            )
            for v in ok
        ]

    def __len__(self) -> int:
        return len(self.items)

    def locate(self, index: int) -> tuple[int, int, int]:
        """(epoch, position in the epoch, item) of global sample `index` (items shuffled per epoch)."""
        epoch, k = divmod(int(index), len(self.items))
        order = rng(self.seed, self.mode, "order", epoch).permutation(len(self.items))
        return epoch, k, int(order[k])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, k, i = self.locate(index)
        item, size = self.items[i], self.patch_size
        gen = rng(self.seed, self.mode, "sample", epoch, k)
        top, left = preprocess.sample_patch(item.cdf, item.standard.shape, size, gen)
        keep = item.keep[top : top + size, left : left + size]
        if self.mode in STANDARD_ONLY:
            target = item.standard[top : top + size, left : left + size]
            counts = thin(np.rint(target).astype(np.int32), self.s, gen)
            fast = counts.astype(np.float32) * np.float32(self.s)
            if self.mode == "split":
                target = (np.rint(target) - counts).astype(np.float32) * np.float32(self.s / (self.s - 1.0))
        else:
            fast, target, _ = preprocess.registered_pair(item.fast, item.standard, top, left, size)
            fast = fast * np.float32(item.ratio)
        fast, target, keep = preprocess.random_flips([fast, target, keep], gen)
        return self._scaled(fast), self._scaled(target), torch.from_numpy(keep.astype(np.float32))[None]

    def _scaled(self, counts: np.ndarray) -> torch.Tensor:
        """(P, P) counts (already at the standard's level) → (1, P, P) model-scale tensor (÷ C)."""
        return torch.from_numpy(np.asarray(counts, np.float32) / np.float32(self.scale))[None]


class StepSampler(Sampler[int]):
    """Global sample indices for steps [start_step, steps): rank r of `world_size` takes its share.

    Step t's global batch is samples t·B … t·B + B − 1 with B = batch_size · world_size; rank r
    takes the r-th slice of `batch_size`, so DDP with batch b per rank sees the samples of a
    single process with batch b · world_size.
    """

    def __init__(self, start_step: int, steps: int, batch_size: int, rank: int = 0, world_size: int = 1):
        self.start, self.steps, self.b, self.rank, self.world = start_step, steps, batch_size, rank, world_size

    def __iter__(self):
        global_batch = self.b * self.world
        for step in range(self.start, self.steps):
            base = step * global_batch + self.rank * self.b
            yield from range(base, base + self.b)

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.b
