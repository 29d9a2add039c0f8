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
import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bcviewer.cli.checks import positive_float
from bcviewer.cli.outputs import SummaryFile, guard_prediction_outputs
from bcviewer.cli.tiles import parse_grid
from bcviewer.errors import BcviewerError
from bcviewer.export import (
    COLORMAPS,
    heatmap_rgba,
    overlay_rgb,
    write_geojson,
    write_png,
    write_tiles_csv,
)
from bcviewer.inference import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MIN_TISSUE,
    JobResult,
    Predictor,
    SlideJob,
    TileScores,
    choose_device,
    default_grid,
    default_model_name,
    is_whole_slide,
    physical_model_grid,
)
from bcviewer.nets import InputSpec, load_model
from bcviewer.slides import SlideReader, open_slide
from bcviewer.tiling import TileGrid, subimage_grid

SUMMARY_FIELDS = ("path", "status", "p_malignant", "label", "uncertainty", "n_tiles", "error")
FORMATS = ("csv", "geojson", "png")
INPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".svs", ".ndpi", ".vms", ".mrxs",
                            ".scn", ".bif", ".dcm", ".svslide"})
PNG_MAX_SIZE = 2048


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="score slides or images; write summary, heatmaps, CSV and GeoJSON")
    p.add_argument("paths", nargs="+", metavar="PATH", help="slide or image files, or folders of them")
    p.add_argument("--model", metavar="NAME|DIR",
                   help="model name or folder (default: breakhis-100x for images, idc-wsi for whole slides)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--grid", metavar="RxC", help="cut each input into R x C sub-images (default for images: 3x3)")
    size.add_argument("--tile-um", type=positive_float, metavar="N",
                      help="square tiles of N µm (default for slides: the model's)")
    p.add_argument("--min-tissue", type=float, metavar="F", help="skip tiles with less tissue (0..1; slides: 0.25)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    p.add_argument("--out", default="bcviewer-predictions", metavar="DIR", help="output folder")
    p.add_argument("--formats", default="csv,geojson,png", help="comma list of csv, geojson, png")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N")
    p.add_argument("--threshold", type=float, default=0.5, help="p_malignant at or above this is malignant")
    p.add_argument("--cmap", default="viridis", choices=COLORMAPS, help="heatmap colours")
    p.add_argument("--opacity", type=float, default=0.5, help="heatmap opacity in overlay.png (0..1)")
    p.add_argument("--object-type", default="tile", choices=("tile", "detection"), help="QuPath object type")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


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

    def cells(self) -> list[str]:
        num = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
        return [self.path, self.status, num(self.p_malignant), self.label, num(self.uncertainty),
                "" if self.n_tiles is None else str(self.n_tiles), self.error]


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

    def __init__(self, device: str) -> None:
        self.device = device
        self._loaded: dict[str, Predictor | BcviewerError] = {}

    def get(self, name: str) -> Predictor:
        if name not in self._loaded:
            try:
                self._loaded[name] = Predictor(load_model(name), device=self.device)
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
    """The grid the options ask for (--grid, --tile-um), else the default for this slide and model."""
    if args.grid:
        rows, cols = parse_grid(args.grid)
        grid = subimage_grid(slide, rows, cols).with_min_tissue(args.min_tissue or 0.0)
    elif args.tile_um is not None:
        min_tissue = args.min_tissue
        if min_tissue is None:
            min_tissue = DEFAULT_MIN_TISSUE if is_whole_slide(slide) else 0.0
        grid = physical_model_grid(slide, spec, tile_um=args.tile_um, min_tissue=min_tissue)
    else:
        grid = default_grid(slide, spec, min_tissue=args.min_tissue)
    if len(grid) == 0:
        raise BcviewerError("no tile has enough tissue to score (lower --min-tissue or check the slide)")
    return grid


def write_outputs(slide: SlideReader, scores: TileScores, folder: Path, args: argparse.Namespace,
                  formats: tuple[str, ...]) -> None:
    """Write the per-input files chosen by ``formats`` into ``folder``."""
    if "csv" in formats:
        write_tiles_csv(scores, folder / "tiles.csv")
    if "geojson" in formats:
        write_geojson(scores, folder / "tiles.geojson", args.object_type)
    if "png" in formats:
        overlay = overlay_rgb(slide, scores, PNG_MAX_SIZE, cmap=args.cmap, opacity=args.opacity)
        th, tw = overlay.shape[:2]
        width, height = slide.dimensions
        write_png(folder / "heatmap.png", heatmap_rgba(scores, (width / tw, height / th), (tw, th),
                                                       cmap=args.cmap, opacity=1.0))
        write_png(folder / "overlay.png", overlay)


def slide_jobs(inputs: list[Path], indices: list[int], spec: InputSpec,
               args: argparse.Namespace) -> Iterator[SlideJob]:
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
        except Exception as exc:  # noqa: BLE001
            slide.close()
            yield SlideJob(i, error=exc)
            continue
        yield SlideJob(i, slide, grid, close_slide=True)


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
    if args.grid:
        parse_grid(args.grid)
    return parse_formats(args.formats)


def run(args: argparse.Namespace) -> int:
    formats = _check_args(args)
    choose_device(args.device)  # a missing GPU is one error for the whole run, not one per file
    models = ModelCache(args.device)
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
        results = predictor.iter_results(slide_jobs(inputs, indices, predictor.spec, args), args.batch_size,
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
    try:
        write_outputs(result.job.slide, scores, folder, args, formats)
    except Exception as exc:  # noqa: BLE001
        return SummaryRow(str(path), "error", error=_one_line(exc))
    return SummaryRow(str(path), "ok", scores.image_p_malignant, scores.image_label or "",
                      scores.image_uncertainty, len(scores))
