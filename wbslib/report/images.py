"""Images sized for the screen: a large figure shows as a small preview, its full-resolution PNG one
click away in a file beside the report (relative link, so the folder still opens offline).

A PNG output over `LARGE_BYTES` or wider than `PREVIEW_WIDTH` px becomes an HTML output: the
preview (≤ `PREVIEW_WIDTH` px wide; a 256-colour PNG or a JPEG, whichever is smaller) embedded as
a data URI inside a link to `img/<name>-<sha256 of the PNG, 12 hex>.png`, the notebook's PNG byte
for byte (the clinician and code versions share the file).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import io
from pathlib import Path

import nbformat

from wbslib.core.fileio import atomic_path

PREVIEW_WIDTH = 1000  # px: the widest the report column shows on a laptop, ≈ a phone's device pixels
LARGE_BYTES = 150_000
IMAGE_FOLDER = "img"


def preview(png: bytes, width: int = PREVIEW_WIDTH) -> tuple[bytes, str, tuple[int, int]]:
    """(image bytes, MIME type, (width, height) px) of a preview of a PNG at most `width` px wide."""
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im)
    im = im.convert("RGB")
    if im.width > width:
        im = im.resize((width, max(1, round(im.height * width / im.width))), Image.Resampling.LANCZOS)
    candidates = []
    for mime, save in (
        ("image/png", lambda f: im.quantize(256).save(f, "PNG", optimize=True)),
        ("image/jpeg", lambda f: im.save(f, "JPEG", quality=85, optimize=True)),
    ):
        buf = io.BytesIO()
        save(buf)
        candidates.append((buf.getvalue(), mime))
    data, mime = min(candidates, key=lambda c: len(c[0]))
    return data, mime, im.size


def _is_large(png: bytes) -> bool:
    from PIL import Image

    return len(png) > LARGE_BYTES or Image.open(io.BytesIO(png)).width > PREVIEW_WIDTH


def shrink_images(nb: nbformat.NotebookNode, folder: str | Path, name: str) -> nbformat.NotebookNode:
    """A copy of `nb` whose large PNG outputs are previews linking to full-resolution files written
    to `folder/img/<name>-<hash>.png` (`folder` is where the report's HTML goes)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            png = base64.b64decode(data["image/png"])
            if not _is_large(png):
                continue
            rel = f"{IMAGE_FOLDER}/{name}-{hashlib.sha256(png).hexdigest()[:12]}.png"
            if not (Path(folder) / rel).exists():
                with atomic_path(Path(folder) / rel) as tmp:
                    tmp.write_bytes(png)
            small, mime, (w, h) = preview(png)
            src = f"data:{mime};base64,{base64.b64encode(small).decode('ascii')}"
            out["data"] = {
                "text/html": (
                    f'<a class="wbs-full" href="{html.escape(rel)}" title="Open the full-resolution image">'
                    f'<img src="{src}" width="{w}" height="{h}" alt="Figure (select to open at full resolution)">'
                    "</a>"
                ),
                "text/plain": f"[figure: {rel}]",
            }
            out["metadata"] = {}
    return nb
