"""How a run's method departs from the paper's (docs/PAPER.md), in sentences for the findings box:
GAN and perceptual terms, training length, generator size, cohort, readers, LPIPS/FID.
"""

from __future__ import annotations

import pandas as pd

from wbslib.core.groups import STANDARD
from wbslib.paper.tables import PUBLISHED_PERFORMANCE

# The paper's method as paper.yaml sets it (docs/PAPER.md: 9 RRDB blocks, γ = 0.001, VGG19 Lp, 800 epochs)
PAPER_METHOD = {"nf": 64, "nb": 9, "gc": 32, "steps": 200_000, "gan": 0.001, "perceptual": "vgg19"}
PAPER_EPOCHS = 800
PAPER_PATIENTS = PUBLISHED_PERFORMANCE[STANDARD][0][1]  # 83


def departures(
    train: dict | None, *, n_patients: int, source: str, reads: pd.DataFrame, metrics: pd.DataFrame
) -> list[str]:
    """Sentences naming how this run's method differs from the paper's, from the `train` params
    section, the number of patients read, the cohort's `source` ('phantom' | 'clinical'), the reader
    kinds in `reads` and the LPIPS/FID values of `metrics` (NaN: weights missing)."""
    train, out = train or {}, []
    gan = (train.get("loss_weights") or {}).get("gan", PAPER_METHOD["gan"])
    if gan == 0:
        out.append(f"GAN term off (γ = 0; paper {PAPER_METHOD['gan']:g}).")
    elif gan != PAPER_METHOD["gan"]:
        out.append(f"GAN weight γ = {gan:g} (paper {PAPER_METHOD['gan']:g}).")
    perceptual = train.get("perceptual", PAPER_METHOD["perceptual"])
    if perceptual != PAPER_METHOD["perceptual"]:
        used = {
            "none": "off",
            "feature_matching": "discriminator feature matching",
            "auto": "VGG19 if its weights were cached, else discriminator feature matching (see 02)",
        }.get(perceptual, perceptual)
        out.append(f"Perceptual term: {used} (paper: VGG19 perceptual loss).")
    if train.get("steps") is not None and train["steps"] < PAPER_METHOD["steps"]:
        paper = f"paper.yaml: {PAPER_METHOD['steps']:,} for the paper's {PAPER_EPOCHS} epochs"
        out.append(f"{train['steps']:,} training steps ({paper}).")
    elif train.get("epochs") is not None and train["epochs"] < PAPER_EPOCHS:
        out.append(f"{train['epochs']} training epochs (paper: {PAPER_EPOCHS}).")
    size = {k: train.get(k, PAPER_METHOD[k]) for k in ("nf", "nb", "gc")}
    if any(size[k] != PAPER_METHOD[k] for k in size):
        ours, paper = (", ".join(f"{k} {d[k]}" for k in size) for d in (size, PAPER_METHOD))
        out.append(f"Generator size {ours} (paper: {paper}).")
    if source != "clinical" or n_patients != PAPER_PATIENTS:
        kind = "digital phantom patients" if source == "phantom" else f"{source} patients"
        out.append(f"{n_patients} {kind} (paper: {PAPER_PATIENTS} patients).")
    if "reader_kind" in reads and (reads["reader_kind"].astype(str) == "virtual").any():
        out.append("Virtual readers (model observers) instead of the paper's two clinicians and a senior adjudicator.")
    missing = [
        name.upper()
        for name in ("lpips", "fid")
        if not metrics.loc[metrics["metric"] == name, "value"].astype(float).notna().any()
    ]
    if missing:
        out.append(f"{' and '.join(missing)} not available (pretrained weights missing).")
    return out
