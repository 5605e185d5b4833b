"""Notebook 03's helpers: the counts check (known answers) and the figures (shapes, boxes, scales)."""

from __future__ import annotations

from datetime import datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from fixtures_infer import tiny_checkpoint, tiny_cohort
from matplotlib.text import Annotation
from scipy import ndimage
from test_figures import rendered, text_sizes

from wbslib.core.errors import MetricInputError
from wbslib.core.masks import bladder_mask
from wbslib.enhance.infer import enhance_manifest
from wbslib.io.dicom import read_wholebody
from wbslib.io.imagesets import acquisition_mid_time, build_image_sets, load_scan
from wbslib.io.truth import LESION_COLUMNS
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


def phantom_like() -> np.ndarray:
    """A body of 10 counts/px (rows 40–699, cols 60–199) on ANT, mirrored and twice as hot on POST."""
    image = np.zeros((2, 1024, 256), np.float32)
    image[0, 40:700, 60:200] = 10.0
    image[1] = 2 * image[0][:, ::-1]
    return image


def lesion_table() -> pd.DataFrame:
    """Five lesions of one study: metastases seen on ANT, on both, on neither, outside the body box;
    a benign mimic seen on both (never marked)."""
    return pd.DataFrame(
        {
            "study_id": ["P1"] * 5,
            "lesion_id": [1, 2, 3, 4, 5],
            "malignant": [1, 1, 1, 0, 1],
            "row": [200.0, 400.0, 300.0, 350.0, 900.0],
            "col": [100.0, 150.0, 120.0, 128.0, 100.0],
            "col_post": [155.0, 105.0, 135.0, 127.0, 155.0],
            "diameter_mm": [24.0, 12.0, 10.0, 10.0, 10.0],
            "visible_ant": [1, 1, 0, 1, 1],
            "visible_post": [0, 1, 0, 1, 1],
        }
    )


def test_crop_box_holds_every_body_pixel_and_drops_the_empty_frame():
    image = phantom_like()
    box = panels.crop_box(image)
    # body mask: 6 px beyond the body (σ 3 px, 2 % of the top), union of ANT (cols 54–205) and the
    # mirrored POST (50–201), then 8 px of margin
    assert box == (26, 714, 42, 214)
    r0, r1, c0, c1 = box
    inside = np.zeros(image.shape[1:], bool)
    inside[r0:r1, c0:c1] = True
    assert not (image.any(axis=0) & ~inside).any() and (r1 - r0) * (c1 - c0) < 0.5 * image[0].size
    assert panels.crop_box(np.zeros((2, 64, 32))) == (0, 64, 0, 32)  # no counts: the whole frame
    assert panels.grey_limit(image) == pytest.approx(20.0)  # one scale for both views: POST's level


def test_lesion_marks_one_per_visible_metastasis_in_the_panels_pixels():
    lesions, box = lesion_table(), (26, 714, 42, 214)
    ant, post = (panels.lesion_marks(lesions, view, box) for view in ("ANT", "POST"))
    assert ant["lesion_id"].tolist() == [1, 2] and post["lesion_id"].tolist() == [2]
    assert ant[["row", "col"]].to_numpy().tolist() == [[174.0, 58.0], [374.0, 108.0]]
    assert post[["row", "col"]].to_numpy().tolist() == [[374.0, 63.0]]  # col_post − c0
    assert ant["radius_px"].tolist() == pytest.approx([5.0, 2.5])  # diameter / 2 / 2.4 mm
    assert panels.lesion_marks(lesions, "ANT")["lesion_id"].tolist() == [1, 2, 5]  # no box: all
    assert panels.lesion_marks(None, "ANT").empty


def test_true_lesions_reads_one_studys_rows(tmp_path):
    table = lesion_table().assign(study_id=["P1", "P1", "P2", "P2", "P2"])
    for column in LESION_COLUMNS:
        table[column] = table.get(column, 0)
    (tmp_path / "truth").mkdir()
    table.to_csv(tmp_path / "truth" / "lesions.csv", index=False)
    assert panels.true_lesions(tmp_path, "P2")["lesion_id"].tolist() == [3, 4, 5]
    assert panels.true_lesions(tmp_path, "P3").empty


def test_panel_rows_put_the_1x_scan_before_each_speed():
    assert panels.panel_rows(panels.PANEL_GROUPS) == [
        ["1x", "2x", "2x-real", "2x-simu"],
        ["1x", "3x", "3x-real", "3x-simu"],
    ]
    assert panels.panel_rows(["2x-gauss", "1x", "2x"]) == [["1x", "2x", "2x-gauss"]]
    assert panels.panel_rows(["1x"]) == [["1x"]]


def arrows(ax) -> list:
    return [t for t in ax.texts if isinstance(t, Annotation)]


def test_panel_figure_shows_both_views_with_an_arrow_beside_each_visible_metastasis():
    image = phantom_like()
    images = {g: image * (1 + 0.01 * i) for i, g in enumerate(panels.PANEL_GROUPS)}
    fig = panels.panel_figure(images, lesions=lesion_table())
    rendered(fig)
    by_label = {ax.get_label(): ax for ax in fig.axes}
    assert sorted(by_label) == sorted(f"{g} {v}" for g in panels.PANEL_GROUPS for v in ("ANT", "POST"))
    assert len(fig.axes) == 2 * 8  # 1x repeated in front of each speed's row
    for label, ax in by_label.items():
        marks = arrows(ax)
        assert len(marks) == (2 if label.endswith("ANT") else 1), label
        assert ax.images[0].get_array().shape == (714 - 26, 214 - 42)  # cropped to the body
        assert ax.images[0].get_clim() == (0.0, pytest.approx(20.0))  # one grey scale per patient
    tip = np.array(arrows(by_label["1x ANT"])[0].xy)  # lesion 1 at (col 58, row 174), radius 5 px
    assert np.hypot(*(tip - (58.0, 174.0))) == pytest.approx(5.0 + panels.ARROW_GAP_PX)  # beside, not over
    assert min(text_sizes(fig)) >= 10
    no_truth = panels.panel_figure(images, lesions=None)
    assert len(no_truth.axes) == 16 and not any(arrows(ax) for ax in no_truth.axes)


def test_figures_from_a_cohort_without_truth(image_sets):
    root, sets = image_sets
    assert panels.true_lesions(root, "S01") is None  # tiny cohort: no truth on disk, so no arrows
    images = panels.load_images(sets, "S01")
    assert list(images) == ["1x", "2x", "2x-simu"]
    fig = panels.panel_figure(images, lesions=panels.true_lesions(root, "S01"))
    assert [ax.get_label() for ax in fig.axes] == [f"{g} {v}" for g in images for v in ("ANT", "POST")]
    assert not any(arrows(ax) for ax in fig.axes)
    assert len({ax.images[0].get_clim() for ax in fig.axes}) == 1  # one grey scale
    diff = panels.difference_figure(images)
    assert [ax.get_title() for ax in diff.axes[:2]] == ["2x", "2x-simu"]
    r0, r1, c0, c1 = panels.crop_box(images["1x"])
    assert diff.axes[0].images[0].get_array().shape == (r1 - r0, c1 - c0)
    check = pd.DataFrame({"group": ["2x", "2x", "2x-simu"], "ratio": [1.0, 1.02, 0.99]})
    assert panels.counts_figure(check).axes[0].get_ylabel().startswith("counts outside bladder")
