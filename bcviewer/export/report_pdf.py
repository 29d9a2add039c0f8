"""The layout of a slide report (:class:`~bcviewer.export.report.SlideReport`) as an A4 PDF, with
reportlab (BSD licence). Only the standard PDF fonts are used, so nothing is read from disk and
the CPU bundle needs no font files; every page carries the research-use notice and "page N of M".
The document is written with reportlab's ``invariant`` flag: the same report gives the same bytes.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import numpy as np
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from bcviewer.export.files import png_bytes
from bcviewer.export.legend import legend_band
from bcviewer.export.report import NOTICE
from bcviewer.inference.verdict import INTERVAL

if TYPE_CHECKING:
    from bcviewer.export.report import SlideReport
    from bcviewer.inference.verdict import Verdict

MARGIN = 16 * mm
WIDTH = A4[0] - 2 * MARGIN
NOTICE_COLOR = colors.HexColor("#b00020")
VERDICT_COLORS = {"malignant": "#c62828", "benign": "#2e7d32", "review": "#b35c00", "none": "#616161"}
GRID = colors.HexColor("#b0b0b0")
HEAD = colors.HexColor("#ececec")
HEATMAP_HEIGHT = 100 * mm

_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontName="Helvetica", fontSize=9, leading=11.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=8, leading=10)
MONO = ParagraphStyle("mono", parent=CELL, fontName="Courier", fontSize=7.5)
H1 = ParagraphStyle("h1", parent=_styles["Heading1"], fontName="Helvetica-Bold", fontSize=15, leading=18,
                    spaceAfter=4)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontName="Helvetica-Bold", fontSize=11, leading=14,
                    spaceBefore=8, spaceAfter=3)
VERDICT = ParagraphStyle("verdict", parent=BODY, fontName="Helvetica-Bold", fontSize=14, leading=17)


def _p(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(text), style)


def _num(value: float, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _table(rows: list[list[Any]], widths: list[float], header: bool = False) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEAD))
    table.setStyle(TableStyle(style))
    return table


def _facts(rows: list[tuple[str, str]], mono: tuple[str, ...] = ()) -> Table:
    return _table([[_p(k), _p(v, MONO if k in mono else CELL)] for k, v in rows], [42 * mm, WIDTH - 42 * mm])


def _image(rgb: np.ndarray, width: float, max_height: float) -> Image:
    h, w = rgb.shape[:2]
    scale = min(width / w, max_height / h)
    return Image(io.BytesIO(png_bytes(np.ascontiguousarray(rgb))), width=w * scale, height=h * scale)


def _heatmap(report: SlideReport) -> list[Any]:
    """The thumbnail at most :data:`HEATMAP_HEIGHT` tall, and the legend band across the text width:
    its scale bar is measured in the thumbnail's µm per millimetre of paper, so it stays true."""
    h, w = report.overlay.shape[:2]
    scale = min(WIDTH / w, HEATMAP_HEIGHT / h)
    shown_w = w * scale
    band_px = 900
    um_per_band_px = (report.overlay_um_width / shown_w * (WIDTH / band_px)) if report.overlay_um_width else None
    band = legend_band(band_px, cmap=report.cmap, um_per_px=um_per_band_px, threshold=report.threshold_shown)
    return [_image(report.overlay, WIDTH, HEATMAP_HEIGHT), _image(band, WIDTH, 30 * mm)]


def _verdict_block(v: Verdict, threshold: float) -> list[Any]:
    key = "none" if v.label is None else ("review" if v.review else v.label)
    words = escape(v.text)
    head = Paragraph(f"Verdict: <font color='{VERDICT_COLORS[key]}'>{words}</font>", VERDICT)
    if v.label is None:
        return [head]
    interval = ("one tile: no interval" if v.tiles_used < 2 else
                f"{INTERVAL:.0%} interval over the tiles {v.low:.3f}–{v.high:.3f}")
    lines = [(f"Verdict rule: {v.rule} of the tile p = {v.value:.3f} ({interval}; {v.tiles_used} tiles scored), "
              f"malignant at >= {threshold:.2f}."),
             f"Uncertainty (calibrated margin 1 - |2p - 1|): {_num(v.uncertainty)}."]
    if v.prediction_set is not None:
        lines.append(f"Conformal prediction set: {v.prediction_set}"
                     + ("; a person must review this slide." if v.review else "."))
    if v.outside is not None:
        lines.append("Outside training data: " + ("yes, most scored tiles look unlike every training tile."
                                                  if v.outside else "no."))
    if "not validated" in v.rule:
        lines.append("The verdict rule is not validated for this model (see its model card).")
    return [head, *(_p(line, BODY) for line in lines)]


def _top_tiles(report: SlideReport) -> list[Any]:
    if not report.top:
        return [_p("No tile was scored.", BODY)]
    rows: list[list[Any]] = [[_p(h) for h in ("rank", "tile", "x, y (level-0 px)", "w x h (px)", "row, col",
                                             "P(malignant)", "uncertainty")]]
    for t in report.top:
        x, y, w, h = t.rect
        rows.append([_p(str(t.rank)), _image(t.picture, 30 * mm, 24 * mm), _p(f"{x}, {y}"), _p(f"{w} x {h}"),
                     _p(f"{t.row}, {t.col}"), _p(_num(t.p)), _p(_num(t.uncertainty))])
    widths = [12 * mm, 34 * mm, 32 * mm, 24 * mm, 18 * mm, 24 * mm, WIDTH - 144 * mm]
    return [_table(rows, widths, header=True),
            _p("Ranked by P(malignant) among the scored tiles (quality control's exclusions are never ranked); "
               "x, y is the tile's top-left corner in the slide's level-0 pixels.", SMALL)]


def _qc(report: SlideReport) -> list[Any]:
    if report.qc is None:
        return [_p("Quality control did not run on this input (by default it runs on whole slides only).", BODY)]
    rows: list[list[Any]] = [[_p("class"), _p("tiles"), _p("share of tissue")]]
    for flag, n in report.qc.tiles.items():
        if n:
            rows.append([_p(flag), _p(str(n)), _p(f"{100 * report.qc.tissue_share[flag]:.1f}%")])
    left = sum(n for f, n in report.qc.tiles.items() if f != "ok")
    return [_p(f"Quality control left out {left} of {sum(report.qc.tiles.values())} tiles; they are never scored "
               "and never count in the verdict.", BODY), Spacer(1, 2),
            _table(rows, [40 * mm, 25 * mm, 35 * mm], header=True)]


def _regions(report: SlideReport) -> list[Any]:
    if not report.regions:
        return [_p("No regions were drawn or given for this analysis.", BODY)]
    heads = ("region", "class", "area mm²", "tissue mm²", "tiles", "mean p", "max p", "% tissue >= thr.",
             "verdict")
    rows: list[list[Any]] = [[_p(h) for h in heads]]
    for r in report.regions:
        rows.append([_p(r.region), _p(r.classification), _p(_num(r.area_mm2, 3) if r.area_mm2 is not None else "–"),
                     _p(_num(r.tissue_mm2, 3) if r.tissue_mm2 is not None else "–"), _p(str(r.tiles_scored)),
                     _p(_num(r.mean_p)), _p(_num(r.max_p)), _p(_num(r.pct_tissue_above, 1)),
                     _p(f"{r.verdict.text}; {r.verdict.interval_text}")])
    widths = [24 * mm, 18 * mm, 16 * mm, 17 * mm, 11 * mm, 14 * mm, 14 * mm, 18 * mm, WIDTH - 132 * mm]
    return [_table(rows, widths, header=True),
            _p("Areas need the pixel size (– when it is unknown); each region's verdict uses the slide's rule.",
               SMALL)]


def _edits(report: SlideReport) -> list[Any]:
    if report.edits is None:
        return [_p("No labeling project was open.", BODY)]
    found = report.edits
    head = _p(f"From the audit trail of {found.project}, newest first.", BODY)
    if not found.edits:
        return [head, _p(found.note, BODY)]
    rows: list[list[Any]] = [[_p(h) for h in ("time (UTC)", "row, col", "action", "label", "source", "reason")]]
    for e in found.edits:
        change = f"{e.old_label} -> {e.new_label}" if e.old_label and e.old_label != e.new_label else e.new_label
        rows.append([_p(e.time), _p(f"{e.row}, {e.col}"), _p(e.action), _p(change), _p(e.source), _p(e.reason)])
    parts: list[Any] = [head, _table(rows, [32 * mm, 15 * mm, 16 * mm, 36 * mm, 18 * mm, WIDTH - 117 * mm],
                                     header=True)]
    if found.more:
        parts.append(_p(f"… and {found.more} older edits (see the project's history).", SMALL))
    return parts


def _story(report: SlideReport) -> list[Any]:
    story: list[Any] = [Paragraph(f"Slide report: {escape(report.slide_name)}", H1)]
    story += _verdict_block(report.verdict, report.threshold)
    story += [Paragraph("Slide", H2), _facts([
        ("name", report.slide_name), ("size", report.size_text), ("µm per pixel", report.mpp_text),
        ("scanner", report.scanner)])]
    model = report.model_name + (f"; {report.model_reason}" if report.model_reason else "")
    facts = [("date", report.created), ("bcviewer version", report.version), ("model", model),
             ("card sha256", report.card_sha256), ("weights sha256", report.weights_sha256)]
    if report.onnx_sha256:
        facts.append(("ONNX file sha256", report.onnx_sha256))
    facts += [("stain normalisation", report.stain),
              ("tiles", f"{report.tiles_scored} of {report.tiles_total} scored")]
    story += [Paragraph("Analysis", H2), _facts(facts, mono=("card sha256", "weights sha256", "ONNX file sha256"))]
    caption = (f"Heatmap of P(malignant) over the slide ({report.look}); the {len(report.top)} most suspicious "
               "tiles are outlined in magenta and numbered by rank.")
    story += [KeepTogether([Paragraph("Heatmap", H2), *_heatmap(report), _p(caption, SMALL)])]
    story += [KeepTogether([Paragraph(f"The {len(report.top)} most suspicious tiles", H2), *_top_tiles(report)])]
    story += [KeepTogether([Paragraph("Quality control", H2), *_qc(report)])]
    story += [Paragraph("Regions", H2), *_regions(report)]
    story += [Paragraph("Label edits", H2), *_edits(report)]
    if report.notes:
        story += [Paragraph("Notes", H2), *(_p(n, BODY) for n in report.notes)]
    return story


class _NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no annotations
    """A canvas that draws the notice and "page N of M" once the page count is known."""

    slide_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for page in self._pages:
            self.__dict__.update(page)
            self._decorate(len(self._pages))
            super().showPage()
        super().save()

    def _decorate(self, total: int) -> None:
        width, height = A4
        self.saveState()
        self.setFillColor(NOTICE_COLOR)
        self.setFont("Helvetica-Bold", 10)
        self.drawString(MARGIN, height - 11 * mm, NOTICE)
        self.setFillColor(colors.black)
        self.setFont("Helvetica", 8)
        self.drawRightString(width - MARGIN, height - 11 * mm, f"bcviewer slide report · {self.slide_name[:60]}")
        self.setStrokeColor(GRID)
        self.line(MARGIN, height - 13 * mm, width - MARGIN, height - 13 * mm)
        self.line(MARGIN, 12 * mm, width - MARGIN, 12 * mm)
        self.setFillColor(NOTICE_COLOR)
        self.setFont("Helvetica-Bold", 8)
        self.drawString(MARGIN, 8 * mm, NOTICE)
        self.setFillColor(colors.black)
        self.setFont("Helvetica", 8)
        self.drawRightString(width - MARGIN, 8 * mm, f"page {self._pageNumber} of {total}")
        self.restoreState()


def report_pdf(report: SlideReport) -> bytes:
    """The report as PDF bytes (A4)."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=18 * mm,
                            bottomMargin=17 * mm, title=f"bcviewer slide report: {report.slide_name}",
                            author=f"bcviewer {report.version}", subject=NOTICE,
                            creator="bcviewer", invariant=1)
    canvas = type("ReportCanvas", (_NumberedCanvas,), {"slide_name": report.slide_name})
    doc.build(_story(report), canvasmaker=canvas)
    return buffer.getvalue()
