"""``bcviewer predict PATH...``: score slides and images, write heatmaps, tables and GeoJSON.

Outputs, under ``--out`` (default ``bcviewer-predictions``):

* ``summary.csv``: one row per input, columns ``path,status,p_malignant,label,uncertainty,n_tiles,
  error,prediction_set,outside_training,verdict_rule,verdict,verdict_low,verdict_high,review``
  (the verdict: :mod:`bcviewer.inference.verdict`; appended after every input, so an interrupted run
  keeps what was done, and replaced atomically by the complete table in input order at the
  end); each failed input also gets one line on stderr;
* ``<stem>/`` per input (``<stem>-2/`` ... when two inputs share a name), holding, by
  ``--formats``: ``tiles.csv`` (csv; its ``qc_flag`` column names the tiles quality control left
  out), ``tiles.geojson`` (geojson, for QuPath), ``heatmap.png`` and ``overlay.png`` (png): the
  heatmap alone and blended on a thumbnail, both with the longer side at most 2048 px (BreakHis
  images keep their full size); ``regions.csv`` with ``--roi``; ``report.pdf`` with ``--report``
  (:mod:`bcviewer.export.report`); and ``manifest.json``, written
  last, recording the input's and the model's sha256 (see :mod:`bcviewer.batch.manifest`).

Each input is opened once; its model (unless ``--model`` names one), grid, notes and quality
control are decided then by :func:`bcviewer.inference.plan.plan_input`.

p_malignant and uncertainty are the verdict rule's value and its margin (see
:mod:`bcviewer.inference.scores`); verdict_low and verdict_high its 95% interval over the tiles.
A file that fails gets ``status=error`` and a one-line reason; the others still run, and the exit
code is 2 when any input failed (130 after Ctrl+C).

Where it runs: by default in this process (Dask is not imported). ``--workers N`` starts a Dask
LocalCluster of N worker processes, ``--scheduler tcp://host:8786`` uses an existing Dask cluster
(see docs/cluster.md); one task per slide, outputs written here as slides finish. ``--resume``
skips inputs whose outputs are complete and still match their manifest.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

# Only plain-data modules at the top: `bcviewer predict --help` and refusals of bad options must not
# import numpy, the imaging stack or a runtime (tests/test_startup.py); the run imports them.
from bcviewer.batch.choices import DEFAULT_RETRIES, FORMATS
from bcviewer.cli.checks import positive_float
from bcviewer.cli.outputs import (
    SummaryFile,
    guard_prediction_outputs,
    result_line,
    verdict_counts,
)
from bcviewer.cli.pixel_size import pixel_size
from bcviewer.cli.predict_inputs import collect_inputs, refuse_unscaled_slides
from bcviewer.cli.progress import progress_bar
from bcviewer.cli.tiles import parse_grid
from bcviewer.errors import BcviewerError, remembered
from bcviewer.export.choices import COLORMAPS, DEFAULT_COLORMAP, DEFAULT_OPACITY
from bcviewer.filenames import escaped_text, safe_folder_name
from bcviewer.inference.choices import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MIN_TISSUE,
    RUNTIME_CHOICES,
)
from bcviewer.output_kinds import FORCE_HELP
from bcviewer.qupath import OBJECT_TYPE_HELP, OBJECT_TYPES
from bcviewer.safety import missing_reason

if TYPE_CHECKING:
    from bcviewer.batch import (
        ModelRef,
        PredictOptions,
        PredictorCache,
        SlideOutcome,
        SummaryRow,
    )
    from bcviewer.inference import Predictor

SUMMARY_FIELDS = ("path", "status", "p_malignant", "label", "uncertainty", "n_tiles", "error", "prediction_set",
                  "outside_training", "verdict_rule", "verdict", "verdict_low", "verdict_high", "review")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("predict", help="score slides or images; write summary, heatmaps, CSV and GeoJSON")
    p.add_argument("paths", nargs="+", metavar="PATH", help="slide or image files, or folders of them")
    p.add_argument("--model", metavar="NAME|DIR",
                   help="model name or folder (default: breakhis-100x for microscopy images, idc-wsi for whole "
                        "slides: pyramids, scanner formats and images of 10000 px or more)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--grid", metavar="RxC",
                      help="cut each microscopy image into R x C sub-images (default: the model's, 3x3); "
                           "whole slides are never cut this way")
    size.add_argument("--tile-um", type=positive_float, metavar="N",
                      help="square tiles of N µm (default for whole slides: the model's, 200 µm for idc-wsi)")
    size.add_argument("--tile-px", type=int, metavar="N",
                      help="square tiles of N level-0 pixels, resized to the model's input; works without a "
                           "pixel size (default: not used)")
    p.add_argument("--mpp", type=pixel_size, metavar="UM",
                   help="µm per level-0 pixel for whole slides that do not record it, e.g. 0.25 at 40x, 0.5 at 20x; "
                        "microscopy images cut into sub-images need none and never use it (default: none; a "
                        "file's own value always wins)")
    p.add_argument("--mpp-table", metavar="CSV",
                   help="per-file pixel sizes: a CSV with a path (or file, image) column and an mpp column, paths "
                        "relative to the CSV; a listed file gets its own value instead of --mpp (default: none)")
    p.add_argument("--magnification", type=_magnification_arg, metavar="N",
                   help="objective magnification of microscopy images (40, 100, 200, 400); tiles are scaled to "
                        "the model's training field (default: from BreakHis file names, else the model's own, "
                        "which is then stated)")
    p.add_argument("--min-tissue", type=float, metavar="F",
                   help=f"skip tiles with less tissue, 0..1 (default: {DEFAULT_MIN_TISSUE} for whole slides, "
                        "0 for microscopy images)")
    p.add_argument("--device", default="auto",
                   help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--runtime", default="auto", choices=RUNTIME_CHOICES,
                   help="auto: ONNX Runtime on the CPU, torch on a GPU; int8: the model's quantised file, if it "
                        "ships one (default: auto)")
    p.add_argument("--out", default="bcviewer-predictions", metavar="DIR",
                   help="output folder (default: bcviewer-predictions)")
    p.add_argument("--formats", default="csv,geojson,png",
                   help="comma list of csv, geojson, png (default: csv,geojson,png)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                   help=f"tiles per forward pass (default: {DEFAULT_BATCH_SIZE})")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="p_malignant at or above this is malignant (default: 0.5)")
    p.add_argument("--cmap", default=DEFAULT_COLORMAP, choices=COLORMAPS,
                   help=f"heatmap colours, the viewer's default too (default: {DEFAULT_COLORMAP})")
    p.add_argument("--opacity", type=float, default=DEFAULT_OPACITY,
                   help=f"heatmap opacity in overlay.png, 0..1 (default: {DEFAULT_OPACITY})")
    p.add_argument("--smooth", action="store_true",
                   help="interpolate between tiles in heatmap.png and overlay.png (default: off, one block per tile)")
    p.add_argument("--roi", metavar="FILE",
                   help="score only the tiles whose centre lies inside these regions (GeoJSON polygons as QuPath "
                        "exports annotations, coordinates as QuPath shows the slide; or ASAP/CAMELYON XML, "
                        "coordinates in the slide's full level-0 frame); writes regions.csv per input "
                        "with each region's area and tissue in mm², tiles scored, mean and max p and %% of tissue "
                        "at or above the threshold (default: the whole input)")
    p.add_argument("--qc", choices=("auto", "on", "off"), default="auto",
                   help="quality control before scoring (bcviewer qc): tiles of glass, pen ink, folds, gross over- or "
                        "under-staining or blur are "
                        "left out, hatched grey in the PNGs and flagged in tiles.csv and tiles.geojson; auto: on for "
                        "whole slides, off for microscopy images (default: auto)")
    p.add_argument("--report", action="store_true",
                   help="also write report.pdf per input: verdict, heatmap, top tiles, QC, regions (default: off)")
    p.add_argument("--object-type", default="tile", choices=OBJECT_TYPES,
                   help=OBJECT_TYPE_HELP + " (default: tile)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="score on a Dask LocalCluster of N worker processes (needs bcviewer[cluster]; "
                            "default: this process, no Dask)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="score on an existing Dask cluster, e.g. tcp://host:8786 (see docs/cluster.md; "
                            "default: none)")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="N",
                   help=f"with Dask: score a slide again up to N times if its worker dies (default {DEFAULT_RETRIES})")
    p.add_argument("--resume", action="store_true",
                   help="skip inputs whose outputs in --out are complete and match their manifest (default: off)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: off)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=run)


def _magnification_arg(text: str) -> int:
    from bcviewer.tiling.magnification import MagnificationError, parse_magnification

    try:
        return parse_magnification(text)
    except MagnificationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_formats(text: str) -> tuple[str, ...]:
    """'csv,png' -> ('csv', 'png'); unknown names are a user error."""
    names = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise BcviewerError(f"--formats takes a comma list of {', '.join(FORMATS)}; got {text!r}")
    return names


class ModelRefs:
    """Model references by name or folder, resolved once (reading the card only); failures are kept."""

    def __init__(self) -> None:
        self._found: dict[str, ModelRef | BcviewerError] = {}

    def get(self, name: str) -> ModelRef:
        from bcviewer.batch import model_ref

        return remembered(self._found, name, lambda: model_ref(name))

    def sha256(self, name: str) -> str | None:
        try:
            return self.get(name).sha256
        except BcviewerError:
            return None


def _output_dirs(inputs: list[Path], out: Path) -> list[Path]:
    used: set[str] = set()
    dirs = []
    for p in inputs:
        stem, n = safe_folder_name(p.stem) or "input", 1  # a name that is not UTF-8 gets %FF escapes
        name = stem
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name.lower())
        dirs.append(out / name)
    return dirs


def _check_args(args: argparse.Namespace) -> tuple[str, ...]:
    if args.batch_size < 1:
        raise BcviewerError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not 0.0 <= args.threshold <= 1.0:
        raise BcviewerError(f"--threshold must be between 0 and 1, got {args.threshold}")
    if not 0.0 <= args.opacity <= 1.0:
        raise BcviewerError(f"--opacity must be between 0 and 1, got {args.opacity}")
    if args.min_tissue is not None and not 0.0 <= args.min_tissue <= 1.0:
        raise BcviewerError(f"--min-tissue must be between 0 and 1, got {args.min_tissue}")
    if args.tile_px is not None and args.tile_px < 1:
        raise BcviewerError(f"--tile-px must be at least 1, got {args.tile_px}")
    if args.workers is not None and args.workers < 1:
        raise BcviewerError(f"--workers must be at least 1, got {args.workers}")
    if args.retries < 0:
        raise BcviewerError(f"--retries must be 0 or more, got {args.retries}")
    if args.grid:
        parse_grid(args.grid)
    return parse_formats(args.formats)


def _roi_values(path: str | None) -> dict[str, object]:
    """``roi`` and ``roi_frame`` of :class:`PredictOptions` from ``--roi`` (GeoJSON or ASAP XML)."""
    if not path:
        return {"roi": ()}
    from bcviewer.regions import read_region_file

    regions, frame = read_region_file(path)
    return {"roi": tuple(regions), "roi_frame": frame}


def options_from_args(args: argparse.Namespace, formats: tuple[str, ...]) -> PredictOptions:
    """The per-slide options: every :class:`PredictOptions` field, taken from the argument of that name."""
    from bcviewer.batch import PredictOptions
    from bcviewer.batch.pixel_sizes import read_mpp_table

    values = {f.name: getattr(args, f.name) for f in fields(PredictOptions) if hasattr(args, f.name)}
    values.update(formats=formats, grid=parse_grid(args.grid) if args.grid else None,
                  **_roi_values(getattr(args, "roi", None)),
                  mpp_table=read_mpp_table(args.mpp_table) if getattr(args, "mpp_table", None) else (),
                  qc={"on": True, "off": False}.get(getattr(args, "qc", "auto")))
    return PredictOptions(**values)


class _Run:
    """One predict run's state: inputs, their output folders and summary rows, and the progress bar."""

    def __init__(self, args: argparse.Namespace, options: PredictOptions, refs: ModelRefs) -> None:
        self.args, self.options, self.refs = args, options, refs
        self.inputs = collect_inputs(args.paths)
        out = Path(args.out).expanduser()
        self.out, self.out_existed = out, out.exists()
        self.folders = _output_dirs(self.inputs, out)
        self.summary = out / "summary.csv"
        guard_prediction_outputs(self.inputs, self.folders, self.summary, force=args.force)
        self.summary_file = SummaryFile.start(self.summary, SUMMARY_FIELDS)
        self.rows: list[SummaryRow | None] = [None] * len(self.inputs)
        # One input needs no count of inputs: its error, if any, stays the one line it prints.
        self.bar = progress_bar(total=len(self.inputs), unit="file", quiet=args.quiet or len(self.inputs) == 1,
                                desc="predict")

    def resume(self) -> int:
        """Fill the rows of inputs already complete in --out; return how many."""
        from bcviewer.batch import completed_row

        fixed = self.args.model
        model_sha = (lambda _src: self.refs.sha256(fixed)) if fixed else self.refs.sha256
        for i, path in enumerate(self.inputs):
            self.rows[i] = completed_row(self.folders[i], path, self.options, model_sha)
        done = sum(r is not None for r in self.rows)
        self.bar.update(done)
        return done

    def discard_if_empty(self) -> bool:
        """Remove what this run created when nothing was scored (the summary of errors, empty input
        folders, --out itself); True when --out is gone. An existing --out is left as it was."""
        if self.out_existed or any(r is not None and r.status != "error" for r in self.rows):
            return False
        self.summary.unlink(missing_ok=True)
        for folder in sorted(set(self.folders), key=lambda f: len(f.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()
        return not self.out.exists()

    def fail(self, indices: list[int], exc: BaseException) -> None:
        from bcviewer.batch import SummaryRow, one_line

        for i in indices:
            if self.rows[i] is None:
                self.rows[i] = SummaryRow(str(self.inputs[i]), "error", error=one_line(exc))
                self.bar.update(1)

    def record(self, outcome: SlideOutcome) -> None:
        """Write one slide's outputs and manifest, and its summary row."""
        from tqdm import tqdm

        from bcviewer.batch import write_outcome

        i = outcome.index
        self.bar.set_postfix_str(self.inputs[i].name)
        for note in outcome.notes:
            tqdm.write(escaped_text(f"bcviewer predict: {self.inputs[i].name}: {note}"), file=sys.stderr)
        self.rows[i] = write_outcome(self.folders[i], outcome, self.options)
        self.summary_file.sync(self.rows)
        row = self.rows[i]
        if not self.args.quiet and row is not None and row.status == "ok":
            self.bar.write(result_line(self.inputs[i].name, row, outcome), file=sys.stdout)
        self.bar.update(1)


def run(args: argparse.Namespace) -> int:
    formats = _check_args(args)  # before the scoring stack is imported: a bad value is refused at once
    refuse_unscaled_slides(args)
    missing = [why for why in map(missing_reason, args.paths) if why is not None]
    if len(missing) == len(args.paths):  # a mistyped path (or a symlink loop): one line, nothing created or imported
        raise BcviewerError(missing[0] + (f" (nor do {len(missing) - 1} more)" if len(missing) > 1 else ""))
    from bcviewer.batch import PredictorCache
    from bcviewer.inference import choose_runtime, resolve_device

    options = options_from_args(args, formats)
    if args.workers or args.scheduler:
        from bcviewer.batch import cluster  # noqa: F401 - Dask missing: one error before anything is written
    choose_runtime(args.runtime, resolve_device(args.device))  # a missing GPU: one error for the run, not per file
    refs, predictors = ModelRefs(), PredictorCache()
    if args.model:
        predictors.get(refs.get(args.model), options)  # a bad --model is one error for the whole run as well
    state = _Run(args, options, refs)
    skipped = 0
    try:
        if args.resume:
            skipped = state.resume()
        todo = [i for i, r in enumerate(state.rows) if r is None]
        state.summary_file.sync(state.rows)
        if args.workers or args.scheduler:
            _run_cluster(state, todo)
        else:
            _run_here(state, todo, predictors)
        state.summary_file.finish(state.rows)
    finally:
        state.bar.close()
    rows = state.rows
    failed = sum(r is not None and r.status == "error" for r in rows)
    if state.discard_if_empty():  # nothing scored: each input's error line said why; no folder is left
        if len(rows) > 1:
            print(f"none of the {len(rows)} inputs could be scored; nothing was written", file=sys.stderr)
        return 2
    resumed = f" ({skipped} already complete, skipped)" if args.resume else ""
    print(escaped_text(f"{len(rows) - failed} of {len(rows)} inputs scored{resumed}{verdict_counts(rows)}; "
                       f"summary in {state.summary}"), file=sys.stderr)
    return 2 if failed else 0


def _run_here(state: _Run, todo: list[int], predictors: PredictorCache) -> None:
    """Score in this process as one stream: each input is opened once, where its model is chosen
    (unless --model names one), and consecutive inputs that share a model share its batches."""
    from bcviewer.batch import score_slides

    def predictor_for(source: str) -> tuple[Predictor, ModelRef]:
        ref = state.refs.get(source)
        return predictors.get(ref, state.options), ref

    tiles = progress_bar(unit="tile", quiet=state.args.quiet, line_at_close=False, leave=False, position=1,
                         desc="tiles")
    try:
        outcomes = score_slides(predictor_for, [(i, state.inputs[i]) for i in todo], state.options, tiles.update,
                                model=state.args.model or "")
        try:
            for outcome in outcomes:
                state.record(outcome)
        finally:
            outcomes.close()
    finally:
        tiles.close()


def _run_cluster(state: _Run, todo: list[int]) -> None:
    """Score on Dask: one task per slide, opened and planned on its worker; outputs are written
    here as slides finish. The client resolves the models a worker may choose, once."""
    from tqdm import tqdm

    from bcviewer.batch import (
        cluster,  # Dask is imported only for --workers and --scheduler
        one_line,
    )
    from bcviewer.inference.plan import AUTOMATIC_CHOICES

    if not todo:
        return
    names = [state.args.model] if state.args.model else list(AUTOMATIC_CHOICES)
    models: dict[str, ModelRef | str] = {}
    for name in names:
        try:
            models[name] = state.refs.get(name)
        except BcviewerError as exc:
            models[name] = one_line(exc)
    tasks = [cluster.SlideTask(i, state.inputs[i], models, state.args.model or "") for i in todo]
    with cluster.open_client(state.args.workers, state.args.scheduler) as client:
        tqdm.write(cluster.describe(client), file=sys.stderr)
        outcomes = cluster.score_on_cluster(client, tasks, state.options, state.args.retries)
        try:
            for outcome in outcomes:
                state.record(outcome)
        finally:
            outcomes.close()
