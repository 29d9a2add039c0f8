"""Label store (SQLite project file) and the hierarchical self-learning relabel loop.

* :class:`LabelStore` (``store``): images, sub-images with label/source/lock, the audit trail
  with undo, review proposals, rounds and predictions; every change one transaction.
* ``rules``: the pure multiple-instance relabel rule and its invariants.
* :class:`SelfLearningEngine` (``selflearn``): rounds of train, score, relabel with an injected
  :class:`Trainer` or :class:`Scorer`; tau follows the project's completed rounds.
* Trainers (import them directly; ``trainers`` names them and picks the default):
  ``probe_trainer`` (the default, no PyTorch: a logistic regression on pooled trunk features that
  ONNX Runtime computes and ``feature_cache`` caches), and, loading PyTorch, ``lite_trainer`` (the
  Lite hybrid's head on the same cached features) and ``hybrid_trainer`` (a small CNN+LSTM from
  scratch).
* ``importer`` (import it directly, it loads the imaging stack) with ``sources`` (labels from
  BreakHis names, a labels CSV or benign/ and malignant/ folders), and ``export`` (CSV, QuPath GeoJSON).

The package imports its submodules lazily (PEP 562): ``bcviewer labels stats`` and the other
commands that only read a project do not load scikit-learn (the self-learning loop's split).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bcviewer.lazy import lazy_attributes

if TYPE_CHECKING:
    from bcviewer.labels.errors import (
        ImportSourceError,
        LabelStoreError,
        LockedSubImageError,
        ProjectFileError,
        SelfLearningError,
        UnknownItemError,
    )
    from bcviewer.labels.export import (
        CSV_FIELDS,
        labels_csv_text,
        write_labels_csv,
        write_labels_geojson,
    )
    from bcviewer.labels.queries import SubImageRef
    from bcviewer.labels.records import (
        DecisionResult,
        HistoryRow,
        ImageRow,
        LabelCounts,
        NewImage,
        ProposalRow,
        RoundRow,
        SubImageRect,
        SubImageRow,
        UndoResult,
    )
    from bcviewer.labels.review import ImageReview, RoundPrediction
    from bcviewer.labels.rules import (
        Relabel,
        RuleOutcome,
        SubImageState,
        invariant_violations,
        relabel_image,
    )
    from bcviewer.labels.schema import SCHEMA_VERSION
    from bcviewer.labels.selflearn import (
        HeldOutAccuracy,
        RoundReport,
        Scorer,
        SelfLearningCancelled,
        SelfLearningEngine,
        TauSchedule,
        Trainer,
        heldout_accuracy,
    )
    from bcviewer.labels.store import LabelStore

__all__ = [
    "ImportSourceError", "LabelStoreError", "LockedSubImageError", "ProjectFileError", "SelfLearningError",
    "UnknownItemError", "CSV_FIELDS", "labels_csv_text", "write_labels_csv", "write_labels_geojson",
    "SubImageRef", "DecisionResult", "HistoryRow", "ImageRow", "LabelCounts", "NewImage", "ProposalRow",
    "RoundRow", "ImageReview", "RoundPrediction", "SubImageRect", "SubImageRow", "UndoResult", "Relabel",
    "RuleOutcome", "SubImageState",
    "invariant_violations", "relabel_image", "SCHEMA_VERSION", "HeldOutAccuracy", "RoundReport", "Scorer",
    "SelfLearningCancelled", "SelfLearningEngine", "TauSchedule", "Trainer", "heldout_accuracy", "LabelStore",
]
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "bcviewer.labels.errors": ('ImportSourceError', 'LabelStoreError', 'LockedSubImageError', 'ProjectFileError', 'SelfLearningError', 'UnknownItemError',),
    "bcviewer.labels.export": ('CSV_FIELDS', 'labels_csv_text', 'write_labels_csv', 'write_labels_geojson',),
    "bcviewer.labels.queries": ('SubImageRef',),
    "bcviewer.labels.records": ('DecisionResult', 'HistoryRow', 'ImageRow', 'LabelCounts', 'NewImage', 'ProposalRow', 'RoundRow', 'SubImageRect', 'SubImageRow', 'UndoResult',),
    "bcviewer.labels.review": ('ImageReview', 'RoundPrediction',),
    "bcviewer.labels.rules": ('Relabel', 'RuleOutcome', 'SubImageState', 'invariant_violations', 'relabel_image',),
    "bcviewer.labels.schema": ('SCHEMA_VERSION',),
    "bcviewer.labels.selflearn": ('HeldOutAccuracy', 'RoundReport', 'Scorer', 'SelfLearningCancelled', 'SelfLearningEngine', 'TauSchedule', 'Trainer', 'heldout_accuracy',),
    "bcviewer.labels.store": ('LabelStore',),
}
__getattr__, __dir__ = lazy_attributes(globals(), __name__, _SUBMODULES, __all__)
