"""The two pixel sources behind :class:`~bcviewer.slides.reader.SlideReader`.

``OpenSlideBackend`` wraps OpenSlide (SVS, NDPI, MRXS, SCN, tiled TIFF, DICOM ...) through
``openslide-bin``; ``ImageBackend`` decodes a plain image (PNG, JPEG, stripped TIFF, BMP) once
with Pillow and serves regions from memory. Both return RGBA uint8 arrays; compositing over white
happens once, in the reader.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from bcviewer.slides.errors import CorruptSlideError, ImageTooLargeError, RegionReadError

# Decoding is all-or-nothing for plain images, so the limit is ours, stated and checked from the
# header before any pixel is decoded. 150 Mpx is ~450 MB of RGB: the most a viewer should hold
# for an image with no pyramid. Pillow's own decompression-bomb guard is silenced inside this
# check only, so its global setting stays untouched for other code.
PLAIN_IMAGE_MAX_PIXELS = 150_000_000


@dataclass(frozen=True)
class SlideMetadata:
    """Everything a backend knows about its file, read once at open."""

    format: str
    vendor: str | None
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    mpp: float | None
    objective_power: float | None
    properties: dict[str, str] = field(default_factory=dict)
    associated_names: tuple[str, ...] = ()
    scale_problem: str | None = None  # the file records a pixel size, but it is unusable


class OpenSlideBackend:
    """Regions from an OpenSlide handle. OpenSlide's C library is thread-safe for reads."""

    def __init__(self, path: Path, vendor: str) -> None:
        import openslide

        self._openslide = openslide
        try:
            self._slide = openslide.OpenSlide(str(path))
        except openslide.OpenSlideError as exc:
            raise CorruptSlideError(
                f"{path.name} looks like a {vendor} slide but OpenSlide cannot open it: {exc}"
            ) from exc
        props = dict(self._slide.properties)
        mpp = _float(props.get(openslide.PROPERTY_NAME_MPP_X))
        if mpp is not None and mpp <= 0:
            mpp = None
        self.metadata = SlideMetadata(
            format=vendor,
            vendor=props.get(openslide.PROPERTY_NAME_VENDOR, vendor),
            level_dimensions=tuple((int(w), int(h)) for w, h in self._slide.level_dimensions),
            level_downsamples=tuple(float(d) for d in self._slide.level_downsamples),
            mpp=mpp,
            objective_power=_float(props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)),
            properties=props,
            associated_names=tuple(sorted(self._slide.associated_images.keys())),
            scale_problem=None if mpp is not None else _scale_problem(path, props),
        )

    def read_rgba(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        try:
            region = self._slide.read_region((x, y), level, (w, h))
        except self._openslide.OpenSlideError as exc:
            # OpenSlide latches errors: after this every further read of the handle fails too.
            raise RegionReadError(
                f"the pixels at x={x}, y={y} (level {level}) cannot be read; the slide file is "
                f"damaged ({exc})"
            ) from exc
        return np.asarray(region.convert("RGBA"))

    def associated_rgba(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self._slide.associated_images[name].convert("RGBA"))
        except self._openslide.OpenSlideError as exc:
            raise RegionReadError(f"the associated image '{name}' cannot be read ({exc})") from exc

    def close(self) -> None:
        self._slide.close()


class ImageBackend:
    """A plain image decoded once into memory; reads are slices, so any thread may read."""

    def __init__(self, path: Path, image: Image.Image, max_pixels: int = PLAIN_IMAGE_MAX_PIXELS) -> None:
        w, h = image.size
        if w * h > max_pixels:
            raise ImageTooLargeError(
                f"{path.name} is {w} x {h} pixels ({w * h / 1e6:.0f} Mpx), more than the "
                f"{max_pixels / 1e6:.0f} Mpx bcviewer decodes as a plain image; convert it to a "
                "tiled pyramidal TIFF (for example: vips tiffsave in.png out.tif --tile --pyramid)"
            )
        try:
            image.load()
            rgba = np.asarray(image.convert("RGBA"))
        except MemoryError as exc:
            # Pillow allocates per line: a declared 100,000,000 x 1 image fails here, not above.
            raise ImageTooLargeError(
                f"{path.name} declares {w} x {h} pixels, a shape that cannot be decoded into memory; "
                "the file is damaged or not a microscopy image") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptSlideError(
                f"{path.name} is a {image.format} image but its pixel data is damaged or "
                f"truncated ({exc})"
            ) from exc
        self._rgba = rgba
        dpi_mpp = _tiff_mpp(image)
        self.metadata = SlideMetadata(
            format=(image.format or "image").lower(),
            vendor=None,
            level_dimensions=((w, h),),
            level_downsamples=(1.0,),
            mpp=dpi_mpp,
            objective_power=None,
            properties={"image.format": str(image.format), "image.mode": str(image.mode)},
        )

    def read_rgba(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        full_h, full_w = self._rgba.shape[:2]
        out = np.zeros((h, w, 4), dtype=np.uint8)  # alpha 0 outside the image -> white later
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, full_w), min(y + h, full_h)
        if x1 > x0 and y1 > y0:
            out[y0 - y : y1 - y, x0 - x : x1 - x] = self._rgba[y0:y1, x0:x1]
        return out

    def associated_rgba(self, name: str) -> np.ndarray:
        raise KeyError(name)

    def close(self) -> None:
        self._rgba = np.zeros((0, 0, 4), dtype=np.uint8)


def open_plain_image(path: Path) -> Image.Image | None:
    """Open ``path`` lazily with Pillow (header only); None if Pillow does not recognise it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous = Image.MAX_IMAGE_PIXELS
            with _PILLOW_LIMIT_LOCK:
                Image.MAX_IMAGE_PIXELS = None  # our own limit is applied on the header size
                try:
                    return Image.open(path)
                finally:
                    Image.MAX_IMAGE_PIXELS = previous
    except (Image.UnidentifiedImageError, SyntaxError):
        return None
    except (OSError, ValueError) as exc:
        raise CorruptSlideError(f"{path.name} is damaged: its image header cannot be read ({exc})") from exc


_PILLOW_LIMIT_LOCK = threading.Lock()


def _float(value: str | None) -> float | None:
    """A finite number, or None (absent, unparsable, nan or inf)."""
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _scale_problem(path: Path, props: dict[str, str]) -> str | None:
    """The message for a slide that records a pixel size OpenSlide could not use."""
    raw = props.get("aperio.MPP")
    if raw is None:
        return None
    return (f"{path.name} records its pixel size as MPP = {raw!r}, which is not a positive number: the "
            "slide's scale is unreadable (its metadata is damaged), so tiles cannot be cut in micrometres")


def _tiff_mpp(image: Image.Image) -> float | None:
    """Microns per pixel from TIFF resolution tags given in centimetres; None otherwise.

    Inch-based resolutions are nearly always screen DPI written by editors, not microscope
    calibration, so they are ignored rather than trusted.
    """
    tags = getattr(image, "tag_v2", None)
    if not tags or tags.get(296) != 3:  # ResolutionUnit 3 = centimetre
        return None
    try:
        x_res = float(tags.get(282))
    except (TypeError, ValueError):
        return None
    return 1e4 / x_res if x_res > 0 else None
