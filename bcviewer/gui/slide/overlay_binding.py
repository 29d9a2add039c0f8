"""``OverlayBinding``: keeps the heatmap layer, its controls, the View toggles and the stored
overlay preferences in step."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from bcviewer.gui.actions import Actions
from bcviewer.gui.settings import ViewerSettings
from bcviewer.gui.slide.overlay_controls import OverlayControls
from bcviewer.gui.slide.view import SlideView


class OverlayBinding(QObject):
    """Applies stored preferences at start and stores every change the user makes."""

    grid_shown = Signal()  # the tile grid was switched on

    def __init__(self, view: SlideView, controls: OverlayControls, actions: Actions, settings: ViewerSettings) -> None:
        super().__init__(view)
        self.view, self.controls, self.actions, self.settings = view, controls, actions, settings
        self.restore()
        actions.heatmap.toggled.connect(self.set_heatmap_visible)
        actions.grid.toggled.connect(self.set_grid_visible)
        actions.minimap.toggled.connect(self.set_minimap_visible)
        controls.colormap_changed.connect(self.set_colormap)
        controls.opacity_changed.connect(self.set_opacity)
        controls.threshold_changed.connect(self.set_threshold)
        controls.smooth_changed.connect(self.set_smooth)
        controls.uncertainty_changed.connect(self.set_show_uncertainty)

    def restore(self) -> None:
        """Apply the stored preferences to the layer, the controls and the toggles."""
        o = self.settings.overlay()
        layer = self.view.heatmap
        layer.set_colormap(str(o["colormap"]))
        layer.set_opacity(float(o["opacity"]))  # type: ignore[arg-type]
        layer.set_threshold(float(o["threshold"]))  # type: ignore[arg-type]
        layer.set_smooth(bool(o["smooth"]))
        layer.visible = bool(o["show_heatmap"])
        layer.show_grid = bool(o["show_grid"])
        self.refresh_controls()
        self.actions.heatmap.setChecked(layer.visible)
        self.actions.grid.setChecked(layer.show_grid)
        self.actions.minimap.setChecked(bool(o["show_minimap"]))
        self.view.set_minimap_enabled(bool(o["show_minimap"]))

    def refresh_controls(self) -> None:
        """Show the layer's values (and colour bar) in the controls, e.g. once the core has loaded."""
        layer = self.view.heatmap
        layer.set_colormap(layer.colormap)
        self.controls.set_values(layer.colormap, layer.opacity, layer.threshold, layer.smooth)

    def set_heatmap_visible(self, on: bool) -> None:
        self.view.heatmap.visible = on
        self.settings.set_overlay(show_heatmap=on)
        self.view.update()

    def set_grid_visible(self, on: bool) -> None:
        self.view.heatmap.show_grid = on
        self.settings.set_overlay(show_grid=on)
        self.view.update()
        if on:
            self.grid_shown.emit()

    def set_minimap_visible(self, on: bool) -> None:
        self.view.set_minimap_enabled(on)
        self.settings.set_overlay(show_minimap=on)

    def set_colormap(self, name: str) -> None:
        self.view.heatmap.set_colormap(name)
        self.settings.set_overlay(colormap=name)
        self.view.update()

    def set_opacity(self, value: float) -> None:
        self.view.heatmap.set_opacity(value)
        self.settings.set_overlay(opacity=value)
        self.view.update()

    def set_smooth(self, on: bool) -> None:
        self.view.heatmap.set_smooth(on)
        self.settings.set_overlay(smooth=on)
        self.view.update()

    def set_show_uncertainty(self, on: bool) -> None:
        self.view.heatmap.set_show_uncertainty(on)
        self.view.update()

    def set_threshold(self, value: float) -> None:
        self.view.heatmap.set_threshold(value)
        self.settings.set_overlay(threshold=value)
        self.view.update()
