"""The reports in a real browser: Debian's Chromium driven by Playwright, network blocked, at 1366 px
and 412 px (a phone: viewport meta honoured). Every report of the smoke run (the session fixture
shared with test_smoke_pipeline.py) opens with no request leaving the file, no console error and no
horizontal scrolling of the page on a phone; key findings are on the first screen; the index names
its links. Skipped only where Chromium or Playwright is missing (CI installs both).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from urllib.parse import unquote

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wbslib.core.params import project_root
from wbslib.report.browser import DESKTOP, PHONE, browser_missing, check_page, offline_browser, screenshots
from wbslib.report.html import render_notebook
from wbslib.report.index import write_index
from wbslib.report.page import PageContext

MISSING = browser_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"needs a real browser: {MISSING}")
VAGUE = {"report", "here", "link", "click here", "more", "html", ""}


@pytest.fixture(scope="module")
def browser():
    with offline_browser() as chromium:
        yield chromium


def _problems(page: Path, width: int, facts: dict) -> list[str]:
    """What is wrong with one page at one width (empty when nothing is)."""
    found = [f"request left the file: {u}" for u in facts["blocked"]]
    found += [f"console error: {e}" for e in facts["errors"]]
    if width == PHONE and (facts["inner_width"] != PHONE or facts["scroll_width"] > facts["inner_width"]):
        found.append(f"page {facts['scroll_width']} px wide in a {facts['inner_width']} px screen: {facts['too_wide']}")
    first_screen = 0 <= (facts["findings_top"] or 0) < facts["inner_height"]
    if not first_screen and not page.stem.endswith("-code"):  # the code version keeps the notebook's order
        found.append(f"findings box starts {facts['findings_top']:.0f} px down, below the first screen")
    for text, href in facts["links"]:
        target = unquote(href.split("#", 1)[0])
        if target and not (page.parent / target).exists():
            found.append(f"link {text!r} → {href} leads nowhere")
    return [f"{page.name} at {width} px: {p}" for p in found]


def _png(width: int, height: int) -> str:
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _display(cell, data: dict, tags=()):
    cell.metadata["tags"] = list(tags)
    cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
    return cell


def _hard_notebook() -> nbformat.NotebookNode:
    """What strains a phone: a long introduction, a wide findings table, a 30-column table, a long
    unbroken output line and a 2000 px figure."""
    groups = ["1x", "2x", "3x", "2x-real", "2x-simu", "3x-real", "3x-simu", "2x-gauss", "3x-gauss"]
    wide = pd.DataFrame({f"measure {i}": [f"{0.5 + i / 100:.3f} [0.21–0.78]"] * len(groups) for i in range(12)}, groups)
    cells = [
        nbformat.v4.new_markdown_cell("# 05 · Statistics: the paper's tables\n" + "A long introduction. " * 120),
        nbformat.v4.new_markdown_cell("## A wide table"),
        _display(nbformat.v4.new_code_cell("t"), {"text/html": pd.DataFrame(np.ones((5, 30))).to_html()}),
        _display(nbformat.v4.new_code_cell("print"), {"text/plain": "x" * 400}),
        _display(nbformat.v4.new_code_cell("fig"), {"image/png": _png(2000, 1200), "text/plain": "fig"}),
        _display(nbformat.v4.new_code_cell("findings"), {"text/html": wide.to_html()}, tags=["wbs-findings"]),
    ]
    return nbformat.v4.new_notebook(cells=cells)


@pytest.fixture(scope="module")
def hard_site(tmp_path_factory) -> Path:
    """A report folder with the hard notebook's reports (clinician and code) and an index (with a long
    platform string)."""
    folder = tmp_path_factory.mktemp("hard")
    runs = folder / "runs"
    runs.mkdir()
    nbformat.write(_hard_notebook(), str(runs / "05-stats.ipynb"))
    report = render_notebook(runs / "05-stats.ipynb", folder / "05-stats.html", context=PageContext())
    code = render_notebook(runs / "05-stats.ipynb", folder / "05-stats-code.html", include_code=True)
    entry = {"stem": "05-stats", "status": "ok", "wall_s": 1.0, "html": report, "code_html": code}
    write_index("t", runs, folder, [entry], {"platform": "Linux-6.1.0-30-amd64-x86_64-with-glibc2.36" * 2})
    return folder


def test_a_hard_page_fits_a_phone_and_shows_its_findings_first(browser, hard_site):
    assert list((hard_site / "img").glob("05-stats-*.png"))  # the figure's full resolution, linked
    for page in (hard_site / "05-stats.html", hard_site / "05-stats-code.html", hard_site / "index.html"):
        for width in (DESKTOP, PHONE):
            facts = check_page(browser, page, width)
            assert _problems(page, width, facts) == []
            assert facts["findings_top"] is not None
            assert facts["viewport_meta"] == "width=device-width, initial-scale=1"


def test_the_checks_bite_on_broken_pages(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="http://192.0.2.1/x.png"><script>undefinedFunction()</script>'
        '<div style="width:900px">wide</div><a href="missing.html">report</a></body></html>'
    )
    facts = check_page(browser, bad, PHONE)
    assert facts["blocked"] == ["http://192.0.2.1/x.png"]
    assert any("undefinedFunction" in e for e in facts["errors"])
    assert facts["viewport_meta"] is None and facts["inner_width"] > PHONE  # no viewport meta: a phone zooms out
    problems = _problems(bad, PHONE, facts)
    for kind in ("request left the file", "console error", "px screen", "leads nowhere"):
        assert any(kind in p for p in problems), kind


def test_every_smoke_report_opens_offline_fits_a_phone_and_names_its_links(smoke_run, browser):
    params, proc = smoke_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = project_root() / "reports" / params["run"]
    pages = sorted(folder.glob("*.html"))
    assert folder / "index.html" in pages and len(pages) > len(params["notebooks"])
    problems, index_facts = [], {}
    for page in pages:
        for width in (DESKTOP, PHONE):
            facts = check_page(browser, page, width)
            problems += _problems(page, width, facts)
            if page.name == "index.html":
                index_facts[width] = facts
            if page.name in ("index.html", "05-statistics.html"):  # these two must have a findings box at all
                problems += [f"{page.name} at {width} px: no findings box"] if facts["findings_top"] is None else []
    assert problems == []
    facts = index_facts[PHONE]
    assert facts["viewport_meta"] == "width=device-width, initial-scale=1"
    titled = {href: text for text, href in facts["links"] if href.endswith(".html") and not href.endswith("-code.html")}
    assert set(titled) == {f"{stem}.html" for stem in params["notebooks"]}
    assert all(text[:2].isdigit() and len(text) > 8 for text in titled.values()), titled  # 'NN · Title'
    assert not [text for text, _ in facts["links"] if text.lower() in VAGUE]


def test_screenshots_show_the_first_screen_of_the_index_and_of_05(browser, hard_site):
    shots = screenshots(hard_site, hard_site / "shots", browser)
    assert [p.name for p in shots] == ["index-1366.png", "index-412.png", "05-stats-1366.png", "05-stats-412.png"]
    sizes = [Image.open(p).size for p in shots]
    assert sizes == [(DESKTOP, 768), (2 * PHONE, 2 * 915)] * 2  # a phone: 2 device pixels per CSS pixel
