"""Reading a bcviewer PDF report back for the tests: its text per page (pypdfium2's text layer), its
embedded images as RGB arrays, and its pages rendered to pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c


def page_texts(pdf: bytes | Path) -> list[str]:
    """The text of each page, in order."""
    document = pdfium.PdfDocument(pdf if isinstance(pdf, bytes) else str(pdf))
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def page_images(pdf: bytes, page_index: int) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Every image drawn on one page: its pixels (RGB, as embedded) and its bounds in points."""
    document = pdfium.PdfDocument(pdf)
    try:
        found = []
        for obj in document[page_index].get_objects():
            if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                bitmap = obj.get_bitmap(render=False)
                pixels = bitmap.to_numpy()
                if bitmap.mode == "BGR":
                    pixels = pixels[..., ::-1]
                found.append((np.ascontiguousarray(pixels[..., :3]), tuple(obj.get_bounds())))
        return found
    finally:
        document.close()


def rendered_page(pdf: bytes, page_index: int, scale: float = 1.0) -> np.ndarray:
    """One page rendered to RGB pixels (72 dpi times ``scale``)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return np.asarray(document[page_index].render(scale=scale).to_pil().convert("RGB"))
    finally:
        document.close()


def render_pages(pdf: Path, stem: Path, scale: float = 1.5) -> list[Path]:
    """Save each page as ``<stem>-p<N>.png``; returns the paths."""
    data = pdf.read_bytes()
    count = len(page_texts(data))
    paths = []
    for i in range(count):
        from PIL import Image

        path = stem.with_name(f"{stem.name}-p{i + 1}.png")
        Image.fromarray(rendered_page(data, i, scale)).save(path)
        paths.append(path)
    return paths
