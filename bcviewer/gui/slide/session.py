"""``SlideSession``: the state of the slide open in the viewer, without Qt.

One place holds what the slide workspace knows about its slide: the file and its reader, the
pixel size in use and where it came from, the magnification the user chose, the model asked for,
the input plan of the last run and its scores. Widgets read it; only the workspace changes it.
An import-linter contract keeps Qt out of this module, so it can be driven from a test or a
script like the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bcviewer.slides import SlideReader

if TYPE_CHECKING:  # the core's analysis half loads after the first frame (see gui.core)
    from bcviewer.inference import TileScores
    from bcviewer.inference.plan import InputPlan, PlanOptions
    from bcviewer.regions import Region

AUTOMATIC_MODEL = ""  # bcviewer.inference.plan.AUTOMATIC_MODEL: the model is chosen by the kind of input

PixelSizeSource = Literal["file", "entered", "--mpp", "remembered", "unknown"]


@dataclass
class SlideSession:
    """The open slide and what was decided about it (see the module docstring)."""

    path: Path | None = None
    reader: SlideReader | None = None
    user_mpp: float | None = None  # the user's µm/px, used only when the file records none
    user_mpp_source: PixelSizeSource = "unknown"
    magnification: int | None = None  # the user's magnification of a microscopy image; None: automatic
    model_override: str | None = None  # `bcviewer open --model NAME`: wins over the menu, this session only
    mpp_override: float | None = None  # `bcviewer open --mpp UM`: for files that record none, this session only
    plan: InputPlan | None = None  # how the last run analysed the slide
    scores: TileScores | None = None  # the last run's scores (partial when cancelled)

    def open(self, path: Path, reader: SlideReader, remembered_mpp: float | None) -> None:
        """A new slide: nothing of the previous one carries over except the session's overrides.
        ``remembered_mpp`` is the pixel size the user gave this file before, if any."""
        self.path, self.reader = path, reader
        self.magnification = None
        self.plan = self.scores = None
        if reader.mpp:
            self.user_mpp, self.user_mpp_source = None, "file"
        elif self.mpp_override:
            self.user_mpp, self.user_mpp_source = self.mpp_override, "--mpp"
        elif remembered_mpp:
            self.user_mpp, self.user_mpp_source = remembered_mpp, "remembered"
        else:
            self.user_mpp, self.user_mpp_source = None, "unknown"

    def enter_mpp(self, value: float) -> None:
        """The user typed the pixel size of a slide that records none."""
        self.user_mpp, self.user_mpp_source = value, "entered"

    def mpp(self) -> float | None:
        """µm per level-0 pixel in use: the file's, else the user's, else None."""
        if self.reader is not None and self.reader.mpp:
            return self.reader.mpp
        return self.user_mpp

    def requested_model(self, menu_choice: str | None) -> str:
        """The model asked for: the session's override, else the menu's, else automatic."""
        return self.model_override or menu_choice or AUTOMATIC_MODEL

    def plan_options(self, menu_choice: str | None, regions: tuple[Region, ...] = ()) -> PlanOptions:
        """What the core's :func:`~bcviewer.inference.plan.plan_input` is asked for this slide
        (``regions``: analyse inside them only, in QuPath's frame)."""
        from bcviewer.inference.plan import PlanOptions

        return PlanOptions(model=self.requested_model(menu_choice), mpp=self.user_mpp,
                           magnification=self.magnification, mpp_origin="entered in the viewer", regions=regions)
