"""``ViewLink``: synchronised pan and zoom of two slide views, the way QuPath's "Synchronize
viewers" works.

The two views show the same physical place at the same physical magnification when both slides
record a pixel size: a point ``a`` (level-0 pixels of the left slide) maps to
``b = a * ratio + offset`` on the right one, with ``ratio = mpp_left / mpp_right``. When either
pixel size is unknown the views are linked pixel for pixel (``ratio = 1``) and :attr:`LinkFrame.note`
says so, since a guessed ratio would put the two views at different magnifications unseen.
Unlinking lets the user move one view alone to line up a re-cut; linking again keeps the offset
they made.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from bcviewer.gui.slide.view import SlideView


@dataclass(frozen=True)
class LinkFrame:
    """How level-0 points of the left view map to the right one: ``b = a * ratio + offset``."""

    ratio: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0
    physical: bool = False  # True: both pixel sizes are known and ``ratio`` comes from them

    def to_right(self, x: float, y: float) -> tuple[float, float]:
        """The right view's level-0 point showing what (x, y) shows on the left."""
        return x * self.ratio + self.offset_x, y * self.ratio + self.offset_y

    def to_left(self, x: float, y: float) -> tuple[float, float]:
        """The inverse of :meth:`to_right`."""
        return (x - self.offset_x) / self.ratio, (y - self.offset_y) / self.ratio

    def right_scale(self, left_scale: float) -> float:
        """Screen px per right level-0 px that matches ``left_scale`` (the same µm per screen px)."""
        return left_scale / self.ratio

    def keeping(self, left_centre: tuple[float, float], right_centre: tuple[float, float]) -> LinkFrame:
        """The same ratio, with the offset that maps ``left_centre`` onto ``right_centre``."""
        return LinkFrame(self.ratio, right_centre[0] - left_centre[0] * self.ratio,
                         right_centre[1] - left_centre[1] * self.ratio, self.physical)

    @property
    def note(self) -> str:
        """What the link assumes, in the words shown above the right view."""
        if self.physical:
            return f"linked by µm (1 px left = {self.ratio:.3g} px right)"
        return "linked pixel for pixel: a pixel size is unknown"


def frame_for(mpp_left: float | None, mpp_right: float | None) -> LinkFrame:
    """The frame linking two slides by their pixel sizes (µm/px), no offset."""
    if mpp_left and mpp_right and mpp_left > 0 and mpp_right > 0:
        return LinkFrame(mpp_left / mpp_right, physical=True)
    return LinkFrame()


def view_centre(view: SlideView) -> tuple[float, float]:
    """The level-0 point at the centre of ``view``."""
    return view.transform.to_image(view.width() / 2, view.height() / 2)


class ViewLink(QObject):
    """Keeps ``right`` showing what ``left`` shows (and back) while :attr:`linked`."""

    changed = Signal()  # linked toggled or frame replaced

    def __init__(self, left: SlideView, right: SlideView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.left, self.right = left, right
        self.frame = LinkFrame()
        self._linked = True
        self._syncing = False
        left.view_changed.connect(lambda: self._follow(self.left))
        right.view_changed.connect(lambda: self._follow(self.right))

    @property
    def linked(self) -> bool:
        return self._linked

    def set_linked(self, on: bool) -> None:
        """Link or unlink; linking again keeps the offset between the two views as it is now."""
        if on == self._linked:
            return
        self._linked = on
        if on and self.left.reader is not None and self.right.reader is not None:
            self.frame = self.frame.keeping(view_centre(self.left), view_centre(self.right))
        self.changed.emit()

    def reset(self, mpp_left: float | None, mpp_right: float | None) -> None:
        """A new pair of slides: link by their pixel sizes, no offset, and show the right view
        where the left one is."""
        self.frame = frame_for(mpp_left, mpp_right)
        self.changed.emit()
        self._follow(self.left)

    def _follow(self, source: SlideView) -> None:
        if not self._linked or self._syncing or self.left.reader is None or self.right.reader is None:
            return
        target = self.right if source is self.left else self.left
        cx, cy = view_centre(source)
        if source is self.left:
            (tx, ty), scale = self.frame.to_right(cx, cy), self.frame.right_scale(source.scale)
        else:
            (tx, ty), scale = self.frame.to_left(cx, cy), source.scale * self.frame.ratio
        self._syncing = True  # the target's own view_changed must not move the source back
        try:
            target.transform.scale = scale
            target.center_on(tx, ty)
        finally:
            self._syncing = False
