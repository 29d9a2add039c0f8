"""Scoring slides for ``bcviewer predict``: the one code path shared by the single-process run
and the Dask workers.

:func:`score_slides` scores a stream of slides that share a model and yields one
:class:`SlideOutcome` per slide: its summary row and its output files as bytes. Nothing here
writes a file; the client does that (:func:`bcviewer.batch.manifest.write_outcome`), so a worker
that dies mid-slide leaves nothing half-written. :func:`score_one` is the task a Dask worker runs:
it finds the model by name and sha256 in a per-process cache (:data:`WORKER_PREDICTORS`), so
each worker loads a model once and weights never travel with a task.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bcviewer.checksums import sha256_of
from bcviewer.errors import BcviewerError, remembered
from bcviewer.export import DEFAULT_COLORMAP, DEFAULT_OPACITY, tissue_for, write_export
from bcviewer.inference import (
    DEFAULT_BATCH_SIZE,
    JobResult,
    Predictor,
    ScaleUnknownError,
    SlideJob,
    TileScores,
    analysis_grid,
    level0_mpp,
    scale_warnings,
)
from bcviewer.inference.grids import magnification_note
from bcviewer.nets import InputSpec, load_model, read_card, resolve_model_dir
from bcviewer.slides import SlideReader, open_slide
from bcviewer.tiling import TileGrid

FORMATS = ("csv", "geojson", "png")
OUTPUT_FILES = {"csv": ("tiles.csv",), "geojson": ("tiles.geojson",), "png": ("heatmap.png", "overlay.png")}
PNG_MAX_SIZE = 2048
DEFAULT_RETRIES = 2
"""How many times a slide is submitted again after the worker process scoring it died."""


def worker_id() -> str:
    """host:pid of this process (called each time: a forked process has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class PredictOptions:
    """How each slide is scored and what is written for it; small and picklable, sent with every task.

    A new ``predict`` option becomes a field here with the argparse ``dest`` as its name.
    """

    formats: tuple[str, ...] = FORMATS
    grid: tuple[int, int] | None = None
    tile_um: float | None = None
    tile_px: int | None = None
    mpp: float | None = None
    magnification: int | None = None
    min_tissue: float | None = None
    device: str = "auto"
    runtime: str = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    threshold: float = 0.5
    cmap: str = DEFAULT_COLORMAP
    opacity: float = DEFAULT_OPACITY
    smooth: bool = False
    object_type: str = "tile"

    # How the work is run, not what it produces: a resumed run may change them.
    EXECUTION_ONLY: ClassVar[frozenset[str]] = frozenset({"device", "runtime", "batch_size"})
    # The options a Predictor is built with: a worker keeps one predictor per model and these values.
    PREDICTOR_FIELDS: ClassVar[tuple[str, ...]] = ("device", "runtime")

    def predictor_key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.PREDICTOR_FIELDS)

    def analysis(self) -> dict[str, Any]:
        """The options that change the outputs, as JSON values (recorded in each slide's manifest)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k not in self.EXECUTION_ONLY}

    def output_names(self) -> list[str]:
        return [name for f in self.formats for name in OUTPUT_FILES[f]]


@dataclass
class SummaryRow:
    """One line of summary.csv."""

    path: str
    status: str = "ok"
    p_malignant: float | None = None
    label: str = ""
    uncertainty: float | None = None
    n_tiles: int | None = None
    error: str = ""
    prediction_set: str = ""  # benign / malignant / review; empty: the card has no conformal calibration
    outside_training: bool | None = None  # None: the card has no outside-training density

    def cells(self) -> list[str]:
        num = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
        flag = "" if self.outside_training is None else ("yes" if self.outside_training else "no")
        return [self.path, self.status, num(self.p_malignant), self.label, num(self.uncertainty),
                "" if self.n_tiles is None else str(self.n_tiles), self.error, self.prediction_set, flag]


@dataclass
class SlideOutcome:
    """One scored (or failed) slide: its summary row, and its output files by name (ok rows only)."""

    index: int
    row: SummaryRow
    files: dict[str, bytes] = field(default_factory=dict)
    input_sha256: str = ""
    notes: tuple[str, ...] = ()  # what the user must be told about this input (scale, warnings)
    scored_by: str = field(default_factory=worker_id)

    @property
    def ok(self) -> bool:
        return self.row.status == "ok"


@dataclass(frozen=True)
class ModelRef:
    """A model as every process finds it: ``source`` for :func:`load_model` (a shipped name, or an
    absolute folder) and the sha256 its weights must have."""

    source: str
    sha256: str
    name: str


def model_ref(name_or_dir: str) -> ModelRef:
    """Resolve a model name or folder and read its card (the weights are checked when loaded)."""
    directory = resolve_model_dir(name_or_dir)
    card = read_card(directory)
    given = Path(name_or_dir).expanduser()
    # A bare name stays a name, so each worker looks it up in its own model folders.
    source = name_or_dir if len(given.parts) == 1 and not given.exists() else str(directory.resolve())
    return ModelRef(source, str(card["weights"].get("sha256", "")), str(card.get("name", directory.name)))


def load_predictor(ref: ModelRef, options: PredictOptions) -> Predictor:
    """Load ``ref`` and refuse it when its weights are not the ones the run asked for."""
    model = load_model(ref.source)
    found = str(model.card["weights"].get("sha256", ""))
    if found != ref.sha256:
        raise BcviewerError(f"model {ref.name} on {worker_id()} has weights sha256 {found[:12]}..., the run asked "
                            f"for {ref.sha256[:12]}...; install the same model everywhere")
    predictor = Predictor(model, device=options.device, runtime=options.runtime)
    if predictor.runtime_note:
        print(f"{ref.name}: {predictor.runtime_note}", file=sys.stderr)
    return predictor


class PredictorCache:
    """Predictors by model (source, sha256) and predictor options, each loaded once per process; a model that
    fails to load fails every time. Thread-safe (a Dask worker may run several tasks at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Any, ...], Predictor | BcviewerError] = {}
        self.loads = 0  # models actually loaded, for tests and benchmarks

    def get(self, ref: ModelRef, options: PredictOptions) -> Predictor:
        key = (ref.source, ref.sha256, *options.predictor_key())
        with self._lock:
            return remembered(self._loaded, key, lambda: self._load(ref, options))

    def _load(self, ref: ModelRef, options: PredictOptions) -> Predictor:
        self.loads += 1
        return load_predictor(ref, options)


WORKER_PREDICTORS = PredictorCache()
"""The cache :func:`score_one` uses: one per worker process, kept between tasks."""


def one_line(exc: BaseException) -> str:
    """An error as one line: our own messages as they are, others prefixed with their type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, BcviewerError) else f"{type(exc).__name__}: {text}"


def error_outcome(index: int, path: Path | str, exc: BaseException | str) -> SlideOutcome:
    text = exc if isinstance(exc, str) else one_line(exc)
    return SlideOutcome(index, SummaryRow(str(path), "error", error=text))


def grid_for(slide: SlideReader, spec: InputSpec, options: PredictOptions) -> TileGrid:
    """The grid the options ask for (grid, tile_um, tile_px), else the default for this input."""
    try:
        grid = analysis_grid(slide, spec, subimages=options.grid, tile_um=options.tile_um, tile_px=options.tile_px,
                             mpp=options.mpp, min_tissue=options.min_tissue, magnification=options.magnification)
    except ScaleUnknownError as exc:
        raise BcviewerError(f"{exc}; give the pixel size with --mpp (e.g. 0.25 at 40x, 0.5 at 20x) or the "
                            "tile size in level-0 pixels with --tile-px") from exc
    if len(grid) == 0:
        raise BcviewerError("no tile has enough tissue to score (lower --min-tissue or check the slide)")
    return grid


def input_notes(slide: SlideReader, grid: TileGrid, spec: InputSpec, name: str,
                options: PredictOptions) -> tuple[str, ...]:
    """Where this input's pixel size came from when the file records none, and scale warnings
    ("warning: ...") for this input and model; printed on stderr and kept in tiles.geojson."""
    mpp = level0_mpp(slide, options.mpp)
    notes = []
    if slide.mpp is None and mpp is not None and grid.kind == "physical":
        notes.append(f"pixel size {mpp:g} µm/px from --mpp (the file records none)")
    magnification = magnification_note(slide, spec, grid, options.magnification)
    if magnification is not None:
        notes.append(magnification)
    side0 = float(grid[0].w) if len(grid) and grid.kind == "physical" else None
    notes.extend(f"warning: {w}" for w in scale_warnings(slide, spec, None, name, side0, mpp))
    return tuple(notes)


def render_outputs(slide: SlideReader, scores: TileScores, options: PredictOptions,
                   notes: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The per-slide files chosen by ``options.formats``, by file name.

    They are made by :func:`bcviewer.export.write_export` (the viewer's exports, so both look the
    same) in a private temporary folder and read back: the caller, maybe on another machine,
    writes them into the output folder.
    """
    look = {"cmap": options.cmap, "threshold": 0.0, "smooth": options.smooth, "mpp": level0_mpp(slide, options.mpp)}
    with tempfile.TemporaryDirectory(prefix="bcviewer-outputs-") as tmp:
        folder = Path(tmp)
        if "csv" in options.formats:
            write_export("csv", scores, slide, folder / "tiles.csv")
        if "geojson" in options.formats:
            write_export("geojson", scores, slide, folder / "tiles.geojson",
                         object_type=options.object_type, notes=notes)  # type: ignore[arg-type]
        if "png" in options.formats:
            tissue = tissue_for(scores, slide)
            write_export("heatmap", scores, slide, folder / "heatmap.png", tissue=tissue, max_side=PNG_MAX_SIZE,
                         opacity=1.0, **look)  # type: ignore[arg-type]
            write_export("overlay", scores, slide, folder / "overlay.png", tissue=tissue, max_side=PNG_MAX_SIZE,
                         opacity=options.opacity, **look)  # type: ignore[arg-type]
        return {name: (folder / name).read_bytes() for name in options.output_names()}


@dataclass
class _Input:
    index: int
    path: Path
    sha256: str = ""  # filled on the feeder thread, with the grid


def _jobs(items: Sequence[tuple[int, Path]], spec: InputSpec, options: PredictOptions,
          model_name: str) -> Iterator[SlideJob]:
    """Open each input, build its grid, note its scale and hash it (lazily, on the predictor's feeder thread)."""
    for index, path in items:
        key = _Input(index, path)
        try:
            if path.is_dir():
                raise BcviewerError(f"{path} holds no images or slides")
            slide = open_slide(path)
        except Exception as exc:  # noqa: BLE001 - reported in this input's summary row
            yield SlideJob(key, error=exc)
            continue
        try:
            grid = grid_for(slide, spec, options)
            notes = input_notes(slide, grid, spec, model_name, options)
            key.sha256 = sha256_of(path)  # recorded in the manifest, so --resume can tell the file changed
        except Exception as exc:  # noqa: BLE001
            slide.close()
            yield SlideJob(key, error=exc)
            continue
        yield SlideJob(key, slide, grid, close_slide=True, notes=notes)


def _outcome(result: JobResult, options: PredictOptions) -> SlideOutcome:
    key: _Input = result.key
    if result.error is not None or result.scores is None or result.job.slide is None:
        return error_outcome(key.index, key.path, result.error or ValueError("not scored"))
    scores = result.scores
    try:
        files = render_outputs(result.job.slide, scores, options, result.job.notes)
    except Exception as exc:  # noqa: BLE001
        return error_outcome(key.index, key.path, exc)
    row = SummaryRow(str(key.path), "ok", scores.image_p_malignant, scores.image_label or "",
                     scores.image_uncertainty, len(scores), prediction_set=scores.image_set or "",
                     outside_training=scores.image_outside)
    return SlideOutcome(key.index, row, files, key.sha256, result.job.notes)


def scored_inputs(predictor: Predictor, items: Sequence[tuple[int, Path]], options: PredictOptions,
                  on_batch: Callable[[int], object] | None = None, model_name: str = "") -> Iterator[JobResult]:
    """Score ``(index, path)`` items as ``predict`` does (same opening, grid, scale and notes); one
    :class:`JobResult` each, in order, its key an object with ``index``, ``path`` and ``sha256``.

    ``predict``, its Dask workers and ``evaluate`` all score through here, so what ``evaluate``
    measures is what users get. Batches span slides, so folders of small images still fill every
    batch. A slide that cannot be opened, tiled or read gets an error result; the others go on.
    The caller reads each result before asking for the next (the slide is closed after that).
    """
    jobs = _jobs(items, predictor.spec, options, predictor.name or model_name)
    results = predictor.iter_results(jobs, options.batch_size,
                                     on_batch=on_batch, threshold=options.threshold)  # type: ignore[arg-type]
    try:
        yield from results
    finally:
        results.close()


def score_slides(predictor: Predictor, items: Sequence[tuple[int, Path]], options: PredictOptions,
                 on_batch: Callable[[int], object] | None = None, model_name: str = "") -> Iterator[SlideOutcome]:
    """Score ``(index, path)`` items with one predictor as a single stream; one outcome each, in order
    (see :func:`scored_inputs`), with the output files rendered."""
    results = scored_inputs(predictor, items, options, on_batch, model_name)
    try:
        for result in results:
            yield _outcome(result, options)
    finally:
        results.close()


def score_one(index: int, path: str, model: ModelRef, options: PredictOptions) -> SlideOutcome:
    """The Dask task: score one slide with this process's cached predictor. Never raises for a
    bad slide or model (that is the slide's error outcome); a dying process is Dask's to retry."""
    try:
        predictor = WORKER_PREDICTORS.get(model, options)
        outcomes = score_slides(predictor, [(index, Path(path))], options, model_name=model.name)
        try:
            return next(outcomes)
        finally:
            outcomes.close()
    except Exception as exc:  # noqa: BLE001 - one line in this slide's summary row
        return error_outcome(index, path, exc)
