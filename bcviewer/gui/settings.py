"""``ViewerSettings``: what the viewer remembers between sessions, stored with QSettings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10
# The heatmap's defaults, the same as bcviewer.export's (tests check; not imported: the settings
# load before the core): viridis at 50% stays legible over H&E, where inferno's and the diverging
# maps' reds and pinks vanish into eosin.
DEFAULT_COLORMAP = "viridis"
DEFAULT_OPACITY = 0.5
# Mirrors bcviewer.inference.RUNTIME_CHOICES (not imported: the settings load before the core).
RUNTIMES = ("auto", "onnx", "torch", "int8")


def _as_bool(value: object, default: bool) -> bool:
    # QSettings' INI backend returns strings ("true"/"false") for booleans written earlier.
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in {"1", "true", "yes"}
    return bool(value)


def _as_float(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


class ViewerSettings:
    """Recent files, last folder, window geometry and overlay preferences."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings("bcviewer", "bcviewer")

    # ---- files ----------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.store.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, Iterable):  # None (an empty list in the INI backend) or a damaged entry
            return []
        return [str(v) for v in value if v]

    def add_recent_file(self, path: str | Path) -> list[str]:
        """Put ``path`` first in the recent list (no duplicates, at most MAX_RECENT)."""
        text = str(Path(path).resolve())
        files = [text] + [f for f in self.recent_files() if f != text]
        files = files[:MAX_RECENT]
        self.store.setValue("files/recent", files)
        self.store.setValue("files/last_folder", str(Path(text).parent))
        return files

    def clear_recent_files(self) -> None:
        self.store.setValue("files/recent", [])

    def last_folder(self) -> str:
        return str(self.store.value("files/last_folder", "") or "")

    def set_last_folder(self, folder: str | Path) -> None:
        self.store.setValue("files/last_folder", str(folder))

    # ---- window ---------------------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_geometry(self, geometry: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, state: QByteArray) -> None:
        self.store.setValue("window/state", state)

    # ---- overlay --------------------------------------------------------------------------
    def overlay(self) -> dict[str, object]:
        """colormap, opacity, threshold, smooth view, heatmap/grid/minimap visibility."""
        s = self.store
        return {
            "colormap": str(s.value("overlay/colormap", DEFAULT_COLORMAP)),
            "opacity": min(max(_as_float(s.value("overlay/opacity"), DEFAULT_OPACITY), 0.0), 1.0),
            "smooth": _as_bool(s.value("overlay/smooth"), False),
            "threshold": min(max(_as_float(s.value("overlay/threshold"), 0.0), 0.0), 1.0),
            "show_heatmap": _as_bool(s.value("overlay/show_heatmap"), True),
            "show_grid": _as_bool(s.value("overlay/show_grid"), False),
            "show_minimap": _as_bool(s.value("overlay/show_minimap"), True),
        }

    def set_overlay(self, **values: object) -> None:
        for key, value in values.items():
            self.store.setValue(f"overlay/{key}", value)

    # ---- analysis -------------------------------------------------------------------------
    def model_name(self) -> str:
        return str(self.store.value("analysis/model", "") or "")

    def set_model_name(self, name: str) -> None:
        self.store.setValue("analysis/model", name)

    def runtime(self) -> str:
        """The inference runtime: auto (ONNX Runtime on the CPU, torch on a GPU), onnx, torch or int8."""
        value = str(self.store.value("analysis/runtime", "auto") or "auto")
        return value if value in RUNTIMES else "auto"

    def set_runtime(self, runtime: str) -> None:
        self.store.setValue("analysis/runtime", runtime if runtime in RUNTIMES else "auto")

    # ---- pixel size of slides that do not record it ----------------------------------------
    @staticmethod
    def _pixel_key(path: str | Path) -> str:
        # A hash of the full path: QSettings keys may not hold slashes, and paths can be long.
        # surrogateescape: a name that is not UTF-8 hashes as its bytes (same key as before for others).
        return "pixel_size/" + hashlib.sha1(str(Path(path).resolve()).encode("utf-8", "surrogateescape")).hexdigest()

    def pixel_size(self, path: str | Path) -> float | None:
        """The µm/px the user gave for this file, or None."""
        value = _as_float(self.store.value(self._pixel_key(path)), 0.0)
        return value if value > 0 else None

    def set_pixel_size(self, path: str | Path, mpp: float | None) -> None:
        if mpp is None:
            self.store.remove(self._pixel_key(path))
        else:
            self.store.setValue(self._pixel_key(path), float(mpp))

    def sync(self) -> None:
        self.store.sync()
