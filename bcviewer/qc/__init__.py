"""Slide quality control before scoring: glass, pen ink, folds and debris, over- and under-staining and blur,
tile by tile (HistoQC's and Slideflow's classic checks, re-implemented; Qt- and torch-free)."""

from bcviewer.qc.slide import QC_FIELDS, GridQc, QcSummary, qc_csv_text, qc_grid, qc_level, summarise
from bcviewer.qc.tiles import QC_FLAGS, QC_SIDE, QcFlag, TileQc, qc_tile

__all__ = ["QC_FIELDS", "QC_FLAGS", "GridQc", "QC_SIDE", "QcFlag", "QcSummary", "TileQc", "qc_csv_text", "qc_grid", "qc_level",
           "qc_tile", "summarise"]
