"""Write a large synthetic pyramidal, tiled, JPEG-compressed TIFF tile by tile (for memory benchmarks).

Tiles come from an iterator of pre-encoded JPEG bytes (OpenCV encodes the few distinct tiles
once), so the writer never holds more than one tile, however large the slide: a 100k x 100k px
slide is written in well under a minute with a few tens of MB of memory. The pixels are a
pattern (white background, one tile in three a flat pink "tissue" colour): the file measures
streaming and memory, not accuracy. OpenSlide reads it as a generic tiled TIFF, with the pixel size
taken from the TIFF resolution tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import tifffile

TILE = 512
TISSUE_RGB = (200, 120, 180)


def _encode(rgb: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG tile")
    return buf.tobytes()


def _jpeg_codec(data: np.ndarray, level: int | None = None, **_: object) -> bytes:
    # tifffile looks its JPEG encoder up in imagecodecs even for pre-encoded tiles; OpenCV stands in
    # (only called if tifffile is handed pixels rather than bytes).
    return _encode(np.asarray(data).reshape(np.asarray(data).shape[-3:]))


def _tiles(width: int, height: int, white: bytes, tissue: bytes) -> Iterator[bytes]:
    for ty in range(-(-height // TILE)):
        for tx in range(-(-width // TILE)):
            yield tissue if (tx + ty) % 3 == 0 else white


def write_pyramid(path: Path, size: int, mpp: float = 0.25, downsamples: tuple[int, ...] = (1, 4, 16, 64)) -> Path:
    """A ``size`` x ``size`` px slide at ``mpp`` µm/px with the given pyramid levels."""
    tifffile.TIFF.COMPRESSORS._codecs.setdefault(7, _jpeg_codec)  # noqa: SLF001 - see _jpeg_codec
    white = _encode(np.full((TILE, TILE, 3), 255, np.uint8))
    tissue = _encode(np.broadcast_to(np.array(TISSUE_RGB, np.uint8), (TILE, TILE, 3)))
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for i, ds in enumerate(downsamples):
            w, h = -(-size // ds), -(-size // ds)
            per_cm = 1e4 / (mpp * ds)
            tif.write(_tiles(w, h, white, tissue), shape=(h, w, 3), dtype=np.uint8, tile=(TILE, TILE),
                      compression="jpeg", photometric="rgb", subfiletype=0 if i == 0 else 1,
                      resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
    return path
