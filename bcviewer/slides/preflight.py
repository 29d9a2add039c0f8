"""Cheap checks of a TIFF's structure before OpenSlide or libtiff decode anything.

libtiff and OpenSlide trust the sizes a file declares: a tiled TIFF whose TileWidth and
TileLength say 1,048,576 makes OpenSlide ask GLib for 4 TiB, and GLib aborts the whole process
(the viewer included) instead of failing. The IFDs are read here with tifffile, which parses tags
without allocating pixel buffers, and sizes no real scanner writes are refused first.

The same pass notices Aperio files whose structure is damaged (an IFD chain cut short or looping
back on itself, a mangled ImageDescription): OpenSlide no longer recognises them and Pillow
would read the first IFD as a plain picture, so they are reported as damaged instead.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from bcviewer.slides.errors import CorruptSlideError

TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# A decoded tile or strip (RGBA, as OpenSlide holds it). Real scanners write 240-4096 px tiles
# (64 MiB at 4096 x 4096); 256 MiB leaves room for odd writers and still cannot exhaust memory.
MAX_BUFFER_BYTES = 256 * 2**20
MAX_PAGES = 4096  # a pyramid plus associated images has tens of IFDs, never thousands

_log = logging.getLogger("bcviewer.slides")


@dataclass
class TiffFacts:
    """What the pre-flight pass learnt about a TIFF file."""

    pages: int = 0
    aperio: bool = False  # the first ImageDescription says "Aperio"
    mpp_text: str | None = None  # the raw "MPP = ..." value of an Aperio description
    problems: list[str] = field(default_factory=list)  # tifffile's complaints about the structure


def is_tiff(path: Path) -> bool:
    """True when the file starts with a TIFF or BigTIFF signature."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) in TIFF_MAGICS
    except OSError:
        return False


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(plain(record.getMessage()))


def inspect_tiff(path: Path) -> TiffFacts | None:
    """Read every IFD's tags; refuse declared buffer sizes that would exhaust memory.

    Returns None for files that are not TIFF (or that tifffile cannot parse at all: the real
    readers then give their own error).
    """
    if not is_tiff(path):
        return None
    import tifffile

    tiff_log = logging.getLogger("tifffile")
    collect = _Collect()
    tiff_log.addHandler(collect)
    previous = tiff_log.propagate
    tiff_log.propagate = False  # its warnings are facts for our message, not lines for stderr
    try:
        facts = TiffFacts()
        try:
            with tifffile.TiffFile(path) as tif:
                count = len(tif.pages)  # walks the IFD chain; tifffile stops at a loop and says so
                if count > MAX_PAGES:
                    raise CorruptSlideError(f"{path.name} declares {count} images; its structure is damaged")
                for index in range(count):
                    page = tif.pages[index]
                    _check_page(path, index, page)
                    if index == 0:
                        description = str(getattr(page, "description", "") or "")
                        facts.aperio = description.startswith("Aperio")
                        facts.mpp_text = _aperio_value(description, "MPP") if facts.aperio else None
                    facts.pages = index + 1
        except CorruptSlideError:
            raise
        except Exception as exc:  # noqa: BLE001 - tifffile's many parse errors: let the readers decide
            facts.problems.append(plain(str(exc)))
        facts.problems += collect.messages
        return facts
    finally:
        tiff_log.removeHandler(collect)
        tiff_log.propagate = previous


def plain(text: str) -> str:
    """tifffile's message without object reprs: "<tifffile.TiffTag 256 @12> invalid ..." -> "invalid ..."."""
    text = re.sub(r"<(tifffile|Tiff)[^>]*>\s*", "", " ".join(text.split()))
    return re.sub(r"raised \w+\('(.*?)'\)", r"\1", text)


def _check_page(path: Path, index: int, page: object) -> None:
    tags = getattr(page, "tags", None)
    if tags is None:  # a TiffFrame: shares its sizes with the first page
        return

    def value(name: str, default: int = 0) -> int:
        tag = tags.get(name)
        try:
            return int(tag.value) if tag is not None else default
        except (TypeError, ValueError):
            return default

    width, length = value("ImageWidth"), value("ImageLength")
    samples = max(1, value("SamplesPerPixel", 1))
    bits = tags.get("BitsPerSample")
    try:
        bits_value = bits.value if bits is not None else 8
        bytes_per_sample = max(1, max(bits_value if isinstance(bits_value, tuple) else (bits_value,)) // 8)
    except (TypeError, ValueError):
        bytes_per_sample = 1
    per_pixel = max(4, samples * bytes_per_sample)  # OpenSlide decodes to 32-bit ARGB at least
    tile_w, tile_h = value("TileWidth"), value("TileLength")
    where = f"{path.name} (image {index})"
    if tile_w or tile_h:
        if tile_w * tile_h * per_pixel > MAX_BUFFER_BYTES:
            raise CorruptSlideError(
                f"{where} declares {tile_w} x {tile_h} pixel tiles; no scanner writes tiles that large and "
                "decoding one would exhaust memory, so the file is damaged or not a real slide")
        return
    rows = value("RowsPerStrip", length) or length
    rows = min(rows, length) if length else rows  # 2**32-1 means "one strip": libtiff clamps it
    if width * rows * per_pixel > 4 * MAX_BUFFER_BYTES:
        raise CorruptSlideError(
            f"{where} declares strips of {width} x {rows} pixels; decoding one would exhaust memory, so the "
            "file is damaged or must be converted to a tiled pyramidal TIFF")


def _aperio_value(description: str, key: str) -> str | None:
    for part in description.split("|")[1:]:
        name, sep, value = part.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None
