"""``bcviewer predict --report``: one input's PDF report, rendered where the input was scored (a Dask
worker or this process) and written by the client with its other files (see :mod:`.manifest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.export.report import render_report, slide_report

if TYPE_CHECKING:
    from bcviewer.batch.work import PredictOptions
    from bcviewer.inference import TileScores
    from bcviewer.inference.plan import InputPlan
    from bcviewer.slides import SlideReader


def report_bytes(slide: SlideReader, scores: TileScores, plan: InputPlan | None, options: PredictOptions) -> bytes:
    """The report of one scored input, its heatmap drawn as predict's overlay.png is."""
    report = slide_report(slide, scores, plan, mpp=options.mpp_for(slide.path), regions=plan.regions if plan else (),
                          cmap=options.cmap, opacity=options.opacity, smooth=options.smooth)
    return render_report(report)
