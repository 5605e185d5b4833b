"""Self-contained HTML reading sheets for the blinded reader study (one page per reader).

Each image set appears under its case code only, in worklist order, both views side by side
(ANT, then POST as acquired, i.e. seen from behind). Display is fixed, as nuclear-medicine
readers view bone scans: inverted grey (more counts = darker), window 0 to the 99th percentile
of the counts inside the body (both views together), so no
reader adjusts contrast per case. Images are embedded as base64 PNG; the page loads nothing
from the network and prints one case per block.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from wbslib import RESEARCH_USE
from wbslib.core.errors import ParamsError
from wbslib.core.fileio import write_text
from wbslib.readers.worklist import check_reader_names

WINDOW_PERCENTILE = 99.0
BODY_BOX_PX = 5
BODY_LEVEL = 0.02
PNG_COMPRESSION = 3
VIEW_NAMES = ("ANT", "POST")

INSTRUCTIONS = """<p>For each case, record in your score-sheet CSV (columns reader, case_code, likert,
malignant, confidence; one row per case code):</p>
<ul><li><b>likert</b> – image quality: 5 excellent, 4 good, 3 adequate, 2 poor, 1 non-diagnostic
(a score of 1 counts as a negative call);</li>
<li><b>malignant</b> – 1 if you read bone metastasis, 0 if not;</li>
<li><b>confidence</b> – how sure you are of that call: 1 a guess … 5 certain.</li></ul>
<p>Images: anterior (left) and posterior (right, seen from behind), inverted grey, window 0 to the
99th percentile of the body counts. Read in the order given; do not compare cases.</p>"""

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#111}
.case{page-break-inside:avoid;border-top:2px solid #444;padding:0.6em 0;display:flex;gap:1.5em}
.views{display:flex;gap:6px}.views figure{margin:0;text-align:center}
.views img{height:768px;image-rendering:pixelated;border:1px solid #999}
table.score td{border:1px solid #999;padding:0.4em 1.2em}.ru{color:#a00;font-weight:bold}"""


def display_window(counts: np.ndarray) -> float:
    """Upper end of the fixed window: 99th percentile of the counts inside the body (both views).

    Body: 5 × 5 mean counts above 2 % of their 99th percentile, per view (as `preprocess.body_mask`
    with a box instead of a Gaussian, which is faster).
    """
    counts = np.nan_to_num(np.asarray(counts, np.float32))
    inside = []
    for view in counts:
        smooth = ndimage.uniform_filter(view, BODY_BOX_PX)
        inside.append(view[smooth > BODY_LEVEL * np.percentile(smooth, 99.0)])
    inside = np.concatenate(inside)
    top = float(np.percentile(inside, WINDOW_PERCENTILE)) if inside.size else 0.0
    return top if top > 0 else float(max(counts.max(), 1.0))


def view_png(view: np.ndarray, top: float) -> bytes:
    """One view as an 8-bit inverted-grey PNG (0 counts white, ≥ `top` black)."""
    scaled = np.clip(np.nan_to_num(np.asarray(view, np.float64)) / top, 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray((255 - np.round(scaled * 255)).astype(np.uint8)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESSION
    )
    return buffer.getvalue()


def case_block(position: int, case_code: str, counts: np.ndarray) -> str:
    """HTML of one case: number, code, both views, an empty score table for printing."""
    top = display_window(counts)
    figures = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(view_png(v, top)).decode()}">'
        f"<figcaption>{name}</figcaption></figure>"
        for name, v in zip(VIEW_NAMES, counts)
        if np.isfinite(v).any()
    )
    code = html.escape(str(case_code))
    return (
        f'<div class="case"><div><h2>{position}. Case {code}</h2><table class="score">'
        "<tr><td>Likert (1–5)</td><td></td></tr><tr><td>Malignant (0/1)</td><td></td></tr>"
        f'<tr><td>Confidence (1–5)</td><td></td></tr></table></div><div class="views">{figures}</div></div>'
    )


def sheet_html(worklist: pd.DataFrame, blocks: list[str], reader: str, part: str = "") -> str:
    """The page for one reader, from the case blocks in worklist order (`part`: e.g. 'part 2 of 7')."""
    wid = html.escape(str(worklist["worklist_id"].iloc[0]))
    name = html.escape(reader)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Reading sheet {wid} – {name}'
        f"</title><style>{STYLE}</style></head><body><h1>Whole-body bone scan reading sheet</h1>"
        f'<p class="ru">{RESEARCH_USE}</p><p>Worklist <b>{wid}</b> · reader <b>{name}</b> · '
        f"{html.escape(part)} · {len(blocks)} cases</p>{INSTRUCTIONS}{''.join(blocks)}</body></html>"
    )


def write_reading_sheets(
    worklist: pd.DataFrame,
    pixels: Callable[[str], np.ndarray],
    folder: str | os.PathLike,
    readers: list[str],
    session_size: int = 100,
) -> list[Path]:
    """reading_sheet_<reader>_partNN.html: each reader's worklist in reading sessions of
    `session_size` cases; `pixels(code)` gives an image set's counts. Images are rendered once."""
    readers = check_reader_names(readers)
    if session_size < 1:
        raise ParamsError(f"readers.session_size must be a positive number of cases, got {session_size}.")
    ordered = worklist.sort_values("position")
    blocks = [case_block(int(p), c, np.asarray(pixels(c))) for p, c in zip(ordered["position"], ordered["case_code"])]
    parts = [blocks[i : i + session_size] for i in range(0, len(blocks), session_size)]
    folder = Path(folder)
    return [
        write_text(
            sheet_html(ordered, part, reader, f"part {k + 1} of {len(parts)}"),
            folder / f"reading_sheet_{reader}_part{k + 1:02d}.html",
        )
        for reader in readers
        for k, part in enumerate(parts)
    ]
