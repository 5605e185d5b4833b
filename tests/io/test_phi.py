"""No patient name, birth date, patient ID or original UID leaves the hospital folder: not in the
manifest, not in the run folder, not in the reports or the index of a pipeline run over notebook 01."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import yaml
from fixtures_manifest import PHI, write_phi_scan

from wbslib.io.manifest.build import build_manifest
from wbslib.io.manifest.schema import write_manifest
from wbslib.report.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "Doe",
    "DOE",
    "Jane",
    "JANE",
    PHI["birth_date"],
    "1958-03-14",
    PHI["patient_id"],
    PHI["accession"],
    "2831164356",
    PHI["study_uid"],
)
BASE64_RUN = re.compile(r"[A-Za-z0-9+/=\\]{200,}")  # embedded images: random letters, not text


def _phi_in(text: str) -> list[str]:
    """The forbidden strings found (case-sensitive) outside base64-embedded images."""
    text = BASE64_RUN.sub("", text)
    return [s for s in FORBIDDEN if s in text]


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    """A PACS-like export: folder named after the patient, files named by SOP Instance UID."""
    folder = tmp_path_factory.mktemp("pacs") / "export" / "DOE_JANE_19580314"
    for seed, speed in enumerate((1, 2, 3)):
        write_phi_scan(folder / f"{PHI['sop_uid']}.{speed * 10}.dcm", speed_factor=speed, seed=seed)
    return folder.parent


def test_identifying_paths_are_quarantined_not_listed(hospital):
    manifest, quarantine = build_manifest(hospital)
    assert manifest.empty and len(quarantine) == 3
    assert set(quarantine["error"]) == {"ManifestError"}
    assert all("--copy-to" in s and not _phi_in(s.split(" holds ", 1)[1]) for s in quarantine["sentence"])


def test_manifest_reports_and_index_hold_no_phi(hospital, tmp_path, monkeypatch):
    sources = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in hospital.rglob("*.dcm")}
    data = tmp_path / "data"
    manifest, quarantine = build_manifest(hospital, copy_to=data)
    assert quarantine.empty and len(manifest) == 3
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.dcm")} == set(sources.values())
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == h for p, h in sources.items())  # sources untouched
    study = manifest["study_id"].iat[0]
    assert list(manifest["path"]) == [
        f"{study}/standard-1x.dcm",
        f"{study}/fast-real-2x.dcm",
        f"{study}/fast-real-3x.dcm",
    ]
    manifest_path = write_manifest(manifest, data / "manifest.csv")
    assert _phi_in(manifest_path.read_text()) == []

    monkeypatch.setenv("WBS_ROOT", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "01-audit-cohort.ipynb", tmp_path / "notebooks")
    params = tmp_path / "phi.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "run": "phi",
                "seed": 1,
                "device": "cpu",
                "data_root": str(data),
                "manifest": str(manifest_path),
                "notebooks": ["01-audit-cohort"],
                "audit": {"max_thumbnails": 1},
            }
        )
    )
    index = run_pipeline(params, code=True)
    written = [*(tmp_path / "reports" / "phi").rglob("*"), *(tmp_path / "runs" / "phi").rglob("*")]
    texts = {p.name: p.read_text(errors="ignore") for p in written if p.suffix in {".html", ".csv", ".json", ".ipynb"}}
    assert {
        "index.html",
        "01-audit-cohort.html",
        "01-audit-cohort-code.html",
        "audit.csv",
        "quarantine.csv",
        "01-audit-cohort.ipynb",
    } <= set(texts)
    assert {name: _phi_in(text) for name, text in texts.items() if _phi_in(text)} == {}
    assert "3 acquisitions read, 0 files quarantined" in texts["01-audit-cohort.html"]
    assert index.exists()


def test_identifiers_above_the_scanned_folder_count_too(tmp_path):
    """Scanning DOE_JANE_19580314/scans with the data root above it: the manifest path would name her."""
    scans = tmp_path / "DOE_JANE_19580314" / "scans"
    write_phi_scan(scans / "wb1.dcm", speed_factor=1, seed=0)
    assert len(build_manifest(scans)[0]) == 1  # relative to the scanned folder the path is clean
    manifest, quarantine = build_manifest(scans, data_root=tmp_path)
    assert manifest.empty and list(quarantine["error"]) == ["ManifestError"]
