"""The main window's actions, menus and toolbar (shortcuts live here, in one place)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from bcviewer.gui.review_actions import ReviewActions, build_review_actions
from bcviewer.capabilities import torch_installed, torch_missing_message
from bcviewer.paths import icons_dir

ICON_DIR = icons_dir()

RUNTIME_LABELS = {
    "auto": "Automatic (ONNX Runtime on the CPU, PyTorch on a GPU)",
    "onnx": "ONNX Runtime (CPU)",
    "torch": "PyTorch",
    "int8": "ONNX Runtime int8 (models that ship it)",
}
EXPORT_KINDS = {
    "heatmap": ("Heatmap PNG…", "PNG image (*.png)", ".png"),
    "overlay": ("Overlay PNG…", "PNG image (*.png)", ".png"),
    "csv": ("Tile table CSV…", "CSV table (*.csv)", ".csv"),
    "geojson": ("GeoJSON (QuPath)…", "GeoJSON (*.geojson *.json)", ".geojson"),
    "report": ("Report PDF…", "PDF document (*.pdf)", ".pdf"),  # gui/slide/report_export.py
}


# Analysis > Magnification: 0 = automatic (the BreakHis file name, else the model's own, stated).
MAGNIFICATIONS = ((0, "Automatic (from the file name)"), (40, "40X"), (100, "100X"), (200, "200X"), (400, "400X"))


def icon(name: str) -> QIcon:
    """An icon from resources/icons, or an empty icon when the file is missing."""
    path = ICON_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


@dataclass
class Actions:
    """Every action of the main window."""

    open: QAction
    quit: QAction
    exports: dict[str, QAction]
    zoom_in: QAction
    zoom_out: QAction
    fit: QAction
    actual_size: QAction
    heatmap: QAction
    grid: QAction
    minimap: QAction
    run: QAction
    cancel: QAction
    pixel_size: QAction
    model_card: QAction
    about: QAction
    model_group: QActionGroup
    magnification_group: QActionGroup
    magnification_menu: QMenu
    recent_menu: QMenu
    model_menu: QMenu
    runtime_group: QActionGroup
    runtime_menu: QMenu
    view_menu: QMenu  # kept: workspaces add their own entries (side by side) to it
    review: ReviewActions  # uncertainty layer, tile walk, ruler (gui/review_actions.py)


def _action(
    window: QMainWindow,
    text: str,
    shortcuts: list[QKeySequence | str] | None = None,
    icon_name: str | None = None,
    checkable: bool = False,
    tip: str = "",
) -> QAction:
    a = QAction(text, window)
    if shortcuts:
        a.setShortcuts([QKeySequence(s) if isinstance(s, str) else s for s in shortcuts])
    if icon_name:
        a.setIcon(icon(icon_name))
    a.setCheckable(checkable)
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    return a


def build_actions(window: QMainWindow) -> Actions:
    """Create the actions, menus and toolbar of ``window``; the caller connects the triggers."""
    std = QKeySequence.StandardKey
    acts = Actions(
        open=_action(window, "&Open…", [QKeySequence(std.Open)], "open", tip="Open a slide or image (Ctrl+O)"),
        quit=_action(window, "&Quit", [QKeySequence(std.Quit), "Ctrl+Q"]),
        exports={k: _action(window, text) for k, (text, _, _) in EXPORT_KINDS.items()},
        zoom_in=_action(window, "Zoom &in", ["+", "=", QKeySequence(std.ZoomIn)], "zoom-in", tip="Zoom in (+)"),
        zoom_out=_action(window, "Zoom &out", ["-", QKeySequence(std.ZoomOut)], "zoom-out", tip="Zoom out (−)"),
        fit=_action(window, "&Fit to window", ["F"], "fit", tip="Show the whole image (F)"),
        actual_size=_action(
            window, "&100%", ["Ctrl+0", "1"], "actual-size", tip="One screen pixel per image pixel (1)"
        ),
        heatmap=_action(window, "&Heatmap", ["H"], "heatmap", checkable=True, tip="Show or hide the heatmap (H)"),
        grid=_action(
            window, "Tile &grid", ["G"], "grid", checkable=True, tip="Show or hide the analysis tile grid (G)"
        ),
        minimap=_action(window, "&Minimap", ["M"], "minimap", checkable=True, tip="Show or hide the overview (M)"),
        run=_action(window, "&Run analysis", ["Ctrl+R", "F5"], "run", tip="Analyse the image (Ctrl+R)"),
        cancel=_action(window, "&Cancel analysis", ["Esc"], "cancel", tip="Stop the analysis (Esc)"),
        pixel_size=_action(window, "&Pixel size…", tip="Set the µm per pixel of a slide that does not record it"),
        model_card=_action(window, "Model &card…"),
        about=_action(window, "&About bcviewer"),
        model_group=QActionGroup(window),
        magnification_group=QActionGroup(window),
        magnification_menu=QMenu("Ma&gnification", window),
        recent_menu=QMenu("Open &Recent", window),
        model_menu=QMenu("&Model", window),
        runtime_group=QActionGroup(window),
        runtime_menu=QMenu("&Runtime", window),
        view_menu=QMenu("&View", window),
        review=build_review_actions(window),
    )
    acts.cancel.setEnabled(False)
    for a in acts.exports.values():
        a.setEnabled(False)

    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(acts.open)
    file_menu.addMenu(acts.recent_menu)
    export_menu = file_menu.addMenu("&Export")
    for a in acts.exports.values():
        export_menu.addAction(a)
    file_menu.addSeparator()
    file_menu.addAction(acts.quit)

    view_menu = acts.view_menu
    bar.addMenu(view_menu)
    for a in (acts.zoom_in, acts.zoom_out, acts.fit, acts.actual_size):
        view_menu.addAction(a)
    view_menu.addSeparator()
    for a in (acts.heatmap, acts.grid, acts.minimap):
        view_menu.addAction(a)

    analysis_menu = bar.addMenu("&Analysis")
    analysis_menu.addMenu(acts.model_menu)
    analysis_menu.addMenu(acts.runtime_menu)
    analysis_menu.addMenu(acts.magnification_menu)
    for value, label in MAGNIFICATIONS:
        act = acts.magnification_menu.addAction(label)
        act.setCheckable(True)
        act.setData(value)
        act.setChecked(value == 0)
        acts.magnification_group.addAction(act)
    analysis_menu.addAction(acts.run)
    analysis_menu.addAction(acts.cancel)
    analysis_menu.addSeparator()
    analysis_menu.addAction(acts.pixel_size)
    acts.model_group.setExclusive(True)
    has_torch = torch_installed()
    for name, label in RUNTIME_LABELS.items():
        if not has_torch:
            label = {"torch": label + " (not installed)", "auto": "Automatic (ONNX Runtime on the CPU)"}.get(name, label)
        act = acts.runtime_menu.addAction(label)
        act.setCheckable(True)
        act.setData(name)
        if name == "torch" and not has_torch:
            act.setEnabled(False)  # a CPU-only install: say why instead of failing at the next analysis
            act.setStatusTip(torch_missing_message("The PyTorch runtime"))
            act.setToolTip(act.statusTip())
        acts.runtime_group.addAction(act)
    acts.runtime_menu.setToolTipsVisible(True)

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(acts.model_card)
    help_menu.addAction(acts.about)

    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main-toolbar")
    toolbar.setMovable(False)
    for entry in (
        acts.open,
        None,
        acts.zoom_in,
        acts.zoom_out,
        acts.fit,
        acts.actual_size,
        None,
        acts.heatmap,
        acts.grid,
        acts.minimap,
        None,
        acts.run,
        acts.cancel,
    ):
        if entry is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(entry)
    acts.review.add_to(view_menu, toolbar)
    window.addToolBar(toolbar)
    return acts


def check_runtime(acts: Actions, runtime: str) -> None:
    """Tick ``runtime`` in Analysis > Runtime."""
    for act in acts.runtime_group.actions():
        act.setChecked(act.data() == runtime)


def fill_model_menu(acts: Actions, names: list[str], current: str) -> None:
    """Analysis > Model: "Automatic" plus each installed model, ``current`` checked."""
    menu, group = acts.model_menu, acts.model_group
    menu.clear()
    for act in group.actions():
        group.removeAction(act)
    for name, label in [("", "Automatic (by image type)")] + [(n, n) for n in names]:
        act = menu.addAction(label)
        act.setCheckable(True)
        act.setData(name)
        act.setChecked(name == current or (name == "" and current not in names))
        group.addAction(act)
    if not names:
        menu.addAction("(no model installed)").setEnabled(False)
