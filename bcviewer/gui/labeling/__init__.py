"""The labeling panel: label sub-images by keyboard, review proposals, run self-learning rounds.

Embed :class:`LabelingPanel` in a window; see its docstring and :mod:`.actions` for the menu
actions it offers.
"""

from bcviewer.gui.labeling.panel import LabelingPanel
from bcviewer.gui.labeling.selflearn_worker import SelfLearnRequest, SelfLearnWorker

__all__ = ["LabelingPanel", "SelfLearnRequest", "SelfLearnWorker"]
