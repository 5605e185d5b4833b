"""Reports in a real browser: Debian's Chromium driven by Playwright, network blocked.

Used by the browser test (`tests/report/test_browser.py`) and by `make screenshots`
(`wbslib.report.screenshots`), which saves the top of the index and of 05 at 1366 px and 412 px
under reports/<run>/screenshots/. Playwright (a dev
dependency) never downloads a browser here: it drives the system's /usr/bin/chromium.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wbslib.core.fileio import atomic_path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP, PHONE = 1366, 412  # px: a common laptop and a common phone (CSS px)
HEIGHT = {DESKTOP: 768, PHONE: 915}
FACTS_JS = """() => {
  const box = document.querySelector('.celltag_wbs-findings, .wbs-findings');
  const root = document.documentElement;
  const clipped = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
  const wide = Array.from(document.querySelectorAll('body *'))
    .filter(el => el.getBoundingClientRect().right > root.clientWidth + 1 && !clipped(el))
    .slice(0, 5).map(el => el.tagName.toLowerCase() + '.' + el.className);
  return {
    scroll_width: root.scrollWidth, inner_width: innerWidth, inner_height: innerHeight,
    viewport_meta: document.querySelector('meta[name="viewport"]')?.content ?? null,
    findings_top: box ? box.getBoundingClientRect().top : null,
    links: Array.from(document.querySelectorAll('a[href]')).map(a => [a.textContent.trim(), a.getAttribute('href')]),
    too_wide: wide,
  };
}"""


def browser_missing(executable: str = CHROMIUM) -> str | None:
    """Why a browser check cannot run here (Playwright or Chromium absent), or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright's Python package is not installed (pip install -c constraints.txt -e '.[dev]')"
    if not Path(executable).exists():
        return f"{executable} is not installed (apt-get install chromium)"
    return None


@contextmanager
def offline_browser(executable: str = CHROMIUM) -> Iterator:
    """A headless Chromium (Playwright `Browser`) started from `executable`, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser, path: str | Path, width: int) -> Iterator[tuple]:
    """(page, log) for a file opened at `width` px (below 600 px as a phone: touch, viewport meta
    honoured, 2 device px per px); every request that is not file:// or data: is aborted and listed
    in log['blocked'], console errors and script errors in log['errors']."""
    phone = width < 600
    context = browser.new_context(
        viewport={"width": width, "height": HEIGHT.get(width, 900)},
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    log = {"blocked": [], "errors": [], "load_s": None}

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            log["blocked"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    try:
        start = time.perf_counter()
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        log["load_s"] = time.perf_counter() - start
        yield page, log
    finally:
        context.close()


def check_page(browser, path: str | Path, width: int) -> dict:
    """What the browser test asserts on, for one page at one width: blocked requests, errors, load
    time (s), scroll_width/inner_width/inner_height (px), viewport_meta, findings_top (px from the
    top of the first screen, None without a findings box), links [(text, href)], too_wide (the
    first elements that stick out of the page)."""
    with open_page(browser, path, width) as (page, log):
        return {**log, **page.evaluate(FACTS_JS)}


def screenshots(report_folder: str | Path, out: str | Path | None = None, browser=None) -> list[Path]:
    """PNG screenshots of the first screen of index.html and of the 05 report at 1366 and 412 px,
    written to `out` (default report_folder/screenshots/); returns their paths. `browser`: an open
    `offline_browser()` (Playwright runs one at a time), else one is started."""
    if browser is None:
        with offline_browser() as started:
            return screenshots(report_folder, out, started)
    folder = Path(report_folder)
    out = Path(out) if out else folder / "screenshots"
    pages = [folder / "index.html", *sorted(p for p in folder.glob("05-*.html") if not p.stem.endswith("-code"))]
    written = []
    for path in (p for p in pages if p.exists()):
        for width in (DESKTOP, PHONE):
            with open_page(browser, path, width) as (page, _), atomic_path(out / f"{path.stem}-{width}.png") as tmp:
                page.screenshot(path=str(tmp), type="png")
            written.append(out / f"{path.stem}-{width}.png")
    return written
