"""The shape of ``OUT/<name>/manifest.json``, checked before ``--resume`` trusts a word of it.

A manifest is written by :func:`bcviewer.batch.manifest.write_outcome`; one edited by hand, cut
short or written by another tool may hold any JSON. :func:`manifest_problem` checks every field
``--resume`` reads against the types written (a hand check: bcviewer depends on neither pydantic
nor jsonschema, and the schema is small), so an invalid manifest means "redo this input" and never
a traceback or a summary row that cannot be printed.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any

from bcviewer.batch.summary import SummaryRow

# field -> the JSON types it may hold; bool only where it is meant (JSON true is an int in Python).
# NaN is a valid p_malignant (no tile was scored), so floats are not checked for finiteness.
_SUMMARY_TYPES: dict[str, tuple[type, ...]] = {}


def _json_types(hint: Any) -> tuple[type, ...]:
    parts = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    allowed: list[type] = []
    for part in parts:
        if part is type(None):
            allowed.append(type(None))
        elif part is float:
            allowed += [float, int]
        else:
            allowed.append(part)
    return tuple(allowed)


def _summary_types() -> dict[str, tuple[type, ...]]:
    if not _SUMMARY_TYPES:
        hints = typing.get_type_hints(SummaryRow)
        _SUMMARY_TYPES.update({f.name: _json_types(hints[f.name]) for f in fields(SummaryRow)})
    return _SUMMARY_TYPES


def _is(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    return isinstance(value, allowed)


def _object_of_strings(data: Any, keys: tuple[str, ...]) -> bool:
    return isinstance(data, dict) and all(isinstance(data.get(k), str) for k in keys)


def manifest_problem(data: Any, expected_format: str) -> str | None:
    """None when ``data`` has the manifest's shape; else what is wrong, in a few words."""
    if not isinstance(data, dict):
        return f"not a JSON object but {type(data).__name__}"
    if data.get("format") != expected_format:
        return f"format is {data.get('format')!r}, not {expected_format!r}"
    if not _object_of_strings(data.get("input"), ("path", "sha256")):
        return "input needs a path and a sha256 (strings)"
    if not _object_of_strings(data.get("model"), ("source", "name", "sha256")):
        return "model needs a source, a name and a sha256 (strings)"
    if "stain" in data and not _object_of_strings(data["stain"], ("method", "reference", "sha256")):
        return "stain needs a method, a reference and a sha256 (strings)"
    if not isinstance(data.get("options"), dict):
        return "options is not an object"
    outputs = data.get("outputs")
    if not isinstance(outputs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in outputs.items()):
        return "outputs is not an object of file name -> sha256"
    if any(name != name.strip() or "/" in name or "\\" in name or name in ("", ".", "..") for name in outputs):
        return "outputs names a file outside the input's folder"
    summary = data.get("summary")
    if not isinstance(summary, dict):
        return "summary is not an object"
    allowed = _summary_types()
    unknown = sorted(set(summary) - set(allowed))
    if unknown:
        return f"summary has unknown fields ({', '.join(map(str, unknown))})"
    if "path" not in summary:
        return "summary has no path"
    for key, value in summary.items():
        if not _is(value, allowed[key]):
            return f"summary.{key} is {type(value).__name__} {value!r:.40}"
    return None


def summary_row(data: dict[str, Any]) -> SummaryRow:
    """The summary row of a manifest that :func:`manifest_problem` passed."""
    return SummaryRow(**data["summary"])
