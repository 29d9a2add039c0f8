"""A stored model opened without PyTorch: its card, input spec and the ONNX files it ships.

:func:`open_model` is what the viewer, ``predict``, batch runs and ``evaluate`` call. It reads and
checks the card (classes, positive class, input size against the architecture the card
describes) and returns a :class:`StoredModel`; nothing is run or loaded yet. The ONNX runtimes
then run :meth:`StoredModel.shipped_onnx` (the ``fp32`` file, checked against the card by sha256,
the weights it was exported from and its graph key) or the ``int8`` file; the torch runtime and
models that ship no ONNX file load the safetensors weights through :meth:`StoredModel.torch_model`
(:func:`bcviewer.nets.store.load_model`, which imports PyTorch).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bcviewer.nets.card_checks import card_outputs, check_card_outputs
from bcviewer.nets.cards import InputSpec, read_card, resolve_model_dir
from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.onnx_files import card_weights_sha256, onnx_entry, read_onnx_file
from bcviewer.nets.onnx_key import card_graph_key, key_of

if TYPE_CHECKING:
    from bcviewer.nets.store import LoadedModel

FP32 = "fp32"


class StaleOnnxFileError(ModelCardError):
    """The shipped ONNX file was exported for another version of the card (e.g. before its
    ``test_time_flips`` or temperatures were edited): running it would ignore the edit."""


@dataclass
class StoredModel:
    """A model folder's card and input spec; runs from its ONNX files or, with PyTorch, its weights."""

    spec: InputSpec
    card: dict[str, Any]
    directory: Path
    _torch: LoadedModel | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.directory.name))

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def member_weights(self) -> np.ndarray:
        """The members' weights exactly as the loaded ensemble holds them: recorded with the shipped
        ONNX file at export (the weights file stores them in float16, so the card's rounded
        ``architecture.member_weights`` differ in the fourth digit), else the card's, normalised
        in float32 as :class:`~bcviewer.nets.ensemble.Ensemble` does."""
        members = len(self.card["architecture"]["members"])
        given = (onnx_entry(self.card, FP32) or {}).get("member_weights")
        exact = given is not None
        if not exact:
            given = self.card["architecture"].get("member_weights")
        w = np.ones(members, np.float64) if given is None else np.asarray(given, dtype=np.float64)
        if w.shape != (members,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise ModelCardError(f"model {self.name}: member_weights must be one non-negative weight per member")
        if exact:
            return w
        w32 = w.astype(np.float32)
        normalised: np.ndarray = (w32 / w32.sum(dtype=np.float32)).astype(np.float64)
        return normalised

    @property
    def ships_onnx(self) -> bool:
        """Whether the card names an fp32 ONNX file (it may still be stale or damaged)."""
        return onnx_entry(self.card, FP32) is not None

    def shipped_onnx(self) -> bytes:
        """The verified fp32 ONNX bytes the card vouches for.

        Raises :class:`~bcviewer.nets.onnx_files.OnnxFileMissingError` when the card names none,
        :class:`StaleOnnxFileError` when it was exported for another version of the card, and
        :class:`ModelCardError` when the file is not the one the card vouches for.
        """
        data = read_onnx_file(self.directory, self.card, FP32, self.name)
        key = card_graph_key(self.card, card_weights_sha256(self.card) or "")
        entry = onnx_entry(self.card, FP32) or {}
        if entry.get("graph_key") != key or key_of(data) != key:
            raise StaleOnnxFileError(f"the ONNX file of {self.name} was exported before its card's architecture, "
                                     "input or classes were edited")
        return data

    def torch_model(self) -> LoadedModel:
        """The ensemble loaded from the safetensors weights (imports PyTorch; loaded once)."""
        with self._lock:
            if self._torch is None:
                from bcviewer.nets.store import load_model

                self._torch = load_model(self.directory)
            return self._torch


def open_model(name_or_dir: str | Path) -> StoredModel:
    """Open a model folder (or a shipped model by name, e.g. ``"breakhis-100x"``) without PyTorch:
    the card is read and checked; the weights are checked when something runs them."""
    directory = resolve_model_dir(name_or_dir)
    card = read_card(directory)
    try:
        spec = InputSpec.from_dict(card["input"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(f"the input section of the card in {directory} is malformed ({exc})") from exc
    check_card_outputs(card, card_outputs(card, directory), spec, directory)
    model = StoredModel(spec=spec, card=card, directory=directory)
    model.member_weights  # noqa: B018 - a malformed weighting is refused here, not mid-analysis
    return model
