"""End to end: every notebook through papermill with params/smoke.yaml, in order, via `wbs run`.

One run (the session fixture `smoke_run` of conftest.py, shared with the browser test) into
runs/<run>/ and reports/<run>/ under a run name of its own, then checks what each notebook promised
to write. This is the suite's slowest test (a few minutes).
"""

from __future__ import annotations

import re

import pandas as pd

from wbslib.core.params import project_root
from wbslib.report.html import network_references

ROOT = project_root()
RUN = "smoke-test"  # conftest.SMOKE_RUN


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


CLUTTER = {
    "progress bar": re.compile(r"\d+it/s|s/it\]|\d+%\|[█▏▎▍▌▋▊▉ ]*\|"),
    "warning": re.compile(r"\b\w*Warning\b|warnings\.warn"),
    "absolute path": re.compile(r"(?<![\w.])/(?:work|home|tmp|root|usr|opt|var)/[\w.-]+"),
    "pandas dtype footer": re.compile(r"dtype: (?:int|float|object|bool)\w*"),
}


def visible_text(page: str) -> str:
    """The page without embedded images, styles and scripts: what a reader can see."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", page)


def test_clinician_pages_have_no_progress_bar_warning_dtype_or_absolute_path(smoke_run):
    _, proc = smoke_run
    assert proc.returncode == 0
    pages = sorted(p for p in (ROOT / "reports" / RUN).glob("*.html") if not p.stem.endswith("-code"))
    assert len(pages) >= 8
    for page in pages:
        text = visible_text(page.read_text())
        found = {what: m.group(0) for what, rx in CLUTTER.items() if (m := rx.search(text))}
        assert not found, f"{page.name}: {found}"
