"""What notebook 02 shows about a training run: loss curves, validation metrics beside the raw input
and the best Gaussian filter, which training mode wins at each speed, and a validation gallery
(input / output / standard / truth).

Images are in 1x-equivalent counts; the reference is the phantom's noise-free truth where it
exists (else the standard scan, and the tables say so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from wbslib.core.masks import body_mask
from wbslib.core.params import resolve_path
from wbslib.core.scan import speed_label
from wbslib.core.text import counted, listed, signed_percent
from wbslib.enhance.checkpoint import load_generator
from wbslib.enhance.losses import resolve_perceptual
from wbslib.enhance.training.loop import model_name
from wbslib.enhance.training.validation import (
    best_gaussian,
    enhance,
    load_val_cases,
    raw_input,
)
from wbslib.io.manifest.schema import read_manifest

LOSS_TERMS = ("g_total", "l1", "l2", "bce", "perceptual", "gan", "d_total")


def perceptual_banner(train: dict) -> str:
    """Prominent lines saying which perceptual term (VGG19, discriminator feature matching or none;
    'auto' resolved as training resolves it) and whether the GAN term were part of the loss."""
    requested = train.get("perceptual", "vgg19")
    used, why = resolve_perceptual(requested)
    lines = [why] if requested == "auto" else []
    if used == "none":
        lines.append(
            "PERCEPTUAL TERM OFF (train.perceptual = none): the models were trained WITHOUT the paper's "
            "VGG19 perceptual loss Lp."
        )
    elif used == "feature_matching":
        lines.append(
            "PERCEPTUAL TERM = DISCRIMINATOR FEATURE MATCHING (pix2pixHD), the offline stand-in for the paper's "
            "VGG19 Lp (no ImageNet weights needed)."
        )
    else:
        lines.append("Perceptual term on: Lp on VGG19 features is part of the loss, as in the paper.")
    if float((train.get("loss_weights") or {}).get("gan", 0.001)) == 0.0:
        lines.append(
            "GAN TERM OFF (train.loss_weights.gan = 0): the generator was trained on λ·L1 + η·BCE only; "
            "the discriminator, which could not steer it, was neither run nor trained."
        )
    return "\n".join(lines)


def load_logs(run_dir: str | Path, models: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(losses, val) of every model, stacked, with a 'model' column ('simu-2x', ...)."""
    losses, val = [], []
    for spec in models:
        folder = Path(run_dir) / "train" / model_name(spec)
        losses.append(pd.read_csv(folder / "losses.csv").assign(model=model_name(spec)))
        val.append(pd.read_csv(folder / "val.csv").assign(model=model_name(spec)))
    return pd.concat(losses, ignore_index=True), pd.concat(val, ignore_index=True)


def loss_figure(losses: pd.DataFrame, smooth: int = 10) -> Figure:
    """One panel per loss term (running mean over `smooth` steps), one line per model."""
    terms = [t for t in LOSS_TERMS if t in losses.columns and losses[t].notna().any()]
    fig = Figure(figsize=(3.2 * len(terms), 2.8))
    axes = fig.subplots(1, len(terms), squeeze=False)
    for ax, term in zip(axes[0], terms):
        for name, group in losses.groupby("model", sort=False):
            ax.plot(group["step"], group[term].rolling(smooth, min_periods=1).mean(), label=name)
        ax.set_title(term)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def validation_table(params: dict, run_dir: str | Path, val: pd.DataFrame) -> pd.DataFrame:
    """Per model, at its last validation: the model's, the raw input's and the best Gaussian's (σ
    tuned on the same val patients) mean L1 and NRMSE against the reference, which of them is lowest,
    and the standard 1x scan's against its own truth (the noise level of a standard scan)."""
    manifest = read_manifest(resolve_path(params["manifest"]))
    rows = []
    for spec in params["train"]["models"]:
        name = model_name(spec)
        last = val[(val["model"] == name) & (val["step"] == val.loc[val["model"] == name, "step"].max())]
        gauss = best_gaussian(
            load_val_cases(manifest, resolve_path(params["data_root"]), float(spec["speed"]), int(params["seed"]))
        )
        l1 = {"model": last["l1"].mean(), "raw input": last["l1_input"].mean(), gauss["method"]: gauss["l1"]}
        rows.append(
            {
                "model": name,
                "mode": spec["mode"],
                "speed": speed_label(float(spec["speed"])),
                "step": int(last["step"].iloc[0]),
                "reference": "/".join(sorted(set(last["reference"]))),
                "L1 model": l1["model"],
                "L1 raw input": l1["raw input"],
                "L1 best Gaussian": gauss["l1"],
                "Gaussian σ px": gauss["sigma_px"],
                "L1 standard 1x": last["l1_standard"].mean(),
                "NRMSE model": last["nrmse"].mean(),
                "NRMSE raw input": last["nrmse_input"].mean(),
                "NRMSE best Gaussian": gauss["nrmse"],
                "NRMSE standard 1x": last["nrmse_standard"].mean(),
                "lowest L1": min(l1, key=l1.get),
            }
        )
    return pd.DataFrame(rows).round(4)


def _crop(view: np.ndarray, rows: int) -> tuple[slice, slice]:
    """`rows` rows from a quarter down the body (chest, spine), all columns."""
    body = np.flatnonzero(body_mask(view).any(axis=1))
    top = int(body[0] + 0.25 * (body[-1] - body[0])) if body.size else 0
    top = min(top, view.shape[0] - rows)
    return slice(top, top + rows), slice(None)


def gallery_figure(
    params: dict, run_dir: str | Path, case_index: int = 0, rows: int = 256, device: str = "cpu"
) -> Figure:
    """For each model: input (raw × s), output, standard (1x) and reference of one val patient,
    anterior view, chest crop, all on one grey scale (black = most counts, 1x-equivalent)."""
    manifest = read_manifest(resolve_path(params["manifest"]))
    models = params["train"]["models"]
    fig = Figure(figsize=(9, 3.0 * len(models) * rows / 256))
    axes = fig.subplots(len(models), 4, squeeze=False)
    for row, spec in enumerate(models):
        model, meta = load_generator(Path(run_dir) / "checkpoints" / f"{model_name(spec)}.pt", device)
        if str(device).startswith("cuda"):
            model = model.to(memory_format=torch.channels_last)  # as in training: faster convolutions
        case = load_val_cases(manifest, resolve_path(params["data_root"]), float(spec["speed"]), int(params["seed"]))[
            case_index
        ]
        output = enhance(model, case.counts, case.speed_factor, meta["count_scale"], device)
        crop = _crop(case.standard[0], rows)
        panels = {
            f"input ({case.input_kind} ×{case.speed_factor:g})": raw_input(case),
            f"output {model_name(spec)}": output,
            "standard 1x": case.standard,
            f"reference ({case.reference_kind})": case.reference,
        }
        vmax = np.percentile(case.reference[0][crop], 99.5)
        for ax, (title, image) in zip(axes[row], panels.items()):
            ax.imshow(image[0][crop], cmap="gray_r", vmin=0, vmax=vmax)
            ax.set_title(f"{case.study_id} {title}", fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def validation_verdicts(table: pd.DataFrame) -> list[str]:
    """One sentence per model: its L1 beside the raw input's and the best Gaussian's, and which is lowest."""
    out = []
    for r in table.to_dict("records"):
        beats_raw = "below" if r["L1 model"] < r["L1 raw input"] else "NOT below"
        out.append(
            f"{r['model']}: validation L1 {r['L1 model']:.3f} counts/pixel is {beats_raw} the raw input's "
            f"{r['L1 raw input']:.3f}; the best Gaussian (σ {r['Gaussian σ px']:g} px, tuned on val) reaches "
            f"{r['L1 best Gaussian']:.3f} — lowest: {r['lowest L1']}; a standard 1x scan is "
            f"{r['L1 standard 1x']:.3f} from its own truth (reference: {r['reference']})."
        )
    return out


def mode_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """One row per speed from `validation_table`: each trained mode's validation NRMSE, the best
    Gaussian's, the winner (lowest NRMSE of the models and the Gaussian) and the best model's NRMSE
    relative to the Gaussian's (%; negative = better than the Gaussian)."""
    rows = []
    for speed, group in table.groupby("speed", sort=False):
        row = {"speed": speed, **{f"NRMSE {r['mode']}": r["NRMSE model"] for r in group.to_dict("records")}}
        gauss = float(group["NRMSE best Gaussian"].iloc[0])
        best = group.loc[group["NRMSE model"].idxmin()]
        row.update(
            {
                "NRMSE best Gaussian": gauss,
                "winner": best["mode"] if best["NRMSE model"] < gauss else "Gaussian",
                "best model vs Gaussian %": round(100.0 * (best["NRMSE model"] / gauss - 1.0), 1),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def mode_verdicts(comparison: pd.DataFrame) -> list[str]:
    """One sentence per speed: which mode wins on validation NRMSE and by how much against the Gaussian."""
    out = []
    for r in comparison.to_dict("records"):
        modes = {k[6:]: v for k, v in r.items() if k.startswith("NRMSE ") and "Gaussian" not in k and v == v}
        ranked = ", ".join(f"{m} {v:.4f}" for m, v in sorted(modes.items(), key=lambda kv: kv[1]))
        margin = r["best model vs Gaussian %"]
        out.append(
            f"At {r['speed']} the lowest validation NRMSE is {r['winner']}'s (models: {ranked}; best Gaussian "
            f"{r['NRMSE best Gaussian']:.4f}); the best model is {abs(margin):.1f} % "
            f"{'below' if margin < 0 else 'above'} the Gaussian."
        )
    return out


def training_headline(table: pd.DataFrame) -> str:
    """One sentence (notebook 02's headline) from `validation_table`: the models trained and, per
    speed, the best model's validation NRMSE relative to the tuned Gaussian's (negative = lower error),
    naming the speeds where the Gaussian stays ahead."""
    comparison = mode_comparison(table)
    best = []
    for r in comparison.to_dict("records"):
        modes = {k[6:]: v for k, v in r.items() if k.startswith("NRMSE ") and "Gaussian" not in k and v == v}
        best.append(f"{r['speed']}-{min(modes, key=modes.get)} {signed_percent(r['best model vs Gaussian %'])}")
    if best:
        best[0] += " NRMSE"
    gaussian = comparison.loc[comparison["winner"] == "Gaussian", "speed"]
    sentence = (
        f"{counted(len(table), 'model')} trained ({', '.join(table['model'])}); best against the tuned Gaussian "
        f"on validation: {', '.join(best)}"
    )
    return sentence + (f"; the Gaussian stays ahead at {listed(gaussian)}." if len(gaussian) else ".")
