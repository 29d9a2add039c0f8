"""Writing one slide's outputs, and telling later whether they are complete (``--resume``).

Each output file is written atomically, then ``manifest.json`` last, also atomically. The
manifest records the input's path and sha256, the model's name and sha256, the stain normalisation
of the model's input (method, reference, sha256: "none" for the shipped models), the options that
shape the outputs, the sha256 of every output file, and the summary row. A slide counts as
done only when its manifest exists and all of these still match: a run killed half-way leaves
at most a slide without a manifest, which the next ``--resume`` scores again.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bcviewer.batch.manifest_schema import manifest_problem, summary_row
from bcviewer.batch.summary import SummaryRow
from bcviewer.batch.work import PredictOptions, SlideOutcome, one_line
from bcviewer.checksums import sha256_of
from bcviewer.errors import BcviewerError
from bcviewer.export import atomic_write_bytes, atomic_write_text
from bcviewer.safety import read_regular_text

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "bcviewer-slide-manifest/1"
MAX_MANIFEST_BYTES = 4 * 2**20  # a real one is about 2 KB; a bigger file is not ours


def write_outcome(folder: Path, outcome: SlideOutcome, options: PredictOptions) -> SummaryRow:
    """Write an ok outcome's files, then its manifest (naming the model that scored it); return
    its summary row.

    An old manifest is removed first, so a slide is never marked done by an earlier run's record.
    A file that cannot be written turns the row into an error row (and no manifest is written).
    """
    try:
        (folder / MANIFEST_NAME).unlink(missing_ok=True)
        model = outcome.model
        if not outcome.ok or model is None:
            return outcome.row
        for name, data in outcome.files.items():
            atomic_write_bytes(folder / name, data)
        manifest = {
            "format": MANIFEST_FORMAT,
            "input": {"path": outcome.row.path, "sha256": outcome.input_sha256},
            "model": {"source": model.source, "name": model.name, "sha256": model.sha256},
            "stain": outcome.stain,  # set with the scores, in the process (or Dask worker) that scored it
            "options": options.analysis(outcome.applied_mpp),
            "outputs": {name: hashlib.sha256(data).hexdigest() for name, data in outcome.files.items()},
            "summary": asdict(outcome.row),
            "scored_by": outcome.scored_by,
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    except Exception as exc:  # noqa: BLE001 - e.g. disk full: this slide's error row, the run goes on
        return SummaryRow(outcome.row.path, "error", error=one_line(exc))
    return outcome.row


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The slide's manifest, or None when absent, unreadable, not a regular file or not of the schema
    (:func:`~bcviewer.batch.manifest_schema.manifest_problem`): each of these means "redo this input"."""
    try:
        # A FIFO named manifest.json would block a plain read forever: regular files only.
        data = json.loads(read_regular_text(folder / MANIFEST_NAME, "manifest", limit=MAX_MANIFEST_BYTES))
    except (BcviewerError, OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if manifest_problem(data, MANIFEST_FORMAT) is None else None


def completed_row(folder: Path, path: Path, options: PredictOptions,
                  model_sha256: Callable[[str], str | None]) -> SummaryRow | None:
    """The recorded summary row when ``folder`` holds complete, matching outputs for ``path``; else None.

    ``model_sha256(source)`` gives the sha256 of the model that would score the slide now (None
    when it cannot be found). Hashing the input reads the whole file once.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    try:
        recorded = manifest["outputs"]
        # A pixel size recorded as applied must be the one given now; one not applied (the file
        # has its own, or the input needed none) does not depend on --mpp.
        applied = manifest["options"].get("mpp")
        expected = options.analysis(options.mpp_for(path) if applied is not None else None)
        if (manifest["input"]["path"] != str(path) or manifest["options"] != expected
                or sorted(recorded) != sorted(options.output_names())):
            return None
        if model_sha256(manifest["model"]["source"]) != manifest["model"]["sha256"]:
            return None
        for name, digest in recorded.items():
            if not _regular(folder / name) or sha256_of(folder / name) != digest:
                return None
        if not _regular(path) or sha256_of(path) != manifest["input"]["sha256"]:
            return None
        return summary_row(manifest)
    except (KeyError, TypeError, AttributeError, ValueError, OSError):
        return None


def _regular(path: Path) -> bool:
    # is_file() follows links and is False for FIFOs, so sha256_of never opens one.
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
