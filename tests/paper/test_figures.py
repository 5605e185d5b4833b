"""wbslib.paper.figures: each of the paper's figures builds from our tables, says what it shows and renders (Agg)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image
from test_paper_tables import adjudicated, metrics_table

from wbslib.core.errors import StatisticsError
from wbslib.paper import figures
from wbslib.paper import summary as ps
from wbslib.paper import tables as pt

LABEL = "phantom cohort · virtual readers"


def rendered(fig: Figure) -> np.ndarray:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return np.asarray(Image.open(buffer))


def texts(fig: Figure) -> str:
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        out += [ax.get_title(), *(t.get_text() for t in ax.texts)]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(out)


def test_likert_bars_mark_significance_and_show_the_paper():
    likert = pt.likert_table(adjudicated())
    fig = figures.likert_bars(likert, LABEL)
    text = texts(fig)
    assert LABEL in text and "Fig 2" in text and "paper (clinicians)" in text
    ax = fig.axes[0]
    assert len(ax.patches) == len(likert)  # one bar per group
    marks = [t.get_text() for t in ax.texts]
    assert marks.count("*") == 2 and marks.count("†") == 4  # 2x, 3x differ from 1x; every model from its raw scan
    assert [t.get_text() for t in ax.get_xticklabels()] == pt.GROUP_ORDER
    assert rendered(fig).shape[2] == 4


def test_roc_figure_has_one_curve_per_group_with_auc_and_p():
    adj = adjudicated()
    auc = pt.auc_table(adj)
    fig = figures.roc_figure(adj, auc, LABEL)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "1x: AUC 1.00" and legend[4].startswith("3x: AUC 0.50, p vs 1x")
    assert len(fig.axes[0].lines) == len(pt.GROUP_ORDER) + 1  # + chance line
    assert LABEL in texts(fig)
    rendered(fig)


def test_bland_altman_and_pearson_figures():
    metrics = metrics_table()
    agreement = ps.lesion_agreement(metrics)
    ba, pe = figures.bland_altman_figure(metrics, agreement, LABEL), figures.pearson_figure(metrics, agreement, LABEL)
    assert len(ba.axes) == len(agreement) == len(pe.axes) == 2
    real = [ax for ax in ba.axes if ax.get_title().startswith("2x-real")][0]
    levels = sorted(round(line.get_ydata()[0], 6) for line in real.lines)
    row = agreement.set_index("group").loc["2x-real"]
    assert levels == sorted(round(v, 6) for v in (row["bias"], row["lower"], row["upper"], -19.26, 34.70))
    assert "r 1.000, paper 0.999" in texts(pe) and "Fig 6" in texts(ba) and "Fig 7" in texts(pe) and LABEL in texts(pe)
    rendered(ba), rendered(pe)


def test_figures_with_too_few_pairs_still_render():
    metrics = metrics_table()
    metrics = metrics[metrics["study_id"].isin(["S0", "S1"])]
    agreement = ps.lesion_agreement(metrics)
    assert agreement["n"].tolist() == [2, 2] and "r" not in agreement
    assert "r n/a" in texts(figures.pearson_figure(metrics, agreement, LABEL))
    rendered(figures.bland_altman_figure(metrics, agreement, LABEL))


def test_write_outputs(tmp_path):
    likert = pt.likert_table(adjudicated())
    paths = ps.write_outputs(
        tmp_path, {"likert": likert, "skipped": None}, {"fig2": figures.likert_bars(likert, LABEL)}
    )
    assert [p.name for p in paths] == ["likert.csv", "fig2.png"]
    assert pd.read_csv(paths[0])["group"].tolist() == pt.GROUP_ORDER
    assert Image.open(paths[1]).size[0] > 500
    with pytest.raises(StatisticsError, match="run notebook 04"):
        ps.load_run_tables(tmp_path)
