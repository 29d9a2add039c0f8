"""Write pyramidal TIFFs with tifffile for tests: the TCGA-like case of a multi-level slide that
records no pixel size (no resolution tags), in generic or Aperio flavour."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile


def write_pyramid_tiff(path: Path, rgb: np.ndarray, levels: int = 2, aperio_mag: int | None = None) -> Path:
    """A tiled, deflate-compressed TIFF with ``levels`` levels (each half the previous), no
    resolution tags. ``aperio_mag`` writes an Aperio ImageDescription with AppMag but no MPP."""
    h, w = rgb.shape[:2]
    with tifffile.TiffWriter(path) as tif:
        image = rgb
        for level in range(levels):
            desc = None
            if aperio_mag is not None:
                desc = (f"Aperio Image Library v11.2.1\r\n{w}x{h} [0,0 {w}x{h}] (256x256) "
                        f"|AppMag = {aperio_mag}|Filename = tcga-like" if level == 0 else
                        f"Aperio Image Library v11.2.1\r\n{w}x{h} -> {image.shape[1]}x{image.shape[0]}")
            tif.write(image, tile=(256, 256), compression="zlib", photometric="rgb", resolution=None,
                      metadata=None, description=desc, subfiletype=1 if level else 0)
            image = cv2.resize(image, (max(1, image.shape[1] // 2), max(1, image.shape[0] // 2)),
                               interpolation=cv2.INTER_AREA)
    return path
