"""``bcviewer predict``'s run-level outputs: the growing summary.csv and the failure lines.

``summary.csv`` is appended to, one row per finished input, so an interrupted run keeps what was
done without rewriting the whole file after every input (31 million rows written for BreakHis'
7,909 images before). At the end the complete table, in input order, replaces it atomically.
Each failed input also gets one line on stderr, so failures are seen without opening the table.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tqdm import tqdm

from bcviewer.errors import BcviewerError
from bcviewer.output_kinds import check_output_file, check_output_folder
from bcviewer.filenames import escaped_text
from bcviewer.safety import atomic_write_text, protected_files, refuse_overwriting

if TYPE_CHECKING:
    from bcviewer.batch import SlideOutcome, SummaryRow

OUTPUT_FILES = ("tiles.csv", "tiles.geojson", "heatmap.png", "overlay.png", "report.pdf")
OUTPUT_KINDS = {"tiles.csv": "csv", "tiles.geojson": "geojson", "heatmap.png": "png", "overlay.png": "png",
                "report.pdf": "pdf"}


class _Row(Protocol):
    path: str
    status: str
    error: str

    def cells(self) -> list[str]: ...


def guard_prediction_outputs(inputs: Sequence[Path], folders: Sequence[Path], summary: Path, *,
                             force: bool = False) -> None:
    """Refuse a run whose summary or per-input files would replace one of its inputs, or that exist
    as a device, pipe or folder, or (without ``force``) as a file of another kind."""
    protected = protected_files(inputs)
    check_output_folder(summary.parent, "--out")
    refuse_overwriting(summary, protected, "--out")
    check_output_file(summary, "csv", "--out", force=force)
    for folder in folders:
        exists = check_output_folder(folder, "--out")
        for name in OUTPUT_FILES:
            refuse_overwriting(folder / name, protected, "--out")
            if exists:  # one stat for a new folder instead of one per file (7,909 BreakHis inputs)
                check_output_file(folder / name, OUTPUT_KINDS[name], "--out", force=force)


def _csv_line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


class SummaryFile:
    """summary.csv while a run goes on; :meth:`at` returns the one instance for a path."""

    _open: dict[Path, SummaryFile] = {}

    def __init__(self, path: Path, fields: Sequence[str]) -> None:
        self.path = path
        self.fields = tuple(fields)
        self._written: set[int] = set()
        atomic_write_text(path, _csv_line(self.fields))  # a fresh file, replacing an older run's

    @classmethod
    def start(cls, path: Path, fields: Sequence[str]) -> SummaryFile:
        """Begin a run's summary (header only) and register it for :meth:`at`."""
        instance = cls(path, fields)
        cls._open[path] = instance
        return instance

    @classmethod
    def at(cls, path: Path) -> SummaryFile:
        return cls._open[path]

    def sync(self, rows: Sequence[_Row | None]) -> None:
        """Append the rows filled in since the last call; print one stderr line per new failure."""
        new = [(i, r) for i, r in enumerate(rows) if r is not None and i not in self._written]
        if not new:
            return
        text = "".join(_csv_line(r.cells()) for _, r in new)
        try:
            with open(self.path, "a", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise BcviewerError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        for i, row in new:
            self._written.add(i)
            if row.status == "error":
                report_failure(row.path, row.error)

    def finish(self, rows: Sequence[_Row | None]) -> None:
        """Write the complete table in input order, atomically, and close the run."""
        self.sync(rows)
        text = _csv_line(self.fields) + "".join(_csv_line(r.cells()) for r in rows if r is not None)
        atomic_write_text(self.path, text)
        self._open.pop(self.path, None)


def report_failure(path: str, error: str) -> None:
    """One stderr line for an input that failed (printed above any progress bar)."""
    tqdm.write(escaped_text(f"bcviewer predict: {path}: {error}"), file=sys.stderr)


def result_line(name: str, row: SummaryRow, outcome: SlideOutcome) -> str:
    """One input's result on the console: verdict, the rule's value and interval, uncertainty, and
    the model with why it was chosen (summary.csv stays the contract; this is for people)."""
    def num(v: float | None) -> str:
        return "–" if v is None or math.isnan(v) else f"{v:.3f}"  # NaN: nothing scored

    interval = (f" (95% interval {num(row.verdict_low)}–{num(row.verdict_high)})"
                if row.verdict_low is not None and row.verdict_high is not None else "")
    model = outcome.model.name if outcome.model is not None else "?"
    why = f" ({outcome.model_reason})" if outcome.model_reason else ""
    return (f"{escaped_text(name)}: {row.verdict or row.label or 'no verdict'} · {row.verdict_rule or 'p'} {num(row.p_malignant)}"
            f"{interval} · uncertainty {num(row.uncertainty)} · {row.n_tiles} tiles · model {model}{why}")


def verdict_counts(rows: list[SummaryRow | None]) -> str:
    """': 2 malignant, 1 benign (1 for review)' over the scored rows; '' when none was scored."""
    scored = [r for r in rows if r is not None and r.status == "ok"]
    if not scored:
        return ""
    labels = {label: sum(r.label == label for r in scored) for label in ("malignant", "benign")}
    text = ", ".join(f"{n} {label}" for label, n in labels.items() if n)
    unlabelled = len(scored) - sum(labels.values())
    text += f"{', ' if text else ''}{unlabelled} without a verdict" if unlabelled else ""
    review = sum(bool(r.review) for r in scored)
    return f": {text}" + (f" ({review} for review)" if review else "")
