"""Which gene models are installed, read from their folders and cards alone.

Kept free of PyTorch so that a viewer can list tasks and their genes on its GUI thread; loading
weights is :func:`bcviewer.genes.store.load_gene_model`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bcviewer.genes.errors import GeneModelError
from bcviewer.paths import gene_model_dirs
from bcviewer.safety import FileSafetyError, read_regular_text

CARD_NAME = "card.json"
INDEX_NAME = "index.json"


def default_models_dir() -> Path:
    """The first gene-model folder: ``$BCVIEWER_GENE_MODELS`` or the shipped ``models/genes``."""
    return gene_model_dirs()[0]


def model_roots(models_dir: Path | None = None) -> list[Path]:
    """``models_dir`` alone when given, else every gene-model folder (see :mod:`bcviewer.paths`)."""
    return [models_dir] if models_dir else gene_model_dirs()


@dataclass(frozen=True)
class GeneTask:
    """One task folder (``models/genes/er-status``): its architectures, and the default's genes and classes."""

    name: str
    path: Path
    architectures: tuple[str, ...]
    default: str
    genes: tuple[str, ...]
    classes: tuple[str, ...]
    scaling: str | None = None  # recommended scaling for another platform (index.json), if chosen
    default_reason: str | None = None  # why the default is the default (index.json), if said

    def model_name(self, architecture: str) -> str:
        """The name :func:`~bcviewer.genes.store.load_gene_model` takes for one architecture."""
        return f"{self.name}/{architecture}"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        found = json.loads(read_regular_text(path, what))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, FileSafetyError) as exc:
        raise GeneModelError(f"{path}: unreadable {what} ({exc})") from exc
    if not isinstance(found, dict):
        raise GeneModelError(f"{path}: unreadable {what} (a JSON object was expected, found {type(found).__name__})")
    return found


def task_folders(models_dir: Path | None = None) -> list[Path]:
    """Task folders under the gene-model roots, sorted by name; the first root holding a name wins."""
    found: dict[str, Path] = {}
    for root in model_roots(models_dir):
        if root.is_dir():
            for task in sorted(p for p in root.iterdir() if p.is_dir()):
                found.setdefault(task.name, task)
    return [found[name] for name in sorted(found)]


def list_tasks(models_dir: Path | None = None) -> list[GeneTask]:
    """Task folders holding at least one model, sorted by name."""
    tasks: list[GeneTask] = []
    for task in task_folders(models_dir):
        architectures = tuple(a.name for a in sorted(task.iterdir()) if (a / CARD_NAME).is_file())
        if not architectures:
            continue
        default, scaling, reason = architectures[0], None, None
        if (task / INDEX_NAME).is_file():
            index = _read_json(task / INDEX_NAME, "task index")
            default, scaling = str(index.get("default", default)), index.get("scaling")
            reason = index.get("default_reason") or index.get("selection")
        if default not in architectures:
            raise GeneModelError(f"{task / INDEX_NAME} names {default!r} as the default, but {task} has no such model")
        spec = _read_json(task / default / CARD_NAME, "model card").get("classifier", {})
        tasks.append(GeneTask(task.name, task, architectures, default, tuple(spec.get("genes", ())),
                              tuple(str(c) for c in spec.get("classes", ())), scaling,
                              str(reason) if reason else None))
    return tasks
