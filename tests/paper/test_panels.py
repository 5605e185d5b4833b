"""Notebook 03's helpers: the counts check (known answers) and the figures (shapes, boxes, scales)."""

from __future__ import annotations

from datetime import datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from fixtures_infer import tiny_checkpoint, tiny_cohort
from scipy import ndimage

from wbslib.core.errors import MetricInputError
from wbslib.core.masks import bladder_mask
from wbslib.enhance.infer import enhance_manifest
from wbslib.io.dicom import read_wholebody
from wbslib.io.imagesets import acquisition_mid_time, build_image_sets, load_scan
from wbslib.metrics.counts_check import (
    BLADDER_MARGIN_PX,
    CHECK_COLUMNS,
    counts_check,
    decay_correction,
    summarise_counts,
)
from wbslib.paper import panels


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("panels")
    root = tmp / "data"
    manifest = tiny_cohort(root, (("S01", "test"), ("S02", "test")))
    rows, _ = enhance_manifest(
        manifest, root, {"2x-simu": tiny_checkpoint(tmp / "simu-2x.pt")}, tmp / "enhanced", device="cpu", progress=False
    )
    return root, build_image_sets(manifest, root, rows)


def test_counts_check_known_answers(image_sets):
    root, sets = image_sets
    check = counts_check(sets, root)
    assert list(check.columns) == list(CHECK_COLUMNS) and len(check) == 2 * 2 * 2  # studies × groups × views
    assert set(check["bladder_from"]) == {"detected"} and check["ratio_truth"].isna().all()  # no truth on disk
    raw = check[(check["study_id"] == "S01") & (check["group"] == "2x") & (check["view"] == "ANT")].iloc[0]
    fast = read_wholebody(root / "dicom" / "S01" / "2x.dcm").counts * 2.0
    standard = read_wholebody(root / "dicom" / "S01" / "1x.dcm").counts
    union = (bladder_mask(fast) | bladder_mask(standard))[0]
    keep = ~ndimage.binary_dilation(union, iterations=BLADDER_MARGIN_PX) if union.any() else np.ones_like(union)
    assert raw["counts"] == pytest.approx(fast[0][keep].sum()) and raw["counts_1x"] == pytest.approx(
        standard[0][keep].sum()
    )
    assert raw["ratio"] == pytest.approx(fast[0][keep].sum() / standard[0][keep].sum())
    row = sets.set_index(["study_id", "group"])
    t_fast, t_1x = (acquisition_mid_time(load_scan(row.loc[("S01", g)])[1]) for g in ("2x", "1x"))
    assert t_fast is not None and t_1x is not None and t_fast != t_1x  # fixture: same start, 2x ends sooner
    assert raw["ratio_decay"] == pytest.approx(raw["ratio"] * decay_correction(t_fast, t_1x))
    enhanced = check[check["method"] == "rrdb-simu"]
    assert (enhanced["min_count"] >= 0).all()
    summary = summarise_counts(check)
    assert list(summary["group"]) == ["2x", "2x-simu"] and list(summary["views"]) == [4, 4]
    within = summary.set_index("group").loc["2x", "within_5%"]
    assert within == pytest.approx(float(((check[check["group"] == "2x"]["ratio"] - 1).abs() <= 0.05).mean()))


def test_decay_correction_follows_the_99mtc_half_life():
    t = datetime(2026, 1, 5, 9, 0)
    assert decay_correction(t, t + timedelta(hours=6.01)) == pytest.approx(0.5)  # counts then: half as many
    assert decay_correction(t + timedelta(minutes=20), t) == pytest.approx(2 ** (20 / 360.6))
    assert decay_correction(t, t) == 1.0 and np.isnan(decay_correction(None, t))


def test_counts_check_needs_one_standard_scan_per_study(image_sets):
    root, sets = image_sets
    with pytest.raises(MetricInputError, match="'1x'"):
        counts_check(sets[sets["group"] != "1x"], root)


def test_zoom_boxes_lie_inside_the_body_and_the_image():
    view = np.zeros((400, 100))
    view[40:360, 30:70] = 10.0
    boxes = panels.zoom_boxes(view)
    assert set(boxes) == {"pelvis", "spine"}
    for r0, r1, c0, c1 in boxes.values():
        assert 40 <= r0 < r1 <= 360 and 0 <= c0 < c1 <= 100
    assert boxes["spine"][0] < boxes["pelvis"][0]  # spine above pelvis
    assert panels.grey_limit(view) == pytest.approx(10.0)


def test_figures_have_one_column_per_group(image_sets):
    _, sets = image_sets
    images = panels.load_images(sets, "S01")
    assert list(images) == ["1x", "2x", "2x-simu"]
    fig = panels.panel_figure(images)
    assert len(fig.axes) == 3 * 3
    assert fig.axes[0].images[0].get_clim() == fig.axes[2].images[0].get_clim()  # one grey scale
    diff = panels.difference_figure(images)
    assert [ax.get_title() for ax in diff.axes[:2]] == ["2x − 1x", "2x-simu − 1x"]
    check = pd.DataFrame({"group": ["2x", "2x", "2x-simu"], "ratio": [1.0, 1.02, 0.99]})
    assert panels.counts_figure(check).axes[0].get_ylabel().startswith("counts outside bladder")
