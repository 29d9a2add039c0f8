"""Parts of the main window's behaviour kept out of main_window.py: the pixel size of slides
that do not record it (asked, remembered per file, shown with the model's description and scale
warnings), the magnification chosen for a microscopy image, and the exports of the current
scores. Both are mixed into ``MainWindow``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bcviewer.errors import BcviewerError
from bcviewer.gui import core
from bcviewer.gui.dialogs import ask_export_path
from bcviewer.gui.errors import report_error
from bcviewer.gui.slide import pixel_size
from bcviewer.gui.slide.analysis import AUTOMATIC_MODEL, describe_choice
from bcviewer.gui.workers import Job

if TYPE_CHECKING:
    from bcviewer.gui.main_window import MainWindow

    _Base = MainWindow
else:
    _Base = object


class ScaleMixin(_Base):
    """The pixel size of the open slide when its file records none, and the magnification of a
    microscopy image when the user overrides what its file name says."""

    def set_magnification(self, value: int | None) -> None:
        """Analyse the open image at ``value``X (None: from the file name, else the model's own)."""
        self.user_magnification = value
        for act in self.actions.magnification_group.actions():
            act.setChecked((act.data() or None) == value)
        self._describe_model()
        if self.actions.grid.isChecked() and not self.analysis.running:
            self.view.heatmap.clear()
            self._show_grid_preview()

    def reset_magnification(self) -> None:
        """A newly opened image starts from Automatic: a choice for one image never carries over."""
        self.user_magnification = None
        for act in self.actions.magnification_group.actions():
            act.setChecked(not act.data())

    def ask_pixel_size(self) -> float | None:
        """Ask the open slide's µm/px (remembered for the file); None when cancelled or not needed."""
        reader = self.view.reader
        if reader is None or self.path is None:
            return None
        if reader.mpp:
            self.status.showMessage(f"{self.path.name} records its pixel size: {reader.mpp:.3f} µm/px", 8000)
            return None
        value = pixel_size.ask_pixel_size(self, reader, self.user_mpp)
        if value is not None:
            self.user_mpp = self.view.user_mpp = value
            self.settings.set_pixel_size(self.path, value)
            self.status.set_slide(reader, value)
            self.view.update()
            self._describe_model()
        return value

    def _describe_model(self) -> None:
        """Say what the chosen model reads and warn about this input's scale (before a run)."""
        reader = self.view.reader
        if reader is None or not core.is_ready() or self.analysis.running:
            return
        choice = self.model_override or self.settings.model_name() or AUTOMATIC_MODEL
        generation = self.view.generation

        def show(result: tuple[str, list[str]]) -> None:
            if self.view.generation == generation and not self.analysis.running:
                self._on_notes(*result)

        self.jobs.submit(describe_choice, reader, choice, self.user_mpp, self.user_magnification, on_success=show,
                         on_error=lambda e: self.panel.set_model_name(f"{self._model_choice(reader)} ({e})"))

    def _on_notes(self, description: str, warnings: list[str]) -> None:
        self.panel.set_model_name(description)
        self.panel.set_warnings(warnings)


class ExportMixin(_Base):
    """File > Export: heatmap, overlay, CSV and GeoJSON of the current scores, in the background."""

    def _set_exports_enabled(self, on: bool) -> None:
        for a in self.actions.exports.values():
            a.setEnabled(on)

    def ask_save_path(self, kind: str) -> str:
        """Ask where to save an export; '' when the user cancels."""
        stem = self.path.stem if self.path else "bcviewer"
        return ask_export_path(self, kind, Path(self.settings.last_folder() or "."), stem)

    def export(self, kind: str, path: str | None = None) -> Job | None:
        """Write the current scores as ``kind`` (see EXPORT_KINDS) in the background."""
        if self.scores is None or self.view.reader is None:
            report_error(
                self, "Nothing to export", BcviewerError("Run the analysis first; there are no scores to export yet.")
            )
            return None
        target = path or self.ask_save_path(kind)
        if not target:
            return None
        from bcviewer.gui.exporting import export_file

        layer = self.view.heatmap
        options = {"cmap": layer.colormap, "opacity": layer.opacity, "threshold": layer.threshold,
                   "smooth": layer.smooth, "mpp": self.view.reader.mpp or self.user_mpp}
        return self.jobs.submit(
            export_file,
            kind,
            self.scores,
            self.view.reader,
            target,
            options,
            on_success=lambda p: self.status.showMessage(f"Saved {p}", 8000),
            on_error=lambda e: report_error(self, "Export failed", e),
        )
