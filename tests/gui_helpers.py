"""Fixtures and helpers shared by the tests/test_gui_*.py files.

Every window gets settings in a temporary INI file, a data folder (log file) under tmp_path, and
an error-dialog replacement that records messages instead of blocking. At teardown the window's
worker threads must all have finished: no thread pool may still run a job, and no Python thread
started during the test (the predictor's tile readers) may still be alive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from bcviewer.gui import errors as gui_errors
from bcviewer.gui.main_window import MainWindow
from bcviewer.gui.settings import ViewerSettings
from bcviewer.nets import Ensemble, HybridNet, InputSpec, save_model
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PNG = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
TINY = dict(backbone="resnet18", width=0.125, rnn_hidden=8, rows_size=16, fusion_width=16)
IMAGE_SPEC = InputSpec(64, 48, (0.78, 0.62, 0.77), (0.12, 0.16, 0.11), magnification="100X", tile_scheme="breakhis-3x3")
SLIDE_SPEC = InputSpec(48, 48, (0.78, 0.62, 0.77), (0.12, 0.16, 0.11), tile_um=100.0, mpp=2.0, tile_scheme="physical")


def tiny_ensemble(seed: int = 0, members: int = 2) -> Ensemble:
    """A seeded, randomly initialised two-member ensemble (one 'rows', one 'feature_map' LSTM)."""
    torch.manual_seed(seed)
    nets = []
    for i in range(members):
        net = HybridNet(**TINY, rnn_mode="rows" if i % 2 == 0 else "feature_map")  # type: ignore[arg-type]
        torch.nn.init.normal_(net.head[-1].weight, std=3.0)  # spread p over 0..1
        nets.append(net)
    return Ensemble(nets).eval()


def save_tiny_model(directory: Path, name: str, spec: InputSpec = IMAGE_SPEC, seed: int = 0) -> Path:
    return save_model(tiny_ensemble(seed), spec, directory / name, {"name": name}, half=False)


def write_pyramid_tiff(source: Path, out: Path, tile: int = 256) -> Path:
    """A tiled pyramidal TIFF (levels halving down to < 600 px) from a slide's level-0 pixels."""
    with open_slide(source) as slide:
        image = slide.read_region(0, 0, 0, *slide.dimensions)
        mpp = slide.mpp or 0.5
    levels = [image]
    while max(levels[-1].shape[:2]) > 600:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    with tifffile.TiffWriter(out) as tif:
        for i, level in enumerate(levels):
            res = 1e4 / (mpp * 2**i)  # pixels per centimetre
            tif.write(
                level,
                tile=(tile, tile),
                photometric="rgb",
                compression="zlib",
                subfiletype=0 if i == 0 else 1,
                resolution=(res, res),
                resolutionunit="CENTIMETER",
            )
    return out


@pytest.fixture(scope="session")
def pyramid_tiff(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Path:
    return write_pyramid_tiff(
        test_data / "slides" / "cmu_small_region.svs", tmp_path_factory.mktemp("pyr") / "cmu_pyramid.tif"
    )


@pytest.fixture()
def dialogs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str]]:
    """Error dialogs and notices shown during the test, as (title, message); the log goes under tmp_path."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(gui_errors, "show_error_dialog", lambda parent, title, message: shown.append((title, message)))
    monkeypatch.setattr(gui_errors, "show_notice", lambda parent, title, message: shown.append((title, message)))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return shown


@pytest.fixture()
def settings(tmp_path: Path) -> ViewerSettings:
    return ViewerSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding tiny 'breakhis-100x' (3x3 sub-images) and 'idc-wsi' (100 µm tiles) models."""
    folder = tmp_path_factory.mktemp("models")
    save_tiny_model(folder, "breakhis-100x", IMAGE_SPEC, seed=0)
    save_tiny_model(folder, "idc-wsi", SLIDE_SPEC, seed=1)
    return folder


@pytest.fixture()
def models_dir(tiny_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny models, first on the model search path for this test."""
    monkeypatch.setenv("BCVIEWER_MODELS", str(tiny_models))
    return tiny_models


def _python_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}  # type: ignore[attr-defined]


def assert_threads_finished(window: MainWindow, before: set[threading.Thread]) -> None:
    assert window.shutdown(30_000), "a worker thread did not finish within 30 s"
    pools = [window.jobs._pool, window.slide.jobs._pool, window.slide.analysis._pool, window.slide.view.loader._pool,
             window.slide.regions.saver._pool, window.slide.quality.controller._pool]
    pools.append(window.slide.compare.pane.view.loader._pool)  # the side-by-side view's tile readers
    tabs = window.workspaces
    if tabs.expression_tab is not None:
        pools += [tabs.expression_tab.jobs._pool, tabs.expression_tab._pool]
    if tabs.labeling_panel is not None:
        pools += [tabs.labeling_panel.jobs._pool, tabs.labeling_panel.worker._pool]
    assert [p.activeThreadCount() for p in pools] == [0] * len(pools)
    leftover = [t.name for t in _python_threads() - before if t.is_alive()]
    assert leftover == [], f"threads outlived the test: {leftover}"


@pytest.fixture()
def window(qtbot, settings: ViewerSettings, dialogs: list[tuple[str, str]]) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    before = _python_threads()
    win = MainWindow(settings)
    win.resize(1000, 700)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    assert_threads_finished(win, before)


def open_and_wait(qtbot, win: MainWindow, path: Path | str, timeout: int = 15_000) -> None:  # type: ignore[no-untyped-def]
    """Open ``path`` and wait until every visible tile has been drawn."""
    with qtbot.waitSignal(win.slide.opened, timeout=timeout):
        win.open_path(path)
    qtbot.waitUntil(win.slide.view.is_settled, timeout=timeout)


def grab_rgb(widget) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The widget rendered now, as an (h, w, 3) uint8 array (device pixel ratio 1)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes()).reshape(h, image.bytesPerLine())
    return buf[:, : w * 3].reshape(h, w, 3).copy()
