"""``bcviewer predict PATH...``: score slides and images, write heatmaps, tables and GeoJSON.

Outputs, under ``--out`` (default ``bcviewer-predictions``):

* ``summary.csv``: one row per input, columns ``path,status,p_malignant,label,uncertainty,n_tiles,
  error`` (appended after every input, so an interrupted run keeps what was done, and replaced
  atomically by the complete table in input order at the end); each failed input also gets one
  line on stderr;
* ``<stem>/`` per input (``<stem>-2/`` ... when two inputs share a name), holding, by
  ``--formats``: ``tiles.csv`` (csv), ``tiles.geojson`` (geojson, for QuPath), ``heatmap.png`` and
  ``overlay.png`` (png): the heatmap alone and blended on a thumbnail, both with the longer side
  at most 2048 px (BreakHis images keep their full size).

p_malignant and uncertainty are the image-level values (see :mod:`bcviewer.inference.scores`).
A file that fails gets ``status=error`` and a one-line reason; the others still run, and the exit
code is 2 when any input failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bcviewer.cli.checks import positive_float
from bcviewer.cli.outputs import SummaryFile, guard_prediction_outputs
from bcviewer.cli.tiles import parse_grid
from bcviewer.errors import BcviewerError
from bcviewer.export import COLORMAPS, DEFAULT_COLORMAP, DEFAULT_OPACITY, tissue_for, write_export
from bcviewer.inference import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MIN_TISSUE,
    RUNTIME_CHOICES,
    JobResult,
    Predictor,
    ScaleUnknownError,
    SlideJob,
    TileScores,
    analysis_grid,
    choose_device,
    choose_runtime,
    default_model_name,
    level0_mpp,
    scale_warnings,
)
from bcviewer.inference.grids import magnification_note
from bcviewer.nets import InputSpec, load_model
from bcviewer.qupath import OBJECT_TYPE_HELP, OBJECT_TYPES
from bcviewer.slides import SlideReader, open_slide
from bcviewer.tiling import TileGrid
from bcviewer.tiling.magnification import MagnificationError, parse_magnification

SUMMARY_FIELDS = ("path", "status", "p_malignant", "label", "uncertainty", "n_tiles", "error", "uncertain")
FORMATS = ("csv", "geojson", "png")
INPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".svs", ".ndpi", ".vms", ".mrxs",
                            ".scn", ".bif", ".dcm", ".svslide"})
PNG_MAX_SIZE = 2048


def register(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--mpp", type=positive_float, metavar="UM",
                   help="µm per level-0 pixel for inputs that do not record it, e.g. 0.25 at 40x, 0.5 at 20x "
                        "(default: none; a file's own value always wins)")
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
    p.add_argument("--object-type", default="tile", choices=OBJECT_TYPES,
                   help=OBJECT_TYPE_HELP + " (default: tile)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: off)")
    p.set_defaults(func=run)


def _magnification_arg(text: str) -> int:
    try:
        return parse_magnification(text)
    except MagnificationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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
    uncertain: bool | None = None  # None: the model card names no "uncertain" threshold

    def cells(self) -> list[str]:
        num = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
        flag = "" if self.uncertain is None else ("yes" if self.uncertain else "no")
        return [self.path, self.status, num(self.p_malignant), self.label, num(self.uncertainty),
                "" if self.n_tiles is None else str(self.n_tiles), self.error, flag]


def parse_formats(text: str) -> tuple[str, ...]:
    """'csv,png' -> ('csv', 'png'); unknown names are a user error."""
    names = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise BcviewerError(f"--formats takes a comma list of {', '.join(FORMATS)}; got {text!r}")
    return names


def collect_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders expand to every image or slide inside them (recursively, sorted)."""
    found: list[Path] = []
    for text in paths:
        p = Path(text).expanduser()
        if p.is_dir():
            inside = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES
                            and not f.name.startswith("."))
            found.extend(inside if inside else [p])  # an empty folder becomes one error row
        else:
            found.append(p)
    return found


class ModelCache:
    """Predictors by model name, loaded on first use; a model that fails to load fails every time."""

    def __init__(self, device: str, runtime: str = "auto") -> None:
        self.device, self.runtime = device, runtime
        self._loaded: dict[str, Predictor | BcviewerError] = {}

    def get(self, name: str) -> Predictor:
        if name not in self._loaded:
            try:
                self._loaded[name] = Predictor(load_model(name), device=self.device, runtime=self.runtime)
                if self._loaded[name].runtime_note:  # type: ignore[union-attr]
                    print(f"{name}: {self._loaded[name].runtime_note}", file=sys.stderr)  # type: ignore[union-attr]
            except BcviewerError as exc:
                self._loaded[name] = exc
        found = self._loaded[name]
        if isinstance(found, BcviewerError):
            raise found
        return found


def _output_dirs(inputs: list[Path], out: Path) -> list[Path]:
    used: set[str] = set()
    dirs = []
    for p in inputs:
        stem, n = p.stem or "input", 1
        name = stem
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name.lower())
        dirs.append(out / name)
    return dirs


def _grid_for(slide: SlideReader, spec: InputSpec, args: argparse.Namespace) -> TileGrid:
    """The grid the options ask for (--grid, --tile-um, --tile-px), else the default for this input."""
    try:
        grid = analysis_grid(slide, spec, subimages=parse_grid(args.grid) if args.grid else None,
                             tile_um=args.tile_um, tile_px=args.tile_px, mpp=args.mpp, min_tissue=args.min_tissue,
                             magnification=getattr(args, "magnification", None))
    except ScaleUnknownError as exc:
        raise BcviewerError(f"{exc}; give the pixel size with --mpp (e.g. 0.25 at 40x, 0.5 at 20x) or the "
                            "tile size in level-0 pixels with --tile-px") from exc
    if len(grid) == 0:
        raise BcviewerError("no tile has enough tissue to score (lower --min-tissue or check the slide)")
    return grid


def input_notes(slide: SlideReader, grid: TileGrid, spec: InputSpec, name: str,
                args: argparse.Namespace) -> tuple[str, ...]:
    """Where this input's pixel size came from when the file records none, and scale warnings
    ("warning: ...") for this input and model; printed on stderr and kept in tiles.geojson."""
    mpp = level0_mpp(slide, args.mpp)
    notes = []
    if slide.mpp is None and mpp is not None and grid.kind == "physical":
        notes.append(f"pixel size {mpp:g} µm/px from --mpp (the file records none)")
    magnification = magnification_note(slide, spec, grid, getattr(args, "magnification", None))
    if magnification is not None:
        notes.append(magnification)
    side0 = float(grid[0].w) if len(grid) and grid.kind == "physical" else None
    notes.extend(f"warning: {w}" for w in scale_warnings(slide, spec, None, name, side0, mpp))
    return tuple(notes)


def write_outputs(slide: SlideReader, scores: TileScores, folder: Path, args: argparse.Namespace,
                  formats: tuple[str, ...], notes: tuple[str, ...] = ()) -> None:
    """Write the per-input files chosen by ``formats`` into ``folder``."""
    look = {"cmap": args.cmap, "threshold": 0.0, "smooth": args.smooth, "mpp": level0_mpp(slide, args.mpp)}
    if "csv" in formats:
        write_export("csv", scores, slide, folder / "tiles.csv")
    if "geojson" in formats:
        write_export("geojson", scores, slide, folder / "tiles.geojson", object_type=args.object_type, notes=notes)
    if "png" in formats:
        tissue = tissue_for(scores, slide)
        write_export("heatmap", scores, slide, folder / "heatmap.png", tissue=tissue, max_side=PNG_MAX_SIZE,
                     opacity=1.0, **look)
        write_export("overlay", scores, slide, folder / "overlay.png", tissue=tissue, max_side=PNG_MAX_SIZE,
                     opacity=args.opacity, **look)


def slide_jobs(inputs: list[Path], indices: list[int], spec: InputSpec,
               args: argparse.Namespace, model_name: str = "") -> Iterator[SlideJob]:
    """Open each input and build its grid (run lazily, on the predictor's feeder thread)."""
    for i in indices:
        path = inputs[i]
        try:
            if path.is_dir():
                raise BcviewerError(f"{path} holds no images or slides")
            slide = open_slide(path)
        except Exception as exc:  # noqa: BLE001 - reported in this input's summary row
            yield SlideJob(i, error=exc)
            continue
        try:
            grid = _grid_for(slide, spec, args)
            notes = input_notes(slide, grid, spec, model_name, args)
        except Exception as exc:  # noqa: BLE001
            slide.close()
            yield SlideJob(i, error=exc)
            continue
        yield SlideJob(i, slide, grid, close_slide=True, notes=notes)


def model_groups(inputs: list[Path], model: str | None, rows: list[SummaryRow | None]) -> dict[str, list[int]]:
    """Input indices by the model that scores them; inputs that cannot even be opened get their row."""
    if model:
        return {model: list(range(len(inputs)))}
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(inputs):
        try:
            if path.is_dir():
                raise BcviewerError(f"{path} holds no images or slides")
            with open_slide(path) as slide:
                groups.setdefault(default_model_name(slide), []).append(i)
        except Exception as exc:  # noqa: BLE001
            rows[i] = SummaryRow(str(path), "error", error=_one_line(exc))
    return groups


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, BcviewerError) else f"{type(exc).__name__}: {text}"


def _check_args(args: argparse.Namespace) -> tuple[str, ...]:
    if args.batch_size < 1:
        raise BcviewerError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not 0.0 <= args.threshold <= 1.0:
        raise BcviewerError(f"--threshold must be between 0 and 1, got {args.threshold}")
    if not 0.0 <= args.opacity <= 1.0:
        raise BcviewerError(f"--opacity must be between 0 and 1, got {args.opacity}")
    if args.min_tissue is not None and not 0.0 <= args.min_tissue <= 1.0:
        raise BcviewerError(f"--min-tissue must be between 0 and 1, got {args.min_tissue}")
    if args.mpp is not None and args.mpp <= 0:
        raise BcviewerError(f"--mpp must be a positive number of µm per pixel, got {args.mpp}")
    if args.tile_px is not None and args.tile_px < 1:
        raise BcviewerError(f"--tile-px must be at least 1, got {args.tile_px}")
    if args.grid:
        parse_grid(args.grid)
    return parse_formats(args.formats)


def run(args: argparse.Namespace) -> int:
    formats = _check_args(args)
    choose_runtime(args.runtime, choose_device(args.device))  # a missing GPU: one error for the run, not per file
    models = ModelCache(args.device, args.runtime)
    if args.model:
        models.get(args.model)  # a bad --model is one error for the whole run as well
    inputs = collect_inputs(args.paths)
    folders = _output_dirs(inputs, Path(args.out).expanduser())
    summary = Path(args.out).expanduser() / "summary.csv"
    guard_prediction_outputs(inputs, folders, summary)
    summary_file = SummaryFile.start(summary, SUMMARY_FIELDS)
    rows: list[SummaryRow | None] = [None] * len(inputs)
    bar = tqdm(total=len(inputs), unit="file", file=sys.stderr, disable=args.quiet, desc="predict")
    tiles = tqdm(unit="tile", file=sys.stderr, disable=args.quiet, leave=False, position=1, desc="tiles")
    try:
        groups = model_groups(inputs, args.model, rows)
        bar.update(sum(r is not None for r in rows))
        summary_file.sync(rows)
        for name, indices in groups.items():
            _run_group(name, indices, inputs, folders, rows, models, args, formats, bar, tiles.update)
            summary_file.sync(rows)
        summary_file.finish(rows)
    finally:
        tiles.close()
        bar.close()
    failed = sum(r is not None and r.status == "error" for r in rows)
    print(f"{len(inputs) - failed} of {len(inputs)} inputs scored; summary in {summary}", file=sys.stderr)
    return 2 if failed else 0


def _run_group(name: str, indices: list[int], inputs: list[Path], folders: list[Path],
               rows: list[SummaryRow | None], models: ModelCache, args: argparse.Namespace,
               formats: tuple[str, ...], bar: tqdm, on_batch: Callable[[int], object]) -> None:
    """Score the inputs of one model as a single stream, filling their summary rows."""
    summary = SummaryFile.at(Path(args.out).expanduser() / "summary.csv")
    try:
        predictor = models.get(name)
        results = predictor.iter_results(slide_jobs(inputs, indices, predictor.spec, args, predictor.name or name),
                                         args.batch_size,
                                         on_batch=on_batch, threshold=args.threshold)
        try:
            for result in results:
                i = result.key
                bar.set_postfix_str(inputs[i].name)
                rows[i] = _row_for(inputs[i], folders[i], result, args, formats)
                summary.sync(rows)
                bar.update(1)
        finally:
            results.close()
    except Exception as exc:  # noqa: BLE001 - e.g. the default model is not installed
        for i in indices:
            if rows[i] is None:
                rows[i] = SummaryRow(str(inputs[i]), "error", error=_one_line(exc))
                bar.update(1)


def _row_for(path: Path, folder: Path, result: JobResult, args: argparse.Namespace,
             formats: tuple[str, ...]) -> SummaryRow:
    if result.error is not None or result.scores is None or result.job.slide is None:
        return SummaryRow(str(path), "error", error=_one_line(result.error or ValueError("not scored")))
    scores = result.scores
    for note in result.job.notes:
        tqdm.write(f"bcviewer predict: {path.name}: {note}", file=sys.stderr)
    try:
        write_outputs(result.job.slide, scores, folder, args, formats, result.job.notes)
    except Exception as exc:  # noqa: BLE001
        return SummaryRow(str(path), "error", error=_one_line(exc))
    return SummaryRow(str(path), "ok", scores.image_p_malignant, scores.image_label or "",
                      scores.image_uncertainty, len(scores),
                      uncertain=None if scores.uncertain_above is None else scores.image_uncertain)
