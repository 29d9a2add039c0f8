"""View > Stain: the view normalised on its tile readers, a before/after toggle that gives the original
pixels back exactly, what the status bar says, and clear dialogs for a bad reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import SAMPLE_PNG, dialogs, grab_rgb, open_and_wait, settings, window  # noqa: F401
from PIL import Image
from PySide6.QtGui import QImage

from bcviewer.gui.slide.tile_cache import TileKey
from bcviewer.nets.stain import default_reference
from bcviewer.slides import open_slide


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes()).reshape(h, image.bytesPerLine())
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def _wait_normalised(qtbot, win) -> None:  # type: ignore[no-untyped-def]
    stain = win.slide.stain
    qtbot.waitUntil(lambda: stain.mapping is not None and win.slide.view.loader.stain == stain.mapping.identity,
                    timeout=30_000)
    qtbot.waitUntil(win.slide.view.is_settled, timeout=15_000)


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_normalised_view_and_back_to_the_original_pixels(qtbot, window, method: str) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)
    view, stain = window.slide.view, window.slide.stain
    original_key = TileKey(view.generation, 0, 1, 0)
    original = _pixels(view.cache.get(original_key))
    with open_slide(SAMPLE_PNG) as slide:
        assert np.array_equal(original, slide.read_region(0, 256, 0, 256, 256))  # the file's own pixels
    before = grab_rgb(view)
    assert window.slide.stain.field.text() == "Stain: original"

    stain.set_method(method)
    _wait_normalised(qtbot, window)
    identity = stain.mapping.identity
    normalised = _pixels(view.cache.get(original_key._replace(stain=identity)))
    with open_slide(SAMPLE_PNG) as slide:  # what the reader thread drew is the core's mapping of the tile
        assert np.array_equal(normalised, stain.mapping(slide.read_region(0, 256, 0, 256, 256)))
    assert np.abs(normalised.astype(int) - original.astype(int)).mean() > 3
    reference = default_reference(method)
    assert stain.field.text() == f"Stain: {method.capitalize()} {reference.sha256[:12]}"
    assert stain.field.toolTip().startswith(f"{reference.describe()}, from the stain of SOB_M_MC-14-13413-100-003.png")
    assert window.status.currentMessage() == stain.mapping.describe()
    after = grab_rgb(view)
    assert not np.array_equal(before, after)

    stain.original_action.trigger()  # S: before/after
    qtbot.waitUntil(view.is_settled, timeout=15_000)
    assert view.loader.stain == "" and stain.field.text() == "Stain: original (S)"
    assert np.array_equal(_pixels(view.cache.get(original_key)), original)  # never overwritten
    assert np.array_equal(grab_rgb(view), before)
    stain.original_action.trigger()
    qtbot.waitUntil(view.is_settled, timeout=15_000)
    assert np.array_equal(grab_rgb(view), after)  # the same mapping again, from the cache

    stain.set_method("off")
    qtbot.waitUntil(lambda: view.loader.stain == "", timeout=15_000)
    qtbot.waitUntil(view.is_settled, timeout=15_000)
    assert np.array_equal(grab_rgb(view), before) and stain.field.text() == "Stain: original"


def test_the_s_shortcut_is_unique(window) -> None:  # noqa: F811
    from PySide6.QtGui import QAction, QKeySequence

    keys = [a.shortcut() for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert keys.count(QKeySequence("S")) == 1


def test_reference_from_the_view_and_from_a_file(qtbot, window, test_data: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)
    stain = window.slide.stain
    stain.use_view_as_reference()
    _wait_normalised(qtbot, window)
    assert stain.method == "macenko" and "a view of SOB_M_MC-14-13413-100-003.png" in stain.field.toolTip()
    reference = test_data / "breakhis" / "SOB_M_DC-14-13412-100-001.png"
    stain.choose_reference_file(str(reference))
    qtbot.waitUntil(lambda: stain.mapping is not None and stain.mapping.reference.source == reference.name,
                    timeout=30_000)
    assert reference.name in stain.field.toolTip() and not stain.default_action.isChecked()


def test_a_bad_reference_gives_a_dialog(qtbot, window, dialogs, tmp_path: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)
    stain = window.slide.stain
    glass = tmp_path / "glass.png"
    Image.fromarray(np.full((200, 300, 3), 244, np.uint8)).save(glass)
    stain.choose_reference_file(str(glass))
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=15_000)
    assert dialogs[0][0] == "Cannot use this stain reference" and "almost no stained tissue" in dialogs[0][1]
    (tmp_path / "report.png").write_text("not an image")
    stain.choose_reference_file(str(tmp_path / "report.png"))
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=15_000)
    assert dialogs[1][0] == "Cannot use this stain reference" and "report.png" in dialogs[1][1]
    assert stain.user_references is None and stain.method == "off" and stain.default_action.isChecked()
    qtbot.waitUntil(lambda: window.slide.jobs.pending == 0, timeout=15_000)


def test_open_with_stain_starts_normalised(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), OMP_NUM_THREADS="1")
    shots = {}
    for method in ("off", "reinhard"):
        shots[method] = tmp_path / f"{method}.png"
        done = subprocess.run([sys.executable, "-m", "bcviewer", "open", str(SAMPLE_PNG), "--stain", method,
                               "--screenshot", str(shots[method]), "--size", "1000x700"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    off, on = (np.asarray(Image.open(shots[m]).convert("RGB"))[120:600, 50:600].astype(int) for m in ("off", "reinhard"))
    assert np.abs(on - off).mean() > 3  # the view itself changed colour


def test_another_slide_gets_its_own_mapping(qtbot, window, test_data: Path) -> None:  # noqa: F811
    open_and_wait(qtbot, window, SAMPLE_PNG)
    stain = window.slide.stain
    stain.set_method("macenko")
    _wait_normalised(qtbot, window)
    first = stain.mapping.identity
    open_and_wait(qtbot, window, test_data / "slides" / "cmu_small_region.svs")
    qtbot.waitUntil(lambda: stain.mapping is not None and stain.mapping.slide.source == "cmu_small_region.svs",
                    timeout=30_000)
    _wait_normalised(qtbot, window)
    assert stain.mapping.identity != first and stain.mapping.reference == default_reference("macenko")
    assert all(k.stain in ("", stain.mapping.identity) for k in window.slide.view.cache._items)


def test_a_missing_shipped_reference_gives_a_dialog_and_leaves_the_view_as_scanned(
        qtbot, window, dialogs, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # What a bundle without the package file did (a traceback at start-up) before the bundles carried it.
    from bcviewer.nets import stain as stain_module

    stain_module._shipped.cache_clear()
    monkeypatch.setattr(stain_module, "REFERENCE_FILE", "no_such_reference.json")
    open_and_wait(qtbot, window, SAMPLE_PNG)
    stain = window.slide.stain
    stain.set_method("macenko")
    assert dialogs == [("Cannot use this stain reference", dialogs[0][1])]
    assert "no_such_reference.json" in dialogs[0][1] and "reinstall bcviewer" in dialogs[0][1]
    assert stain.method == "off" and stain.method_actions["off"].isChecked() and stain.mapping is None
    stain_module._shipped.cache_clear()
