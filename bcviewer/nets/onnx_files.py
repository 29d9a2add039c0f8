"""ONNX files a model card vouches for: the files a torch-free install runs.

A card's ``onnx`` section names, per role, one ONNX file in the model folder::

    "onnx": {"fp32": {"file": "weights.fp32.onnx", "sha256": "...", "bytes": 1067861,
                      "weights_sha256": "<sha256 of the safetensors weights it was exported from>",
                      "graph_key": "<nets.onnx_key.graph_key of the card it was exported for>",
                      "opset": 17}}

Roles: ``fp32`` (the whole ensemble, as :mod:`bcviewer.nets.onnx_export` traces it), ``trunk``
(the frozen ImageNet trunk self-learning runs), and for gene models ``fp32`` too. The int8 file
keeps its own ``int8`` section (:mod:`bcviewer.nets.quantize`). Reading a file checks, with no
PyTorch: a plain ``.onnx`` name inside the folder, a regular file, its sha256 against the card and
the sha256 of the weights it was made from against the card's weights; the bytes that were checked
are the bytes returned, so a file swapped after the check is never run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from bcviewer.nets.errors import ModelCardError, ModelError
from bcviewer.safety import FileSafetyError, atomic_write_bytes, read_regular_bytes

ONNX_SECTION = "onnx"


class OnnxFileMissingError(ModelError):
    """The card names no ONNX file for a role (a model made before ONNX files were shipped)."""


def card_weights_sha256(card: dict[str, Any]) -> str | None:
    """The sha256 of the card's weights file (image cards: ``weights.sha256``; gene cards:
    ``weights_sha256``)."""
    weights = card.get("weights")
    if isinstance(weights, dict) and weights.get("sha256"):
        return str(weights["sha256"])
    value = card.get("weights_sha256")
    return str(value) if value else None


def onnx_entry(card: dict[str, Any], role: str) -> dict[str, Any] | None:
    """The card's entry for ``role`` (None when the card ships no such file)."""
    section = card.get(ONNX_SECTION)
    if not isinstance(section, dict):
        return None
    entry = section.get(role)
    return entry if isinstance(entry, dict) and entry.get("file") else None


def read_onnx_file(directory: Path, card: dict[str, Any], role: str, model_name: str = "") -> bytes:
    """The verified bytes of the ``role`` ONNX file of the model in ``directory``.

    Raises :class:`OnnxFileMissingError` when the card names none, and :class:`ModelCardError`
    when the file is not the one the card vouches for (changed, damaged, from other weights).
    """
    name = model_name or str(card.get("name") or directory.name)
    entry = onnx_entry(card, role)
    if entry is None:
        raise OnnxFileMissingError(f"model {name} ships no {role} ONNX file")
    if entry.get("weights_sha256") != card_weights_sha256(card):
        raise ModelCardError(f"the {role} ONNX file of {name} was made from other weights than the card's; "
                             "export it again")
    return read_vouched_file(directory, str(entry["file"]), entry.get("sha256"), role, name)


def read_vouched_file(directory: Path, file: str, sha256: object, role: str, model_name: str) -> bytes:
    """The bytes of ``directory/file`` when it is a plain ``.onnx`` name inside the folder, a
    regular file, and its sha256 is the one the card records (:class:`ModelCardError` otherwise).
    Shared by every ONNX file a card vouches for (the ``onnx`` entries and the ``int8`` section)."""
    if Path(file).name != file or not file.endswith(".onnx"):
        raise ModelCardError(f"the card of {model_name} names '{file}' as its {role} ONNX file; only an .onnx file "
                             "in the model folder is accepted")
    try:
        data = read_regular_bytes(directory / file, f"{role} ONNX file")
    except (OSError, FileSafetyError) as exc:
        raise ModelCardError(f"cannot read the {role} ONNX file of {model_name} ({exc})") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelCardError(f"{directory / file} does not match the model card of {model_name} (sha256): it was "
                             "changed or mixed up")
    return data


def write_onnx_file(directory: Path, card: dict[str, Any], role: str, data: bytes, file: str,
                    **extra: Any) -> dict[str, Any]:
    """Write ``data`` as ``directory/file`` (atomically) and return the card entry for ``role``
    (``extra``: more fields, e.g. ``graph_key`` and ``opset``). The caller stores the entry in the
    card (``card["onnx"][role]``) and writes the card."""
    if Path(file).name != file or not file.endswith(".onnx"):
        raise ValueError(f"an ONNX file name inside the model folder is expected, got '{file}'")
    atomic_write_bytes(directory / file, data)
    return {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "weights_sha256": card_weights_sha256(card), **extra}


def with_onnx_entry(card: dict[str, Any], role: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``card`` whose ``onnx`` section holds ``entry`` for ``role``."""
    section = dict(card.get(ONNX_SECTION) or {})
    section[role] = entry
    return {**card, ONNX_SECTION: section}
