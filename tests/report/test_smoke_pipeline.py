"""End to end: every notebook through papermill with params/smoke.yaml, in order, via `wbs run`.

One run (module fixture) into runs/<run>/ and reports/<run>/ under a run name of its own, then
checks what each notebook promised to write. This is the suite's slowest test (a few minutes).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from wbslib.core.params import project_root
from wbslib.report.html import network_references

ROOT = project_root()
RUN = "smoke-test"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    params = yaml.safe_load((ROOT / "notebooks/params/smoke.yaml").read_text())
    data = tmp_path_factory.mktemp("smoke-data")
    params.update(run=RUN, data_root=str(data), manifest=str(data / "manifest.csv"))
    path = data / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    for folder in (ROOT / "runs" / RUN, ROOT / "reports" / RUN):
        shutil.rmtree(folder, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "wbslib.cli", "run", "--params", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return params, proc


def test_pipeline_finishes_and_prints_index(smoke_run):
    params, proc = smoke_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = ROOT / "reports" / RUN / "index.html"
    assert str(index) in proc.stdout
    html = index.read_text()
    for stem in params["notebooks"]:
        assert (ROOT / "reports" / RUN / f"{stem}.html").exists(), stem
        assert f"{stem}.html" in html


def test_reports_are_offline_and_labelled(smoke_run):
    _, proc = smoke_run
    assert proc.returncode == 0
    for page in (ROOT / "reports" / RUN).glob("*.html"):
        text = page.read_text()
        assert network_references(text) == [], page.name
        assert "Traceback" not in text and "RESEARCH USE" in text, page.name


def test_each_notebook_wrote_its_artefacts(smoke_run):
    params, proc = smoke_run
    assert proc.returncode == 0
    run = ROOT / "runs" / RUN
    manifest = pd.read_csv(params["manifest"])
    assert set(manifest["split"]) >= {"train", "val", "test"}
    assert (run / "01" / "audit.csv").exists()
    for spec in params["train"]["models"]:
        assert (run / "checkpoints" / f"{spec['mode']}-{spec['speed']:g}x.pt").exists()
    metrics = pd.read_csv(run / "metrics.csv")
    assert {"study_id", "group", "metric", "value"} <= set(metrics.columns)
    assert set(params["enhance"]["groups"]) <= set(metrics["group"])
    reads = pd.read_csv(run / "reads.csv")
    assert set(reads["reader_kind"]) == {"virtual"}
    assert (run / "stats").is_dir() and any((run / "stats").glob("*.csv"))
