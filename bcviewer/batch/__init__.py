"""Batch scoring for ``bcviewer predict``: one code path per slide, manifests for ``--resume``,
and (in :mod:`bcviewer.batch.cluster`, imported only on demand) Dask distributed execution."""

from bcviewer.batch.manifest import MANIFEST_NAME, completed_row, read_manifest, write_outcome
from bcviewer.batch.summary import SummaryRow
from bcviewer.batch.work import (
    DEFAULT_RETRIES,
    FORMATS,
    OUTPUT_FILES,
    WORKER_PREDICTORS,
    ModelRef,
    PredictOptions,
    PredictorCache,
    SlideOutcome,
    error_outcome,
    load_predictor,
    model_ref,
    one_line,
    planned_job,
    render_outputs,
    score_one,
    score_slides,
    worker_id,
)

__all__ = [
    "MANIFEST_NAME", "completed_row", "read_manifest", "write_outcome",
    "DEFAULT_RETRIES", "FORMATS", "OUTPUT_FILES", "WORKER_PREDICTORS", "ModelRef", "PredictOptions", "PredictorCache",
    "SlideOutcome", "SummaryRow", "error_outcome", "load_predictor", "model_ref", "one_line", "planned_job",
    "render_outputs", "score_one", "score_slides", "worker_id",
]
