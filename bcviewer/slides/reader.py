"""``open_slide`` and :class:`SlideReader`: one reader type over whole slides and plain images.

Thread safety
-------------
Any number of threads may call :meth:`SlideReader.read_region`, :meth:`thumbnail` and
:meth:`associated_image` on one reader at the same time. OpenSlide's C library is itself
thread-safe for reads (and releases the GIL while decoding), and plain images are decoded once
and then only sliced. The single hazard is ``close()`` racing a read; the reader counts reads in
flight and ``close()`` waits for them to finish, after which reads raise ``SlideClosedError``.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from bcviewer.safety import missing_reason, not_regular_reason
from bcviewer.slides.backends import ImageBackend, OpenSlideBackend, SlideMetadata, open_plain_image
from bcviewer.slides.errors import (
    CorruptSlideError,
    EmptySlideFileError,
    RegionReadError,
    SlideClosedError,
    SlideIsDirectoryError,
    SlideNotFoundError,
    SlidePermissionError,
    UnsupportedFormatError,
)
from bcviewer.slides.native import NativeMessages, capture_native_stderr
from bcviewer.slides.preflight import TiffFacts, inspect_tiff

SUPPORTED_FORMATS = (
    "whole slides: Aperio .svs, Hamamatsu .ndpi/.vms, 3DHISTECH .mrxs, Leica .scn, Ventana .bif, "
    "Philips TIFF, DICOM, generic tiled TIFF; plain images: .png, .jpg, .tif, .bmp"
)
_log = logging.getLogger("bcviewer.slides")
_WARNED: set[tuple[str, int]] = set()  # (path, mtime) already summarised on the terminal
_SLIDE_EXTENSIONS = {".svs", ".ndpi", ".vms", ".vmu", ".mrxs", ".scn", ".bif", ".dcm", ".svslide"}


@dataclass(frozen=True)
class Level:
    """One pyramid level: its size in pixels and its downsample from level 0."""

    index: int
    width: int
    height: int
    downsample: float


class SlideReader:
    """A read-only, thread-safe view of one slide or image. Create it with :func:`open_slide`."""

    def __init__(self, path: Path, backend: OpenSlideBackend | ImageBackend) -> None:
        self.path = path
        self._backend = backend
        self._meta: SlideMetadata = backend.metadata
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False

    # ---- metadata -------------------------------------------------------------------------
    @property
    def format(self) -> str:
        """Short format name: an OpenSlide vendor ("aperio", "generic-tiff" ...) or "png", "jpeg"."""
        return self._meta.format

    @property
    def vendor(self) -> str | None:
        """Scanner vendor, or None for plain images."""
        return self._meta.vendor

    @property
    def is_pyramid(self) -> bool:
        """True when the file is read through OpenSlide (a whole-slide format)."""
        return isinstance(self._backend, OpenSlideBackend)

    @property
    def dimensions(self) -> tuple[int, int]:
        """(width, height) of level 0 in pixels."""
        return self._meta.level_dimensions[0]

    @property
    def level_count(self) -> int:
        return len(self._meta.level_dimensions)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._meta.level_dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._meta.level_downsamples

    @property
    def levels(self) -> tuple[Level, ...]:
        return tuple(
            Level(i, w, h, d)
            for i, ((w, h), d) in enumerate(zip(self._meta.level_dimensions, self._meta.level_downsamples))
        )

    @property
    def mpp(self) -> float | None:
        """Microns per level-0 pixel, or None when the file does not say."""
        return self._meta.mpp

    @property
    def scale_problem(self) -> str | None:
        """Why the slide's recorded pixel size cannot be used (damaged metadata), or None."""
        return self._meta.scale_problem

    @property
    def objective_power(self) -> float | None:
        return self._meta.objective_power

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._meta.properties)

    @property
    def associated_names(self) -> tuple[str, ...]:
        """Names of associated images present: a subset of thumbnail, label, macro (and others)."""
        return self._meta.associated_names

    def best_level_for_downsample(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample`` (level 0 at worst)."""
        best = 0
        for i, d in enumerate(self._meta.level_downsamples):
            if d <= downsample * 1.0001:
                best = i
        return best

    # ---- pixels ---------------------------------------------------------------------------
    def read_region(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """RGB uint8 array (h, w, 3) of a region; alpha is composited over white.

        ``x``/``y`` are level-0 pixel coordinates of the top-left corner (OpenSlide's convention)
        and ``w``/``h`` the size in pixels at ``level``. Parts outside the image are white.
        """
        if not 0 <= level < self.level_count:
            raise RegionReadError(f"level {level} does not exist; {self.path.name} has levels 0..{self.level_count - 1}")
        if w <= 0 or h <= 0:
            raise RegionReadError(f"a region must have a positive size, got {w} x {h}")
        with self._reading():
            rgba = self._backend.read_rgba(level, int(x), int(y), int(w), int(h))
        return composite_over_white(rgba)

    def thumbnail(self, max_size: int | tuple[int, int] = 512) -> np.ndarray:
        """RGB thumbnail whose longer sides fit within ``max_size``, aspect ratio kept."""
        max_w, max_h = (max_size, max_size) if isinstance(max_size, int) else max_size
        level = self.best_level_for_downsample(max(self.dimensions[0] / max_w, self.dimensions[1] / max_h))
        lw, lh = self.level_dimensions[level]
        scale = min(max_w / lw, max_h / lh, 1.0)
        size = (max(1, round(lw * scale)), max(1, round(lh * scale)))
        if lw * lh > _THUMBNAIL_STRIP_PX and size != (lw, lh):
            return self._thumbnail_in_strips(level, size)
        region = self.read_region(level, 0, 0, lw, lh)
        if size == (lw, lh):
            return region
        return cv2.resize(region, size, interpolation=cv2.INTER_AREA)

    def _thumbnail_in_strips(self, level: int, size: tuple[int, int]) -> np.ndarray:
        # A pyramid whose levels are 4x apart can leave a 6000+ px level as the closest one; read
        # whole, it and its copies take over half a GB. Strips of output rows keep memory flat.
        lw, lh = self.level_dimensions[level]
        out_w, out_h = size
        rows_per_strip = max(1, _THUMBNAIL_STRIP_PX // max(1, lw) * out_h // lh)
        down = self.level_downsamples[level]
        out = np.empty((out_h, out_w, 3), dtype=np.uint8)
        for r0 in range(0, out_h, rows_per_strip):
            r1 = min(out_h, r0 + rows_per_strip)
            y0, y1 = round(r0 * lh / out_h), max(round(r0 * lh / out_h) + 1, round(r1 * lh / out_h))
            strip = self.read_region(level, 0, int(y0 * down), lw, y1 - y0)
            out[r0:r1] = cv2.resize(strip, (out_w, r1 - r0), interpolation=cv2.INTER_AREA)
        return out

    def associated_image(self, name: str) -> np.ndarray:
        """RGB array of an associated image (``label``, ``macro``, ``thumbnail`` ...)."""
        if name not in self.associated_names:
            have = ", ".join(self.associated_names) or "none"
            raise RegionReadError(f"{self.path.name} has no '{name}' image (it has: {have})")
        with self._reading():
            return composite_over_white(self._backend.associated_rgba(name))

    # ---- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Release the file; waits for reads in flight. Safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._in_flight:
                self._cond.wait()
        self._backend.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.dimensions
        return f"SlideReader({self.path.name!r}, {self.format}, {w}x{h}, levels={self.level_count}, mpp={self.mpp})"

    def _reading(self) -> _ReadTicket:
        with self._cond:
            if self._closed:
                raise SlideClosedError(f"{self.path.name} was closed")
            self._in_flight += 1
        return _ReadTicket(self)


class _ReadTicket:
    def __init__(self, reader: SlideReader) -> None:
        self._reader = reader

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        with self._reader._cond:
            self._reader._in_flight -= 1
            self._reader._cond.notify_all()


_THUMBNAIL_STRIP_PX = 4096 * 4096  # levels larger than this are read in strips for a thumbnail


def composite_over_white(rgba: np.ndarray) -> np.ndarray:
    """RGB uint8 from RGBA uint8 (straight alpha), blending onto a white background."""
    alpha = rgba[..., 3:4]
    if alpha.min(initial=255) == 255:
        return np.ascontiguousarray(rgba[..., :3])
    a = alpha.astype(np.uint16)
    rgb = (rgba[..., :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return rgb.astype(np.uint8)


def open_slide(path: str | os.PathLike[str]) -> SlideReader:
    """Open a whole slide or plain image; every failure raises a ``SlideError`` subclass.

    The TIFF structure is checked first (:mod:`bcviewer.slides.preflight`), and what the native
    libraries print while the file opens goes to the log, summarised in one warning line.
    """
    p = Path(path).expanduser()
    _check_file(p)
    facts = inspect_tiff(p)
    with capture_native_stderr(p.name) as native, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # Pillow warns per damaged TIFF tag; fold them into one line
        reader = _open_checked(p, facts)
    native.lines += [" ".join(str(w.message).split()) for w in caught]
    try:
        _refuse_corrupt_data(p, native)
    except BaseException:
        reader.close()
        raise
    _warn_once(p, native)
    return reader


def _open_checked(p: Path, facts: TiffFacts | None) -> SlideReader:
    vendor = _openslide_vendor(p)
    _refuse_damaged_aperio(p, vendor, facts)
    if vendor is not None:
        return SlideReader(p, OpenSlideBackend(p, vendor))
    image = open_plain_image(p)
    if image is None:
        hint = ""
        if p.suffix.lower() in _SLIDE_EXTENSIONS:
            hint = f" It has the {p.suffix} extension, but its content is not a slide of that kind."
        raise UnsupportedFormatError(
            f"{p.name} is not a slide or image bcviewer can read.{hint} Supported: {SUPPORTED_FORMATS}"
        )
    with image:
        reader = SlideReader(p, ImageBackend(p, image))
    if reader.format == "jpeg":
        _decode_jpeg_strictly(p)  # libjpeg's "Corrupt JPEG data" lands in the captured output
    return reader


def _refuse_damaged_aperio(p: Path, vendor: str | None, facts: TiffFacts | None) -> None:
    """An Aperio file OpenSlide no longer recognises must not be read as a plain picture."""
    if facts is None or vendor == "aperio":
        return
    if not (facts.aperio or p.suffix.lower() == ".svs"):
        return
    why = "; ".join(facts.problems[:2]) or (
        "its Aperio description is missing or mangled" if not facts.aperio else "OpenSlide rejects its structure")
    raise CorruptSlideError(
        f"{p.name} is an Aperio slide file, but it is damaged ({why}); OpenSlide cannot read it as a "
        "slide and bcviewer does not read its first image as a plain picture. Copy the slide again"
    )


def _decode_jpeg_strictly(p: Path) -> None:
    # Pillow ignores libjpeg's warnings about corrupt scan data; OpenCV's libjpeg prints them. A
    # 1/8-scale decode still reads every entropy-coded byte, so it sees the same corruption.
    data = np.fromfile(p, dtype=np.uint8)
    cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)


_CORRUPT_NEEDLES = ("Corrupt JPEG data", "Premature end of JPEG", "JPEG datastream contains no image",
                    "Bogus marker", "Huffman table")


def _refuse_corrupt_data(p: Path, native: NativeMessages) -> None:
    corrupt = native.matching(*_CORRUPT_NEEDLES)
    if corrupt:
        raise CorruptSlideError(f"{p.name} is damaged: its compressed pixel data is corrupt ({corrupt[0]}); "
                                "the decoded pixels would be wrong, so it is not used")


def _warn_once(p: Path, native: NativeMessages) -> None:
    line = native.summary(p.name)
    if line is None:
        return
    try:
        key = (str(p.resolve()), p.stat().st_mtime_ns)
    except OSError:
        key = (str(p), 0)
    if key not in _WARNED:
        _WARNED.add(key)
        _log.warning("%s (details in the log)", line)


PROJECT_SUFFIXES = (".bcv", ".bcv-wal", ".bcv-shm", ".bcv-journal")


def _check_file(p: Path) -> None:
    if p.is_dir():
        raise SlideIsDirectoryError(
            f"{p} is a folder, not a slide; open a file inside it (for MRXS the .mrxs file, for DICOM one .dcm file)"
        )
    why = missing_reason(p)
    if why is not None:  # a symlink loop or a broken link is named as such, not as a missing file
        raise SlideNotFoundError(why)
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        raise SlidePermissionError(f"{p} cannot be read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(mode):
        # Opening a named pipe blocks until something writes to it: never open one.
        raise UnsupportedFormatError(str(not_regular_reason(p, mode, "slide or image file")))
    if p.name.lower().endswith(PROJECT_SUFFIXES):
        # Never open() a label project here: closing that descriptor would drop the POSIX locks
        # of the labeling panel's live SQLite connection (see bcviewer.labels.guard).
        raise UnsupportedFormatError(f"{p.name} is a label project, not a slide; open it in the Labeling tab")
    try:
        with p.open("rb") as fh:
            first = fh.read(1)
    except PermissionError as exc:
        raise SlidePermissionError(f"{p} cannot be read: permission denied") from exc
    if not os.access(p, os.R_OK):
        raise SlidePermissionError(f"{p} cannot be read: permission denied")
    if not first:
        raise EmptySlideFileError(f"{p.name} is empty (0 bytes); the copy or download was probably interrupted")


def _openslide_vendor(p: Path) -> str | None:
    import openslide

    try:
        return openslide.OpenSlide.detect_format(str(p))
    except openslide.OpenSlideError:
        return None
