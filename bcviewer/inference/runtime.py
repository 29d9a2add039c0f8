"""Which engine runs the forward pass (torch or ONNX Runtime) and how the CPU's cores are shared.

Rule (``runtime="auto"``): on a GPU (CUDA, MPS) the ensemble runs in torch (AMP and channels_last
on CUDA); on the CPU it runs in ONNX Runtime's CPU provider, on the ensemble exported by
:mod:`bcviewer.nets.onnx_export`. ``"int8"`` runs the statically quantised ONNX file a model card
ships (see :mod:`bcviewer.nets.quantize`), only when asked for.

Threads (:func:`thread_plan`): the forward pass gets every core and the tile readers a quarter of
them (at least one thread); ORT's idle threads do not spin, so readers run in the gaps. Measured
with ``benchmarks/bench_inference.py --sweep`` on 2 cores (benchmarks/README.md): on a quiet
machine 2 ORT threads + 1 reader was as fast as 2 + 2 and faster than 1 + 1 and 1 + 2; while other
jobs loaded the cores, 1 + 1 was faster (a two-thread forward pass stalls when a reader or another
process takes one of its cores). The plan follows the quiet case, a workstation's usual state.

The module imports neither PyTorch nor ONNX Runtime at import time: the ONNX path takes numpy
batches (:func:`bcviewer.nets.preprocess_numpy`), and the error and choices are torch-free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bcviewer.capabilities import torch_installed, torch_missing_message
from bcviewer.errors import BcviewerError
from bcviewer.inference.choices import (
    DEFAULT_BATCH_SIZE as DEFAULT_BATCH_SIZE,  # re-exported
)
from bcviewer.inference.choices import RUNTIME_CHOICES as RUNTIME_CHOICES
from bcviewer.nets.prediction import EnsemblePrediction, prediction_from_members

from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.onnx_files import OnnxFileMissingError

if TYPE_CHECKING:
    import torch

    from bcviewer.nets import Ensemble, InputSpec, LoadedModel
    from bcviewer.nets.stored import StoredModel



class RuntimeUnavailableError(BcviewerError):
    """A runtime was asked for that cannot run here (e.g. ONNX Runtime on a GPU device)."""


@dataclass(frozen=True)
class ThreadPlan:
    """Intra-op threads of the forward pass and tile reader threads of the pipeline."""

    intra_op: int
    readers: int


def thread_plan(cores: int | None = None) -> ThreadPlan:
    """The split of ``cores`` (default: the CPUs this process may use) used when none is given."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores = max(1, int(cores))
    return ThreadPlan(intra_op=cores, readers=max(1, cores // 4))


def choose_runtime(preference: str | None, device: str | torch.device) -> str:
    """``"torch"``, ``"onnx"`` or ``"int8"`` for ``preference`` on ``device`` (a device name such as
    ``"cpu"`` or ``"cuda:0"``, or a torch device; see the module rule)."""
    device_type = str(getattr(device, "type", device)).split(":")[0]
    text = (preference or "auto").strip().lower()
    if text not in RUNTIME_CHOICES:
        raise RuntimeUnavailableError(f"unknown runtime '{preference}'; choose one of {', '.join(RUNTIME_CHOICES)}")
    if text == "auto":
        return "onnx" if device_type == "cpu" else "torch"
    if text != "torch" and device_type != "cpu":
        raise RuntimeUnavailableError(f"the {text} runtime runs on the CPU only; use --device cpu or --runtime torch")
    if text == "torch" and not torch_installed():
        raise RuntimeUnavailableError(torch_missing_message("the torch runtime"))
    return text


class OnnxEnsemble:
    """An exported ensemble in an ONNX Runtime CPU session; :meth:`predict` mirrors
    :meth:`Ensemble.predict_proba` (same numpy outputs from the same member outputs)."""

    def __init__(self, model_bytes: bytes, member_weights: np.ndarray, intra_op_threads: int,
                 classes: int | None = None) -> None:
        from bcviewer.nets.onnx_session import cpu_session

        self.session = cpu_session(model_bytes, max(1, intra_op_threads), RuntimeUnavailableError,
                                   "the exported model")
        self.note = ""  # said to the user when the cached file had to be replaced
        self.input_name = self.session.get_inputs()[0].name
        self.member_weights = np.asarray(member_weights, dtype=np.float64)
        _check_outputs(self.session, len(self.member_weights), classes)

    def outputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Member probabilities ``(B, M, C)`` and attention ``(B, M, 2)`` for a float32 batch."""
        probs, attention = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        return probs, attention

    def predict(self, x: np.ndarray | torch.Tensor) -> EnsemblePrediction:
        """Scores of one preprocessed ``(B, 3, H, W)`` batch (numpy, or a torch tensor)."""
        if not isinstance(x, np.ndarray):  # a torch tensor
            x = x.detach().cpu().numpy()
        probs, attention = self.outputs(x)
        return prediction_from_members(probs, attention, self.member_weights)


def onnx_ensemble(model: StoredModel | Ensemble, spec: InputSpec, runtime: str, intra_op_threads: int
                  ) -> OnnxEnsemble:
    """An :class:`OnnxEnsemble` for ``runtime`` ``"onnx"`` or ``"int8"``.

    A stored model runs the file its card vouches for (``int8``, or the shipped ``fp32`` file), with
    no PyTorch. A model that ships no fp32 file, or whose file no longer matches its card, is
    exported from its weights instead (cached by the weights' hash; this needs PyTorch); a bare
    ensemble is exported in memory.
    """
    from bcviewer.nets.stored import StoredModel

    if not isinstance(model, StoredModel):
        from bcviewer.nets.onnx_export import export_bytes

        if runtime == "int8":
            raise RuntimeUnavailableError("the int8 runtime needs a stored model whose card lists its int8 file")
        return OnnxEnsemble(export_bytes(model, spec.height, spec.width),
                            model.member_weights.double().cpu().numpy(), intra_op_threads)
    classes = len(model.classes)
    if runtime == "int8":
        from bcviewer.nets.quantize import read_int8

        return OnnxEnsemble(read_int8(model), model.member_weights, intra_op_threads, classes)
    problem = ""  # why the shipped file was not run; empty when the model ships none
    try:
        return OnnxEnsemble(model.shipped_onnx(), model.member_weights, intra_op_threads, classes)
    except OnnxFileMissingError:
        pass  # a model trained here: its export is cached beside its weights
    except (ModelCardError, RuntimeUnavailableError) as exc:
        problem = _short(exc, 160)
    if not torch_installed():
        raise RuntimeUnavailableError(f"{problem or f'model {model.name} ships no ONNX file'}, and this install has "
                                      "no PyTorch to export one from the weights; run "
                                      f"'bcviewer export-onnx {model.name}' on a full install")
    session = _exported(model.torch_model(), spec, intra_op_threads)
    if problem:
        session.note = f"{problem}; exported the model again from its weights"
    return session


def _exported(model: LoadedModel, spec: InputSpec, intra_op_threads: int) -> OnnxEnsemble:
    """The cached export of a stored model's weights (exported and cached when missing or stale)."""
    from bcviewer.nets.onnx_export import cached_onnx

    weights = model.member_weights
    sha = str(model.card["weights"]["sha256"])
    data, path = cached_onnx(model.ensemble, spec.height, spec.width, model.directory, sha, model.card)
    try:
        return OnnxEnsemble(data, weights, intra_op_threads)
    except RuntimeUnavailableError as exc:
        if path is None:
            raise
        # The sidecar vouched for a file ORT cannot load (rewritten by hand or by another tool):
        # the weights are the card's, so export again and say which file was replaced.
        session = _reexported(model.ensemble, spec, path, sha, weights, intra_op_threads, model.card)
        session.note = f"the cached {path} could not be loaded ({_short(exc)}); exported it again from the weights"
        return session


def _check_outputs(session: Any, members: int, classes: int | None) -> None:
    """Refuse a graph whose outputs do not have the card's members and classes (a file mixed up
    with another model's would otherwise score every tile with the wrong numbers)."""
    shape = session.get_outputs()[0].shape
    if len(shape) != 3:
        raise ModelCardError(f"the ONNX graph's first output has shape {shape}, not (batch, members, classes)")
    expected = (members, classes)
    got = tuple(d if isinstance(d, int) else None for d in shape[1:])
    if any(g is not None and e is not None and g != e for g, e in zip(got, expected)):
        raise ModelCardError(f"the ONNX graph scores {got[0]} members x {got[1]} classes, but the model card "
                             f"describes {members} members x {classes} classes; the file belongs to another model")


def _short(exc: BaseException, limit: int = 80) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _reexported(ensemble: Ensemble, spec: InputSpec, path: Path, sha: str, weights: np.ndarray,
                intra_op_threads: int, card: dict[str, Any]) -> OnnxEnsemble:
    from bcviewer.nets.onnx_export import export_bytes, export_key, write_cached
    from bcviewer.nets.onnx_key import with_key

    key = export_key(ensemble, spec.height, spec.width, sha, card)
    data = with_key(export_bytes(ensemble, spec.height, spec.width), key)
    try:
        session = OnnxEnsemble(data, weights, intra_op_threads)
    except RuntimeUnavailableError as exc:
        raise RuntimeUnavailableError(f"ONNX Runtime could not load {path} nor a fresh export of the model "
                                      f"({_short(exc)}); use --runtime torch") from exc
    try:
        write_cached(path, data, sha, key)
    except OSError:
        pass  # a read-only cache costs speed next time, not this run
    return session
