"""The smoke run that the report tests share: every notebook through `wbs run` with params/smoke.yaml.

Session-scoped, so `test_smoke_pipeline.py` and `test_browser.py` read ONE run (the suite's
slowest step, a few minutes) from runs/smoke-test/ and reports/smoke-test/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from wbslib.core.params import project_root

SMOKE_RUN = "smoke-test"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(params, completed process) of `wbs run` on the smoke params under run name `SMOKE_RUN`,
    with its data in a temporary folder."""
    root = project_root()
    params = yaml.safe_load((root / "notebooks/params/smoke.yaml").read_text())
    data = tmp_path_factory.mktemp("smoke-data")
    params.update(run=SMOKE_RUN, data_root=str(data), manifest=str(data / "manifest.csv"))
    path = data / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    for folder in (root / "runs" / SMOKE_RUN, root / "reports" / SMOKE_RUN):
        shutil.rmtree(folder, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "wbslib.cli", "run", "--params", str(path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return params, proc
