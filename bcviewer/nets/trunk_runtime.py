"""The shipped frozen trunk in ONNX Runtime: trunk feature maps with no PyTorch.

A model card's ``onnx.trunk`` entry names ``trunk.onnx`` (written by
:mod:`bcviewer.nets.trunk_export`); :func:`shipped_onnx_trunk` reads it with its sha256 checked
(:func:`bcviewer.nets.onnx_files.read_onnx_file`) and runs it on the CPU. Its input is what
:func:`bcviewer.nets.preprocess.preprocess_numpy` makes of the tiles under the card's ``input``
spec (bit-identical to the torch preprocessing); its output the trunk's ``(N, C, h, w)`` maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcviewer.nets.cards import InputSpec, read_card, resolve_model_dir
from bcviewer.nets.errors import ModelCardError, ModelError
from bcviewer.nets.onnx_files import onnx_entry, read_onnx_file

TRUNK_ROLE = "trunk"


class OnnxTrunk:
    """An ONNX trunk in a CPU session: ``trunk(x)`` maps a float32 ``(N, 3, H, W)`` batch to its
    float32 ``(N, C, h, w)`` feature maps. ``threads``: intra-op threads (None: ONNX Runtime's
    default, one per physical core)."""

    def __init__(self, model_bytes: bytes, threads: int | None = None) -> None:
        from bcviewer.nets.onnx_session import cpu_session

        self.session = cpu_session(model_bytes, threads or 0, ModelError, "the trunk")
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class ShippedTrunk:
    """A model's ONNX trunk with the input spec its tiles are preprocessed by and the cache id of
    its features (the ONNX file's sha256 and the input size)."""

    run: OnnxTrunk
    spec: InputSpec
    trunk_id: str
    directory: Path


def onnx_trunk(model: str | Path, threads: int | None = None) -> OnnxTrunk:
    """The verified ONNX trunk of ``model`` (a shipped model's name or a model folder)."""
    return shipped_onnx_trunk(model, threads).run


def shipped_onnx_trunk(model: str | Path, threads: int | None = None) -> ShippedTrunk:
    """The ONNX trunk of ``model`` with its input spec; :class:`ModelCardError` when the card names
    no trunk file (:class:`~bcviewer.nets.onnx_files.OnnxFileMissingError`), the file is not the one
    the card vouches for, or the model's tiles are stain-normalised (not the plain ImageNet trunk)."""
    directory = resolve_model_dir(model)
    card = read_card(directory)
    spec = InputSpec.from_dict(card["input"])
    if spec.stain is not None:
        raise ModelCardError(f"the model {model} normalises stain; its trunk is not the plain ImageNet trunk")
    data = read_onnx_file(directory, card, TRUNK_ROLE)
    entry = onnx_entry(card, TRUNK_ROLE) or {}
    if entry.get("input") not in (None, [spec.width, spec.height]):
        raise ModelCardError(f"the trunk ONNX file of {model} was exported for {entry.get('input')}, "
                             f"not the card's input {spec.width}x{spec.height}; export it again")
    trunk_id = f"onnx-{str(entry['sha256'])[:16]}-{spec.width}x{spec.height}"
    return ShippedTrunk(OnnxTrunk(data, threads), spec, trunk_id, directory)
