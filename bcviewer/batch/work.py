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

import hashlib
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bcviewer.batch.choices import UNKNOWN_SCALE_HINT
from bcviewer.batch.choices import DEFAULT_RETRIES as DEFAULT_RETRIES  # re-exported
from bcviewer.batch.choices import FORMATS as FORMATS
from bcviewer.batch.summary import SummaryRow
from bcviewer.checksums import sha256_of
from bcviewer.errors import BcviewerError, remembered
from bcviewer.export import DEFAULT_COLORMAP, DEFAULT_OPACITY, render_export, tissue_for
from bcviewer.inference import DEFAULT_BATCH_SIZE, ScaleUnknownError, TileScores
from bcviewer.inference.plan import InputPlan, ModelChoice, PlanOptions, plan_input
from bcviewer.nets import read_card, resolve_model_dir
from bcviewer.qupath import ObjectType
from bcviewer.regions import Region, RegionFrame, region_stats, regions_geojson, stats_csv_text
from bcviewer.slides import SlideReader, open_slide

if TYPE_CHECKING:  # torch modules: imported when a run starts, not with the CLI
    from bcviewer.inference import JobResult, Predictor, SlideJob

OUTPUT_FILES = {"csv": ("tiles.csv",), "geojson": ("tiles.geojson",), "png": ("heatmap.png", "overlay.png")}
REGIONS_FILE = "regions.csv"  # one row per region of --roi: areas, tissue, tiles scored, p
PNG_MAX_SIZE = 2048


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
    object_type: ObjectType = "tile"
    # Per-input pixel sizes (--mpp-table): (resolved path, µm/px); an input listed here gets its own
    # value instead of ``mpp``. Either applies only to an input that records none and needs one.
    mpp_table: tuple[tuple[str, float], ...] = ()
    roi: tuple[Region, ...] = ()  # analyse inside these regions only; () = everywhere
    roi_frame: RegionFrame = "qupath"  # the regions' frame: QuPath's (GeoJSON) or the slide's full one (ASAP)
    qc: bool | None = None  # quality control before scoring; None: on for whole slides, off for images
    report: bool = False  # --report: a PDF report per input (bcviewer.batch.reports)

    # How the work is run, not what it produces: a resumed run may change them.
    EXECUTION_ONLY: ClassVar[frozenset[str]] = frozenset({"device", "runtime", "batch_size"})
    # The options a Predictor is built with: a worker keeps one predictor per model and these values.
    PREDICTOR_FIELDS: ClassVar[tuple[str, ...]] = ("device", "runtime")

    def predictor_key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.PREDICTOR_FIELDS)

    def mpp_for(self, path: Path | str) -> float | None:
        """The pixel size given for ``path``: its --mpp-table row, else --mpp."""
        key = str(Path(path).resolve())
        return next((mpp for listed, mpp in self.mpp_table if listed == key), self.mpp)

    def analysis(self, applied_mpp: float | None = None) -> dict[str, Any]:
        """The options that change one input's outputs, as JSON values (recorded in its manifest):
        ``mpp`` is the pixel size that was applied to it (None when the file recorded its own or
        it needed none), so --mpp never makes --resume redo an input it did not apply to."""
        values = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in self.EXECUTION_ONLY and f.name != "mpp_table"}
        values["mpp"] = applied_mpp
        # The regions are recorded by the hash of their GeoJSON, so --resume sees a changed ROI.
        values["roi"] = hashlib.sha256(json.dumps(regions_geojson(self.roi)).encode()).hexdigest() if self.roi else None
        if not self.roi:  # manifests written before ASAP regions existed have no frame; they match
            del values["roi_frame"]
        if not self.report:  # nor a report option
            del values["report"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    def plan_options(self, model: str = "", path: Path | str | None = None) -> PlanOptions:
        """The input decision these options ask for ``path``, with ``model`` ("" : by the input's kind)."""
        key = str(Path(path).resolve()) if path is not None else None
        listed = any(name == key for name, _ in self.mpp_table)
        return PlanOptions(model=model, subimages=self.grid, tile_um=self.tile_um, tile_px=self.tile_px,
                           mpp=self.mpp_for(path) if path is not None else self.mpp,
                           mpp_origin="from --mpp-table" if listed else "from --mpp",
                           magnification=self.magnification, min_tissue=self.min_tissue,
                           regions=self.roi, regions_frame=self.roi_frame, qc=self.qc)

    def output_names(self) -> list[str]:
        return ([name for f in self.formats for name in OUTPUT_FILES[f]] + ([REGIONS_FILE] if self.roi else [])
                + (["report.pdf"] if self.report else []))


@dataclass
class SlideOutcome:
    """One scored (or failed) slide: its summary row, and its output files by name (ok rows only)."""

    index: int
    row: SummaryRow
    files: dict[str, bytes] = field(default_factory=dict)
    input_sha256: str = ""
    notes: tuple[str, ...] = ()  # what the user must be told about this input (scale, warnings)
    scored_by: str = field(default_factory=worker_id)
    model: ModelRef | None = None  # the model that scored it (None: it failed before one was chosen)
    applied_mpp: float | None = None  # the user's pixel size, when this input needed and got it
    model_reason: str = ""  # why that model was chosen ("the default for microscopy images", ...)
    stain: dict[str, str] | None = None  # the model input's stain normalisation (nets.stain.stain_provenance)

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
    from bcviewer.inference import Predictor
    from bcviewer.nets import open_model

    model = open_model(ref.source)
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


def planned_job(index: int, path: Path, options: PredictOptions, model: str | ModelChoice = "") -> SlideJob:
    """Open one input and decide how it is scored (:func:`~bcviewer.inference.plan.plan_input`):
    the only time a run opens it. ``model`` is the requested model (a name or folder, or one
    already chosen); "" chooses by the input's kind. A failure becomes the job's error."""
    from bcviewer.inference import SlideJob

    key = PlannedInput(index, path)
    try:
        if path.is_dir():
            raise BcviewerError(f"{path} holds no images or slides")
        slide = open_slide(path)
    except Exception as exc:  # noqa: BLE001 - reported in this input's summary row
        return SlideJob(key, error=exc)
    try:
        if isinstance(model, ModelChoice):
            key.plan = plan_input(slide, options.plan_options(model.source, path), model)
        else:
            key.plan = plan_input(slide, options.plan_options(model, path))
        key.sha256 = sha256_of(path)  # recorded in the manifest, so --resume can tell the file changed
    except ScaleUnknownError as exc:
        slide.close()
        return SlideJob(key, error=BcviewerError(f"{exc}; {UNKNOWN_SCALE_HINT}"))
    except Exception as exc:  # noqa: BLE001
        slide.close()
        return SlideJob(key, error=exc)
    return SlideJob(key, slide, key.plan.grid, close_slide=True, notes=key.plan.notes(), qc_flags=key.plan.qc_flags)


def render_outputs(slide: SlideReader, scores: TileScores, options: PredictOptions,
                   notes: tuple[str, ...] = (), regions: tuple[Region, ...] = (),
                   mpp: float | None = None) -> dict[str, bytes]:
    """The per-slide files chosen by ``options.formats``, by file name, as bytes: rendered once by
    :func:`bcviewer.export.render_export` (the viewer's exports, so both look the same); the
    caller, maybe on another machine, writes them into the output folder. ``mpp`` is the pixel
    size the plan uses for this input (scale bar, areas); None: the file's own, if any."""
    mpp = mpp if mpp is not None else slide.mpp
    look = {"cmap": options.cmap, "threshold": 0.0, "smooth": options.smooth, "mpp": mpp}
    files: dict[str, bytes] = {}
    if "csv" in options.formats:
        files["tiles.csv"] = render_export("csv", scores, slide)
    if "geojson" in options.formats:
        files["tiles.geojson"] = render_export("geojson", scores, slide, object_type=options.object_type,
                                               notes=notes)
    if "png" in options.formats:
        tissue = tissue_for(scores, slide)
        files["heatmap.png"] = render_export("heatmap", scores, slide, tissue=tissue, max_side=PNG_MAX_SIZE,
                                             opacity=1.0, **look)  # type: ignore[arg-type]
        files["overlay.png"] = render_export("overlay", scores, slide, tissue=tissue, max_side=PNG_MAX_SIZE,
                                             opacity=options.opacity, **look)  # type: ignore[arg-type]
    if options.roi:
        tissue = scores.grid.tissue if scores.grid.kind == "physical" else None
        stats = [region_stats(r, scores, mpp, tissue) for r in regions]
        files[REGIONS_FILE] = stats_csv_text(stats).encode("utf-8")
    return {name: files[name] for name in options.output_names() if name in files}  # report.pdf: _outcome


@dataclass
class PlannedInput:
    """The key of one input's job: where it is in the run, and what was decided for it."""

    index: int
    path: Path
    sha256: str = ""  # filled on the feeder thread, with the plan
    plan: InputPlan | None = None

    @property
    def model_source(self) -> str | None:
        return self.plan.model.source if self.plan is not None else None


def _outcome(result: JobResult, options: PredictOptions, model: ModelRef | None) -> SlideOutcome:
    key: PlannedInput = result.key
    if result.error is not None or result.scores is None or result.job.slide is None:
        return error_outcome(key.index, key.path, result.error or ValueError("not scored"))
    scores = result.scores
    try:
        files = render_outputs(result.job.slide, scores, options, result.job.notes,
                               key.plan.regions if key.plan is not None else (),
                               key.plan.mpp if key.plan is not None else None)
        if options.report:
            from bcviewer.batch.reports import report_bytes

            files["report.pdf"] = report_bytes(result.job.slide, scores, key.plan, options)
    except Exception as exc:  # noqa: BLE001
        return error_outcome(key.index, key.path, exc)
    row = SummaryRow.scored(str(key.path), scores)
    applied = key.plan.mpp if key.plan is not None and key.plan.mpp_source == "user" else None
    reason = key.plan.model.reason if key.plan is not None else ""
    return SlideOutcome(key.index, row, files, key.sha256, result.job.notes, model=model, applied_mpp=applied,
                        model_reason=reason, stain=dict(scores.stain))


def model_runs(jobs: Iterator[SlideJob]) -> Iterator[tuple[str | None, Iterator[SlideJob]]]:
    """Split planned jobs into runs of consecutive inputs that share a model, as
    ``(model source, jobs)``; a job that failed joins the run it falls in (None: no model yet).

    Each run must be consumed before the next is asked for: the first job of the next run is
    found by reading past the end of this one.
    """
    head: list[SlideJob] = []

    def source(job: SlideJob) -> str | None:
        return job.key.model_source if job.error is None else None

    def run(first: SlideJob, model: str | None) -> Iterator[SlideJob]:
        yield first
        for job in jobs:
            found = source(job)
            if found is not None and found != model:
                head.append(job)
                return
            yield job

    try:
        first = next(jobs)
    except StopIteration:
        return
    while True:
        model = source(first)
        if model is None:  # failures before any input found its model: a run of their own
            failed = [first]
            for job in jobs:
                if source(job) is not None:
                    head.append(job)
                    break
                failed.append(job)
            yield None, iter(failed)
        else:
            yield model, run(first, model)
        if not head:
            return
        first = head.pop()


def scored_inputs(predictors: Predictor | Callable[[str], Predictor], items: Sequence[tuple[int, Path]],
                  options: PredictOptions, on_tiles_done: Callable[[int], object] | None = None,
                  model: str = "") -> Generator[JobResult, None, None]:
    """Score ``(index, path)`` items as ``predict`` does; one :class:`JobResult` each, in order, its
    key a :class:`PlannedInput`.

    Each input is opened and planned once (:func:`planned_job`, on the predictor's feeder thread),
    with ``model`` or the model its kind calls for; ``predictors(model source)`` gives the
    predictor of each run of inputs sharing a model (see :func:`model_runs`). A single predictor
    scores every input with its own model. ``predict``, its Dask
    workers and ``evaluate`` all score through here, so what ``evaluate`` measures is what users
    get. Batches span slides, so folders of small images still fill every batch. An input that
    cannot be opened, tiled or read, or whose model cannot be loaded, gets an error result; the
    others go on. The caller reads each result before asking for the next (the slide is closed
    after that).
    """
    from bcviewer.inference import JobResult, Predictor

    wanted: str | ModelChoice = model
    if isinstance(predictors, Predictor):
        fixed = predictors
        wanted = ModelChoice(fixed.name, fixed.name, "given", getattr(fixed, "card", None) or {}, fixed.spec)
        predictors = lambda _source: fixed  # noqa: E731
    jobs = (planned_job(index, path, options, wanted) for index, path in items)
    for source, run in model_runs(jobs):
        try:
            if source is None:
                raise LookupError("no model")
            predictor = predictors(source)
        except Exception as exc:  # noqa: BLE001 - e.g. the default model is not installed
            for job in run:
                if job.slide is not None and job.close_slide:
                    job.slide.close()
                yield JobResult(job, None, job.error or exc)
            continue
        results = predictor.iter_results(run, options.batch_size,
                                         on_tiles_done=on_tiles_done, threshold=options.threshold)
        try:
            yield from results
        finally:
            results.close()


def score_slides(predictor_for: Callable[[str], tuple[Predictor, ModelRef]], items: Sequence[tuple[int, Path]],
                 options: PredictOptions, on_tiles_done: Callable[[int], object] | None = None,
                 model: str = "") -> Generator[SlideOutcome, None, None]:
    """Score ``(index, path)`` items (see :func:`scored_inputs`); one outcome each, in order, with
    its output files rendered and the model that scored it. ``predictor_for(source)`` gives the
    predictor and the reference of a model."""
    refs: dict[str, ModelRef] = {}

    def predictor(source: str) -> Predictor:
        found, refs[source] = predictor_for(source)
        return found

    results = scored_inputs(predictor, items, options, on_tiles_done, model)
    try:
        for result in results:
            source = result.key.model_source
            yield _outcome(result, options, refs.get(source) if source is not None else None)
    finally:
        results.close()


def score_one(index: int, path: str, models: dict[str, ModelRef | str], options: PredictOptions,
              model: str = "") -> SlideOutcome:
    """The Dask task: open and plan one slide here (``model``, else the model its kind calls for)
    and score it with this process's cached predictor of that model; ``models`` are the references
    the client resolved (or why it could not), so every worker checks it loads the same weights. Never raises for a bad
    slide or model (that is the slide's error outcome); a dying process is Dask's to retry."""
    def predictor_for(source: str) -> tuple[Predictor, ModelRef]:
        ref = models.get(source, f"model {source} was not resolved by the client")
        if isinstance(ref, str):
            raise BcviewerError(ref)
        return WORKER_PREDICTORS.get(ref, options), ref

    try:
        outcomes = score_slides(predictor_for, [(index, Path(path))], options, model=model)
        try:
            return next(outcomes)
        finally:
            outcomes.close()
    except Exception as exc:  # noqa: BLE001 - one line in this slide's summary row
        return error_outcome(index, path, exc)
