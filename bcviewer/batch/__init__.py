"""Batch scoring for ``bcviewer predict``: one code path per slide, manifests for ``--resume``,
and (in :mod:`bcviewer.batch.cluster`, imported only on demand) Dask distributed execution.

The package imports its submodules lazily (PEP 562): ``bcviewer predict --help`` reads the formats
and the retry default from :mod:`.choices` without importing the scoring stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.lazy import lazy_attributes

if TYPE_CHECKING:
    from bcviewer.batch.choices import DEFAULT_RETRIES, FORMATS
    from bcviewer.batch.manifest import (
        MANIFEST_NAME,
        completed_row,
        read_manifest,
        write_outcome,
    )
    from bcviewer.batch.summary import SummaryRow
    from bcviewer.batch.work import (
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

_SUBMODULES: dict[str, tuple[str, ...]] = {
    "bcviewer.batch.choices": ("DEFAULT_RETRIES", "FORMATS"),
    "bcviewer.batch.manifest": ("MANIFEST_NAME", "completed_row", "read_manifest", "write_outcome"),
    "bcviewer.batch.summary": ("SummaryRow",),
    "bcviewer.batch.work": ("OUTPUT_FILES", "WORKER_PREDICTORS", "ModelRef", "PredictOptions", "PredictorCache",
                            "SlideOutcome", "error_outcome", "load_predictor", "model_ref", "one_line",
                            "planned_job", "render_outputs", "score_one", "score_slides", "worker_id"),
}

__all__ = [
    "MANIFEST_NAME", "completed_row", "read_manifest", "write_outcome",
    "DEFAULT_RETRIES", "FORMATS", "OUTPUT_FILES", "WORKER_PREDICTORS", "ModelRef", "PredictOptions", "PredictorCache",
    "SlideOutcome", "SummaryRow", "error_outcome", "load_predictor", "model_ref", "one_line", "planned_job",
    "render_outputs", "score_one", "score_slides", "worker_id",
]


__getattr__, __dir__ = lazy_attributes(globals(), __name__, _SUBMODULES, __all__)
