"""wbslib.paper.figures: each of the paper's figures builds from our tables, says what it shows and renders (Agg)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
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


def text_sizes(fig: Figure) -> list[float]:
    """Font sizes (pt) of every visible, non-empty text of a figure as drawn (ticks, legends, titles)."""
    rendered(fig)
    return [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def texts(fig: Figure) -> str:
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    out += [t.get_text() for legend in fig.legends for t in legend.get_texts()]
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
    assert min(text_sizes(fig)) >= 10
    renderer = FigureCanvasAgg(fig).get_renderer()
    box, axes = fig.axes[0].get_legend().get_window_extent(renderer), fig.axes[0].get_window_extent(renderer)
    assert box.x0 > axes.x1  # the legend is right of the axes, never over a curve
    styles = {line.get_label().split(":")[0]: (line.get_color(), line.get_linestyle()) for line in fig.axes[0].lines}
    assert styles["1x"] == ("black", "-") and styles["2x"] == ("0.45", "-") and styles["3x"] == ("0.7", "-")
    assert styles["2x-real"][0] in figures.FAMILIES[2.0] and styles["3x-simu"][0] in figures.FAMILIES[3.0]
    assert len({color for color, _ in styles.values()}) == len(styles)  # seven groups and chance: eight colours


def test_group_style_separates_groups_baselines_and_truth():
    style = figures.group_style
    assert (
        style("2x-real")["color"] == figures.FAMILIES[2.0][0] and style("3x-simu")["color"] == figures.FAMILIES[3.0][1]
    )
    assert style("2x-gauss")["ls"] == style("3x-bm3d")["ls"] == "--"  # baselines dashed
    assert style("2x-real")["ls"] == style("2x")["ls"] == "-"
    assert style("truth") == {"color": figures.TRUTH_COLOUR, "ls": "-.", "lw": 1.8}
    assert style("2.5x-real")["color"] == figures.OTHER_FAMILY[0] and style("2.5x")["color"] == "0.55"


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
    assert [t.get_text() for t in ba.legends[0].get_texts()] == [
        "patients",
        "bias (ours)",
        "95 % limits of agreement (ours)",
        "95 % limits (paper)",
    ]
    assert "cannot exceed 1" not in texts(pe)  # no published r above 1 among these groups
    assert min(text_sizes(ba)) >= 10 and min(text_sizes(pe)) >= 10


def test_pearson_figure_notes_that_r_cannot_exceed_1():
    metrics = metrics_table()
    agreement = ps.lesion_agreement(metrics).assign(paper_r=[0.999, 1.017])
    text = texts(figures.pearson_figure(metrics, agreement, LABEL))
    assert "paper 1.017 †" in text and "† as published; a Pearson r cannot exceed 1" in text
    assert "paper 0.999 †" not in text


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
