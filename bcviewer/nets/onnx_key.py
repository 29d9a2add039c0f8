"""The key of an exported ONNX graph, and the key stored inside the ONNX file itself.

A cached ``weights.onnx`` is valid only for the model it was traced from. That is more than the
weights: the card's architecture (members, temperatures, test-time flips, member weights), its
input section (size, mean/std, stain reference) and its classes all change what the graph computes
or how its outputs are read. :func:`graph_key` hashes all of them; the key is written into the
ONNX file's own ``metadata_props`` (:func:`with_key`) and read back from the file's bytes
(:func:`key_of`) before the file is used, so a card edit, or a sidecar rewritten to vouch for
another file, makes the cache rebuild instead of running a stale graph.

Torch-free (``onnx`` parses the protobuf only).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_NAME = "bcviewer.graph_key"
CARD_SECTIONS = ("architecture", "input", "classes", "positive_class")

# The exported graph's contract (written by the torch-side nets.onnx_export, read by every runtime).
OPSET = 17
EXPORT_FORMAT = "bcviewer-onnx/1"  # bump when the graph's inputs, outputs or export recipe change
RECIPE = f"{EXPORT_FORMAT}/opset{OPSET}"
INPUT_NAME = "x"
OUTPUT_NAMES = ("member_probs", "attention")


def graph_key(card: dict[str, Any], weights_sha256: str, height: int, width: int, recipe: str) -> str:
    """sha256 over everything that defines the exported graph: the weights' hash, the card's
    :data:`CARD_SECTIONS`, the traced input size and the export ``recipe`` (format and opset)."""
    parts = {"weights_sha256": weights_sha256, "height": int(height), "width": int(width), "recipe": recipe,
             **{name: card.get(name) for name in CARD_SECTIONS}}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def card_graph_key(card: dict[str, Any], weights_sha256: str) -> str:
    """The graph key of a shipped ONNX file: :func:`graph_key` of the card alone (its input size,
    the export recipe), so a torch-free install can tell whether the file still matches the card."""
    spec = card.get("input") or {}
    return graph_key(card, weights_sha256, int(spec.get("height", 0)), int(spec.get("width", 0)), RECIPE)


def with_key(data: bytes, key: str) -> bytes:
    """The ONNX model ``data`` with ``key`` stored in its metadata (replacing an older key)."""
    import onnx

    model = onnx.load_model_from_string(data)
    kept = [p for p in model.metadata_props if p.key != KEY_NAME]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=KEY_NAME, value=key)
    return bytes(model.SerializeToString())


def key_of(data: bytes) -> str | None:
    """The graph key stored in ONNX ``data``; None when it holds none or is not an ONNX model."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends: not a model we wrote
        return None
    found = [p.value for p in model.metadata_props if p.key == KEY_NAME]
    return found[-1] if found else None
