"""wbslib.readers.virtual / lesion_candidates: model observers on the phantom, pixels only.

Known answers: the bone level of a slab, the call rate of a reader over many codes (Φ of its criterion
distance), candidate labels on both views. The acceptance check reads a small phantom cohort:
1x must beat raw 3x in accuracy and AUC; reads are deterministic for a seed.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest
from fixtures_observer import patient, scan
from scipy import stats as sps

from wbslib.core.errors import ReaderStudyError
from wbslib.readers.atlas import ATLAS_FEATURES, COL_BINS, REGION_EDGES, REGIONS, ROW_BINS, regions
from wbslib.readers.candidates import FEATURES, ImageFeatures, image_features
from wbslib.readers.observer import MIN_REGION_CANDIDATES, Observer, candidate_labels, train_observer
from wbslib.readers.quality import PATCH_PX, ImageQuality, npwe_dprime
from wbslib.readers.virtual import CONFIDENCE_EDGES, read, read_cases, virtual_panel
from wbslib.readers.worklist import adjudicate, make_worklist, reads_table
from wbslib.stats.proportions import diagnostic_performance
from wbslib.stats.roc import auc_delong

N_TRAIN, N_TEST = 20, 32


def raw_quality(speed: float) -> ImageQuality:
    """The quality model of raw Poisson scans at `speed` (error power s per unit level, no blur),
    which `test_quality` measures on such scans."""
    d = npwe_dprime(np.full((PATCH_PX, PATCH_PX), speed))
    return ImageQuality(dprime_unit=d, transfer=1.0, noise_power=speed, n_tiles=1, n_images=1)


RAW = {"1x": raw_quality(1.0), "3x": raw_quality(3.0)}


@pytest.fixture(scope="module")
def cohort():
    train = []
    for i in range(N_TRAIN):
        expected, lesions, ph = patient(f"TR{i:02d}", i % 2 == 0)
        train.append((scan(expected, 1.0, ph.study_id), lesions, ph.label))
    images, labels = {}, {}
    for i in range(N_TEST):
        expected, _, ph = patient(f"TE{i:02d}", i % 2 == 1)
        labels[ph.study_id] = ph.label
        for speed in (1.0, 3.0):
            images[(ph.study_id, f"{speed:g}x")] = scan(expected, speed, ph.study_id)
    return {"observer": train_observer(train), "images": images, "labels": labels, "train": train}


def read_cohort(cohort, seed: int, studies=None) -> pd.DataFrame:
    sets = pd.DataFrame(sorted(cohort["images"]), columns=["study_id", "group"])
    if studies is not None:
        sets = sets[sets["study_id"].isin(studies)]
    worklist, key = make_worklist(sets, seed)
    where = dict(zip(key["case_code"], zip(key["study_id"], key["group"])))
    sheet = read_cases(
        cohort["observer"],
        worklist["case_code"],
        lambda code: cohort["images"][where[code]],
        virtual_panel(2),
        seed,
        lambda code: RAW[where[code][1]],
    )
    return reads_table(sheet, key, "virtual")


def test_virtual_readers_see_1x_better_than_raw_3x_and_are_deterministic(cohort):
    reads = read_cohort(cohort, seed=3)
    assert sorted(reads["reader"].unique()) == ["virtual-1", "virtual-2", "virtual-3"]
    assert len(reads) == 3 * 2 * N_TEST and (reads["reader_kind"] == "virtual").all()
    adjudicated = adjudicate(reads, cohort["labels"])
    result = {}
    for group, d in adjudicated.groupby("group"):
        perf = diagnostic_performance(d["label"].astype(int), d["malignant"])
        result[group] = (
            perf["accuracy"].estimate,
            auc_delong(d["label"].astype(int), d["rating"]).auc,
            d["likert_mean"].mean(),
        )
    assert result["1x"][0] > result["3x"][0] and result["1x"][1] > result["3x"][1]
    assert result["1x"][2] > result["3x"][2] + 1.5  # far less noise at 1x: clearly better quality


def test_reads_are_deterministic_for_a_seed(cohort):
    studies = ["TE00", "TE01"]
    first = read_cohort(cohort, 3, studies)
    pd.testing.assert_frame_equal(first, read_cohort(cohort, 3, studies))
    other = read_cohort(cohort, 4, studies)
    assert not other[["likert", "malignant", "confidence"]].equals(first[["likert", "malignant", "confidence"]])


def test_reader_sees_pixels_and_code_only():
    params = set(inspect.signature(read).parameters)
    assert params == {"observer", "feats", "reader", "case_code", "seed", "quality"}
    assert set(inspect.signature(read_cases).parameters) == {
        "observer",
        "case_codes",
        "pixels",
        "panel",
        "seed",
        "quality",
        "progress",
    }


def test_same_image_under_many_codes_reads_from_one_distribution(cohort):
    """Call rate over 400 codes = Φ((score − shift) / decision_sd) for every reader, the score in
    the class's null SDs; two code sets agree."""
    observer = cohort["observer"]
    feats = image_features(cohort["images"][("TE01", "1x")])
    lam = observer.decision(feats)
    for reader in virtual_panel(2):
        calls = [
            [read(observer, feats, reader, f"{tag}{i:04d}", 1, RAW["1x"])["malignant"] for i in range(400)]
            for tag in ("A", "B")
        ]
        score = (lam - observer.threshold) / observer.null_sd  # the class's null SDs
        expected = sps.norm.cdf((score - reader.criterion_shift) / reader.decision_sd)
        for c in calls:
            assert abs(np.mean(c) - expected) < 4 * np.sqrt(expected * (1 - expected) / 400) + 1e-9
        assert (
            sps.fisher_exact([[sum(calls[0]), 400 - sum(calls[0])], [sum(calls[1]), 400 - sum(calls[1])]]).pvalue > 1e-3
        )


def test_bone_level_of_a_slab_follows_its_counts():
    """Wide uniform bone slab of μ = 60 counts: the bone level is μ (its blurred rim pulls the
    median down a little) at any speed, and scales with the counts (features do not)."""
    body = np.zeros((2, 400, 160))
    body[:, 10:390, 5:155] = 8.0
    body[:, 20:380, 45:115] = 60.0  # under half the body: the body median stays soft tissue
    level1 = image_features(scan(body, 1.0, "slab")).bone_level
    assert level1 == pytest.approx(60.0, rel=0.05)
    assert image_features(scan(body, 3.0, "slab")).bone_level == pytest.approx(level1, rel=0.05)
    doubled = image_features(2.0 * scan(body, 1.0, "slab"))
    assert doubled.bone_level == pytest.approx(2.0 * level1, rel=1e-9)
    np.testing.assert_allclose(doubled.features, image_features(scan(body, 1.0, "slab")).features, rtol=1e-9)
    assert np.isnan(image_features(np.zeros((2, 64, 32))).bone_level)


def test_hot_spot_is_a_candidate_with_focal_features():
    view = np.full((300, 120), 2.0)
    view[20:280, 10:110] = 8.0
    view[30:270, 55:65] = 60.0  # a vertical bone (spine-like ridge)
    rows, cols = np.ogrid[:300, :120]
    view += 90.0 * np.exp(-((rows - 70) ** 2 + (cols - 60) ** 2) / (2 * 2.0**2))  # focal spot on it
    view += 300.0 * np.exp(-((rows - 150) ** 2 + (cols - 60) ** 2) / (2 * 6.0**2))  # the bladder, left out
    feats = image_features(np.stack([view, view[:, ::-1]]))
    assert feats.features.shape[1] == len(FEATURES)
    top = feats.where[np.argmax(feats.features[:, FEATURES.index("contrast_small")])]
    assert top[0] in (0, 1) and abs(top[1] - 70) <= 1 and abs(top[2] - (60 if top[0] == 0 else 59)) <= 1
    spot = feats.features[np.argmax(feats.features[:, 0])]
    assert spot[FEATURES.index("focality")] > 0.2 and spot[FEATURES.index("support_other_view")] > 0.5


def test_candidate_labels_mirror_the_posterior_view():
    where = np.array([[0, 100, 40], [1, 100, 215], [0, 100, 215], [1, 100, 40], [0, 130, 40]])
    feats = ImageFeatures(np.zeros((5, len(FEATURES))), where, 10.0)
    lesions = pd.DataFrame(
        {"row": [101.0, 300.0], "col": [41.0, 10.0], "diameter_mm": [12.0, 30.0], "malignant": [1, 0]}
    )
    assert candidate_labels(feats, lesions, cols=256).tolist() == [1, 1, 0, 0, 0]


def test_confidence_bins_and_panel():
    panel = virtual_panel(3)
    assert [r.name for r in panel] == ["virtual-1", "virtual-2", "virtual-3", "virtual-4"]
    assert len({r.decision_sd for r in panel}) == 4 and panel[-1].decision_sd == min(r.decision_sd for r in panel)
    n_inputs = len(FEATURES) + len(ATLAS_FEATURES)
    cells = (2, len(ATLAS_FEATURES), ROW_BINS, COL_BINS)
    observer = Observer(
        mean=[0.0] * n_inputs,
        scale=[1.0] * n_inputs,
        coef=[0.0] * n_inputs,
        intercept=0.0,
        atlas_mean=np.zeros(cells).tolist(),
        atlas_sd=np.ones(cells).tolist(),
        region_mean=[0.0] * len(REGIONS),
        region_sd=[1.0] * len(REGIONS),
        threshold=0.0,
        null_sd=1.0,
    )
    calm = panel[0].__class__("calm", 1e-9, 0.0, 1e-9)
    for intercept, confidence in ((0.2, 1), (0.7, 2), (1.5, 3), (2.5, 4), (3.5, 5), (-3.5, 5)):
        observer.intercept = intercept
        feats = ImageFeatures(np.zeros((1, len(FEATURES))), np.zeros((1, 3), int), 100.0)
        row = read(observer, feats, calm, "X", 0, RAW["1x"])
        assert (row["confidence"], row["malignant"]) == (confidence, int(intercept > 0))
    assert CONFIDENCE_EDGES == (0.5, 1.0, 2.0, 3.0)
    with pytest.raises(ReaderStudyError, match="n_virtual is 1"):
        virtual_panel(1)


def test_observer_round_trip_and_bad_files(cohort, tmp_path):
    observer = cohort["observer"]
    assert observer.n_training_images == N_TRAIN and observer.n_training_lesions > 0
    path = observer.save(tmp_path / "observer.json")
    assert Observer.load(path) == observer
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReaderStudyError, match="cannot be read"):
        Observer.load(tmp_path / "bad.json")
    path.write_text(path.read_text().replace('"focality"', '"focality2"'))
    with pytest.raises(ReaderStudyError, match="trained on features"):
        Observer.load(path)


def test_training_needs_both_classes(cohort):
    metastatic_only = [t for t in cohort["train"] if t[2] == 1][:2]
    with pytest.raises(ReaderStudyError, match="at least 2 of each"):
        train_observer(metastatic_only)
    no_lesions = [(c, l.iloc[0:0], y) for c, l, y in cohort["train"][:4]]
    with pytest.raises(ReaderStudyError, match="No lesion candidate"):
        train_observer(no_lesions)


def test_regions_split_the_body_along_its_length():
    features = np.zeros((5, len(FEATURES)))
    features[:, FEATURES.index("row_fraction")] = [0.0, 0.119, 0.12, 0.5, 0.95]
    assert regions(features).tolist() == [0, 0, 1, 2, 3]
    assert len(REGIONS) == len(REGION_EDGES) + 1


def test_calibrated_response_of_normal_training_candidates_is_standard_in_every_region(cohort):
    """λ's z: (template − region mean) / region SD over the training images' normal candidates
    has mean 0 and SD 1 in each region (exactly: those candidates define the calibration)."""
    observer = cohort["observer"]
    z, region = [], []
    for counts, lesions, _ in cohort["train"]:
        feats = image_features(counts)
        normal = candidate_labels(feats, lesions, cols=counts.shape[-1]) == 0
        z.append(observer.scores(feats)[normal])
        region.append(regions(feats.features[normal]))
    z, region = np.concatenate(z), np.concatenate(region)
    for k in range(len(REGIONS)):
        assert (region == k).sum() >= MIN_REGION_CANDIDATES
        assert z[region == k].mean() == pytest.approx(0.0, abs=1e-5)  # the atlas is stored to 6 digits
        assert z[region == k].std() == pytest.approx(1.0, rel=1e-5)
    assert len(set(np.round(observer.region_sd, 6))) == len(REGIONS)  # each region has its own spread


def test_observer_file_without_region_calibration_is_a_named_error(cohort, tmp_path):
    path = cohort["observer"].save(tmp_path / "observer.json")
    data = json.loads(path.read_text())
    data.pop("region_mean")
    path.write_text(json.dumps(data))
    with pytest.raises(ReaderStudyError, match="cannot be read"):
        Observer.load(path)
    data["region_mean"] = [0.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ReaderStudyError, match="another atlas"):
        Observer.load(path)
