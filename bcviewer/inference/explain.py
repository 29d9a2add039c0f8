"""Explain one tile's p_malignant: an attribution map over the tile, p per member, branch attention.

What is explained is exactly the p the heatmap shows for the tile: the tile is read as the
analysis reads it (:meth:`TileGrid.read_tile`, the picture at the grid's read level), resized and
normalised by the same :func:`~bcviewer.nets.preprocess_numpy`, and scored by the same runtime.

Methods (the method and its parameters travel with every :class:`Explanation`):

* **ONNX runtimes (the CPU default, no PyTorch): occlusion** (:mod:`.occlusion`, numpy). The map
  is signed, in units of p: the mean drop of the ensemble's p_malignant when a window around the
  pixel is replaced by the tile's mean colour (positive: the region pushed p towards malignant).
* **torch runtime: Grad-CAM** (captum's ``LayerGradCam`` on each member's CNN trunk output, upsampled
  with ``LayerAttribution.interpolate``, summed with the member weights; :mod:`.torch_explain`).
  The map is signed (no ReLU), in arbitrary units; it sees the CNN branch only.

Maps are computed on the model's input and resized (bilinear) to the tile's picture.
Branch attention (softmax weights on each member's CNN and LSTM vectors) comes from the same
forward pass as p, on both runtimes (the shipped ONNX graphs output it); a model whose members use
the CNN branch alone has none, and :attr:`Explanation.attention_note` says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from bcviewer.errors import BcviewerError
from bcviewer.inference.occlusion import (
    OcclusionSettings,
    forward_passes,
    occlusion_map,
)
from bcviewer.inference.runtime import OnnxEnsemble, choose_runtime, onnx_ensemble
from bcviewer.nets.cards import InputSpec
from bcviewer.nets.prediction import EnsemblePrediction
from bcviewer.nets.preprocess import preprocess_numpy, resize_tiles
from bcviewer.nets.stain import NONE_PROVENANCE, stain_provenance
from bcviewer.slides import SlideReader
from bcviewer.tiling import Tile, TileGrid

if TYPE_CHECKING:
    from bcviewer.nets.stored import StoredModel

Progress = Callable[[int, int], None]
NO_ATTENTION = "this model has no attention (its members read the CNN branch only)"
ATTENTION_NOTE = "branch attention: each member's softmax weights on its CNN and LSTM vectors"


class NoTileHereError(BcviewerError):
    """The point given lies outside the slide or on no scored tile."""


@dataclass(frozen=True)
class Explanation:
    """Why one tile got its p (see the module docstring for the methods and units)."""

    model: str
    runtime: str
    method: str  # "occlusion" or "grad-cam"
    method_detail: str  # the method with its parameters, said wherever the map is shown
    units: str  # what the map's values mean
    tile_rgb: np.ndarray  # (H, W, 3) uint8: the tile's picture at the grid's read level
    attribution: np.ndarray  # (H, W) float64, signed: positive pushed p towards malignant
    input_attribution: np.ndarray  # the same map at the model's input size, before resizing
    p_malignant: float
    member_p: tuple[float, ...]
    member_names: tuple[str, ...]
    member_weights: tuple[float, ...]
    attention: np.ndarray | None  # (members, 2): cnn, lstm; None when the model has none
    attention_note: str
    stain: dict[str, str] = field(default_factory=lambda: dict(NONE_PROVENANCE))  # the model input's normalisation
    tile: Tile | None = None
    tile_index: int | None = None

    def signed_unit_map(self) -> np.ndarray:
        """The map scaled into -1..1 by its largest magnitude (0 everywhere for a flat map)."""
        peak = float(np.max(np.abs(self.attribution))) if self.attribution.size else 0.0
        scaled: np.ndarray = self.attribution / peak if peak > 0 else np.zeros_like(self.attribution)
        return scaled

    def lines(self) -> list[str]:
        """Plain-text lines: p overall and per member, attention, method (the CLI prints these)."""
        out = [f"p_malignant {self.p_malignant:.4f} (model {self.model}, {self.runtime} runtime)"]
        for name, weight, p in zip(self.member_names, self.member_weights, self.member_p):
            out.append(f"  {name}: p {p:.4f} (weight {weight:.3f})")
        if self.attention is None:
            out.append(self.attention_note)
        else:
            out.append(self.attention_note + ":")
            for name, (cnn, lstm) in zip(self.member_names, self.attention):
                out.append(f"  {name}: cnn {cnn:.3f}, lstm {lstm:.3f}")
        if self.stain.get("method", "none") == "none":
            out.append("stain normalisation of the model input: none")
        else:
            out.append(f"stain normalisation of the model input: {self.stain['method']} (reference "
                       f"{self.stain['reference']}, sha256 {self.stain['sha256'][:12]}…)")
        out.append(f"method: {self.method_detail}")
        out.append(f"map: {self.units}")
        return out


class TileExplainer(Protocol):
    """What the CLI, the viewer and the faithfulness check need from an explainer."""

    model_name: str
    runtime: str
    spec: InputSpec

    def explain(self, rgb: np.ndarray, cancel: threading.Event | None = None,
                progress: Progress | None = None) -> Explanation: ...

    def p_of(self, x: np.ndarray) -> np.ndarray: ...


def model_input(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The ``(1, 3, height, width)`` float32 input the analysis feeds the model for tile ``rgb``
    (the feeder's steps: resize to the card's size, then :func:`preprocess_numpy`)."""
    return preprocess_numpy(resize_tiles(rgb[None], spec.size), spec)


def tile_mean_baseline(x: np.ndarray) -> np.ndarray:
    """The ``(3, 1, 1)`` baseline windows are replaced with: the tile's mean colour (in the
    model's normalised input), so occluded areas carry no structure but keep the tile's stain."""
    baseline: np.ndarray = x.reshape(x.shape[-3], -1).mean(axis=1).reshape(-1, 1, 1).astype(np.float32)
    return baseline


def member_descriptions(card: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
    """Each member's short name ("member 1: resnet18, LSTM over rows") and whether any has attention."""
    members = card.get("architecture", {}).get("members", [])
    names, attention = [], False
    for i, member in enumerate(members, start=1):
        lstm = bool(member.get("use_lstm", True))
        attention = attention or lstm
        reads = f"LSTM over {member.get('rnn_mode', 'rows').replace('_', ' ')}" if lstm else "CNN only"
        names.append(f"member {i}: {member.get('backbone', '?')}, {reads}")
    return tuple(names), attention


def explanation_from(explainer_model: str, runtime: str, method: str, detail: str, units: str, rgb: np.ndarray,
                     input_map: np.ndarray, prediction: EnsemblePrediction, weights: np.ndarray,
                     card: dict[str, Any]) -> Explanation:
    """An :class:`Explanation` of one tile from its input-size map and its (one-row) prediction."""
    names, has_attention = member_descriptions(card)
    members = prediction.member_probs.shape[1]
    if len(names) != members:
        names = tuple(f"member {i + 1}" for i in range(members))
    height, width = rgb.shape[:2]
    resized = cv2.resize(input_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return Explanation(
        model=explainer_model, runtime=runtime, method=method, method_detail=detail, units=units,
        tile_rgb=rgb, attribution=resized.astype(np.float64), input_attribution=input_map,
        p_malignant=float(prediction.p_malignant[0]), member_p=tuple(float(p) for p in prediction.member_probs[0]),
        member_names=names, member_weights=tuple(float(w) for w in weights),
        attention=np.asarray(prediction.attention[0]) if has_attention else None,
        attention_note=ATTENTION_NOTE if has_attention else NO_ATTENTION,
        stain=stain_provenance(card.get("input", {}).get("stain")))


class OcclusionExplainer:
    """Occlusion over the ONNX ensemble (the ``onnx`` or ``int8`` runtime; no PyTorch)."""

    method = "occlusion"

    def __init__(self, model: StoredModel, runtime: str = "onnx", *, threads: int | None = None,
                 settings: OcclusionSettings | None = None, batch_size: int = 32) -> None:
        from bcviewer.inference.runtime import thread_plan

        self.model_name, self.runtime, self.spec, self.card = model.name, runtime, model.spec, model.card
        self.session: OnnxEnsemble = onnx_ensemble(model, model.spec, runtime, threads or thread_plan().intra_op)
        self.settings = settings or OcclusionSettings.for_input(model.spec.height, model.spec.width)
        self.batch_size = batch_size

    def predict(self, x: np.ndarray) -> EnsemblePrediction:
        return self.session.predict(x)

    def p_of(self, x: np.ndarray) -> np.ndarray:
        """The ensemble's p_malignant of a preprocessed float32 batch."""
        return self.session.predict(x).p_malignant

    def detail(self) -> str:
        s, spec = self.settings, self.spec
        passes = forward_passes(spec.height, spec.width, s)
        return (f"occlusion, {s.window}x{s.window} px window, stride {s.stride} px, on the {spec.width}x{spec.height} "
                f"model input ({passes} forward passes); baseline = the tile's mean colour")

    def explain(self, rgb: np.ndarray, cancel: threading.Event | None = None,
                progress: Progress | None = None) -> Explanation:
        """Explain one tile picture ``rgb`` (``(H, W, 3)`` uint8, as the grid reads it)."""
        x = model_input(rgb, self.spec)
        prediction = self.predict(x)
        input_map = occlusion_map(x[0], self.p_of, self.settings, tile_mean_baseline(x[0]),
                                  batch_size=self.batch_size, cancel=cancel, progress=progress)
        units = "drop in p_malignant when the area is hidden (positive: it pushed p towards malignant)"
        return explanation_from(self.model_name, self.runtime, self.method, self.detail(), units, rgb, input_map,
                                prediction, self.session.member_weights, self.card)


def make_explainer(model: StoredModel, runtime: str | None = "auto", *, threads: int | None = None
                   ) -> TileExplainer:
    """The explainer for ``runtime`` on the CPU: Grad-CAM for ``"torch"`` (imports PyTorch and
    captum), occlusion otherwise (``"auto"`` is ONNX Runtime on the CPU, as the analysis runs)."""
    chosen = choose_runtime(runtime, "cpu")
    if chosen == "torch":
        from bcviewer.inference.torch_explain import GradCamExplainer

        return GradCamExplainer(model)
    return OcclusionExplainer(model, chosen, threads=threads)


def tile_at(grid: TileGrid, x: float, y: float) -> int | None:
    """The index of the tile whose level-0 rectangle holds point (x, y), or None (the first one
    when tiles overlap)."""
    rects = grid.rects()
    if not len(rects):
        return None
    inside = (rects[:, 0] <= x) & (x < rects[:, 0] + rects[:, 2]) & (rects[:, 1] <= y) & (y < rects[:, 1] + rects[:, 3])
    hits = np.flatnonzero(inside)
    return int(hits[0]) if len(hits) else None


def explain_tile(slide: SlideReader, grid: TileGrid, index: int, explainer: TileExplainer,
                 cancel: threading.Event | None = None, progress: Progress | None = None) -> Explanation:
    """Explain tile ``index`` of ``grid`` on ``slide`` (the tile read exactly as the analysis reads it)."""
    tile = grid[index]
    rgb = grid.read_tile(slide, tile)
    explanation = explainer.explain(rgb, cancel, progress)
    return replace(explanation, tile=tile, tile_index=index)
