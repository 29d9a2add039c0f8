"""Where a slide's regions are kept between sessions: one GeoJSON file per slide in the user's
data folder (``~/.local/share/bcviewer/regions`` on Linux), named after the slide and a hash of
its absolute path, in QuPath's coordinates, so the file also imports into QuPath as it is."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from bcviewer.paths import APP_NAME
from bcviewer.regions.shapes import Region, read_regions, write_regions


def regions_dir() -> Path:
    """The per-user folder of saved regions."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "regions"


def regions_file(slide: Path) -> Path:
    """The file holding ``slide``'s regions (it may not exist yet)."""
    key = hashlib.sha256(str(slide.expanduser().resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return regions_dir() / f"{slide.stem}-{key}.geojson"


def load_slide_regions(slide: Path) -> list[Region]:
    """The regions saved for ``slide`` (QuPath's frame); [] when none were. A damaged file is a
    RegionError: it is kept for the user, never overwritten silently."""
    path = regions_file(slide)
    return read_regions(path) if path.is_file() else []


def save_slide_regions(slide: Path, regions: Sequence[Region]) -> Path:
    """Replace ``slide``'s saved regions with ``regions`` (QuPath's frame), atomically; no regions
    removes the file."""
    path = regions_file(slide)
    if not regions:
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_regions(path, regions, slide.name)
