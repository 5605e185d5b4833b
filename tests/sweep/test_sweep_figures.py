"""wbslib.sweep.figures: legends beside or below the data, no text under 10 pt."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from wbslib.sweep import figures


def results() -> pd.DataFrame:
    """1x and raw/real groups at 2x and 3x; every metric 0.9 at 1x falling 0.1 per speed step."""
    rows = []
    for group, speed in (("1x", 1.0), ("2x", 2.0), ("2x-real", 2.0), ("3x", 3.0), ("3x-real", 3.0)):
        for metric in ("auc", "sensitivity", "specificity", "hottest_lesion_bias_pct"):
            value = 0.9 - 0.1 * (speed - 1)
            rows.append(
                {
                    "group": group,
                    "speed": speed,
                    "metric": metric,
                    "estimate": value,
                    "ci_low": value - 0.05,
                    "ci_high": value + 0.05,
                }
            )
    return pd.DataFrame(rows)


def extents(fig) -> tuple:
    """(renderer-drawn figure, its renderer) after a full draw, so layouts and legends are placed."""
    fig.savefig(io.BytesIO(), format="png", dpi=50)
    return FigureCanvasAgg(fig).get_renderer()


def sizes(fig) -> list[float]:
    return [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_performance_legend_sits_below_the_panels():
    fig = figures.plot_performance(results(), {"auc": 0.1})
    renderer = extents(fig)
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "raw real-like fast scan",
        "enhanced, real model",
        "1x (band: 95 % CI)",
        "1x − margin",
    ]
    top = legend.get_window_extent(renderer).y1
    assert all(top < ax.get_window_extent(renderer).y0 for ax in fig.axes)
    assert fig.axes[0].get_title() == "auc: 1x 0.90, margin 0.1" and fig.axes[1].get_title() == "sensitivity: 1x 0.90"
    assert min(sizes(fig)) >= 10


def test_the_noise_free_truth_is_a_reference_line_not_a_point():
    table = results()
    ideal = table[table["group"] == "1x"].assign(group="truth", estimate=0.95)
    fig = figures.plot_performance(pd.concat([table, ideal], ignore_index=True), {"auc": 0.1})
    extents(fig)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[-1] == "truth: noise-free image (ideal-enhancer reference)" and len(texts) == 5
    dotted = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and list(dotted[0].get_ydata()) == [0.95, 0.95]
    others = [line for line in fig.axes[0].get_lines() if line.get_linestyle() != ":"]
    assert not any(0.95 in list(line.get_ydata()) for line in others)  # no truth point among the methods


def test_lesion_bias_legend_is_right_of_the_axes():
    fig = figures.plot_lesion_bias(results())
    renderer = extents(fig)
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent(renderer).x0 > ax.get_window_extent(renderer).x1
    assert min(sizes(fig)) >= 10


def test_strip_titles_are_legible():
    strip = {g: np.ones((2, 64, 16)) for g in ("1x", "2x", "2x-real", "3x", "3x-real")}
    fig = figures.plot_strip(strip, [2.0, 3.0], kinds=("raw", "real"))
    extents(fig)
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_title()) == sorted(
        ["1x", "2x", "3x", "1x", "2x-real", "3x-real"]
    )
    assert min(sizes(fig)) >= 10


def test_speed_axis_names_the_swept_speeds_even_for_one_speed():
    for table, speeds in ((results(), ["2x", "3x"]), (results().query("speed != 3.0"), ["2x"])):
        for fig in (figures.plot_performance(table, {}), figures.plot_lesion_bias(table)):
            ax = fig.axes[0]
            assert [t.get_text() for t in ax.get_xticklabels()] == speeds
            low, high = ax.get_xlim()
            assert high - low >= 1.0  # never an axis of hundredths around a single speed
