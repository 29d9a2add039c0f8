"""Class labels: missing markers, the positive class of a binary task, integer encoding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bcviewer.genes.errors import LabelError

MISSING_LABELS = {"", "NA", "N/A", "NAN", "NONE", "NULL", "MISSING", "UNKNOWN", "UNKOWN", "?", "-"}
_POSITIVE_WORDS = ("POSITIVE", "POS", "YES", "TRUE", "1", "METASTASIS", "MALIGNANT", "TUMOR", "TUMOUR", "EVENT")


def clean_labels(values: pd.Series) -> pd.Series:
    """Labels as strings; integers written without ``.0``; missing markers become NaN."""

    def one(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return str(int(value))
        text = str(value).strip()
        if text.upper() in MISSING_LABELS:
            return np.nan
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else text

    return values.map(one)


@dataclass(frozen=True)
class LabelEncoding:
    """Class names in encoding order; for two classes the second one is the positive class."""

    classes: tuple[str, ...]

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def positive(self) -> str | None:
        return self.classes[1] if self.is_binary else None

    def encode(self, labels: pd.Series) -> np.ndarray:
        """Integer codes of cleaned labels; a label outside the classes is an error."""
        unknown = sorted(set(labels.dropna()) - set(self.classes))
        if unknown:
            raise LabelError(f"labels {unknown[:5]} are not among the model's classes {list(self.classes)}")
        lookup = {name: i for i, name in enumerate(self.classes)}
        codes: np.ndarray = labels.map(lookup).to_numpy(dtype=np.int64)
        return codes


def _guess_positive(classes: list[str]) -> str:
    for word in _POSITIVE_WORDS:
        for name in classes:
            if name.upper() == word:
                return name
    return classes[1]


def infer_encoding(labels: pd.Series, positive: str | None = None) -> LabelEncoding:
    """Classes found in cleaned labels; a binary task puts ``positive`` (or a guess) last.

    The guess takes a class named Positive/Yes/True/1/Metastasis..., else the later one in
    alphabetical order; pass ``positive`` to be explicit.
    """
    classes = sorted(labels.dropna().unique().tolist())
    if len(classes) < 2:
        raise LabelError(f"the label column needs at least two classes, found {classes}")
    if len(classes) == 2:
        chosen = _guess_positive(classes) if positive is None else str(positive)
        if chosen not in classes:
            raise LabelError(f"positive class {chosen!r} is not one of the labels {classes}")
        classes = [c for c in classes if c != chosen] + [chosen]
    elif positive is not None:
        raise LabelError(f"--positive applies to two classes only; the labels have {len(classes)}: {classes}")
    return LabelEncoding(tuple(classes))


def binary_external_encoding(labels: pd.Series, model: LabelEncoding, positive: str | None = None) -> LabelEncoding:
    """Encoding of another cohort's binary labels aligned to the model's negative/positive order.

    Cohorts name classes differently (``Positive``/``Negative`` vs ``1``/``0``); what matters is
    which one is positive, guessed as in :func:`infer_encoding` unless given.
    """
    if not model.is_binary:
        classes = set(labels.dropna())
        if not classes <= set(model.classes):
            raise LabelError(f"external labels {sorted(classes)} differ from the model's {list(model.classes)}")
        return model
    return infer_encoding(labels, positive)
