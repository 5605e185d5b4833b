"""`make screenshots`: the first screen of a run's index and of its 05 report at 1366 px and 412 px,
in headless Chromium (`wbslib.report.browser`), saved under reports/<run>/screenshots/; prints
each report page's size.

    python -m wbslib.report.screenshots --params notebooks/params/demo.yaml
"""

from __future__ import annotations

import argparse

from wbslib.core.params import load_params, resolve_path
from wbslib.report.browser import browser_missing, screenshots


def main(argv: list[str] | None = None) -> None:
    """Screenshots of the run a params file names, and the size of each of its pages (bytes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="notebooks/params/demo.yaml", help="the run's params file")
    args = parser.parse_args(argv)
    folder = resolve_path(f"reports/{load_params(args.params)['run']}")
    if not (folder / "index.html").exists():
        raise SystemExit(f"{folder} holds no index.html; run `wbs run --params {args.params}` first.")
    if reason := browser_missing():
        raise SystemExit(f"Cannot take screenshots: {reason}.")
    for page in sorted(folder.glob("*.html")):
        print(f"{page.stat().st_size:>10,d} B  {page.name}")
    for shot in screenshots(folder):
        print(f"screenshot: {shot}")


if __name__ == "__main__":
    main()
