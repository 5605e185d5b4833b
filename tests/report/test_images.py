"""Large figures: a preview sized for the screen, the notebook's PNG byte for byte behind a link."""

from __future__ import annotations

import base64
import io

import nbformat
import numpy as np
import pytest
from PIL import Image

from wbslib.report.images import LARGE_BYTES, PREVIEW_WIDTH, preview, shrink_images


def _png(width: int, height: int, noise: bool, alpha: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    pixels = (
        rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        if noise
        else np.full((height, width, 4), 200, np.uint8)
    )
    pixels[..., 3] = 0 if alpha else 255
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buf, "PNG")
    return buf.getvalue()


def _notebook(*pngs: bytes) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(p).decode(), "text/plain": "fig"})
        for p in pngs
    ]
    return nbformat.v4.new_notebook(cells=[cell])


def test_large_image_becomes_a_linked_preview_and_small_one_stays(tmp_path):
    big, small = _png(1600, 900, noise=True), _png(300, 200, noise=False)
    assert len(big) > LARGE_BYTES
    nb = _notebook(big, small)
    out = shrink_images(nb, tmp_path, "03-x")
    first, second = out.cells[0].outputs
    assert second == nb.cells[0].outputs[1]  # small: untouched
    assert set(first.data) == {"text/html", "text/plain"} and first.metadata == {}
    href = first.data["text/html"].split('href="', 1)[1].split('"', 1)[0]
    assert href.startswith("img/03-x-") and href.endswith(".png")
    assert (tmp_path / href).read_bytes() == big  # full resolution, byte for byte
    src = first.data["text/html"].split('src="data:', 1)[1].split('"', 1)[0]
    mime, payload = src.split(";base64,")
    shown = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert shown.size == (PREVIEW_WIDTH, round(900 * PREVIEW_WIDTH / 1600))
    assert f'width="{PREVIEW_WIDTH}"' in first.data["text/html"] and mime in ("image/png", "image/jpeg")
    assert "image/png" in nb.cells[0].outputs[0].data  # the input notebook is untouched
    again = shrink_images(nb, tmp_path, "03-x")  # same figure, same file
    assert again.cells[0].outputs[0].data == first.data and len(list((tmp_path / "img").iterdir())) == 1


@pytest.mark.parametrize("noise", [True, False])
def test_preview_is_smaller_white_backed_and_at_most_preview_width(noise):
    png = _png(2400, 600, noise=noise, alpha=not noise)
    data, mime, (w, h) = preview(png)
    im = Image.open(io.BytesIO(data))
    assert (w, h) == im.size == (PREVIEW_WIDTH, 250) and len(data) < len(png)
    assert mime == ("image/jpeg" if noise else "image/png")  # noise compresses better as JPEG, flat areas as PNG
    if not noise:  # transparent pixels are shown on white
        assert im.convert("RGB").getpixel((10, 10)) == (255, 255, 255)
