"""ONNX export of an :class:`Ensemble`, cached next to its weights and verified by sha256.

The exported graph is the ensemble's own :meth:`Ensemble.member_outputs` traced end to end: every
member, its temperature, the test-time flips when the card asks for them, and each member's branch
attention. Its two outputs are ``member_probs`` ``(B, members, classes)`` and ``attention``
``(B, members, 2)``, with a dynamic batch axis; the member weighting, spread, entropy and
uncertainty are computed from them in numpy (:func:`bcviewer.nets.ensemble.prediction_from_members`),
exactly as for the torch path. Nothing is hard-coded about the members' layers, so any network
whose ``forward(x, return_attention=True)`` traces exports the same way.

Cache: ``weights.onnx`` plus a sidecar ``weights.onnx.json`` in the model folder, or, when that
folder is read-only (an installed package), in the user's cache folder under the weights' sha256.
The sidecar records the sha256 of the weights the file was made from and of the ONNX file itself;
a file is used only when both match (the weights' hash is the one the model card vouches for), and
is otherwise rebuilt from the weights. The ONNX file also carries its graph key in its own metadata
(:mod:`bcviewer.nets.onnx_key`: weights, architecture, input and classes of the card), checked on
every load, so a card edit such as ``test_time_flips: true`` re-exports instead of running the old
graph, whatever the sidecar says. The bytes that were checked are the bytes that are returned, so a
file swapped after the check is never run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
import torch
import torch.nn.functional as F
from torch import nn

from bcviewer.errors import BcviewerError
from bcviewer.nets.ensemble import Ensemble
from bcviewer.nets.errors import OnnxExportError  # defined with the other model errors, torch-free
from bcviewer.nets.onnx_compact import compact_fp16
from bcviewer.nets.onnx_files import ONNX_SECTION, write_onnx_file
from bcviewer.nets.onnx_key import (
    EXPORT_FORMAT,
    INPUT_NAME,
    OPSET,
    OUTPUT_NAMES,
    RECIPE,
    card_graph_key,
    graph_key,
    key_of,
    with_key,
)
from bcviewer.nets.store import LoadedModel, architecture_of, update_card
from bcviewer.nets.stored import FP32
from bcviewer.safety import read_regular_bytes, read_regular_text

__all__ = ["EXPORT_FORMAT", "INPUT_NAME", "ONNX_NAME", "OPSET", "OUTPUT_NAMES", "SIDECAR_SUFFIX", "cached_onnx",
           "export_bytes", "export_key", "read_verified", "ship_fp32", "write_cached"]

ONNX_NAME = "weights.onnx"  # the export cache; a shipped file is named in the card (nets.onnx_files)
SIDECAR_SUFFIX = ".json"


class EnsembleGraph(nn.Module):
    """The part of an ensemble that runs as one ONNX graph: per-member probabilities and attention."""

    def __init__(self, ensemble: Ensemble) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ensemble.member_outputs(x)


_MAX_EMULATED_CELLS = 256  # adaptive pools to larger grids keep torch's own op


def _window_pool(x: torch.Tensor, output_size: Any) -> torch.Tensor:
    """Adaptive average pooling written with the input size as constants (exactly torch's windows:
    cell i spans floor(i * n / out) .. ceil((i + 1) * n / out))."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    oh, ow = h if oh is None else int(oh), w if ow is None else int(ow)
    if h % oh == 0 and w % ow == 0:
        return F.avg_pool2d(x, (h // oh, w // ow))
    rows = []
    for i in range(oh):
        y0, y1 = i * h // oh, -(-(i + 1) * h // oh)
        cells = [x[..., y0:y1, j * w // ow:-(-(j + 1) * w // ow)].mean(dim=(-2, -1)) for j in range(ow)]
        rows.append(torch.stack(cells, dim=-1))
    return torch.stack(rows, dim=-2)


@contextmanager
def _exportable_adaptive_pooling() -> Iterator[None]:
    # The TorchScript exporter converts adaptive_avg_pool2d only when it can see the input's size,
    # which it cannot after a trunk that pads by computed amounts (EfficientNet-Lite's "same"
    # padding). While tracing, the pool is rewritten with the traced sizes as constants.
    original = F.adaptive_avg_pool2d

    # Same parameter names as F.adaptive_avg_pool2d, so keyword callers keep working.
    def pool(input: torch.Tensor, output_size: Any) -> torch.Tensor:
        oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
        if (oh or 1) * (ow or 1) > _MAX_EMULATED_CELLS:
            return original(input, output_size)
        return _window_pool(input, output_size)

    F.adaptive_avg_pool2d = pool
    try:
        yield
    finally:
        F.adaptive_avg_pool2d = original


def export_bytes(ensemble: Ensemble, height: int, width: int, keep_batch_norm: bool = False) -> bytes:
    """The ensemble as an ONNX model (opset :data:`OPSET`, dynamic batch), in memory, in float32.

    ``keep_batch_norm`` exports batch norms as nodes instead of folding them into the convolutions
    (for :func:`~bcviewer.nets.onnx_compact.compact_fp16`, which then halves the file)."""
    graph = EnsembleGraph(ensemble).float().eval()
    example = torch.zeros(2, 3, height, width)  # batch 2: nothing gets specialised to a batch of 1
    axes = {name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)}
    buffer = io.BytesIO()
    was_training = ensemble.training
    ensemble.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad(), _exportable_adaptive_pooling():
            # The tracer's warnings (deprecated exporter, loops unrolled over the members, LSTM batch
            # notes) are about graphs that change with the input; this one does not, and the parity
            # test checks several batch sizes.
            warnings.simplefilter("ignore")
            # dynamo=False: the torch.export-based exporter needs onnxscript, which bcviewer does not ship.
            # The TorchScript exporter writes to a file-like object too; torch's annotation of ``f``
            # names only paths (it describes the dynamo exporter).
            torch.onnx.export(graph, (example,), buffer, dynamo=False, opset_version=OPSET,  # type: ignore[arg-type]
                              input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES), dynamic_axes=axes,
                              do_constant_folding=True,
                              training=torch.onnx.TrainingMode.PRESERVE if keep_batch_norm else torch.onnx.TrainingMode.EVAL)
    except Exception as exc:  # noqa: BLE001 - any tracer or exporter failure is one clear error
        raise OnnxExportError(f"could not export the model to ONNX ({type(exc).__name__}: {exc})") from exc
    finally:
        ensemble.train(was_training)
    return buffer.getvalue()


def cache_dir_for(model_dir: Path, weights_sha256: str) -> Path:
    """Where the ONNX file of a model lives: its own folder when writable, else the user cache."""
    if _writable(model_dir):
        return model_dir
    return Path(platformdirs.user_cache_dir("bcviewer")) / "onnx" / weights_sha256


def _writable(folder: Path) -> bool:
    if not os.access(folder, os.W_OK):
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bcviewer-write-test-"):
            return True
    except OSError:
        return False


def read_verified(onnx_path: Path, weights_sha256: str, key: str | None = None) -> bytes | None:
    """The cached ONNX bytes when the sidecar vouches for them and for these weights, and (given a
    ``key``) the file itself carries that graph key; else None."""
    try:
        # Regular files only: a FIFO in the cache would block a plain read forever; it is rebuilt instead.
        meta = json.loads(read_regular_text(onnx_path.with_name(onnx_path.name + SIDECAR_SUFFIX), "ONNX sidecar",
                                            limit=2**20))
        data = read_regular_bytes(onnx_path, "ONNX file")
    except (BcviewerError, OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT or meta.get("opset") != OPSET:
        return None
    if meta.get("weights_sha256") != weights_sha256:
        return None  # stale: made from other weights
    if hashlib.sha256(data).hexdigest() != meta.get("onnx_sha256"):
        return None  # changed or damaged since it was written: never run it
    if key is not None and (meta.get("graph_key") != key or key_of(data) != key):
        return None  # traced from another card (e.g. before test_time_flips was switched on)
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the weights beside it are world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cached(onnx_path: Path, data: bytes, weights_sha256: str, key: str | None = None) -> None:
    """Write the ONNX file and then its sidecar (each atomically); ``key``: the graph key ``data``
    carries, recorded in the sidecar too."""
    meta: dict[str, Any] = {"format": EXPORT_FORMAT, "opset": OPSET, "weights_sha256": weights_sha256,
                            "graph_key": key,
                            "onnx_sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                            "inputs": [INPUT_NAME], "outputs": list(OUTPUT_NAMES), "torch": torch.__version__}
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(onnx_path, data)
    _atomic_write(onnx_path.with_name(onnx_path.name + SIDECAR_SUFFIX), (json.dumps(meta, indent=2) + "\n").encode())


def export_key(ensemble: Ensemble, height: int, width: int, weights_sha256: str,
               card: dict[str, Any] | None = None) -> str:
    """The graph key of exporting ``ensemble`` (:func:`bcviewer.nets.onnx_key.graph_key`) for its
    model ``card``, plus the architecture the ensemble actually holds (what gets traced)."""
    described = dict(card or {})
    described["architecture"] = {"card": described.get("architecture"), "traced": architecture_of(ensemble)}
    return graph_key(described, weights_sha256, height, width, RECIPE)


def cached_onnx(ensemble: Ensemble, height: int, width: int, model_dir: Path, weights_sha256: str,
                card: dict[str, Any] | None = None) -> tuple[bytes, Path | None]:
    """Verified ONNX bytes for a stored model, exported (and cached) when missing, stale, altered
    or traced from another card (``card``: the model card, part of the graph key).

    Returns the bytes and the file they are cached in (None when no folder could be written: the
    export is then used from memory only).
    """
    key = export_key(ensemble, height, width, weights_sha256, card)
    folder = cache_dir_for(model_dir, weights_sha256)
    path = folder / ONNX_NAME
    data = read_verified(path, weights_sha256, key)
    if data is not None:
        return data, path
    data = with_key(export_bytes(ensemble, height, width), key)
    try:
        write_cached(path, data, weights_sha256, key)
    except OSError:
        return data, None  # a full disk or a read-only cache costs speed next time, not this run
    return data, path


SHIPPED_NAME = "weights.fp32.onnx"


def ship_fp32(model: LoadedModel) -> dict[str, Any]:
    """Export ``model`` to ``weights.fp32.onnx`` in its folder (fp32 maths; the weights float16
    holds exactly are stored as float16, see :mod:`bcviewer.nets.onnx_compact`) and record the file in its card's
    ``onnx.fp32`` entry (sha256, weights hash, graph key of the card, the members' exact weights),
    so that a torch-free install runs it (:meth:`bcviewer.nets.stored.StoredModel.shipped_onnx`).
    Returns the entry."""
    sha = str(model.card["weights"]["sha256"])
    key = card_graph_key(model.card, sha)
    data = with_key(compact_fp16(export_bytes(model.ensemble, model.spec.height, model.spec.width,
                                              keep_batch_norm=True)), key)
    try:
        entry = write_onnx_file(model.directory, model.card, FP32, data, SHIPPED_NAME, graph_key=key, opset=OPSET,
                                format=EXPORT_FORMAT, member_weights=[float(w) for w in model.member_weights])
    except BcviewerError as exc:
        raise OnnxExportError(str(exc)) from exc
    section = dict(model.card.get(ONNX_SECTION) or {})
    section[FP32] = entry
    model.card = update_card(model.directory, {ONNX_SECTION: section})
    return entry
