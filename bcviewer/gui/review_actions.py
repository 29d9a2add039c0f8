"""The actions for reviewing a run's tiles: the uncertainty layer, the tile walk and the ruler.

Kept apart from :mod:`bcviewer.gui.actions` (which builds them into its menus and toolbar), so the
keys are still listed in one place per feature. Single keys that no other action uses:
N / U walk the most malignant / most uncertain tiles, P goes back, Shift+U shows uncertainty,
R measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from bcviewer.paths import icons_dir


def _icon(name: str) -> QIcon:
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


@dataclass
class ReviewActions:
    """Toggles and steps for reviewing tiles; the tile steps stay disabled until tiles are scored."""

    uncertainty: QAction
    next_malignant: QAction
    next_uncertain: QAction
    previous_tile: QAction
    ruler: QAction

    @property
    def steps(self) -> tuple[QAction, QAction, QAction]:
        return self.next_malignant, self.next_uncertain, self.previous_tile

    def add_to(self, menu: QMenu, toolbar: QToolBar) -> None:
        """Append to the View menu and the toolbar, each group after a separator."""
        menu.addSeparator()
        menu.addAction(self.uncertainty)
        for a in self.steps:
            menu.addAction(a)
        menu.addAction(self.ruler)
        toolbar.addSeparator()
        for a in (self.uncertainty, *self.steps, self.ruler):
            toolbar.addAction(a)


def build_review_actions(window: QMainWindow) -> ReviewActions:
    """Create the actions (the caller adds them to menus and connects them)."""

    def make(text: str, key: str, icon_name: str, tip: str, checkable: bool = False) -> QAction:
        a = QAction(text, window)
        a.setShortcut(QKeySequence(key))
        a.setIcon(_icon(icon_name))
        a.setCheckable(checkable)
        a.setToolTip(tip)
        a.setStatusTip(tip)
        return a

    acts = ReviewActions(
        uncertainty=make("&Uncertainty layer", "Shift+U", "uncertainty",
                         "Colour the tiles by uncertainty instead of malignant probability (Shift+U)", True),
        next_malignant=make("&Next most malignant tile", "N", "next-malignant",
                            "Go to the next tile in order of malignant probability, highest first (N)"),
        next_uncertain=make("Next most unc&ertain tile", "U", "next-uncertain",
                            "Go to the next tile in order of uncertainty, p closest to 0.5 first (U)"),
        previous_tile=make("&Previous tile", "P", "previous-tile", "Go back one tile in the list being walked (P)"),
        ruler=make("&Ruler", "R", "ruler", "Drag on the slide to measure a distance in µm; Esc clears (R)", True),
    )
    for a in acts.steps:
        a.setEnabled(False)
    return acts
